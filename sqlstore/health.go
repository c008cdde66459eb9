package sqlstore

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/orgscim/orgscim/connhealth"
	"gorm.io/gorm"
)

// Health stores the health of connections (connhealth.Store) and answers which tokens
// are about to lapse.
type Health struct{ db *DB }

// Health is the store of connection health.
func (db *DB) Health() Health { return Health{db} }

var _ connhealth.Store = Health{}

// greatest is the later of two nullable times; NULL only when both are.
func (d dialect) greatest(a, b string) string {
	if d.name == postgresDialect.name {
		return "GREATEST(" + a + ", " + b + ")" // ignores NULLs
	}
	return "max(coalesce(" + a + ", " + b + "), coalesce(" + b + ", " + a + "))"
}

const requestLogCols = "connection_id, slot, seq, at, method, path, status, scim_type, detail, latency_us, request_id, request_body, response_body"

func (s Health) AddHealth(ctx context.Context, batches []connhealth.Batch, keep int) error {
	batches, err := s.resolveSlugs(ctx, batches)
	if err != nil || len(batches) == 0 {
		return err
	}
	// The same order in every replica, so that two flushes at once cannot deadlock on
	// each other's rows.
	sort.Slice(batches, func(i, j int) bool { return batches[i].ConnectionID < batches[j].ConnectionID })
	d := s.db.dialect
	later := func(col string) string { return col + " = " + d.greatest("connection_health."+col, "excluded."+col) }
	upsert := `INSERT INTO connection_health (connection_id, requests, client_errors, server_errors,
		last_request_at, last_push_at, last_success_at, last_error_at, logged, rejected, last_rejected_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (connection_id) DO UPDATE SET
		requests = connection_health.requests + excluded.requests,
		client_errors = connection_health.client_errors + excluded.client_errors,
		server_errors = connection_health.server_errors + excluded.server_errors, ` +
		later("last_request_at") + ", " + later("last_push_at") + ", " + later("last_success_at") + ", " + later("last_error_at") + `,
		logged = connection_health.logged + excluded.logged,
		rejected = connection_health.rejected + excluded.rejected, ` + later("last_rejected_at") + `
		RETURNING logged`
	return s.db.tx(ctx, func(tx *gorm.DB) error {
		for _, b := range batches {
			entries := b.Entries // at most keep: the Recorder's ring holds no more
			var logged int64
			err := tx.Raw(upsert, b.ConnectionID, b.Requests, b.ClientErrors, b.ServerErrors,
				microsPtr(b.LastRequest), microsPtr(b.LastPush), microsPtr(b.LastSuccess), microsPtr(b.LastError),
				len(entries), b.Rejected, microsPtr(b.LastRejected)).Scan(&logged).Error
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				continue
			}
			// The row lock of the upsert numbers this batch's entries after every other
			// replica's; each overwrites the slot of the entry keep places before it.
			first := logged - int64(len(entries))
			var sql strings.Builder
			sql.WriteString("INSERT INTO connection_requests (" + requestLogCols + ") VALUES ")
			args := make([]any, 0, 13*len(entries))
			for i, e := range entries {
				if i > 0 {
					sql.WriteString(", ")
				}
				sql.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
				seq := first + int64(i)
				args = append(args, b.ConnectionID, seq%int64(keep), seq, micros(e.At), e.Method, e.Path, e.Status,
					e.ScimType, e.Detail, e.Latency.Microseconds(), e.RequestID, e.RequestBody, e.ResponseBody)
			}
			sql.WriteString(` ON CONFLICT (connection_id, slot) DO UPDATE SET seq = excluded.seq, at = excluded.at,
				method = excluded.method, path = excluded.path, status = excluded.status, scim_type = excluded.scim_type,
				detail = excluded.detail, latency_us = excluded.latency_us, request_id = excluded.request_id,
				request_body = excluded.request_body, response_body = excluded.response_body`)
			if err := tx.Exec(sql.String(), args...).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

// resolveSlugs folds the batches of refused requests, which name their connection by the
// URL's slug, into the batches by connection id, so that one transaction adds them all:
// a flush that fails adds nothing, and is retried whole. A slug no connection has adds
// nothing.
func (s Health) resolveSlugs(ctx context.Context, batches []connhealth.Batch) ([]connhealth.Batch, error) {
	var slugs []string
	for _, b := range batches {
		if b.ConnectionID == "" {
			slugs = append(slugs, b.ConnectionSlug)
		}
	}
	if len(slugs) == 0 {
		return batches, nil
	}
	var rows []struct{ ID, Slug string }
	if err := s.db.q(ctx).Raw("SELECT id, slug FROM connections WHERE slug IN ?", slugs).Scan(&rows).Error; err != nil {
		return nil, err
	}
	idOf := make(map[string]string, len(rows))
	for _, r := range rows {
		idOf[r.Slug] = r.ID
	}
	out := make([]connhealth.Batch, 0, len(batches))
	at := map[string]int{} // connection id -> index in out
	for _, b := range batches {
		if b.ConnectionID != "" {
			at[b.ConnectionID] = len(out)
			out = append(out, b)
		}
	}
	for _, b := range batches {
		if b.ConnectionID != "" {
			continue
		}
		id, ok := idOf[b.ConnectionSlug]
		if !ok {
			continue
		}
		i, ok := at[id]
		if !ok {
			at[id] = len(out)
			out = append(out, connhealth.Batch{ConnectionID: id})
			i = len(out) - 1
		}
		out[i].Rejected += b.Rejected
		if t := out[i].LastRejected; t == nil || b.LastRejected != nil && b.LastRejected.After(*t) {
			out[i].LastRejected = b.LastRejected
		}
	}
	return out, nil
}

func (s Health) Health(ctx context.Context, connectionID string) (*connhealth.Health, error) {
	var rows []struct {
		Requests       int64
		ClientErrors   int64
		ServerErrors   int64
		LastRequestAt  *int64
		LastPushAt     *int64
		LastSuccessAt  *int64
		LastErrorAt    *int64
		Rejected       int64
		LastRejectedAt *int64
	}
	err := s.db.q(ctx).Raw(`SELECT requests, client_errors, server_errors, last_request_at, last_push_at,
		last_success_at, last_error_at, rejected, last_rejected_at FROM connection_health WHERE connection_id = ?`, connectionID).Scan(&rows).Error
	if err != nil || len(rows) == 0 {
		return &connhealth.Health{}, err
	}
	r := rows[0]
	return &connhealth.Health{Requests: r.Requests, ClientErrors: r.ClientErrors, ServerErrors: r.ServerErrors,
		LastRequest: fromMicrosPtr(r.LastRequestAt), LastPush: fromMicrosPtr(r.LastPushAt),
		LastSuccess: fromMicrosPtr(r.LastSuccessAt), LastError: fromMicrosPtr(r.LastErrorAt),
		Rejected: r.Rejected, LastRejected: fromMicrosPtr(r.LastRejectedAt)}, nil
}

func (s Health) RequestLog(ctx context.Context, connectionID string, limit int) ([]connhealth.Logged, error) {
	var rows []struct {
		Seq          int64
		At           int64
		Method       string
		Path         string
		Status       int
		ScimType     string
		Detail       string
		LatencyUs    int64
		RequestID    string
		RequestBody  string
		ResponseBody string
	}
	err := s.db.q(ctx).Raw("SELECT "+requestLogCols+" FROM connection_requests WHERE connection_id = ? ORDER BY seq DESC LIMIT ?",
		connectionID, limit).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]connhealth.Logged, len(rows))
	for i, r := range rows {
		out[i] = connhealth.Logged{Seq: r.Seq, At: fromMicros(r.At), Method: r.Method, Path: r.Path, Status: r.Status,
			ScimType: r.ScimType, Detail: r.Detail, Latency: time.Duration(r.LatencyUs) * time.Microsecond,
			RequestID: r.RequestID, RequestBody: r.RequestBody, ResponseBody: r.ResponseBody}
	}
	return out, nil
}

// TokenExpiry is when the earliest usable, expiring token of an active connection lapses.
type TokenExpiry struct {
	Connection string // slug
	TokenID    string
	Expires    time.Time
}

// TokenExpiries returns, per active connection with a usable token that expires, the
// one that expires first, by connection slug.
func (s Health) TokenExpiries(ctx context.Context, now time.Time) ([]TokenExpiry, error) {
	var rows []struct {
		Slug      string
		ID        string
		ExpiresAt int64
	}
	err := s.db.q(ctx).Raw(`SELECT c.slug, t.id, t.expires_at FROM tokens t JOIN connections c ON c.id = t.connection_id
		WHERE c.status = 'active' AND t.revoked_at IS NULL AND t.expires_at IS NOT NULL AND t.expires_at > ?
		ORDER BY c.slug, t.expires_at, t.id`, micros(now)).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	var out []TokenExpiry
	for _, r := range rows {
		if len(out) > 0 && out[len(out)-1].Connection == r.Slug {
			continue
		}
		out = append(out, TokenExpiry{Connection: r.Slug, TokenID: r.ID, Expires: fromMicros(r.ExpiresAt)})
	}
	return out, nil
}
