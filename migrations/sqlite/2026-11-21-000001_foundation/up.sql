-- Foundation: platform users, API keys, idempotency records, the audit trail.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT users_public_id_key UNIQUE,
    name TEXT NOT NULL,
    email TEXT NOT NULL CONSTRAINT users_email_key UNIQUE,
    role TEXT NOT NULL CONSTRAINT users_role_check CHECK (role IN ('admin', 'owner', 'member', 'website')),
    status TEXT NOT NULL DEFAULT 'active'
        CONSTRAINT users_status_check CHECK (status IN ('active', 'suspended', 'inactive', 'frozen', 'banned')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT api_keys_public_id_key UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL CONSTRAINT api_keys_key_hash_key UNIQUE,
    prefix TEXT NOT NULL,
    role TEXT NOT NULL CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'owner', 'member', 'website')),
    project TEXT,
    agent TEXT,
    status TEXT NOT NULL DEFAULT 'active' CONSTRAINT api_keys_status_check CHECK (status IN ('active', 'revoked')),
    usage_count BIGINT NOT NULL DEFAULT 0 CONSTRAINT api_keys_usage_count_check CHECK (usage_count >= 0),
    last_used_at TIMESTAMP,
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id, id);

CREATE TABLE idempotency_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CONSTRAINT idempotency_keys_state_check CHECK (state IN ('in_flight', 'completed')),
    response_status INTEGER,
    response_content_type TEXT,
    response_body BLOB,
    locked_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    CONSTRAINT idempotency_keys_owner_key UNIQUE (owner, idem_key)
);
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL CONSTRAINT audit_events_event_id_key UNIQUE,
    occurred_at TIMESTAMP NOT NULL,
    actor_type TEXT NOT NULL
        CONSTRAINT audit_events_actor_type_check CHECK (actor_type IN ('guest', 'user', 'agent', 'admin', 'system')),
    actor_id TEXT,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT,
    request_id TEXT,
    details TEXT NOT NULL,
    result TEXT NOT NULL CONSTRAINT audit_events_result_check CHECK (result IN ('success', 'failure', 'denied')),
    seq BIGINT CONSTRAINT audit_events_seq_key UNIQUE,
    prev_hash TEXT,
    hash TEXT
);
CREATE INDEX audit_events_unchained_idx ON audit_events (id) WHERE seq IS NULL;
CREATE INDEX audit_events_subject_idx ON audit_events (subject_type, subject_id);
CREATE INDEX audit_events_request_id_idx ON audit_events (request_id);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);

-- The head of the hash chain: one row, locked only by the chainer.
CREATE TABLE audit_chain_head (
    id INTEGER PRIMARY KEY CONSTRAINT audit_chain_head_single CHECK (id = 1),
    last_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_chain_head (id, last_seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
