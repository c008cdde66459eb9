-- An org's claims on e-mail domains (see package domains). A domain is verified by one
-- org at a time: the partial unique index refuses a second org's verification.
CREATE TABLE domain_claims (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs (id),
    domain           TEXT NOT NULL,
    token            TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified', 'lapsed')),
    method           TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    verified_at      BIGINT,
    last_checked_at  BIGINT
);
CREATE UNIQUE INDEX domain_claims_org_domain ON domain_claims (org_id, domain);
CREATE UNIQUE INDEX domain_claims_verified ON domain_claims (domain) WHERE status = 'verified';
CREATE INDEX domain_claims_domain ON domain_claims (domain);

-- A connection's answer to a user outside its org's verified domains: refuse it, or
-- store it quarantined (inactive for every access decision) for an administrator.
ALTER TABLE connection_policies ADD COLUMN domain_policy TEXT NOT NULL DEFAULT 'refuse';

-- The users a connection's domain policy quarantined: held until their address moves
-- into a verified domain, an administrator releases them (for that domain), or deletes them.
CREATE TABLE user_quarantine (
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    user_id        TEXT NOT NULL,
    domain         TEXT NOT NULL,
    state          TEXT NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'released')),
    since          BIGINT NOT NULL,
    decided_by     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (connection_id, user_id)
);

-- On for connections created through onboarding: SCIM writes are refused until the
-- connection's org has verified an e-mail domain.
ALTER TABLE connection_policies ADD COLUMN require_verified_domain BOOLEAN NOT NULL DEFAULT FALSE;
