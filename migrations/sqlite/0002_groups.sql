-- SCIM groups. Members live in their own table so that adding or removing k members
-- costs O(k) whatever the group's size, and concurrent PATCHes touch only their rows.
CREATE TABLE scim_groups (
    connection_id     TEXT NOT NULL REFERENCES connections (id),
    id                TEXT NOT NULL,
    display_name      TEXT NOT NULL,
    display_name_key  TEXT NOT NULL,
    external_id       TEXT,
    doc               TEXT NOT NULL,
    version           BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    deleted_at        BIGINT,
    PRIMARY KEY (connection_id, id)
);
CREATE UNIQUE INDEX scim_groups_display_name ON scim_groups (connection_id, display_name_key) WHERE deleted_at IS NULL;
CREATE INDEX scim_groups_external_id ON scim_groups (connection_id, external_id);
CREATE INDEX scim_groups_created ON scim_groups (connection_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX scim_groups_updated ON scim_groups (connection_id, updated_at) WHERE deleted_at IS NULL;

-- member_type is 'User' or 'Group'. display is what the IdP sent, if anything.
CREATE TABLE scim_memberships (
    connection_id  TEXT NOT NULL,
    group_id       TEXT NOT NULL,
    member_id      TEXT NOT NULL,
    member_type    TEXT NOT NULL,
    display        TEXT,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (connection_id, group_id, member_id),
    FOREIGN KEY (connection_id, group_id) REFERENCES scim_groups (connection_id, id)
);
CREATE INDEX scim_memberships_member ON scim_memberships (connection_id, member_id);
