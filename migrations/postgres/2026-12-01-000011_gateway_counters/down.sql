ALTER TABLE users DROP COLUMN deposited;
DROP TABLE project_seen;
DROP TABLE user_hours;
DROP TABLE project_days;
DROP TABLE project_hours;
DROP TABLE rate_slots;
DROP TABLE rate_heads;
