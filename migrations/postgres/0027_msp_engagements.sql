-- Managed service providers (see orgs/msp.go). An engagement gives an MSP org
-- administration over a customer org outside its own subtree, once both the customer's
-- administrator and the vendor consent. It holds only while neither side has revoked it,
-- it has not expired, and both orgs' relationships are active: the authority rule asks
-- this at each decision of every technician delegation made under it. Rows are never
-- deleted; revocation is a state.
CREATE TABLE msp_engagements (
    id                   TEXT PRIMARY KEY,
    msp_org_id           TEXT NOT NULL REFERENCES orgs (id),
    customer_org_id      TEXT NOT NULL REFERENCES orgs (id),
    capabilities         TEXT NOT NULL,      -- JSON array
    reason               TEXT NOT NULL DEFAULT '',
    proposed_by          TEXT NOT NULL,
    proposed_at          BIGINT NOT NULL,
    expires_at           BIGINT,
    customer_consent_by  TEXT NOT NULL DEFAULT '',
    -- The delegation the customer's administrator consented through: what technicians
    -- made on the customer goes back to it for re-attestation when the engagement ends.
    customer_consent_under TEXT NOT NULL DEFAULT '',
    customer_consent_at  BIGINT,
    vendor_consent_by    TEXT NOT NULL DEFAULT '',
    vendor_consent_at    BIGINT,
    revoked_at           BIGINT,
    revoked_by           TEXT NOT NULL DEFAULT '',
    revoke_reason        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX msp_engagements_customer ON msp_engagements (customer_org_id, id);
CREATE INDEX msp_engagements_msp ON msp_engagements (msp_org_id, id);
-- One engagement in force or waiting per pair: a second proposal is a conflict.
CREATE UNIQUE INDEX msp_engagements_pair ON msp_engagements (msp_org_id, customer_org_id) WHERE revoked_at IS NULL;

-- A technician's delegation made under an engagement: its org lies in the customer's
-- subtree, its parent is the MSP administrator's delegation, and it holds only while
-- the engagement does.
ALTER TABLE delegations ADD COLUMN engagement_id TEXT REFERENCES msp_engagements (id);
CREATE INDEX delegations_engagement ON delegations (engagement_id) WHERE engagement_id IS NOT NULL;
