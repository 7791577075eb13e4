-- The gateway's work per call bounded by a constant, whatever the history (issue 13).
--
-- Rate limits are reserved, not counted: each project keeps, per window (60, 3600, 86400 s), a
-- ring of the times of its last N admissions (N = the policy's limit). An admission takes the
-- slot N positions back, and only if that admission is at least a window old (`free_at`, its time
-- plus the window, has passed): at most N in any window, decided by one conditional upsert under
-- the head row's lock.
CREATE TABLE rate_heads (
    project_id BIGINT PRIMARY KEY REFERENCES projects (id),
    minute_next BIGINT NOT NULL DEFAULT 0,
    hour_next BIGINT NOT NULL DEFAULT 0,
    day_next BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE rate_slots (
    project_id BIGINT NOT NULL REFERENCES projects (id),
    window_secs INTEGER NOT NULL CONSTRAINT rate_slots_window_check CHECK (window_secs IN (60, 3600, 86400)),
    slot BIGINT NOT NULL,
    taken_at TIMESTAMP NOT NULL,
    free_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, window_secs, slot)
);

-- Running totals kept as requests are decided and settled, read instead of scanning
-- ai_requests: per project and UTC hour (admitted and rejected requests), per project and UTC
-- day (executed requests and their charges, for the 30-day baseline), per user and UTC hour
-- (charges, for the spike alert), and what a project has used (providers, models, hours of the
-- day, with the last day seen; agents that have made a request).
CREATE TABLE project_hours (
    project_id BIGINT NOT NULL REFERENCES projects (id),
    hour TEXT NOT NULL,
    admitted BIGINT NOT NULL DEFAULT 0,
    rejected BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, hour)
);
CREATE TABLE project_days (
    project_id BIGINT NOT NULL REFERENCES projects (id),
    day TEXT NOT NULL,
    executed BIGINT NOT NULL DEFAULT 0,
    charged BIGINT NOT NULL DEFAULT 0,
    charged_sq DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, day)
);
CREATE TABLE user_hours (
    user_id BIGINT NOT NULL REFERENCES users (id),
    hour TEXT NOT NULL,
    charged BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, hour)
);
CREATE TABLE project_seen (
    project_id BIGINT NOT NULL REFERENCES projects (id),
    kind TEXT NOT NULL CONSTRAINT project_seen_kind_check CHECK (kind IN ('provider', 'model', 'hour', 'agent')),
    value TEXT NOT NULL,
    last_day TEXT NOT NULL,
    PRIMARY KEY (project_id, kind, value)
);
-- Everything a user has deposited, kept with each deposit (the low-balance alert).
ALTER TABLE users ADD COLUMN deposited BIGINT NOT NULL DEFAULT 0;

UPDATE users SET deposited = COALESCE(
    (SELECT SUM(amount) FROM ledger_entries WHERE ledger_entries.user_id = users.id AND kind = 'deposit'), 0);
INSERT INTO project_hours (project_id, hour, admitted, rejected)
    SELECT project_id, to_char(created_at, 'YYYY-MM-DD"T"HH24'),
           SUM(CASE WHEN status <> 'rejected' THEN 1 ELSE 0 END),
           SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END)
    FROM ai_requests GROUP BY 1, 2;
INSERT INTO project_days (project_id, day, executed, charged, charged_sq)
    SELECT project_id, to_char(created_at, 'YYYY-MM-DD'), COUNT(*), SUM(charged),
           SUM(CAST(charged AS DOUBLE PRECISION) * charged)
    FROM ai_requests WHERE status = 'executed' GROUP BY 1, 2;
INSERT INTO user_hours (user_id, hour, charged)
    SELECT user_id, to_char(created_at, 'YYYY-MM-DD"T"HH24'), SUM(charged)
    FROM ai_requests WHERE status = 'executed' GROUP BY 1, 2;
INSERT INTO project_seen (project_id, kind, value, last_day)
    SELECT project_id, 'provider', lower(provider), MAX(to_char(created_at, 'YYYY-MM-DD'))
    FROM ai_requests WHERE status = 'executed' GROUP BY 1, 3;
INSERT INTO project_seen (project_id, kind, value, last_day)
    SELECT project_id, 'model', lower(provider || '/' || model), MAX(to_char(created_at, 'YYYY-MM-DD'))
    FROM ai_requests WHERE status = 'executed' GROUP BY 1, 3;
INSERT INTO project_seen (project_id, kind, value, last_day)
    SELECT project_id, 'hour', CAST(CAST(to_char(created_at, 'HH24') AS INTEGER) AS TEXT), MAX(to_char(created_at, 'YYYY-MM-DD'))
    FROM ai_requests WHERE status = 'executed' GROUP BY 1, 3;
INSERT INTO project_seen (project_id, kind, value, last_day)
    SELECT project_id, 'agent', CAST(agent_id AS TEXT), MAX(to_char(created_at, 'YYYY-MM-DD'))
    FROM ai_requests WHERE agent_id IS NOT NULL GROUP BY 1, 3;
