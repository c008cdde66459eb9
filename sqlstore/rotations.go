package sqlstore

import (
	"context"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

var _ orgs.RotationStore = orgStore{}

type rotationRow struct {
	ConnectionID string
	TokenID      string
	StartedAt    int64
}

func (r rotationRow) rotation() *orgs.Rotation {
	return &orgs.Rotation{ConnectionID: r.ConnectionID, TokenID: r.TokenID, Started: fromMicros(r.StartedAt)}
}

func (s orgStore) StartRotation(ctx context.Context, r *orgs.Rotation) error {
	err := s.db.q(ctx).Exec("INSERT INTO token_rotations (connection_id, token_id, started_at) VALUES (?, ?, ?)",
		r.ConnectionID, r.TokenID, micros(r.Started)).Error
	if isUniqueViolation(err) {
		return orgscim.Errorf(orgscim.Conflict, "a token rotation is already in progress; complete or cancel it first")
	}
	return err
}

func (s orgStore) Rotation(ctx context.Context, connectionID string) (*orgs.Rotation, error) {
	var rows []rotationRow
	if err := s.db.q(ctx).Raw("SELECT connection_id, token_id, started_at FROM token_rotations WHERE connection_id = ?",
		connectionID).Scan(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, orgscim.Errorf(orgscim.NotFound, "no token rotation in progress")
	}
	return rows[0].rotation(), nil
}

func (s orgStore) EndRotation(ctx context.Context, connectionID string) (*orgs.Rotation, error) {
	q := s.db.q(ctx)
	var rows []rotationRow
	if err := q.Raw("SELECT connection_id, token_id, started_at FROM token_rotations WHERE connection_id = ?"+s.db.dialect.forUpdate,
		connectionID).Scan(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, orgscim.Errorf(orgscim.NotFound, "no token rotation in progress")
	}
	if err := q.Exec("DELETE FROM token_rotations WHERE connection_id = ?", connectionID).Error; err != nil {
		return nil, err
	}
	return rows[0].rotation(), nil
}
