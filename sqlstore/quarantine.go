package sqlstore

import (
	"context"

	"github.com/orgscim/orgscim/provisioning"
)

// Quarantine returns the store of users held by their connection's domain policy.
func (db *DB) Quarantine() provisioning.QuarantineStore { return quarantineStore{db} }

type quarantineStore struct{ db *DB }

type quarantineRow struct {
	ConnectionID string
	UserID       string
	Domain       string
	State        string
	Since        int64
	DecidedBy    string
}

const quarantineCols = "connection_id, user_id, domain, state, since, decided_by"

func (r quarantineRow) quarantine() *provisioning.Quarantine {
	return &provisioning.Quarantine{ConnectionID: r.ConnectionID, UserID: r.UserID, Domain: r.Domain, State: r.State,
		Since: fromMicros(r.Since), DecidedBy: r.DecidedBy}
}

func (s quarantineStore) Quarantine(ctx context.Context, conn, userID string) (*provisioning.Quarantine, error) {
	// $N SQL through database/sql (see rawsql.go): a user's every update asks.
	res, err := s.db.query(ctx, s.db.pool(ctx), "SELECT "+quarantineCols+" FROM user_quarantine WHERE connection_id = $1 AND user_id = $2", conn, userID)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	if !res.Next() {
		return nil, markUnavailable(res.Err())
	}
	var r quarantineRow
	if err := res.Scan(&r.ConnectionID, &r.UserID, &r.Domain, &r.State, &r.Since, &r.DecidedBy); err != nil {
		return nil, err
	}
	return r.quarantine(), nil
}

func (s quarantineStore) SetQuarantine(ctx context.Context, q *provisioning.Quarantine) error {
	return s.db.q(ctx).Exec(`INSERT INTO user_quarantine (`+quarantineCols+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (connection_id, user_id) DO UPDATE SET domain = excluded.domain, state = excluded.state,
		since = excluded.since, decided_by = excluded.decided_by`,
		q.ConnectionID, q.UserID, q.Domain, q.State, micros(q.Since), q.DecidedBy).Error
}

func (s quarantineStore) ClearQuarantine(ctx context.Context, conn, userID string) error {
	return s.db.q(ctx).Exec("DELETE FROM user_quarantine WHERE connection_id = ? AND user_id = ?", conn, userID).Error
}

func (s quarantineStore) Quarantined(ctx context.Context, conn string, limit int) ([]*provisioning.Quarantine, error) {
	var rows []quarantineRow
	err := s.db.q(ctx).Raw("SELECT "+quarantineCols+" FROM user_quarantine WHERE connection_id = ? AND state = 'held' ORDER BY since, user_id LIMIT ?",
		conn, limit).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]*provisioning.Quarantine, len(rows))
	for i, r := range rows {
		out[i] = r.quarantine()
	}
	return out, nil
}
