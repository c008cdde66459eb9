-- Just-in-time elevation: a request for a privileged role, for a reason and a duration,
-- decided by a second person. An approved request becomes a grant (source 'elevation',
-- source_id = this id) that expires on its own; grant_id links the two. Rows are never
-- deleted: the table is the record of who asked for what, and who said yes or no.
CREATE TABLE elevations (
    id               TEXT PRIMARY KEY,
    connection_id    TEXT NOT NULL REFERENCES connections (id),
    user_id          TEXT NOT NULL,          -- the beneficiary
    role_id          TEXT NOT NULL REFERENCES roles (id),
    org_id           TEXT NOT NULL REFERENCES orgs (id),
    reason           TEXT NOT NULL,
    duration_seconds BIGINT NOT NULL CHECK (duration_seconds > 0),
    requested_by     TEXT NOT NULL,
    requested_at     BIGINT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'rejected', 'cancelled', 'expired-unapproved')),
    decided_by       TEXT,
    decided_at       BIGINT,
    decision_reason  TEXT,
    grant_id         TEXT REFERENCES grants (id)
);
-- The list endpoint filters by org (a delegate's subtree) and state, newest first.
CREATE INDEX elevations_org_state ON elevations (org_id, state, requested_at);
CREATE INDEX elevations_user ON elevations (connection_id, user_id);
