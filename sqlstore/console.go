package sqlstore

import (
	"context"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/sessions"
)

// Console keeps the console's sessions, one-time links and sign-in configurations.
func (db *DB) Console() sessions.Store { return consoleStore{db} }

type consoleStore struct{ db *DB }

type consoleSessionRow struct {
	ID            string
	Hash          string
	CSRF          string
	Kind          string
	Operator      *string
	ConnectionID  *string
	UserID        *string
	AuthAt        int64
	IdleExpiresAt int64
	ExpiresAt     int64
	RevokedAt     *int64
	RevokeReason  *string
}

func (s consoleStore) CreateSession(ctx context.Context, x *sessions.Session) error {
	return s.db.q(ctx).Exec(`INSERT INTO console_sessions (id, hash, csrf, kind, operator, connection_id, user_id, auth_at,
		idle_expires_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, x.ID, x.Hash, x.CSRF, string(x.Kind),
		nullable(x.Operator), nullable(x.ConnectionID), nullable(x.UserID), micros(x.AuthAt), micros(x.IdleExpires),
		micros(x.Expires)).Error
}

func (s consoleStore) SessionByHash(ctx context.Context, hash string) (*sessions.Session, error) {
	var r consoleSessionRow
	err := s.db.q(ctx).Raw("SELECT * FROM console_sessions WHERE hash = ?", hash).Take(&r).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "no such session")
	}
	if err != nil {
		return nil, err
	}
	return &sessions.Session{ID: r.ID, Hash: r.Hash, CSRF: r.CSRF, Kind: sessions.Kind(r.Kind), Operator: deref(r.Operator),
		ConnectionID: deref(r.ConnectionID), UserID: deref(r.UserID), AuthAt: fromMicros(r.AuthAt),
		IdleExpires: fromMicros(r.IdleExpiresAt), Expires: fromMicros(r.ExpiresAt), Revoked: fromMicrosPtr(r.RevokedAt),
		RevokeReason: deref(r.RevokeReason)}, nil
}

func (s consoleStore) TouchSession(ctx context.Context, id string, idle time.Time) error {
	return s.db.q(ctx).Exec("UPDATE console_sessions SET idle_expires_at = ? WHERE id = ? AND revoked_at IS NULL",
		micros(idle), id).Error
}

func (s consoleStore) RevokeSession(ctx context.Context, id string, at time.Time, reason string) error {
	return s.db.q(ctx).Exec("UPDATE console_sessions SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL",
		micros(at), reason, id).Error
}

func (s consoleStore) CreateLink(ctx context.Context, l *sessions.Link) error {
	return s.db.q(ctx).Exec("INSERT INTO console_links (hash, operator, created_at, expires_at) VALUES (?, ?, ?, ?)",
		l.Hash, l.Operator, micros(l.Created), micros(l.Expires)).Error
}

func (s consoleStore) UseLink(ctx context.Context, hash string, at time.Time) (*sessions.Link, error) {
	// One conditional update: of two redemptions at once, only one changes the row.
	res := s.db.q(ctx).Exec("UPDATE console_links SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?",
		micros(at), hash, micros(at))
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected != 1 {
		return nil, orgscim.Errorf(orgscim.NotFound, "no usable link")
	}
	var r struct {
		Hash      string
		Operator  string
		CreatedAt int64
		ExpiresAt int64
		UsedAt    *int64
	}
	if err := s.db.q(ctx).Raw("SELECT * FROM console_links WHERE hash = ?", hash).Take(&r).Error; err != nil {
		return nil, err
	}
	return &sessions.Link{Hash: r.Hash, Operator: r.Operator, Created: fromMicros(r.CreatedAt), Expires: fromMicros(r.ExpiresAt),
		Used: fromMicrosPtr(r.UsedAt)}, nil
}

type signInRow struct {
	ConnectionID string
	Issuer       string
	ClientID     string
	ClientSecret string
	Claim        string
	UpdatedAt    int64
}

func (s consoleStore) PutSignIn(ctx context.Context, c *sessions.SignIn) (*sessions.SignIn, error) {
	before, err := s.SignIn(ctx, c.ConnectionID)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		before, err = nil, s.db.q(ctx).Exec(`INSERT INTO console_sign_in (connection_id, issuer, client_id, client_secret, claim,
			updated_at) VALUES (?, ?, ?, ?, ?, ?)`, c.ConnectionID, c.Issuer, c.ClientID, c.ClientSecret, c.Claim, micros(c.Updated)).Error
		return before, err
	}
	if err != nil {
		return nil, err
	}
	return before, s.db.q(ctx).Exec(`UPDATE console_sign_in SET issuer = ?, client_id = ?, client_secret = ?, claim = ?,
		updated_at = ? WHERE connection_id = ?`, c.Issuer, c.ClientID, c.ClientSecret, c.Claim, micros(c.Updated), c.ConnectionID).Error
}

func (s consoleStore) SignIn(ctx context.Context, connID string) (*sessions.SignIn, error) {
	var r signInRow
	err := s.db.q(ctx).Raw("SELECT * FROM console_sign_in WHERE connection_id = ?", connID).Take(&r).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "no console sign-in")
	}
	if err != nil {
		return nil, err
	}
	return &sessions.SignIn{ConnectionID: r.ConnectionID, Issuer: r.Issuer, ClientID: r.ClientID, ClientSecret: r.ClientSecret,
		Claim: r.Claim, Updated: fromMicros(r.UpdatedAt)}, nil
}
