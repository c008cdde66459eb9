-- Access reviews: a campaign over a subtree asks its delegated administrators to confirm
-- or revoke each grant that was live when it started, by a deadline; what is still
-- unconfirmed at the deadline is revoked, with the campaign as the reason. Rows are never
-- deleted: they are the evidence of who attested what, and when.
CREATE TABLE review_campaigns (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES orgs (id),   -- the subtree's root
    name              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    created_by        TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    deadline          BIGINT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('open', 'closed', 'cancelled')),
    ended_by          TEXT,                                  -- who closed or cancelled it
    ended_at          BIGINT,
    items             BIGINT NOT NULL DEFAULT 0,             -- grants in the snapshot
    excluded_mapping  BIGINT NOT NULL DEFAULT 0,             -- mapping grants left out of it
    confirmed         BIGINT NOT NULL DEFAULT 0,
    revoked           BIGINT NOT NULL DEFAULT 0,             -- by a reviewer
    expired_unconfirmed BIGINT NOT NULL DEFAULT 0            -- revoked at the deadline
);
-- The reconciler finds open campaigns past their deadline; listings go by org and id.
CREATE INDEX review_campaigns_due ON review_campaigns (deadline) WHERE state = 'open';
CREATE INDEX review_campaigns_org ON review_campaigns (org_id, id);

-- One row per grant in a campaign's snapshot; the grant id is the item's id.
CREATE TABLE review_items (
    campaign_id  TEXT NOT NULL REFERENCES review_campaigns (id),
    grant_id     TEXT NOT NULL REFERENCES grants (id),
    decision     TEXT NOT NULL DEFAULT 'pending' CHECK (decision IN ('pending', 'confirmed', 'revoked')),
    decided_by   TEXT,
    decided_at   BIGINT,
    note         TEXT,
    PRIMARY KEY (campaign_id, grant_id)
);
-- What is left to decide, which the deadline revokes.
CREATE INDEX review_items_pending ON review_items (campaign_id, grant_id) WHERE decision = 'pending';
