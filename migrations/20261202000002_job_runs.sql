-- Background jobs that must run once across server replicas: each claims a job by moving its
-- last run forward, which only one replica can do per period.
CREATE TABLE job_runs (
    name   text PRIMARY KEY,
    ran_at timestamptz NOT NULL,
    ran_by text NOT NULL,
    -- How many times it has run, all replicas together.
    runs   bigint NOT NULL DEFAULT 1
);
