-- Placement: each connection's rules put its users into sub-orgs of its subtree; the
-- result is kept on the user so that it can be indexed and shown.
ALTER TABLE connections ADD COLUMN placement TEXT NOT NULL DEFAULT '[]';
ALTER TABLE scim_users ADD COLUMN org_id TEXT;
CREATE INDEX scim_users_org ON scim_users (connection_id, org_id) WHERE deleted_at IS NULL;
