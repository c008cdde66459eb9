package sqlstore

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/onboarding"
	"github.com/orgscim/orgscim/orgs"
	"gorm.io/gorm"
)

// Onboarding is the onboarding.OnboardingStore of a DB: onboarding requests and setup links.
func (db *DB) Onboarding() onboarding.OnboardingStore { return onboardingStore{db} }

type onboardingStore struct{ db *DB }

var (
	_ onboarding.OnboardingStore = onboardingStore{}
	_ orgs.PendingActivator      = orgStore{}
)

type onboardingRow struct {
	ID                string
	ParentID          string
	OrgName           string
	OrgSlug           string
	ConnectionSlug    string
	IdP               string `gorm:"column:idp"`
	ContractStart     *int64
	ContractEnd       *int64
	Owner             string
	AdminUserName     string
	AdminDisplayName  string
	AdminCapabilities string
	Mappings          string
	Reason            string
	State             string
	ProposedBy        string
	ProposedAt        int64
	DecidedBy         *string
	DecidedAt         *int64
	DecisionReason    *string
	OrgID             *string
	ConnectionID      *string
	DelegationID      *string
}

const onboardingCols = `id, parent_id, org_name, org_slug, connection_slug, idp, contract_start, contract_end, owner,
	admin_user_name, admin_display_name, admin_capabilities, mappings, reason, state, proposed_by, proposed_at,
	decided_by, decided_at, decision_reason, org_id, connection_id, delegation_id`

func (r onboardingRow) request() *onboarding.OnboardingRequest {
	out := &onboarding.OnboardingRequest{ID: r.ID, ParentID: r.ParentID, OrgName: r.OrgName, OrgSlug: r.OrgSlug,
		ConnectionSlug: r.ConnectionSlug, IdP: r.IdP, ContractStart: fromMicrosPtr(r.ContractStart),
		ContractEnd: fromMicrosPtr(r.ContractEnd), Owner: r.Owner, AdminUserName: r.AdminUserName,
		AdminDisplayName: r.AdminDisplayName, Reason: r.Reason, State: r.State, ProposedBy: r.ProposedBy,
		Proposed: fromMicros(r.ProposedAt), DecidedBy: deref(r.DecidedBy), Decided: fromMicrosPtr(r.DecidedAt),
		DecisionReason: deref(r.DecisionReason), OrgID: deref(r.OrgID), ConnectionID: deref(r.ConnectionID),
		DelegationID: deref(r.DelegationID)}
	// Written only from validated requests; a corrupt value reads as empty.
	_ = json.Unmarshal([]byte(r.AdminCapabilities), &out.AdminCapabilities)
	_ = json.Unmarshal([]byte(r.Mappings), &out.Mappings)
	return out
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func (s onboardingStore) CreateOnboarding(ctx context.Context, r *onboarding.OnboardingRequest) error {
	caps, err := jsonText(r.AdminCapabilities)
	if err != nil {
		return err
	}
	if r.Mappings == nil {
		r.Mappings = []onboarding.OnboardingMapping{}
	}
	maps, err := jsonText(r.Mappings)
	if err != nil {
		return err
	}
	return s.db.q(ctx).Exec("INSERT INTO onboarding_requests ("+onboardingCols+") VALUES "+
		"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		r.ID, r.ParentID, r.OrgName, r.OrgSlug, r.ConnectionSlug, r.IdP, microsPtr(r.ContractStart), microsPtr(r.ContractEnd),
		r.Owner, r.AdminUserName, r.AdminDisplayName, caps, maps, r.Reason, r.State, r.ProposedBy, micros(r.Proposed),
		nullable(r.DecidedBy), microsPtr(r.Decided), nullable(r.DecisionReason), nullable(r.OrgID), nullable(r.ConnectionID),
		nullable(r.DelegationID)).Error
}

func (s onboardingStore) Onboarding(ctx context.Context, id string) (*onboarding.OnboardingRequest, error) {
	var r onboardingRow
	err := s.db.q(ctx).Raw("SELECT "+onboardingCols+" FROM onboarding_requests WHERE id = ?", id).Take(&r).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "onboarding request %q not found", id)
	}
	if err != nil {
		return nil, err
	}
	return r.request(), nil
}

