-- Reviews attest the mappings too: each active mapping on a campaign's subtree (or
-- handed over with a revoked delegation) is an item to confirm or retire by the deadline;
-- what is unconfirmed then is retired, with its grants.
CREATE TABLE review_mappings (
    campaign_id  TEXT NOT NULL REFERENCES review_campaigns (id),
    mapping_id   TEXT NOT NULL REFERENCES mappings (id),
    decision     TEXT NOT NULL DEFAULT 'pending' CHECK (decision IN ('pending', 'confirmed', 'retired')),
    decided_by   TEXT,
    decided_at   BIGINT,
    note         TEXT,
    PRIMARY KEY (campaign_id, mapping_id)
);
CREATE INDEX review_mappings_pending ON review_mappings (campaign_id, mapping_id) WHERE decision = 'pending';
ALTER TABLE review_campaigns ADD COLUMN mappings BIGINT NOT NULL DEFAULT 0;
ALTER TABLE review_campaigns ADD COLUMN mappings_confirmed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE review_campaigns ADD COLUMN mappings_retired BIGINT NOT NULL DEFAULT 0;
