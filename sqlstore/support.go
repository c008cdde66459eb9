package sqlstore

import (
	"context"
	"strconv"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/support"
	"gorm.io/gorm"
)

// Support returns the store of support sessions and the support policy.
func (db *DB) Support() support.Store { return supportStore{db} }

type supportStore struct{ db *DB }

type supportRow struct {
	ID              string
	OrgID           string
	Staff           string
	Ticket          string
	Reason          string
	WriteAccess     bool
	BreakGlass      bool
	State           string
	DurationSeconds int64
	RequestedAt     int64
	DecidedBy       string
	DecidedAt       *int64
	DecisionNote    string
	ExpiresAt       *int64
	EndedAt         *int64
	EndedBy         string
	EndReason       string
	ReviewedBy      string
	ReviewedAt      *int64
	ReviewNote      string
}

const supportCols = "id, org_id, staff, ticket, reason, write_access, break_glass, state, duration_seconds, requested_at, " +
	"decided_by, decided_at, decision_note, expires_at, ended_at, ended_by, end_reason, reviewed_by, reviewed_at, review_note"

func (r supportRow) session() *support.Session {
	return &support.Session{ID: r.ID, OrgID: r.OrgID, Staff: r.Staff, Ticket: r.Ticket, Reason: r.Reason, Write: r.WriteAccess,
		BreakGlass: r.BreakGlass, State: support.State(r.State), Duration: time.Duration(r.DurationSeconds) * time.Second,
		Requested: fromMicros(r.RequestedAt), DecidedBy: r.DecidedBy, Decided: fromMicrosPtr(r.DecidedAt),
		DecisionNote: r.DecisionNote, Expires: fromMicrosPtr(r.ExpiresAt), EndedAt: fromMicrosPtr(r.EndedAt),
		EndedBy: r.EndedBy, EndReason: r.EndReason, ReviewedBy: r.ReviewedBy, Reviewed: fromMicrosPtr(r.ReviewedAt),
		ReviewNote: r.ReviewNote}
}

func (s supportStore) list(ctx context.Context, where string, args ...any) ([]*support.Session, error) {
	var rows []supportRow
	if err := s.db.q(ctx).Raw("SELECT "+supportCols+" FROM support_sessions "+where, args...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*support.Session, len(rows))
	for i, r := range rows {
		out[i] = r.session()
	}
	return out, nil
}

func (s supportStore) CreateSession(ctx context.Context, ss *support.Session) error {
	return s.db.q(ctx).Exec("INSERT INTO support_sessions ("+supportCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		ss.ID, ss.OrgID, ss.Staff, ss.Ticket, ss.Reason, ss.Write, ss.BreakGlass, string(ss.State), int64(ss.Duration/time.Second),
		micros(ss.Requested), ss.DecidedBy, microsPtr(ss.Decided), ss.DecisionNote, microsPtr(ss.Expires), microsPtr(ss.EndedAt),
		ss.EndedBy, ss.EndReason, ss.ReviewedBy, microsPtr(ss.Reviewed), ss.ReviewNote).Error
}

func (s supportStore) Session(ctx context.Context, id string) (*support.Session, error) {
	ss, err := s.list(ctx, "WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(ss) == 0 {
		return nil, orgscim.Errorf(orgscim.NotFound, "no support session %q", id)
	}
	return ss[0], nil
}

func (s supportStore) UpdateSession(ctx context.Context, id string, fn func(*support.Session) error) (*support.Session, error) {
	var out *support.Session
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var rows []supportRow
		if err := tx.Raw("SELECT "+supportCols+" FROM support_sessions WHERE id = ?"+s.db.dialect.forUpdate, id).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return orgscim.Errorf(orgscim.NotFound, "no support session %q", id)
		}
		ss := rows[0].session()
		if err := fn(ss); err != nil {
			return err
		}
		if err := tx.Exec("UPDATE support_sessions SET state = ?, decided_by = ?, decided_at = ?, decision_note = ?, expires_at = ?, "+
			"ended_at = ?, ended_by = ?, end_reason = ?, reviewed_by = ?, reviewed_at = ?, review_note = ? WHERE id = ?",
			string(ss.State), ss.DecidedBy, microsPtr(ss.Decided), ss.DecisionNote, microsPtr(ss.Expires), microsPtr(ss.EndedAt),
			ss.EndedBy, ss.EndReason, ss.ReviewedBy, microsPtr(ss.Reviewed), ss.ReviewNote, id).Error; err != nil {
			return err
		}
		out = ss
		return nil
	})
	return out, err
}

func (s supportStore) SessionsOf(ctx context.Context, orgID, after string, limit int) ([]*support.Session, error) {
	return s.list(ctx, "WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?", orgID, after, limit)
}

func (s supportStore) ExpiredSessions(ctx context.Context, t time.Time, limit int) ([]*support.Session, error) {
	return s.list(ctx, "WHERE state = 'active' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?", micros(t), limit)
}

const (
	settingSupportRequired    = "support.required"
	settingSupportMaxDuration = "support.max_duration_seconds"
)

func (s supportStore) SupportPolicy(ctx context.Context) (support.Policy, error) {
	var rows []struct {
		Name, Value, UpdatedBy string
		UpdatedAt              int64
	}
	if err := s.db.q(ctx).Raw("SELECT name, value, updated_at, updated_by FROM deployment_settings WHERE name IN ?",
		[]string{settingSupportRequired, settingSupportMaxDuration}).Scan(&rows).Error; err != nil {
		return support.Policy{}, err
	}
	p := support.Policy{MaxDuration: support.DefaultMaxDuration}
	for _, r := range rows {
		switch r.Name {
		case settingSupportRequired:
			p.Required = r.Value == "true"
		case settingSupportMaxDuration:
			if n, err := strconv.ParseInt(r.Value, 10, 64); err == nil && n > 0 {
				p.MaxDuration = time.Duration(n) * time.Second
			}
		}
		if r.UpdatedAt > micros(p.Updated) {
			p.Updated, p.UpdatedBy = fromMicros(r.UpdatedAt), r.UpdatedBy
		}
	}
	return p, nil
}

func (s supportStore) SetSupportPolicy(ctx context.Context, p support.Policy) error {
	return s.db.tx(ctx, func(tx *gorm.DB) error {
		for _, kv := range [][2]string{
			{settingSupportRequired, strconv.FormatBool(p.Required)},
			{settingSupportMaxDuration, strconv.FormatInt(int64(p.MaxDuration/time.Second), 10)},
		} {
			err := tx.Exec("INSERT INTO deployment_settings (name, value, updated_at, updated_by) VALUES (?, ?, ?, ?) "+
				"ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
				kv[0], kv[1], micros(p.Updated), p.UpdatedBy).Error
			if err != nil {
				return err
			}
		}
		return nil
	})
}
