-- Partner onboarding: a request proposes a partner org with its connection, its first
-- administrator and the group-to-role mappings it wants; a second person approves it
-- (creating all of that in one transaction) or rejects it. Rows are never deleted: the
-- table is the record of who proposed which partner and who said yes or no.
CREATE TABLE onboarding_requests (
    id                  TEXT PRIMARY KEY,
    parent_id           TEXT NOT NULL REFERENCES orgs (id),
    org_name            TEXT NOT NULL,
    org_slug            TEXT NOT NULL,
    connection_slug     TEXT NOT NULL,
    idp                 TEXT NOT NULL CHECK (idp IN ('entra', 'okta', 'generic')),
    contract_start      BIGINT,
    contract_end        BIGINT,
    owner               TEXT NOT NULL,
    admin_user_name     TEXT NOT NULL,
    admin_display_name  TEXT NOT NULL DEFAULT '',
    admin_capabilities  TEXT NOT NULL,      -- JSON array
    mappings            TEXT NOT NULL,      -- JSON array of {"group", "role"}
    reason              TEXT NOT NULL DEFAULT '',
    state               TEXT NOT NULL CHECK (state IN ('proposed', 'approved', 'rejected')),
    proposed_by         TEXT NOT NULL,
    proposed_at         BIGINT NOT NULL,
    decided_by          TEXT,
    decided_at          BIGINT,
    decision_reason     TEXT,
    org_id              TEXT REFERENCES orgs (id),
    connection_id       TEXT REFERENCES connections (id),
    delegation_id       TEXT REFERENCES delegations (id)
);
CREATE INDEX onboarding_requests_state ON onboarding_requests (state, proposed_at);
CREATE INDEX onboarding_requests_parent ON onboarding_requests (parent_id);

-- A setup link gives a partner's IT administrator one look at a connection's SCIM base
-- URL and one fresh token. Only the SHA-256 of the link's secret is kept; used_at is set
-- by the one reveal that wins, together with the token it issued.
CREATE TABLE setup_links (
    id             TEXT PRIMARY KEY,
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    hash           TEXT NOT NULL UNIQUE,
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT,
    token_id       TEXT REFERENCES tokens (id)
);
CREATE INDEX setup_links_connection ON setup_links (connection_id);
