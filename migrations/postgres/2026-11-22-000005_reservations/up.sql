-- Spend control, part three: usage counters that budgets are reserved against. One row per
-- project and period (`2026-11-22` for a UTC day, `2026-11` for a UTC month); a reservation is a
-- conditional update that never takes `used` past the limit.
CREATE TABLE project_usage (
    project_id BIGINT NOT NULL REFERENCES projects (id),
    period TEXT NOT NULL,
    used BIGINT NOT NULL DEFAULT 0 CONSTRAINT project_usage_used_check CHECK (used >= 0),
    PRIMARY KEY (project_id, period)
);
