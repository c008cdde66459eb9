package sqlstore

import (
	"context"
	"fmt"

	"github.com/orgscim/orgscim/reconcile"
)

// Runs returns the latest recorded passes and approvals, newest first, at most limit
// (1 to 200), each with its held plans as they stand now: what the console lists.
func (s Reconcile) Runs(ctx context.Context, limit int) ([]*reconcile.Run, error) {
	limit = max(1, min(limit, 200))
	var rows []struct {
		ID         string
		Kind       string
		Approves   *string
		StartedAt  int64
		FinishedAt *int64
		AsOf       int64
		State      string
		Report     *string
	}
	err := s.db.q(ctx).Raw(`SELECT id, kind, approves, started_at, finished_at, as_of, state, report FROM reconcile_runs
		ORDER BY started_at DESC, id DESC LIMIT ?`, limit).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]*reconcile.Run, len(rows))
	for i, row := range rows {
		r := &reconcile.Run{ID: row.ID, Kind: row.Kind, Approves: deref(row.Approves), Started: fromMicros(row.StartedAt),
			Finished: fromMicrosPtr(row.FinishedAt), AsOf: fromMicros(row.AsOf), State: row.State}
		if err := r.SetReportJSON(deref(row.Report)); err != nil {
			return nil, fmt.Errorf("sqlstore: run %s: %w", row.ID, err)
		}
		holds, err := s.Holds(ctx, row.ID)
		if err != nil {
			return nil, err
		}
		if len(holds) > 0 {
			r.Report.Held = holds
		}
		out[i] = r
	}
	return out, nil
}
