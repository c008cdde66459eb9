package provisioning

import (
	"context"

	"github.com/orgscim/orgscim"
)

// Cause says who changed a user and why, when it was not the connection's IdP: the
// observer records it on the grants and delegations the change revokes.
type Cause struct {
	Actor  string
	Reason string
}

type causeKey struct{}

// WithCause returns a context whose user changes are attributed to c.
func WithCause(ctx context.Context, c Cause) context.Context {
	return context.WithValue(ctx, causeKey{}, c)
}

// CauseOf returns the cause in ctx; ok is false for a change made by the IdP.
func CauseOf(ctx context.Context) (c Cause, ok bool) {
	c, ok = ctx.Value(causeKey{}).(Cause)
	return c, ok
}

// Deactivate sets an active user inactive on behalf of c (a lifecycle rule, not its
// IdP), with the consequences of a deactivation by the IdP: the observer revokes its
// grants and delegations in the same transaction, attributed to c. It reports whether
// the user was active; a user that is inactive or gone already is left alone, so that
// a rule applied twice changes nothing the second time. check, when not nil, runs on
// the locked user first and may refuse with an error (a member its IdP touched since
// the rule judged it is no longer stale).
func (s *Users) Deactivate(ctx context.Context, conn, id string, c Cause, check func(*User) error) (bool, error) {
	now := s.now()
	changed := false
	_, err := s.update(WithCause(ctx, c), conn, ActionUserUpdate, now, s.call(conn, id), func(u *User) error {
		if !u.Active {
			return errUnchanged
		}
		if check != nil {
			if err := check(u); err != nil {
				return err
			}
		}
		u.Attributes["active"] = false
		u.Index()
		u.Version++
		u.LastModified = now
		changed = true
		return nil
	})
	if err == errUnchanged || orgscim.ErrorCode(err) == orgscim.NotFound {
		return false, nil
	}
	return changed, err
}

var errUnchanged = orgscim.Errorf(orgscim.Conflict, "unchanged")
