-- The audit trail: append-only events, hash-chained per tenant (a connection, or the
-- control plane). audit_chains holds each chain's head; appending updates it in the
-- same transaction.
CREATE TABLE audit_chains (
    chain   TEXT PRIMARY KEY,
    seq     BIGINT NOT NULL,
    hash    TEXT NOT NULL
);

CREATE TABLE audit_events (
    id             TEXT PRIMARY KEY,
    chain          TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    at             BIGINT NOT NULL,   -- milliseconds since the epoch
    actor          TEXT NOT NULL,
    connection_id  TEXT NOT NULL DEFAULT '',
    org_id         TEXT NOT NULL DEFAULT '',
    org_path       TEXT NOT NULL DEFAULT '',
    action         TEXT NOT NULL,
    target_type    TEXT NOT NULL,
    target_id      TEXT NOT NULL,
    diff           TEXT NOT NULL DEFAULT '',
    request_id     TEXT NOT NULL DEFAULT '',
    client_addr    TEXT NOT NULL DEFAULT '',
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL,
    UNIQUE (chain, seq)
);
CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX audit_events_org ON audit_events (org_path, at);
CREATE INDEX audit_events_actor ON audit_events (actor, at);
CREATE INDEX audit_events_target ON audit_events (target_id, at);

-- No code path updates or deletes an event; the database refuses it too.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
