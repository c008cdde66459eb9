package sqlstore

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/msp"
	"github.com/orgscim/orgscim/orgs"
	"gorm.io/gorm"
)

// Engagements is the msp.Store of a DB.
func (db *DB) Engagements() msp.Store { return engagementStore{db} }

type engagementStore struct{ db *DB }

type engagementRow struct {
	ID                   string
	MspOrgID             string
	CustomerOrgID        string
	Capabilities         string
	Reason               string
	ProposedBy           string
	ProposedAt           int64
	ExpiresAt            *int64
	CustomerConsentBy    string
	CustomerConsentUnder string
	CustomerConsentAt    *int64
	VendorConsentBy      string
	VendorConsentAt      *int64
	RevokedAt            *int64
	RevokedBy            string
	RevokeReason         string
}

const engagementCols = "id, msp_org_id, customer_org_id, capabilities, reason, proposed_by, proposed_at, expires_at, " +
	"customer_consent_by, customer_consent_under, customer_consent_at, vendor_consent_by, vendor_consent_at, revoked_at, revoked_by, revoke_reason"

func (r engagementRow) engagement() (*orgs.Engagement, error) {
	e := &orgs.Engagement{ID: r.ID, MSPOrgID: r.MspOrgID, CustomerOrgID: r.CustomerOrgID, Reason: r.Reason, ProposedBy: r.ProposedBy,
		Proposed: fromMicros(r.ProposedAt), Expires: fromMicrosPtr(r.ExpiresAt), CustomerConsentBy: r.CustomerConsentBy,
		CustomerConsentUnder: r.CustomerConsentUnder, CustomerConsent: fromMicrosPtr(r.CustomerConsentAt),
		VendorConsentBy: r.VendorConsentBy, VendorConsent: fromMicrosPtr(r.VendorConsentAt), Revoked: fromMicrosPtr(r.RevokedAt),
		RevokedBy: r.RevokedBy, RevokeReason: r.RevokeReason}
	if err := json.Unmarshal([]byte(r.Capabilities), &e.Capabilities); err != nil {
		return nil, err
	}
	return e, nil
}

func (s engagementStore) list(ctx context.Context, q *gorm.DB, where string, args ...any) ([]*orgs.Engagement, error) {
	var rows []engagementRow
	if err := q.Raw("SELECT "+engagementCols+" FROM msp_engagements "+where, args...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*orgs.Engagement, len(rows))
	for i, r := range rows {
		e, err := r.engagement()
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

func (s engagementStore) CreateEngagement(ctx context.Context, e *orgs.Engagement) error {
	caps, _ := json.Marshal(e.Capabilities)
	err := s.db.q(ctx).Exec("INSERT INTO msp_engagements ("+engagementCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		e.ID, e.MSPOrgID, e.CustomerOrgID, string(caps), e.Reason, e.ProposedBy, micros(e.Proposed), microsPtr(e.Expires),
		e.CustomerConsentBy, e.CustomerConsentUnder, microsPtr(e.CustomerConsent), e.VendorConsentBy, microsPtr(e.VendorConsent),
		microsPtr(e.Revoked), e.RevokedBy, e.RevokeReason).Error
	if isUniqueViolation(err) {
		return orgscim.Errorf(orgscim.Conflict, "this MSP has an engagement with this customer already (proposed or in force); revoke it first")
	}
	return err
}

func (s engagementStore) Engagement(ctx context.Context, id string) (*orgs.Engagement, error) {
	es, err := s.list(ctx, s.db.q(ctx), "WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, orgscim.Errorf(orgscim.NotFound, "no MSP engagement %q", id)
	}
	return es[0], nil
}

func (s engagementStore) UpdateEngagement(ctx context.Context, id string, fn func(*orgs.Engagement) error) (*orgs.Engagement, error) {
	var out *orgs.Engagement
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		es, err := s.list(ctx, tx, "WHERE id = ?"+s.db.dialect.forUpdate, id)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return orgscim.Errorf(orgscim.NotFound, "no MSP engagement %q", id)
		}
		e := es[0]
		if err := fn(e); err != nil {
			return err
		}
		if err := tx.Exec("UPDATE msp_engagements SET customer_consent_by = ?, customer_consent_under = ?, customer_consent_at = ?, "+
			"vendor_consent_by = ?, vendor_consent_at = ?, revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE id = ?",
			e.CustomerConsentBy, e.CustomerConsentUnder, microsPtr(e.CustomerConsent), e.VendorConsentBy, microsPtr(e.VendorConsent),
			microsPtr(e.Revoked), e.RevokedBy, e.RevokeReason, id).Error; err != nil {
			return err
		}
		out = e
		return nil
	})
	return out, err
}

