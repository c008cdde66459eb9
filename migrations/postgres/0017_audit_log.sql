-- The verifiable audit log (issue 15): one Merkle tree (RFC 6962, golang.org/x/mod/sumdb/tlog)
-- over every audit event of the deployment, with signed checkpoints.
--
-- Requests no longer lock a chain head: each event takes a number from audit_events_seq
-- (no lock, no wait) and its content hash, and commits with its change. A single sealer
-- later gives committed events their log position, in number order, up to a horizon
-- below which no transaction that drew a number is still open (see sqlstore/auditlog.go).
-- The per-connection chain columns stay for the events written before this migration;
-- the numbers start above every old seq, so (chain, seq) stays unique.
CREATE SEQUENCE audit_events_seq;
SELECT setval('audit_events_seq', (SELECT COALESCE(max(seq), 0) + 1 FROM audit_events), false);
CREATE INDEX audit_events_seq_idx ON audit_events (seq);

-- The sealer's state: the log's origin (its name in every checkpoint), the events that
-- predate the log (seq <= legacy_max, sealed first, in (at, id) order; legacy_at and
-- legacy_id are how far that got), the last number sealed, and the tree's size.
CREATE TABLE audit_log_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    origin       TEXT NOT NULL,
    legacy_max   BIGINT NOT NULL,
    legacy_at    BIGINT NOT NULL DEFAULT -1,
    legacy_id    TEXT NOT NULL DEFAULT '',
    legacy_done  BOOLEAN NOT NULL DEFAULT FALSE,
    sealed_seq   BIGINT NOT NULL,
    size         BIGINT NOT NULL DEFAULT 0
);
INSERT INTO audit_log_state (id, origin, legacy_max, sealed_seq)
SELECT 1, 'orgscim.audit/' || substr(md5(random()::text || clock_timestamp()::text), 1, 16),
       COALESCE(max(seq), 0), COALESCE(max(seq), 0)
FROM audit_events;

-- Each sealed event's position in the log and its leaf hash.
CREATE TABLE audit_log (
    position   BIGINT PRIMARY KEY,
    event_id   TEXT NOT NULL UNIQUE,
    leaf_hash  BYTEA NOT NULL
);

-- The tree's stored hashes, by tlog.StoredHashIndex: what proofs are read from.
CREATE TABLE audit_tree (
    idx   BIGINT PRIMARY KEY,
    hash  BYTEA NOT NULL
);

-- Every signed checkpoint, in C2SP signed-note form. key_name and public_key say which
-- key signed it (the private key is never here); verification trusts only the keys it
-- is given, not these.
CREATE TABLE audit_checkpoints (
    size        BIGINT PRIMARY KEY,
    root        BYTEA NOT NULL,
    note        TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
