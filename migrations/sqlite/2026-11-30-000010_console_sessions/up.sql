-- Admin console sessions (SPEC §6): an admin or owner key exchanged for an HttpOnly cookie. Only
-- the token's SHA-256 is stored; the CSRF token is sent back in a header by the console's script
-- on every state-changing request. A session ends at expiry, at sign-out, or with its key.
CREATE TABLE console_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL CONSTRAINT console_sessions_token_key UNIQUE,
    csrf_token TEXT NOT NULL,
    key_id BIGINT NOT NULL REFERENCES api_keys (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
