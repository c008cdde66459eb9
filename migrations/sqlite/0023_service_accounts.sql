-- Non-human identities (see orgs.ServiceAccounts). A service account belongs to one org
-- (org_id is its tenant key) and to an accountable person, its owner: a SCIM user of a
-- connection whose org contains it. Its right holds only while the owner is an active
-- user of an active connection, the org's relationship is active and inside its contract,
-- and it is neither retired nor past expires_at: the authority rule asks this at each
-- decision. Rows are never deleted; retirement is a state.
CREATE TABLE service_accounts (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES orgs (id),
    name                 TEXT NOT NULL,
    description          TEXT NOT NULL DEFAULT '',
    owner_connection_id  TEXT NOT NULL REFERENCES connections (id),
    owner_user_id        TEXT NOT NULL,
    created_by           TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    -- Set by the reconciler when it finds the owner gone: the org's administrators
    -- reassign or retire it by orphan_deadline, or the reconciler retires it then.
    orphaned_at          BIGINT,
    orphan_deadline      BIGINT,
    retired_at           BIGINT,
    retired_by           TEXT,
    retire_reason        TEXT
);
CREATE UNIQUE INDEX service_accounts_name ON service_accounts (org_id, name) WHERE retired_at IS NULL;
CREATE INDEX service_accounts_owner ON service_accounts (owner_connection_id, owner_user_id);

-- An integration token authenticates a service account (tenant key org_id, the account's
-- org). Only the SHA-256 of its secret is stored; every token expires.
CREATE TABLE integration_tokens (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES orgs (id),
    service_account_id  TEXT NOT NULL REFERENCES service_accounts (id),
    hash                TEXT NOT NULL UNIQUE,
    hint                TEXT NOT NULL,
    created_by          TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    revoked_at          BIGINT,
    revoked_by          TEXT
);
CREATE INDEX integration_tokens_account ON integration_tokens (service_account_id);

-- A service account's grants live in grants with connection_id NULL and user_id the
-- account's id. Its privileged roles come through an elevation like a person's: the
-- request names the account here (and its owner's connection in connection_id).
ALTER TABLE elevations ADD COLUMN service_account_id TEXT REFERENCES service_accounts (id);

-- Named operator keys: an operator key can be a service identity of the vendor org, with
-- a name and an accountable owner (an active user of a connection of the vendor's root
-- org), and works only while that owner does. Deployment-wide (the vendor's own keys
-- belong to no partner org), so no org_id. Keys without a row here are the plain operator
-- keys of before.
CREATE TABLE operator_key_identities (
    key_id               TEXT PRIMARY KEY REFERENCES admin_keys (id),
    name                 TEXT NOT NULL,
    owner_connection_id  TEXT NOT NULL REFERENCES connections (id),
    owner_user_id        TEXT NOT NULL
);
CREATE INDEX operator_key_identities_owner ON operator_key_identities (owner_connection_id, owner_user_id);
