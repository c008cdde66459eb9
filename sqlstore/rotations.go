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
	return s.rotation(ctx, "SELECT connection_id, token_id, started_at FROM token_rotations WHERE connection_id = ?", connectionID)
}

// EndRotation deletes the row, which holds its lock until the transaction ends: a second
// end at once waits, then finds none.
func (s orgStore) EndRotation(ctx context.Context, connectionID string) (*orgs.Rotation, error) {
	return s.rotation(ctx, "DELETE FROM token_rotations WHERE connection_id = ? RETURNING connection_id, token_id, started_at", connectionID)
}

// rotation runs query, which returns the connection's rotation row; NotFound when none.
func (s orgStore) rotation(ctx context.Context, query, connectionID string) (*orgs.Rotation, error) {
	var rows []rotationRow
	if err := s.db.q(ctx).Raw(query, connectionID).Scan(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, orgscim.Errorf(orgscim.NotFound, "no token rotation in progress")
	}
	return rows[0].rotation(), nil
}
