-- Spend control, part four: model prices (the start of the catalogue), AI requests with their
-- decisions, one payment per request, alerts, and signed outbound webhooks.
CREATE TABLE model_prices (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input_per_million BIGINT NOT NULL DEFAULT 0 CONSTRAINT model_prices_input_check CHECK (input_per_million >= 0),
    output_per_million BIGINT NOT NULL DEFAULT 0 CONSTRAINT model_prices_output_check CHECK (output_per_million >= 0),
    per_request BIGINT NOT NULL DEFAULT 0 CONSTRAINT model_prices_per_request_check CHECK (per_request >= 0),
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (provider, model)
);
INSERT INTO model_prices (provider, model, input_per_million, output_per_million, per_request, updated_at)
VALUES ('local', 'echo', 0, 0, 0, CURRENT_TIMESTAMP);

CREATE TABLE ai_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT ai_requests_public_id_key UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    project_id BIGINT NOT NULL REFERENCES projects (id),
    agent_id BIGINT REFERENCES agents (id),
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    operation TEXT NOT NULL,
    status TEXT NOT NULL CONSTRAINT ai_requests_status_check CHECK (status IN
        ('pending', 'validating', 'approved', 'rejected', 'executing', 'executed', 'failed', 'cancelled')),
    outcome TEXT NOT NULL,
    reason TEXT,
    tier TEXT NOT NULL,
    risk_score DOUBLE NOT NULL,
    decision TEXT NOT NULL,
    body TEXT NOT NULL,
    estimated BIGINT NOT NULL DEFAULT 0,
    charged BIGINT NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    latency_ms BIGINT,
    response TEXT,
    error TEXT,
    day TEXT NOT NULL,
    month TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    idempotency_key TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX ai_requests_project_idx ON ai_requests (project_id, created_at);
CREATE INDEX ai_requests_user_idx ON ai_requests (user_id, id);
CREATE INDEX ai_requests_status_idx ON ai_requests (status, updated_at);

CREATE TABLE request_payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT request_payments_public_id_key UNIQUE,
    request_id BIGINT NOT NULL CONSTRAINT request_payments_request_key UNIQUE REFERENCES ai_requests (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    amount BIGINT NOT NULL DEFAULT 0,
    currency TEXT NOT NULL DEFAULT 'USDC',
    rail TEXT NOT NULL DEFAULT 'ledger',
    tx_reference TEXT,
    status TEXT NOT NULL CONSTRAINT request_payments_status_check CHECK (status IN
        ('pending', 'reserved', 'committed', 'failed', 'refunded', 'cancelled')),
    estimated BIGINT NOT NULL,
    actual BIGINT NOT NULL DEFAULT 0,
    variance BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX request_payments_user_idx ON request_payments (user_id, id);

-- One alert per user, scope (a project or the account), kind and period: no floods.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT alerts_public_id_key UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    period TEXT NOT NULL,
    message TEXT NOT NULL,
    details TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT alerts_once_key UNIQUE (user_id, scope, kind, period)
);

CREATE TABLE webhook_endpoints (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT webhook_deliveries_public_id_key UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);
