package sqlstore

import (
	"context"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

var _ orgs.GrantStore = accessStore{}

func (s accessStore) Grant(ctx context.Context, id string) (*orgs.Grant, error) {
	var r grantRow
	err := s.db.q(ctx).Raw("SELECT * FROM grants WHERE id = ?", id).Take(&r).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "grant %q not found", id)
	}
	if err != nil {
		return nil, err
	}
	return r.grant(), nil
}

func (s accessStore) RevokeGrant(ctx context.Context, id string, at time.Time, by, reason string) error {
	res := s.db.q(ctx).Exec("UPDATE grants SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL",
		micros(at), by, reason, id)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return orgscim.Errorf(orgscim.Conflict, "grant %q is already revoked", id)
	}
	return nil
}
