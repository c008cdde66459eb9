package sqlstore

import (
	"context"

	"github.com/orgscim/orgscim/orgs"
)

var _ orgs.ConnectionStatusStore = orgStore{}

func (s orgStore) SetConnectionStatus(ctx context.Context, id, status string) error {
	return s.db.q(ctx).Exec("UPDATE connections SET status = ? WHERE id = ?", status, id).Error
}