func (s onboardingStore) UpdateOnboarding(ctx context.Context, id string, fn func(*onboarding.OnboardingRequest) error) (*onboarding.OnboardingRequest, error) {
	var out *onboarding.OnboardingRequest
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var r onboardingRow
		err := tx.Raw("SELECT "+onboardingCols+" FROM onboarding_requests WHERE id = ?"+s.db.dialect.forUpdate, id).Take(&r).Error
		if isNoRows(err) {
			return orgscim.Errorf(orgscim.NotFound, "onboarding request %q not found", id)
		}
		if err != nil {
			return err
		}
		req := r.request()
		if err := fn(req); err != nil {
			return err
		}
		out = req
		return tx.Exec("UPDATE onboarding_requests SET state = ?, decided_by = ?, decided_at = ?, decision_reason = ?, "+
			"org_id = ?, connection_id = ?, delegation_id = ? WHERE id = ?",
			req.State, nullable(req.DecidedBy), microsPtr(req.Decided), nullable(req.DecisionReason),
			nullable(req.OrgID), nullable(req.ConnectionID), nullable(req.DelegationID), id).Error
	})
	return out, err
}

func (s onboardingStore) Onboardings(ctx context.Context, state, path string, after *onboarding.OnboardingPosition, limit int) ([]*onboarding.OnboardingRequest, error) {
	var where []string
	var args []any
	if state != "" {
		where, args = append(where, "state = ?"), append(args, state)
	}
	if path != "" {
		where = append(where, `parent_id IN (SELECT id FROM orgs WHERE path LIKE ? ESCAPE '\')`)
		args = append(args, likePrefix(path))
	}
	if after != nil {
		where, args = append(where, "(proposed_at, id) < (?, ?)"), append(args, after.ProposedMicros, after.ID)
	}
	q := "SELECT " + onboardingCols + " FROM onboarding_requests"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY proposed_at DESC, id DESC LIMIT ?"
	args = append(args, limit)
	var rows []onboardingRow
	if err := s.db.q(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*onboarding.OnboardingRequest, len(rows))
	for i, r := range rows {
		out[i] = r.request()
	}
	return out, nil
}

type setupLinkRow struct {
	ID           string
	ConnectionID string
	Hash         string
	CreatedBy    string
	CreatedAt    int64
	ExpiresAt    int64
	UsedAt       *int64
	TokenID      *string
}

const setupLinkCols = "id, connection_id, hash, created_by, created_at, expires_at, used_at, token_id"

func (r setupLinkRow) link() *onboarding.SetupLink {
	return &onboarding.SetupLink{ID: r.ID, ConnectionID: r.ConnectionID, Hash: r.Hash, CreatedBy: r.CreatedBy,
		Created: fromMicros(r.CreatedAt), Expires: fromMicros(r.ExpiresAt), Used: fromMicrosPtr(r.UsedAt), TokenID: deref(r.TokenID)}
}

func (s onboardingStore) CreateSetupLink(ctx context.Context, l *onboarding.SetupLink) error {
	return s.db.q(ctx).Exec("INSERT INTO setup_links ("+setupLinkCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		l.ID, l.ConnectionID, l.Hash, l.CreatedBy, micros(l.Created), micros(l.Expires), microsPtr(l.Used), nullable(l.TokenID)).Error
}

func (s onboardingStore) SetupLinkByHash(ctx context.Context, hash string) (*onboarding.SetupLink, error) {
	var r setupLinkRow
	err := s.db.q(ctx).Raw("SELECT "+setupLinkCols+" FROM setup_links WHERE hash = ?", hash).Take(&r).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "no such setup link")
	}
	if err != nil {
		return nil, err
	}
	return r.link(), nil
}

// ConsumeSetupLink is one conditional UPDATE: the database decides which of two
// concurrent reveals wins, by which one's update finds used_at still NULL. It returns
// the link it used, and NotFound when it updated nothing.
func (s onboardingStore) ConsumeSetupLink(ctx context.Context, hash string, now time.Time, tokenID string) (*onboarding.SetupLink, error) {
	var rows []setupLinkRow
	err := s.db.q(ctx).Raw("UPDATE setup_links SET used_at = ?, token_id = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ? "+
		"RETURNING "+setupLinkCols, micros(now), tokenID, hash, micros(now)).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, orgscim.Errorf(orgscim.NotFound, "no such setup link")
	}
	return rows[0].link(), nil
}

func (s orgStore) ActivatePending(ctx context.Context, id string) (bool, error) {
	res := s.db.q(ctx).Exec("UPDATE connections SET status = 'active' WHERE id = ? AND status = ?", id, orgs.ConnectionPending)
	return res.RowsAffected == 1, res.Error
}
