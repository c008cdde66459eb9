package domains

import (
	"context"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// HeldUsers is what a connection's quarantine is made of (provisioning.Users): the users
// its domain policy holds, released into the connection or rejected (deleted).
type HeldUsers interface {
	Quarantined(ctx context.Context, conn string, limit int) ([]*provisioning.Quarantine, error)
	Release(ctx context.Context, conn, id, by string) (*provisioning.User, error)
	DeleteQuarantined(ctx context.Context, conn, id string) error
	Get(ctx context.Context, conn, id string) (*provisioning.User, error)
}

// ConnectionLookup finds a connection by its slug.
type ConnectionLookup interface {
	ConnectionBySlug(ctx context.Context, slug string) (*orgs.Connection, error)
}

// Quarantine decides on the users a connection's domain policy holds. Whoever asks —
// the admin API or the console — goes through these functions, so that who may decide
// (operators, and those with manage_members on the connection's org) and what is
// recorded (user.release, or the user's deletion) are the same everywhere.
type Quarantine struct {
	Users       HeldUsers
	Connections ConnectionLookup
	Orgs        OrgLookup
	Authorizer  Authorizer
}

// Connection returns the connection whose held users by may review and decide on; a
// person who may not is refused (Forbidden), an unknown connection is NotFound.
func (q *Quarantine) Connection(ctx context.Context, by orgs.Principal, slug string) (*orgs.Connection, error) {
	if q == nil || q.Users == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "quarantine is not configured")
	}
	conn, err := q.Connections.ConnectionBySlug(ctx, slug)
	if err != nil {
		return nil, err
	}
	if by.Operator != "" {
		return conn, nil
	}
	m, err := q.Orgs.OrgsByID(ctx, []string{conn.OrgID})
	if err != nil {
		return nil, err
	}
	if m[conn.OrgID] == nil {
		return nil, orgscim.Errorf(orgscim.NotFound, "no connection %q", slug)
	}
	if err := q.Authorizer.Authorize(ctx, by, orgs.CapManageMembers, m[conn.OrgID]); err != nil {
		return nil, err
	}
	return conn, nil
}

// Held lists up to limit of the connection's held users, oldest first.
func (q *Quarantine) Held(ctx context.Context, by orgs.Principal, slug string, limit int) (*orgs.Connection, []*provisioning.Quarantine, error) {
	conn, err := q.Connection(ctx, by, slug)
	if err != nil {
		return nil, nil, err
	}
	held, err := q.Users.Quarantined(ctx, conn.ID, limit)
	return conn, held, err
}

// Release admits a held user into its connection, recorded as the request's actor.
func (q *Quarantine) Release(ctx context.Context, by orgs.Principal, slug, id string) (*provisioning.User, error) {
	conn, err := q.Connection(ctx, by, slug)
	if err != nil {
		return nil, err
	}
	return q.Users.Release(ctx, conn.ID, id, audit.SourceOf(ctx).Actor)
}

// Reject deletes a held user, as its IdP's DELETE would.
func (q *Quarantine) Reject(ctx context.Context, by orgs.Principal, slug, id string) error {
	conn, err := q.Connection(ctx, by, slug)
	if err != nil {
		return err
	}
	return q.Users.DeleteQuarantined(ctx, conn.ID, id)
}
