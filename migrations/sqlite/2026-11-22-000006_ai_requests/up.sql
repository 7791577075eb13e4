-- Spend control, part four, and the provider gateway's catalogue: providers and models with their
-- prices, AI requests with their decisions, one payment per request, alerts, signed webhooks.
-- The model catalogue: providers (how to reach them; credentials by environment variable name)
-- and their models with list prices in micro-USDC. Seeded from catalogue/models.toml; admins
-- edit prices, and every price a model has had is kept in model_price_history.
CREATE TABLE providers (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL
        CONSTRAINT providers_kind_check CHECK (kind IN ('local', 'openai', 'anthropic', 'gemini', 'cohere')),
    display_name TEXT NOT NULL,
    base_url TEXT NOT NULL,
    api_key_env TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO providers (name, kind, display_name, base_url, api_key_env, enabled, updated_at)
VALUES ('local', 'local', 'Steward built-in', '', '', TRUE, CURRENT_TIMESTAMP);

CREATE TABLE catalogue_models (
    provider TEXT NOT NULL REFERENCES providers (name),
    model TEXT NOT NULL,
    category TEXT NOT NULL
        CONSTRAINT catalogue_models_category_check CHECK (category IN ('chat', 'completion', 'embedding', 'image', 'audio', 'vision')),
    capabilities TEXT NOT NULL DEFAULT '[]',
    context_window BIGINT NOT NULL DEFAULT 0,
    input_per_million BIGINT NOT NULL DEFAULT 0 CONSTRAINT catalogue_models_input_check CHECK (input_per_million >= 0),
    output_per_million BIGINT NOT NULL DEFAULT 0 CONSTRAINT catalogue_models_output_check CHECK (output_per_million >= 0),
    per_request BIGINT NOT NULL DEFAULT 0 CONSTRAINT catalogue_models_per_request_check CHECK (per_request >= 0),
    per_image BIGINT NOT NULL DEFAULT 0 CONSTRAINT catalogue_models_per_image_check CHECK (per_image >= 0),
    per_million_chars BIGINT NOT NULL DEFAULT 0 CONSTRAINT catalogue_models_per_chars_check CHECK (per_million_chars >= 0),
    price_read_on TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (provider, model)
);
INSERT INTO catalogue_models (provider, model, category, capabilities, context_window, price_read_on, updated_at)
VALUES ('local', 'echo', 'chat', '["chat", "streaming"]', 1000000, 'free', CURRENT_TIMESTAMP);

CREATE TABLE model_price_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input_per_million BIGINT NOT NULL,
    output_per_million BIGINT NOT NULL,
    per_request BIGINT NOT NULL,
    per_image BIGINT NOT NULL,
    per_million_chars BIGINT NOT NULL,
    source TEXT NOT NULL,
    effective_from TIMESTAMP NOT NULL
);
CREATE INDEX model_price_history_model_idx ON model_price_history (provider, model, id);

-- The platform's daily cap per user, reserved against like the project budgets.
CREATE TABLE user_usage (
    user_id BIGINT NOT NULL REFERENCES users (id),
    period TEXT NOT NULL,
    used BIGINT NOT NULL DEFAULT 0 CONSTRAINT user_usage_used_check CHECK (used >= 0),
    PRIMARY KEY (user_id, period)
);

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
