package sqlstore

import (
	"context"

	"github.com/orgscim/orgscim/orgs"
)

// PendingElevations lists the requests awaiting a decision on orgs of the subtree whose
// path starts with pathPrefix ("" for every org), oldest first.
func (s Lists) PendingElevations(ctx context.Context, pathPrefix string, limit int) ([]*orgs.Elevation, error) {
	q := "SELECT e.id, e.connection_id, e.user_id, e.role_id, e.org_id, e.reason, e.duration_seconds, e.requested_by, e.requested_at, " +
		"e.state, e.decided_by, e.decided_at, e.decision_reason, e.grant_id, e.service_account_id " +
		"FROM elevations e JOIN orgs o ON o.id = e.org_id WHERE e.state = ?"
	args := []any{orgs.ElevationRequested}
	if pathPrefix != "" {
		q += ` AND o.path LIKE ? ESCAPE '\'`
		args = append(args, likePrefix(pathPrefix))
	}
	var rows []elevationRow
	if err := s.db.q(ctx).Raw(q+" ORDER BY e.requested_at, e.id LIMIT ?", append(args, limit)...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*orgs.Elevation, len(rows))
	for i, r := range rows {
		out[i] = r.elevation()
	}
	return out, nil
}
