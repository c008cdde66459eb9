-- Timestamps are Unix microseconds (BIGINT) on both engines, so that the same
-- comparisons, sorting and filters hold on PostgreSQL and SQLite alike.

CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    parent_id   TEXT REFERENCES orgs (id),
    status      TEXT NOT NULL DEFAULT 'active',
    created_at  BIGINT NOT NULL
);
CREATE INDEX orgs_parent ON orgs (parent_id);

CREATE TABLE connections (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    org_id      TEXT NOT NULL REFERENCES orgs (id),
    idp         TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active',
    created_at  BIGINT NOT NULL
);
CREATE INDEX connections_org ON connections (org_id);

CREATE TABLE tokens (
    id             TEXT PRIMARY KEY,
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    hash           TEXT NOT NULL UNIQUE,
    hint           TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    revoked_at     BIGINT,
    last_used_at   BIGINT
);
CREATE INDEX tokens_connection ON tokens (connection_id);

-- One row per SCIM user. doc holds the whole resource; the columns beside it are
-- derived from it so that filters, sorting and uniqueness use indexes.
CREATE TABLE scim_users (
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    id             TEXT NOT NULL,
    user_name      TEXT NOT NULL,
    user_name_key  TEXT NOT NULL,
    external_id    TEXT,
    display_name   TEXT,
    given_name     TEXT,
    family_name    TEXT,
    email          TEXT,
    active         BOOLEAN NOT NULL,
    password_hash  TEXT,
    doc            TEXT NOT NULL,
    version        BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    deleted_at     BIGINT,
    PRIMARY KEY (connection_id, id)
);
CREATE UNIQUE INDEX scim_users_user_name ON scim_users (connection_id, user_name_key) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_external_id ON scim_users (connection_id, external_id);
CREATE INDEX scim_users_display_name ON scim_users (connection_id, unicode_lower(display_name)) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_given_name ON scim_users (connection_id, unicode_lower(given_name)) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_family_name ON scim_users (connection_id, unicode_lower(family_name)) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_email ON scim_users (connection_id, unicode_lower(email)) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_active ON scim_users (connection_id, active) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_created ON scim_users (connection_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_updated ON scim_users (connection_id, updated_at) WHERE deleted_at IS NULL;
