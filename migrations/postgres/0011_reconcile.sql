-- The reconciler's passes: what each judged as of which time, and what it did.
CREATE TABLE reconcile_runs (
    id           TEXT PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT,
    as_of        BIGINT NOT NULL,   -- the time the pass judged expiry by
    state        TEXT NOT NULL,     -- running, done, failed
    report       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX reconcile_runs_started ON reconcile_runs (started_at);

-- Expiry is found by time, not by scanning every live grant or delegation.
CREATE INDEX grants_expiry ON grants (expires_at) WHERE revoked_at IS NULL AND expires_at IS NOT NULL;
CREATE INDEX delegations_expiry ON delegations (expires_at) WHERE revoked_at IS NULL AND expires_at IS NOT NULL;
