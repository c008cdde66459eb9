-- Keys of the admin API: an operator's, or a delegated administrator's (bound to one
-- delegation). Stored as SHA-256 hashes only.
CREATE TABLE admin_keys (
    id             TEXT PRIMARY KEY,
    hash           TEXT NOT NULL UNIQUE,
    hint           TEXT NOT NULL,
    operator       TEXT,
    delegation_id  TEXT REFERENCES delegations (id),
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    revoked_at     BIGINT,
    last_used_at   BIGINT,
    CHECK ((operator IS NULL) <> (delegation_id IS NULL))
);
