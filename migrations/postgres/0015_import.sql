-- Spreadsheet import: one row per applied import batch, and on each user the batch that
-- created it, until its IdP claims it over SCIM (linked_at). The partial indexes hold
-- only imported, not yet linked users, so the lookup that every SCIM user creation makes
-- costs one empty index probe once the IdP has claimed them all. The looked-up value
-- leads each index: right after a bulk import, before the planner has statistics, the
-- e-mail lookup must not take the externalId index and filter every imported user.

CREATE TABLE import_batches (
    id              TEXT PRIMARY KEY,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    file_sha256     TEXT NOT NULL,
    rows_total      BIGINT NOT NULL,
    orgs_created    BIGINT NOT NULL,
    users_created   BIGINT NOT NULL,
    grants_created  BIGINT NOT NULL,
    grants_replaced BIGINT NOT NULL,
    unchanged       BIGINT NOT NULL
);

ALTER TABLE scim_users ADD COLUMN import_batch_id TEXT;
ALTER TABLE scim_users ADD COLUMN import_email_key TEXT; -- the folded e-mail, to link by
ALTER TABLE scim_users ADD COLUMN linked_at BIGINT;
CREATE INDEX scim_users_unlinked_external_id ON scim_users (external_id, connection_id)
    WHERE import_batch_id IS NOT NULL AND linked_at IS NULL;
CREATE INDEX scim_users_unlinked_email ON scim_users (import_email_key, connection_id)
    WHERE import_batch_id IS NOT NULL AND linked_at IS NULL;
