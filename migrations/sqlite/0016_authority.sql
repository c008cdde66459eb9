-- Provenance of authority: every grant, mapping approval and admin key records the
-- delegation under which it was made (NULL: the vendor's operators), so that everything
-- made under a delegation can be found, re-attested or revoked with it, and so that the
-- authority rule can ask at each decision whether that chain still holds.
ALTER TABLE grants ADD COLUMN granted_under TEXT REFERENCES delegations (id);
CREATE INDEX grants_granted_under ON grants (granted_under) WHERE revoked_at IS NULL;
ALTER TABLE mappings ADD COLUMN approved_under TEXT REFERENCES delegations (id);
CREATE INDEX mappings_approved_under ON mappings (approved_under) WHERE state = 'active';
-- A key minted with another key dies with it: issued_with_key is the key that minted it,
-- issued_under the delegation its issuer acted through.
ALTER TABLE admin_keys ADD COLUMN issued_with_key TEXT REFERENCES admin_keys (id);
ALTER TABLE admin_keys ADD COLUMN issued_under TEXT REFERENCES delegations (id);
CREATE INDEX admin_keys_issued_with ON admin_keys (issued_with_key) WHERE revoked_at IS NULL;
CREATE INDEX admin_keys_delegation ON admin_keys (delegation_id) WHERE revoked_at IS NULL;
CREATE INDEX admin_keys_issued_under ON admin_keys (issued_under);

-- A reviewer who revokes a person's mapping-derived grant overrides the IdP's
-- membership: the exception keeps the mapping from granting it again while it stands.
CREATE TABLE mapping_exceptions (
    mapping_id     TEXT NOT NULL REFERENCES mappings (id),
    user_id        TEXT NOT NULL,
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    campaign_id    TEXT REFERENCES review_campaigns (id),
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    reason         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (mapping_id, user_id)
);

-- Reviews now cover mapping-derived grants; a campaign may be scoped to exactly the
-- grants handed over when a delegation was revoked, or opened by a business event.
ALTER TABLE review_campaigns ADD COLUMN kind TEXT NOT NULL DEFAULT 'subtree';
