package orgs

import (
	"context"
	"sort"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
)

// ActGrantRevoke is the audit action of revoking one grant by hand.
const ActGrantRevoke = "grant.revoke"

// GrantStore reads and revokes single grants; the access store implements it.
type GrantStore interface {
	// Grant returns a grant, live or revoked.
	Grant(ctx context.Context, id string) (*Grant, error)
	// RevokeGrant revokes a live grant; NotFound when there is no live grant with id.
	RevokeGrant(ctx context.Context, id string, at time.Time, by, reason string) error
}

// Grant returns a grant, live or revoked, for a caller who may see its org.
func (a *Access) Grant(ctx context.Context, by Principal, id string) (*Grant, error) {
	gs, ok := a.Store.(GrantStore)
	if !ok {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "this store cannot read single grants")
	}
	g, err := gs.Grant(ctx, id)
	if err != nil {
		return nil, err
	}
	org, err := a.Org(ctx, g.OrgID)
	if err != nil {
		return nil, err
	}
	if err := a.Authorize(ctx, by, CapManageMembers, org); err != nil {
		return nil, orgscim.Errorf(orgscim.NotFound, "grant %q not found", id)
	}
	return g, nil
}

// RevokeGrant revokes a direct, imported or elevation grant, with a reason, and keeps
// it as revoked. A grant that a mapping materialises is refused: the next membership
// change would grant it again, so the mapping or the membership is what to change.
func (a *Access) RevokeGrant(ctx context.Context, by Principal, id, reason string) (*Grant, error) {
	if reason == "" {
		return nil, orgscim.Errorf(orgscim.Invalid, "a reason is required to revoke a grant")
	}
	g, err := a.Grant(ctx, by, id)
	if err != nil {
		return nil, err
	}
	if g.Revoked != nil {
		return nil, orgscim.Errorf(orgscim.Conflict, "grant %q is already revoked", id)
	}
	if g.Source == SourceMapping {
		return nil, orgscim.Errorf(orgscim.Conflict,
			"grant %q comes from mapping %s: retire the mapping or remove the user from its group instead", id, g.SourceID)
	}
	now := a.CurrentTime()
	err = a.InTx(ctx, func(ctx context.Context) error {
		return a.RevokeOne(ctx, g, now, by.Name(), reason, nil)
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// RevokeOne revokes the live grant g and records it, in the context's transaction: the
// one path of a grant revoked by hand, whether through DELETE /grants/{id} or an access
// review's decision. extra adds to the event's detail (the review behind it).
func (a *Access) RevokeOne(ctx context.Context, g *Grant, now time.Time, by, reason string, extra map[string]any) error {
	gs, ok := a.Store.(GrantStore)
	if !ok {
		return orgscim.Errorf(orgscim.NotImplemented, "this store cannot revoke single grants")
	}
	if err := gs.RevokeGrant(ctx, g.ID, now, by, reason); err != nil {
		return err
	}
	detail := map[string]any{"reason": reason, "user_id": g.UserID, "role_id": g.RoleID, "source": g.Source}
	for k, v := range extra {
		detail[k] = v
	}
	conns, err := GrantConnections(ctx, a.OwnerLookup(), []*Grant{g})
	if err != nil {
		return err
	}
	e := audit.New(ctx, now, ActGrantRevoke, "grant", g.ID)
	e.ConnectionID, e.OrgID = conns[g.ID], g.OrgID
	e.Diff = audit.Detail(detail)
	if err := Record(ctx, a.Audit, e); err != nil {
		return err
	}
	g.Revoked, g.RevokedBy, g.RevokeReason = &now, by, reason
	return nil
}

// RecordRevocations records grants revoked together, by a rule or a review: grants.revoke
// events per tenant (connection, by GrantConnections), on the target that caused it,
// with detail, how many each revoked and all their ids — an event per maxListedIDs of
// them, so that every revoked grant is named (the Shared Signals transmitter sends a
// grant-revoked SET for each). orgID, when set, puts the events on that org, so that its
// administrators see them; otherwise an event lands on its connection's org.
func RecordRevocations(ctx context.Context, log AuditLog, owners ServiceAccountOwners, now time.Time, targetType, targetID, orgID string,
	revoked []*Grant, detail map[string]any) error {
	conns, byConn, err := grantsByTenant(ctx, owners, revoked, "")
	if err != nil {
		return err
	}
	for _, c := range conns {
		for ids := byConn[c]; len(ids) > 0; {
			shown := ids[:min(len(ids), maxListedIDs)]
			ids = ids[len(shown):]
			d := map[string]any{"revoked": len(shown), "ids": shown, "ids_truncated": false}
			for k, v := range detail {
				d[k] = v
			}
			e := audit.New(ctx, now, ActGrantsRevoke, targetType, targetID)
			e.ConnectionID, e.OrgID, e.Diff = c, orgID, audit.Detail(d)
			if err := Record(ctx, log, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// ServiceAccountOwners names, for each of ids that is a service account, its owner's
// connection; the stores of grants implement it.
type ServiceAccountOwners interface {
	ServiceAccountOwners(ctx context.Context, ids []string) (map[string]string, error)
}

// GrantConnections returns the connection on which an event about each grant is
// recorded, by grant id: the grant's own, or, for a service account's grant (which
// belongs to no connection), its current owner's. An event recorded on no connection
// would reach neither the partner's webhook subscribers nor, without an org, its
// administrators' audit view; on the owner's connection it reaches whoever sees the
// grants of the partner's people. Every path that records a grant's creation or
// revocation asks this one function. A nil owners leaves such a grant on no connection.
func GrantConnections(ctx context.Context, owners ServiceAccountOwners, grants []*Grant) (map[string]string, error) {
	out := make(map[string]string, len(grants))
	var holders []string
	seen := map[string]bool{}
	for _, g := range grants {
		out[g.ID] = g.ConnectionID
		if g.ConnectionID == "" && !seen[g.UserID] {
			seen[g.UserID] = true
			holders = append(holders, g.UserID)
		}
	}
	if len(holders) == 0 || owners == nil {
		return out, nil
	}
	sort.Strings(holders)
	conn, err := owners.ServiceAccountOwners(ctx, holders)
	if err != nil {
		return nil, err
	}
	for _, g := range grants {
		if g.ConnectionID == "" {
			out[g.ID] = conn[g.UserID]
		}
	}
	return out, nil
}

// grantsByTenant groups the ids of grants by their tenant (GrantConnections), in the
// grants' order; a grant without one goes to fallback. conns lists the tenants sorted.
func grantsByTenant(ctx context.Context, owners ServiceAccountOwners, grants []*Grant, fallback string) (conns []string, byConn map[string][]string, err error) {
	tenant, err := GrantConnections(ctx, owners, grants)
	if err != nil {
		return nil, nil, err
	}
	byConn = map[string][]string{}
	for _, g := range grants {
		c := tenant[g.ID]
		if c == "" {
			c = fallback
		}
		byConn[c] = append(byConn[c], g.ID)
	}
	for c := range byConn {
		conns = append(conns, c)
	}
	sort.Strings(conns)
	return conns, byConn, nil
}

// OwnerLookup is the access store's lookup of service account owners, when it has one
// (nil otherwise): what RecordRevocations needs to put a service account's grant on its
// owner's connection.
func (a *Access) OwnerLookup() ServiceAccountOwners {
	o, _ := a.Store.(ServiceAccountOwners)
	return o
}
