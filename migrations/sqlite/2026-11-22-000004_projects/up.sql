-- Spend control, part two: projects, their agents, budgets and policies; the system policy.
CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT projects_public_id_key UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT projects_user_name_key UNIQUE (user_id, name)
);

CREATE TABLE agents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT agents_public_id_key UNIQUE,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT agents_project_name_key UNIQUE (project_id, name)
);

CREATE TABLE project_budgets (
    project_id BIGINT PRIMARY KEY REFERENCES projects (id),
    per_request BIGINT NOT NULL CONSTRAINT project_budgets_per_request_check CHECK (per_request > 0),
    daily BIGINT NOT NULL CONSTRAINT project_budgets_daily_check CHECK (daily > 0),
    monthly BIGINT NOT NULL CONSTRAINT project_budgets_monthly_check CHECK (monthly > 0),
    updated_at TIMESTAMP NOT NULL
);

-- Policies are JSON documents validated by the service (arrays of providers, models, hours…).
CREATE TABLE project_policies (
    project_id BIGINT PRIMARY KEY REFERENCES projects (id),
    document TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE system_policy (
    id INTEGER PRIMARY KEY CONSTRAINT system_policy_single CHECK (id = 1),
    document TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
