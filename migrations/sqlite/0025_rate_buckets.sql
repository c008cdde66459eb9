-- Each connection's SCIM rate-limit bucket, shared by replicas on PostgreSQL. SQLite is
-- one process, which keeps its buckets in memory: the table is here, unused, so that
-- both engines have one schema. Keyed by the tenant key, the connection.
CREATE TABLE rate_buckets (
    connection_id  TEXT PRIMARY KEY,
    tokens         REAL NOT NULL,
    at             INTEGER NOT NULL,   -- microseconds since the epoch
    granted        INTEGER NOT NULL   -- tokens the last take got
);
