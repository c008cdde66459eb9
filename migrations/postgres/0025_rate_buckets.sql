-- Each connection's SCIM rate-limit bucket, shared by every replica on this database so
-- that a connection's limit holds however many replicas serve it (one atomic UPDATE ...
-- RETURNING per take of a few tokens, see sqlstore.RateBuckets). Keyed by the tenant key, the
-- connection. UNLOGGED: a bucket is seconds of state; losing it in a crash refills the
-- connection's burst, which is harmless, and it spares the WAL a write per take.
CREATE UNLOGGED TABLE rate_buckets (
    connection_id  TEXT PRIMARY KEY,
    tokens         DOUBLE PRECISION NOT NULL,
    at             BIGINT NOT NULL,   -- microseconds since the epoch, PostgreSQL's clock
    granted        INTEGER NOT NULL   -- tokens the last take got
);
