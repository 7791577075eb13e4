-- Spend control, part one: account state and the ledger of every money movement (micro-USDC).
ALTER TABLE users ADD COLUMN verified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN tier TEXT NOT NULL DEFAULT 'free' CONSTRAINT users_tier_check CHECK (tier IN ('free', 'pro', 'enterprise'));
ALTER TABLE users ADD COLUMN balance BIGINT NOT NULL DEFAULT 0 CONSTRAINT users_balance_check CHECK (balance >= 0);
ALTER TABLE users ADD COLUMN reserved BIGINT NOT NULL DEFAULT 0 CONSTRAINT users_reserved_check CHECK (reserved >= 0);

CREATE TABLE ledger_entries (
    id BIGSERIAL PRIMARY KEY,
    public_id TEXT NOT NULL CONSTRAINT ledger_entries_public_id_key UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL
        CONSTRAINT ledger_entries_kind_check CHECK (kind IN ('deposit', 'reserve', 'release', 'charge', 'refund', 'adjustment')),
    amount BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    reserved_after BIGINT NOT NULL,
    reference TEXT,
    note TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX ledger_entries_user_idx ON ledger_entries (user_id, id);