func (s engagementStore) EngagementsOf(ctx context.Context, orgID, after string, limit int) ([]*orgs.Engagement, error) {
	return s.list(ctx, s.db.q(ctx), "WHERE (msp_org_id = ? OR customer_org_id = ?) AND id > ? ORDER BY id LIMIT ?", orgID, orgID, after, limit)
}

func (s engagementStore) UnrevokedEngagements(ctx context.Context, after string, limit int) ([]*orgs.Engagement, error) {
	return s.list(ctx, s.db.q(ctx), "WHERE revoked_at IS NULL AND id > ? ORDER BY id LIMIT ?", after, limit)
}

func (s engagementStore) ConsentedEngagementsReaching(ctx context.Context, orgPath string) ([]*orgs.Engagement, error) {
	return s.list(ctx, s.db.q(ctx), `WHERE revoked_at IS NULL AND customer_consent_at IS NOT NULL AND vendor_consent_at IS NOT NULL
		AND msp_org_id IN (SELECT id FROM orgs WHERE substr(?, 1, length(path)) = path) ORDER BY id`, orgPath)
}

func (s engagementStore) TechniciansOf(ctx context.Context, engagementID string) ([]*orgs.Delegation, error) {
	var rows []delegationRow
	if err := s.db.q(ctx).Raw("SELECT "+delegationCols+" FROM delegations WHERE engagement_id = ? ORDER BY created_at, id",
		engagementID).Scan(&rows).Error; err != nil {
		return nil, err
	}
	return delegations(rows)
}

func (s engagementStore) EngagementStanding(ctx context.Context, e *orgs.Engagement) (msp, customer *orgs.Org, byID map[string]*orgs.Org, err error) {
	byID = map[string]*orgs.Org{}
	if err := s.db.addPaths(ctx, byID, e.MSPOrgID, e.CustomerOrgID); err != nil {
		return nil, nil, nil, err
	}
	return byID[e.MSPOrgID], byID[e.CustomerOrgID], byID, nil
}

// addPaths puts the orgs ids and every org on their paths into byID.
func (db *DB) addPaths(ctx context.Context, byID map[string]*orgs.Org, ids ...string) error {
	m, err := accessStore{db}.OrgsByID(ctx, ids)
	if err != nil {
		return err
	}
	var more []string
	for _, o := range m {
		byID[o.ID] = o
		for _, id := range strings.Split(strings.Trim(o.Path, "/"), "/") {
			if _, ok := byID[id]; !ok && id != "" {
				more = append(more, id)
			}
		}
	}
	if len(more) == 0 {
		return nil
	}
	m, err = accessStore{db}.OrgsByID(ctx, more)
	if err != nil {
		return err
	}
	for id, o := range m {
		byID[id] = o
	}
	return nil
}

// withReach reads, for each technician's delegation of a chain, what its engagement
// link asks (orgs.MSPReach), and adds the MSP's path to byID. An ordinary chain costs
// nothing more; a technician's, one query (the engagement with the technician's home),
// and one more only when an org it needs is not on the chain's paths already.
func (db *DB) withReach(ctx context.Context, links []orgs.ChainLink, byID map[string]*orgs.Org) error {
	for i := range links {
		d := links[i].Delegation
		if d.EngagementID == "" {
			continue
		}
		var rows []struct {
			E           engagementRow `gorm:"embedded"`
			HolderOrgID *string
		}
		if err := db.q(ctx).Raw("SELECT "+aliased("e.", "", engagementCols)+`, c.org_id AS holder_org_id
			FROM msp_engagements e LEFT JOIN connections c ON c.id = ? WHERE e.id = ?`, d.HolderConnectionID, d.EngagementID).
			Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			continue // the rule says the link is missing
		}
		e, err := rows[0].E.engagement()
		if err != nil {
			return err
		}
		home := deref(rows[0].HolderOrgID)
		var missing []string
		for _, id := range []string{e.MSPOrgID, e.CustomerOrgID, home} {
			if _, ok := byID[id]; !ok && id != "" {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			if err := db.addPaths(ctx, byID, missing...); err != nil {
				return err
			}
		}
		r := &orgs.MSPReach{Engagement: e, MSP: byID[e.MSPOrgID], Customer: byID[e.CustomerOrgID]}
		if home != "" {
			r.HolderHome = byID[home]
		}
		links[i].Reach = r
	}
	return nil
}
