-- Delegated administration: authority over a subtree, granted down a chain that starts
-- at the vendor (parent_id NULL: granted by an operator).
CREATE TABLE delegations (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES orgs (id),
    holder_connection_id TEXT NOT NULL REFERENCES connections (id),
    holder_user_id       TEXT NOT NULL,
    capabilities         TEXT NOT NULL,      -- JSON array
    depth                INTEGER NOT NULL,   -- how many further levels it may delegate
    parent_id            TEXT REFERENCES delegations (id),
    granted_by           TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT,
    revoked_at           BIGINT,
    revoked_by           TEXT,
    revoke_reason        TEXT
);
CREATE INDEX delegations_org ON delegations (org_id) WHERE revoked_at IS NULL;
CREATE INDEX delegations_holder ON delegations (holder_connection_id, holder_user_id) WHERE revoked_at IS NULL;
CREATE INDEX delegations_parent ON delegations (parent_id);
