package sqlstore

import (
	"context"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
	"gorm.io/gorm"
)

var _ orgs.ElevationStore = accessStore{}

type elevationRow struct {
	ID               string
	ConnectionID     string
	UserID           string
	RoleID           string
	OrgID            string
	Reason           string
	DurationSeconds  int64
	RequestedBy      string
	RequestedAt      int64
	State            string
	DecidedBy        *string
	DecidedAt        *int64
	DecisionReason   *string
	GrantID          *string
	ServiceAccountID *string
}

const elevationCols = `id, connection_id, user_id, role_id, org_id, reason, duration_seconds, requested_by, requested_at,
	state, decided_by, decided_at, decision_reason, grant_id, service_account_id`

func (r elevationRow) elevation() *orgs.Elevation {
	return &orgs.Elevation{ID: r.ID, ConnectionID: r.ConnectionID, UserID: r.UserID, RoleID: r.RoleID, OrgID: r.OrgID,
		Reason: r.Reason, Duration: time.Duration(r.DurationSeconds) * time.Second, RequestedBy: r.RequestedBy,
		Requested: fromMicros(r.RequestedAt), State: r.State, DecidedBy: deref(r.DecidedBy), Decided: fromMicrosPtr(r.DecidedAt),
		DecisionReason: deref(r.DecisionReason), GrantID: deref(r.GrantID), ServiceAccountID: deref(r.ServiceAccountID)}
}

func (s accessStore) CreateElevation(ctx context.Context, e *orgs.Elevation) error {
	return s.db.q(ctx).Exec("INSERT INTO elevations ("+elevationCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		e.ID, e.ConnectionID, e.UserID, e.RoleID, e.OrgID, e.Reason, int64(e.Duration/time.Second), e.RequestedBy,
		micros(e.Requested), e.State, nullable(e.DecidedBy), microsPtr(e.Decided), nullable(e.DecisionReason), nullable(e.GrantID),
		nullable(e.ServiceAccountID)).Error
}

func (s accessStore) Elevation(ctx context.Context, id string) (*orgs.Elevation, error) {
	var r elevationRow
	err := s.db.q(ctx).Raw("SELECT "+elevationCols+" FROM elevations WHERE id = ?", id).Take(&r).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "elevation %q not found", id)
	}
	if err != nil {
		return nil, err
	}
	return r.elevation(), nil
}

func (s accessStore) UpdateElevation(ctx context.Context, id string, fn func(*orgs.Elevation) error) (*orgs.Elevation, error) {
	var out *orgs.Elevation
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var r elevationRow
		err := tx.Raw("SELECT "+elevationCols+" FROM elevations WHERE id = ?"+s.db.dialect.forUpdate, id).Take(&r).Error
		if isNoRows(err) {
			return orgscim.Errorf(orgscim.NotFound, "elevation %q not found", id)
		}
		if err != nil {
			return err
		}
		e := r.elevation()
		if err := fn(e); err != nil {
			return err
		}
		out = e
		return tx.Exec("UPDATE elevations SET state = ?, decided_by = ?, decided_at = ?, decision_reason = ?, grant_id = ? WHERE id = ?",
			e.State, nullable(e.DecidedBy), microsPtr(e.Decided), nullable(e.DecisionReason), nullable(e.GrantID), id).Error
	})
	return out, err
}
