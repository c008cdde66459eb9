-- Organisation-aware access: the org tree with relationships, roles, group-to-role
-- mappings and the grants they materialise. Grants are never deleted: revocation is a
-- state with its time, actor and reason.

ALTER TABLE orgs ADD COLUMN kind TEXT NOT NULL DEFAULT 'partner';
ALTER TABLE orgs ADD COLUMN path TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN contract_start BIGINT;
ALTER TABLE orgs ADD COLUMN contract_end BIGINT;
ALTER TABLE orgs ADD COLUMN grace_seconds BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN brand_display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN brand_logo_url TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN brand_primary_color TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN brand_accent_color TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE orgs ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
-- path is "/<root id>/.../<own id>/": a subtree is a prefix match, ancestors are its ids.
UPDATE orgs SET path = '/' || id || '/' WHERE parent_id IS NULL;
CREATE INDEX orgs_path ON orgs (path text_pattern_ops);

CREATE TABLE roles (
    id              TEXT PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,
    description     TEXT NOT NULL DEFAULT '',
    permissions     TEXT NOT NULL,          -- JSON array of permission names
    privileged      BOOLEAN NOT NULL,
    max_seconds     BIGINT NOT NULL DEFAULT 0, -- 0: no maximum
    inherits        BOOLEAN NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE TABLE role_permissions (
    role_id     TEXT NOT NULL REFERENCES roles (id),
    permission  TEXT NOT NULL,
    PRIMARY KEY (permission, role_id)
);

-- state: draft -> active -> retired; a change to an active mapping is a new draft that
-- replaces it on activation.
CREATE TABLE mappings (
    id              TEXT PRIMARY KEY,
    connection_id   TEXT NOT NULL REFERENCES connections (id),
    group_id        TEXT NOT NULL,
    role_id         TEXT NOT NULL REFERENCES roles (id),
    org_id          TEXT NOT NULL REFERENCES orgs (id),
    state           TEXT NOT NULL,
    replaces        TEXT REFERENCES mappings (id),
    drafted_by      TEXT NOT NULL,
    approved_by     TEXT,
    reason          TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    activated_at    BIGINT,
    retired_at      BIGINT
);
CREATE INDEX mappings_group ON mappings (connection_id, group_id) WHERE state = 'active';

CREATE TABLE grants (
    id              TEXT PRIMARY KEY,
    connection_id   TEXT,                   -- the user's connection
    user_id         TEXT NOT NULL,
    role_id         TEXT NOT NULL REFERENCES roles (id),
    org_id          TEXT NOT NULL REFERENCES orgs (id),
    source          TEXT NOT NULL,          -- mapping, direct, import, elevation
    source_id       TEXT NOT NULL DEFAULT '',
    granted_by      TEXT NOT NULL,
    approved_by     TEXT,
    reason          TEXT NOT NULL DEFAULT '',
    valid_from      BIGINT NOT NULL,
    expires_at      BIGINT,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    revoked_by      TEXT,
    revoke_reason   TEXT
);
-- One live grant per source, user, role and org: materialising twice is a no-op.
CREATE UNIQUE INDEX grants_live ON grants (source, source_id, user_id, role_id, org_id) WHERE revoked_at IS NULL;
CREATE INDEX grants_user ON grants (user_id, org_id) WHERE revoked_at IS NULL;
CREATE INDEX grants_org ON grants (org_id) WHERE revoked_at IS NULL;
CREATE INDEX grants_source ON grants (source, source_id) WHERE revoked_at IS NULL;
