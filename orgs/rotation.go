package orgs

import (
	"context"
	"sort"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
)

// Audit actions of token rotation; the tokens issued and revoked record their own
// token.create and token.revoke events in the same transaction.
const (
	ActRotationStart    = "token_rotation.start"
	ActRotationComplete = "token_rotation.complete"
	ActRotationCancel   = "token_rotation.cancel"
)

// Rotation is a token rotation in progress: TokenID is the new token, valid beside the
// connection's other tokens until the rotation completes or is cancelled.
type Rotation struct {
	ConnectionID string
	TokenID      string
	Started      time.Time
}

// RotationStore keeps the rotation in progress of each connection; the org store
// implements it.
type RotationStore interface {
	// StartRotation stores r; Conflict when the connection has a rotation in progress.
	StartRotation(ctx context.Context, r *Rotation) error
	// Rotation returns the connection's rotation in progress; NotFound when there is none.
	Rotation(ctx context.Context, connectionID string) (*Rotation, error)
	// EndRotation removes and returns the connection's rotation in progress, locked
	// until the transaction ends; NotFound when there is none.
	EndRotation(ctx context.Context, connectionID string) (*Rotation, error)
}

// RotationResult is what completing or cancelling a rotation did.
type RotationResult struct {
	Rotation *Rotation
	Revoked  []string // the ids of the tokens revoked
}

type rotationView struct {
	TokenID string   `json:"token_id"`
	Revoked []string `json:"revoked_token_ids,omitempty"`
	Forced  bool     `json:"forced,omitempty"`
}

func (d *Directory) rotations() (RotationStore, error) {
	rs, ok := d.Store.(RotationStore)
	if !ok {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "this store cannot rotate tokens")
	}
	return rs, nil
}

// StartRotation issues a new token for the connection, valid until expires (nil: no
// expiry), beside the token the IdP uses now, so that the partner can switch without a
// moment without a valid token. The secret is returned once. It is refused while
// another rotation is in progress, and when the connection already holds
// MaxActiveTokens usable tokens.
func (d *Directory) StartRotation(ctx context.Context, connSlug string, expires *time.Time) (*Rotation, *Token, string, error) {
	rs, err := d.rotations()
	if err != nil {
		return nil, nil, "", err
	}
	var r *Rotation
	t, secret, err := d.issueToken(ctx, connSlug, expires, func(ctx context.Context, t *Token) error {
		// issueToken's AddToken locked the connection: two starts at once queue there,
		// and the second finds the first's rotation (or the tokens at their maximum).
		r = &Rotation{ConnectionID: t.ConnectionID, TokenID: t.ID, Started: t.Created}
		if err := rs.StartRotation(ctx, r); err != nil {
			return err
		}
		return d.recordRotation(ctx, ActRotationStart, t.ConnectionID, rotationView{TokenID: t.ID}, t.Created)
	})
	if err != nil {
		return nil, nil, "", err
	}
	return r, t, secret, nil
}

// CompleteRotation ends the connection's rotation: every other usable token of the
// connection is revoked and the new one stays. Unless force is set it is refused (409)
// while the new token has never been used, so that a partner whose IdP still sends the
// old token is not cut off; the IdP's first request with the new token is the proof
// that it switched.
func (d *Directory) CompleteRotation(ctx context.Context, connSlug string, force bool) (*RotationResult, error) {
	return d.endRotation(ctx, connSlug, func(r *Rotation, tokens []*Token, now time.Time) ([]string, rotationView, error) {
		var fresh *Token
		for _, t := range tokens {
			if t.ID == r.TokenID {
				fresh = t
			}
		}
		if fresh == nil || !fresh.Usable(now) {
			return nil, rotationView{}, orgscim.Errorf(orgscim.Conflict,
				"the rotation's new token is revoked or expired; cancel the rotation and start another")
		}
		if fresh.LastUsed == nil && !force {
			return nil, rotationView{}, orgscim.Errorf(orgscim.Conflict,
				"the new token %s has not been used yet: switch the IdP to it first (or force)", fresh.ID)
		}
		var revoke []string
		for _, t := range tokens {
			if t.ID != fresh.ID && t.Usable(now) {
				revoke = append(revoke, t.ID)
			}
		}
		return revoke, rotationView{TokenID: fresh.ID, Revoked: revoke, Forced: force && fresh.LastUsed == nil}, nil
	}, ActRotationComplete)
}

