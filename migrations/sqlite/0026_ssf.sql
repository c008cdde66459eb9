-- The Shared Signals transmitter (OpenID SSF 1.0): receivers registered by an operator,
-- their event streams, the subjects a stream left out, and the SETs queued for them.
-- SET rows are inserted by the transaction that appends the audit event they describe,
-- like the webhook outbox, so a SET is queued exactly when its change commits. The
-- signing key is a file, never a row.

-- A receiver authenticates with a bearer token kept as its hash. With a connection it
-- receives that tenant's events only; without one, every tenant's and the control plane's.
CREATE TABLE ssf_receivers (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    audience       TEXT NOT NULL,
    connection_id  TEXT REFERENCES connections (id),
    token_hash     TEXT NOT NULL UNIQUE,
    state          TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'revoked')),
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT
);

-- A stream is a receiver's: what it asked for and how it is delivered. connection_id is
-- the receiver's, copied so that the write path finds a tenant's streams by index. A
-- deleted stream stays, disabled, with deleted_at: a change committing at that moment
-- may still queue a SET for it, which must not fail the change on its foreign key.
CREATE TABLE ssf_streams (
    id                    TEXT PRIMARY KEY,
    receiver_id           TEXT NOT NULL REFERENCES ssf_receivers (id),
    connection_id         TEXT REFERENCES connections (id),
    description           TEXT NOT NULL DEFAULT '',
    events_requested      TEXT NOT NULL DEFAULT '',   -- space-separated event type URIs
    delivery_method       TEXT NOT NULL,
    endpoint_url          TEXT NOT NULL DEFAULT '',
    authorization_header  TEXT NOT NULL DEFAULT '',
    status                TEXT NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'paused', 'disabled')),
    reason                TEXT NOT NULL DEFAULT '',
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    deleted_at            BIGINT
);
CREATE INDEX ssf_streams_receiver ON ssf_streams (receiver_id);
CREATE INDEX ssf_streams_connection ON ssf_streams (connection_id) WHERE status <> 'disabled';

-- Streams send every subject by default; a removed subject is listed here until it is
-- added back. subject_key is the canonical form an event's subject is matched by.
CREATE TABLE ssf_subjects (
    stream_id    TEXT NOT NULL REFERENCES ssf_streams (id),
    subject_key  TEXT NOT NULL,
    subject      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (stream_id, subject_key)
);

-- One row per SET and stream. claims is the SET's payload without iss and aud, which
-- are added when it is signed. A push row is claimed with a lease like a webhook
-- delivery; a poll row is leased when a poll returns it and delivered when acknowledged.
-- ord orders a stream's SETs about one subject (subject: "user:<id>", "org:<slug>"):
-- push sends the next SET about a subject only once the one before it is delivered or
-- dead, while SETs about other subjects go out meanwhile.
CREATE TABLE ssf_outbox (
    id               TEXT PRIMARY KEY,
    stream_id        TEXT NOT NULL REFERENCES ssf_streams (id),
    jti              TEXT NOT NULL,
    chain            TEXT NOT NULL,
    subject          TEXT NOT NULL DEFAULT '',
    ord              BIGINT NOT NULL,
    event_type       TEXT NOT NULL,
    claims           TEXT NOT NULL,
    requested_at     BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease            TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    last_error       TEXT NOT NULL DEFAULT '',
    delivered_at     BIGINT,
    UNIQUE (stream_id, jti)
);
CREATE INDEX ssf_outbox_stream ON ssf_outbox (stream_id, subject, ord) WHERE state = 'pending';
CREATE INDEX ssf_outbox_due ON ssf_outbox (next_attempt_at) WHERE state = 'pending';
