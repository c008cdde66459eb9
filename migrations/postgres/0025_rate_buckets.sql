-- Each connection's SCIM rate-limit bucket, shared by every replica on this database so
-- that a connection's limit holds however many replicas serve it (one atomic UPDATE ...
-- RETURNING per request, see sqlstore.RateBuckets). Keyed by the tenant key, the
-- connection. UNLOGGED: a bucket is seconds of state; losing it in a crash refills the
-- connection's burst, which is harmless, and it spares the WAL one write per request.
-- granted records whether the last take got a token, for RETURNING to report.
CREATE UNLOGGED TABLE rate_buckets (
    connection_id  TEXT PRIMARY KEY,
    tokens         DOUBLE PRECISION NOT NULL,
    at             BIGINT NOT NULL,   -- microseconds since the epoch, PostgreSQL's clock
    granted        BOOLEAN NOT NULL
);