// CancelRotation ends the connection's rotation by revoking its new token; the tokens
// the connection had before stay as they are.
func (d *Directory) CancelRotation(ctx context.Context, connSlug string) (*RotationResult, error) {
	return d.endRotation(ctx, connSlug, func(r *Rotation, tokens []*Token, now time.Time) ([]string, rotationView, error) {
		var revoke []string
		for _, t := range tokens {
			if t.ID == r.TokenID && t.Revoked == nil {
				revoke = append(revoke, t.ID)
			}
		}
		return revoke, rotationView{TokenID: r.TokenID, Revoked: revoke}, nil
	}, ActRotationCancel)
}

// endRotation removes the connection's rotation and revokes the tokens decide names,
// with their audit events, in one transaction.
func (d *Directory) endRotation(ctx context.Context, connSlug string,
	decide func(r *Rotation, tokens []*Token, now time.Time) ([]string, rotationView, error), action string) (*RotationResult, error) {
	rs, err := d.rotations()
	if err != nil {
		return nil, err
	}
	c, err := d.Store.ConnectionBySlug(ctx, connSlug)
	if err != nil {
		return nil, err
	}
	now := d.now()
	var out *RotationResult
	err = d.inTx(ctx, func(ctx context.Context) error {
		r, err := rs.EndRotation(ctx, c.ID)
		if orgscim.ErrorCode(err) == orgscim.NotFound {
			return orgscim.Errorf(orgscim.Conflict, "connection %s has no token rotation in progress", c.Slug)
		}
		if err != nil {
			return err
		}
		tokens, err := d.Store.Tokens(ctx, c.ID)
		if err != nil {
			return err
		}
		revoke, view, err := decide(r, tokens, now)
		if err != nil {
			return err
		}
		for _, id := range revoke {
			if err := d.Store.RevokeToken(ctx, c.ID, id, now); err != nil {
				return err
			}
			if err := d.RecordToken(ctx, ActTokenRevoke, &Token{ID: id, ConnectionID: c.ID}, now); err != nil {
				return err
			}
		}
		out = &RotationResult{Rotation: r, Revoked: revoke}
		return d.recordRotation(ctx, action, c.ID, view, now)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (d *Directory) recordRotation(ctx context.Context, action, connectionID string, view rotationView, now time.Time) error {
	e := audit.New(ctx, now, action, "connection", connectionID)
	e.ConnectionID = connectionID
	e.Diff = audit.Diff(nil, view)
	return Record(ctx, d.Audit, e)
}

// RotationOf returns the connection's rotation in progress, nil when there is none.
func (d *Directory) RotationOf(ctx context.Context, connectionID string) (*Rotation, error) {
	rs, err := d.rotations()
	if err != nil {
		return nil, err
	}
	r, err := rs.Rotation(ctx, connectionID)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil, nil
	}
	return r, err
}

// DefaultTokenExpiryWarning is how long before a SCIM token lapses it is reported, unless
// configured otherwise: two weeks leave a partner time to put a new token into its IdP.
const DefaultTokenExpiryWarning = 14 * 24 * time.Hour

// ExpiringTokens returns the usable tokens that lapse within window of now, soonest
// first: the ones whose IdP must be given a new token before they stop working.
func ExpiringTokens(tokens []*Token, now time.Time, window time.Duration) []*Token {
	var out []*Token
	for _, t := range tokens {
		if t.Usable(now) && t.Expires != nil && t.Expires.Sub(now) <= window {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Expires.Before(*out[j].Expires) })
	return out
}
