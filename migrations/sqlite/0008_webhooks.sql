-- Signed events for downstream applications: subscriptions, a transactional outbox and
-- revocation receipts. Outbox rows are inserted by the transaction that appends the
-- audit events they carry, so an event is queued exactly when its change commits.

-- A subscription receives the events of one tenant (a connection) or, with no
-- connection, those of the control plane. The secret signs deliveries; it is shown once
-- at creation and never returned again.
CREATE TABLE webhook_subscriptions (
    id             TEXT PRIMARY KEY,
    connection_id  TEXT REFERENCES connections (id),
    url            TEXT NOT NULL,
    secret         TEXT NOT NULL,
    actions        TEXT NOT NULL DEFAULT '',   -- comma-separated filter; empty: every action
    state          TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
    created_at     BIGINT NOT NULL
);
CREATE INDEX webhook_subscriptions_connection ON webhook_subscriptions (connection_id) WHERE state = 'active';

-- One row per (event, subscription). A claimed row stays pending with next_attempt_at
-- pushed to the end of its lease, so a delivery cut short by a crash is claimed again
-- once the lease runs out.
CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,
    subscription_id  TEXT NOT NULL REFERENCES webhook_subscriptions (id),
    event_id         TEXT NOT NULL,
    chain            TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    action           TEXT NOT NULL,
    revocation       BOOLEAN NOT NULL DEFAULT FALSE,
    payload          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease            TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    last_error       TEXT NOT NULL DEFAULT '',
    delivered_at     BIGINT,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_subscription ON outbox (subscription_id, state);

-- When each subscriber acknowledged each revocation: requested_at is the event's time
-- (the IdP's or operator's request), acknowledged_at the subscriber's 2xx.
CREATE TABLE revocation_receipts (
    event_id         TEXT NOT NULL,
    subscription_id  TEXT NOT NULL REFERENCES webhook_subscriptions (id),
    chain            TEXT NOT NULL,
    action           TEXT NOT NULL,
    requested_at     BIGINT NOT NULL,
    acknowledged_at  BIGINT,
    PRIMARY KEY (event_id, subscription_id)
);
CREATE INDEX revocation_receipts_chain ON revocation_receipts (chain, requested_at);
