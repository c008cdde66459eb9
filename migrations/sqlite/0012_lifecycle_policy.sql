-- A connection's lifecycle policy: when the reconciler treats one of its members as
-- stale, and how much one pass may revoke in it before the guardrail holds the plan for
-- a person to approve. A connection without a row has the defaults below.
CREATE TABLE connection_policies (
    connection_id        TEXT PRIMARY KEY REFERENCES connections (id),
    stale_after_seconds  BIGINT NOT NULL DEFAULT 0,    -- 0: members are never stale
    guard_max_changes    BIGINT NOT NULL DEFAULT 500,  -- 0: no absolute limit
    guard_max_share      REAL NOT NULL DEFAULT 0, -- 0: no share limit; else 0 < share <= 1
    updated_at           BIGINT NOT NULL,
    updated_by           TEXT NOT NULL
);

-- What the guardrail held back: one row per pass and connection, with the plan's counts
-- as JSON. Approval applies the same rules to that connection, judged as of the pass's
-- time, and never more than the plan counted.
CREATE TABLE reconcile_holds (
    run_id         TEXT NOT NULL REFERENCES reconcile_runs (id),
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    plan           TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('held', 'approved')),
    decided_by     TEXT,
    decided_at     BIGINT,
    applied_run    TEXT REFERENCES reconcile_runs (id),
    PRIMARY KEY (run_id, connection_id)
);
CREATE INDEX reconcile_holds_state ON reconcile_holds (state, connection_id);

-- An approval is itself a pass (kind 'approval') that applies a held run's plan.
ALTER TABLE reconcile_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'pass';
ALTER TABLE reconcile_runs ADD COLUMN approves TEXT;

-- Stale members are found by when their IdP last wrote them.
CREATE INDEX scim_users_seen ON scim_users (connection_id, updated_at) WHERE deleted_at IS NULL AND active;
