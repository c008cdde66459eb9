-- Connection health: what a partner's IdP has been sending, so that a failing set-up can
-- be diagnosed from the vendor's side without guessing. Every replica buffers its counts
-- and adds them here about once a second, so the figures survive restarts and are the
-- same whichever replica is asked.
CREATE TABLE connection_health (
    connection_id    TEXT PRIMARY KEY REFERENCES connections (id),
    requests         BIGINT NOT NULL DEFAULT 0,
    client_errors    BIGINT NOT NULL DEFAULT 0,   -- answered 4xx
    server_errors    BIGINT NOT NULL DEFAULT 0,   -- answered 5xx
    last_request_at  BIGINT,
    last_push_at     BIGINT,                      -- the last POST, PUT, PATCH or DELETE
    last_success_at  BIGINT,
    last_error_at    BIGINT,
    logged           BIGINT NOT NULL DEFAULT 0,   -- requests ever logged: the next one is number logged
    rejected         BIGINT NOT NULL DEFAULT 0,   -- requests to its URL with a refused token (not in requests)
    last_rejected_at BIGINT
);

-- The redacted log of a connection's last requests: a ring, request number seq in slot
-- seq modulo the ring's size, so it never grows and needs no clean-up. Bodies are stored
-- redacted (no passwords) and cut to a few KB; no header is stored.
CREATE TABLE connection_requests (
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    slot           INTEGER NOT NULL,
    seq            BIGINT NOT NULL,
    at             BIGINT NOT NULL,
    method         TEXT NOT NULL,
    path           TEXT NOT NULL,
    status         INTEGER NOT NULL,
    scim_type      TEXT NOT NULL DEFAULT '',
    detail         TEXT NOT NULL DEFAULT '',
    latency_us     BIGINT NOT NULL,
    request_id     TEXT NOT NULL DEFAULT '',
    request_body   TEXT NOT NULL DEFAULT '',
    response_body  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (connection_id, slot)
);

-- A token rotation in progress: token_id is the new token, valid beside the old ones
-- until the rotation completes (the others are revoked) or is cancelled (it is).
CREATE TABLE token_rotations (
    connection_id  TEXT PRIMARY KEY REFERENCES connections (id),
    token_id       TEXT NOT NULL REFERENCES tokens (id),
    started_at     BIGINT NOT NULL
);
