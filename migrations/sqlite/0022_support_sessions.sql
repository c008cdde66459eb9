-- Deployment-wide settings (no org_id: they hold for every tenant), one value a name.
CREATE TABLE deployment_settings (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL DEFAULT 0,
    updated_by  TEXT NOT NULL DEFAULT ''
);
-- The support policy: operator keys act on partner data only in a support session. On
-- for a new deployment (no org yet); off for one that existed before, so that its
-- operators' scripts keep working until it is turned on (orgscim support policy).
INSERT INTO deployment_settings (name, value)
    SELECT 'support.required', CASE WHEN EXISTS (SELECT 1 FROM orgs) THEN 'false' ELSE 'true' END;
INSERT INTO deployment_settings (name, value) VALUES ('support.max_duration_seconds', '28800');

-- Support sessions of the vendor's staff on a partner org (tenant key org_id): see package support.
CREATE TABLE support_sessions (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES orgs (id),
    staff             TEXT NOT NULL,
    ticket            TEXT NOT NULL,
    reason            TEXT NOT NULL,
    write_access      BOOLEAN NOT NULL DEFAULT FALSE,
    break_glass       BOOLEAN NOT NULL DEFAULT FALSE,
    state             TEXT NOT NULL CHECK (state IN ('requested', 'active', 'refused', 'ended')),
    duration_seconds  BIGINT NOT NULL,
    requested_at      BIGINT NOT NULL,
    decided_by        TEXT NOT NULL DEFAULT '',
    decided_at        BIGINT,
    decision_note     TEXT NOT NULL DEFAULT '',
    expires_at        BIGINT,
    ended_at          BIGINT,
    ended_by          TEXT NOT NULL DEFAULT '',
    end_reason        TEXT NOT NULL DEFAULT '',
    reviewed_by       TEXT NOT NULL DEFAULT '',
    reviewed_at       BIGINT,
    review_note       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX support_sessions_org ON support_sessions (org_id, id);
-- The reconciler's sweep of sessions past their expiry.
CREATE INDEX support_sessions_active ON support_sessions (expires_at) WHERE state = 'active';
