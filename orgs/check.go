package orgs

import (
	"context"
	"fmt"
	"time"

	"github.com/orgscim/orgscim"
)

// Decision answers "may user U exercise permission P on org O" with the reason.
type Decision struct {
	Allowed bool
	Reason  string
	// Because lists the grants that allow, each with the chain behind it.
	Because []Explanation
}

// Explanation is the chain behind one grant: grant ← mapping ← group membership ←
// connection, with approvals and expiry in the grant and mapping.
type Explanation struct {
	Grant      *Grant
	Role       *Role
	Org        *Org // the org the grant is on: the target or an ancestor whose role inherits
	Mapping    *Mapping
	Groups     []string // the user's group, then each group containing it, up to the mapped one
	Connection *Connection
}

// Check decides at query time: an expired grant, an inactive user, a suspended
// connection, or a suspended or ended org on the path gives no access, whatever any
// nightly job has or has not done yet.
func (a *Access) Check(ctx context.Context, conn *Connection, userID, permission, orgID string) (*Decision, error) {
	deny := func(format string, args ...any) (*Decision, error) {
		return &Decision{Reason: fmt.Sprintf(format, args...)}, nil
	}
	if conn.Status != "active" {
		return deny("connection %s is %s", conn.Slug, conn.Status)
	}
	user, err := a.Users.Get(ctx, conn.ID, userID)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return deny("user %s does not exist in connection %s", userID, conn.Slug)
	}
	if err != nil {
		return nil, err
	}
	if !user.Active {
		return deny("user %s is inactive", user.UserName)
	}
	return a.checkHolder(ctx, holderOf{id: userID, conn: conn}, permission, orgID)
}

// holderOf is whom a check is about: a user of conn, or a service account (conn nil)
// whose grants count only inside the subtree of its org, within.
type holderOf struct {
	id     string
	conn   *Connection
	within *Org
}

// checkHolder is the decision past the holder's own standing, which the caller has
// judged: the org path's relationships, then the holder's grants, each by the authority
// rule (grantStanding) and, for a mapping's grant, its mapping and membership now.
func (a *Access) checkHolder(ctx context.Context, h holderOf, permission, orgID string) (*Decision, error) {
	now := a.CurrentTime()
	deny := func(format string, args ...any) (*Decision, error) {
		return &Decision{Reason: fmt.Sprintf(format, args...)}, nil
	}
	conn, userID := h.conn, h.id
	target, path, orgsByID, blocked, err := a.orgPath(ctx, orgID, now)
	if err != nil {
		return nil, err
	}
	if blocked != "" {
		return deny("the relationship with org %s is not active (status, contract or grace period)", blocked)
	}
	if h.within != nil && !h.within.Contains(target) {
		return deny("org %s is outside the subtree of the service account's org %s", target.Slug, h.within.Slug)
	}
	grants, roles, err := a.Store.LiveGrants(ctx, userID, path)
	if err != nil {
		return nil, err
	}
	var candidates []*Grant
	for _, g := range grants {
		role := roles[g.RoleID]
		if role == nil || !hasPermission(role, permission) || (g.OrgID != target.ID && !role.Inherits) {
			continue
		}
		// A service account holds only its own grants (no connection), on its subtree.
		if o := orgsByID[g.OrgID]; h.within != nil && (g.ConnectionID != "" || g.Source == SourceMapping || o == nil || !h.within.Contains(o)) {
			continue
		}
		candidates = append(candidates, g)
	}
	var conns []*Connection
	if conn != nil {
		conns = append(conns, conn)
	}
	standing, err := a.grantStanding(ctx, candidates, orgsByID, now, conns...)
	if err != nil {
		return nil, err
	}
	d := &Decision{}
	why := ""
	for _, g := range candidates {
		if w, broken := standing[g.ID]; broken {
			if why == "" {
				why = w
			}
			continue
		}
		ex := Explanation{Grant: g, Role: roles[g.RoleID], Org: orgsByID[g.OrgID], Connection: conn}
		if g.Source == SourceMapping {
			// The source: an active mapping of this connection and the membership behind
			// it, read now.
			if ex.Mapping, err = a.Store.Mapping(ctx, g.SourceID); err != nil {
				return nil, err
			}
			if ex.Mapping.State != MappingActive || ex.Mapping.ConnectionID != conn.ID {
				if why == "" {
					why = fmt.Sprintf("grant %s comes from mapping %s, which is %s", g.ID, ex.Mapping.ID, ex.Mapping.State)
				}
				continue
			}
			if ex.Groups, err = a.Store.MembershipPath(ctx, conn.ID, userID, ex.Mapping.GroupID); err != nil {
				return nil, err
			}
			if len(ex.Groups) == 0 {
				if why == "" {
					why = fmt.Sprintf("grant %s comes from mapping %s, whose group the user is no longer in", g.ID, ex.Mapping.ID)
				}
				continue
			}
		}
		d.Because = append(d.Because, ex)
	}
	if len(d.Because) == 0 {
		if why != "" {
			return deny("no grant that gives %s on org %s holds now: %s", permission, target.Slug, why)
		}
		return deny("no live grant gives %s on org %s", permission, target.Slug)
	}
	d.Allowed, d.Reason = true, "granted"
	return d, nil
}

// orgPath loads the org and its ancestors, and names the first of them whose
// relationship gives no access at now ("" when all do).
func (a *Access) orgPath(ctx context.Context, orgID string, now time.Time) (target *Org, path []string, byID map[string]*Org, blocked string, err error) {
	if target, err = a.orgWithAncestors(ctx, orgID); err != nil {
		return nil, nil, nil, "", err
	}
	path = target.AncestorIDs()
	if byID, err = a.Store.OrgsByID(ctx, path); err != nil {
		return nil, nil, nil, "", err
	}
	return target, path, byID, inactiveOnPath(path, byID, now), nil
}

func (a *Access) orgWithAncestors(ctx context.Context, orgID string) (*Org, error) {
	m, err := a.Store.OrgsByID(ctx, []string{orgID})
	if err != nil {
		return nil, err
	}
	o := m[orgID]
	if o == nil {
		return nil, orgscim.Errorf(orgscim.NotFound, "no org %q", orgID)
	}
	return o, nil
}

// hasPermission matches a permission exactly, or by a role's "prefix:*" wildcard.
func hasPermission(r *Role, p string) bool {
	for _, have := range r.Permissions {
		if have == p || have == "*" {
			return true
		}
		if n := len(have); n > 1 && have[n-1] == '*' && len(p) >= n-1 && p[:n-1] == have[:n-1] {
			return true
		}
	}
	return false
}

// Holding is one live grant that gives access, as the access questions list it.
type Holding struct {
	Grant *Grant
	Role  *Role
	Org   *Org // where the grant is; with an inheriting role it covers the subtree
}

// WhoHasAccess lists who holds access on org and why: live grants on the org, and on
// its ancestors through inheriting roles, of active users of active connections. An org
// whose relationship (or an ancestor's) is not active gives nobody access.
func (a *Access) WhoHasAccess(ctx context.Context, orgID string) ([]Holding, error) {
	now := a.CurrentTime()
	target, path, orgsByID, blocked, err := a.orgPath(ctx, orgID, now)
	if err != nil || blocked != "" {
		return nil, err
	}
	grants, roles, err := a.Store.GrantsOn(ctx, path)
	if err != nil {
		return nil, err
	}
	var held []*Grant
	for _, g := range grants {
		if role := roles[g.RoleID]; role != nil && (g.OrgID == target.ID || role.Inherits) {
			held = append(held, g)
		}
	}
	standing, err := a.grantStanding(ctx, held, orgsByID, now)
	if err != nil {
		return nil, err
	}
	var out []Holding
	for _, g := range held {
		if _, broken := standing[g.ID]; !broken {
			out = append(out, Holding{Grant: g, Role: roles[g.RoleID], Org: orgsByID[g.OrgID]})
		}
	}
	return out, nil
}

// WhatCanUserDo lists the user's live grants whose orgs are in an active relationship
// (with every ancestor), with their roles; an inactive user can do nothing.
func (a *Access) WhatCanUserDo(ctx context.Context, conn *Connection, userID string) ([]Holding, error) {
	now := a.CurrentTime()
	user, err := a.Users.Get(ctx, conn.ID, userID)
	if err != nil {
		return nil, err
	}
	if !user.Active || conn.Status != "active" {
		return nil, nil
	}
	grants, roles, err := a.Store.GrantsOfUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, g := range grants {
		ids = append(ids, g.OrgID)
	}
	orgsByID, err := a.Store.OrgsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	// Every ancestor on every path must be active too.
	var ancestors []string
	for _, o := range orgsByID {
		ancestors = append(ancestors, o.AncestorIDs()...)
	}
	all, err := a.Store.OrgsByID(ctx, ancestors)
	if err != nil {
		return nil, err
	}
	standing, err := a.grantStanding(ctx, grants, orgsByID, now, conn)
	if err != nil {
		return nil, err
	}
	var out []Holding
	for _, g := range grants {
		o := orgsByID[g.OrgID]
		if _, broken := standing[g.ID]; o == nil || broken || roles[g.RoleID] == nil {
			continue
		}
		if inactiveOnPath(o.AncestorIDs(), all, now) == "" {
			out = append(out, Holding{Grant: g, Role: roles[g.RoleID], Org: o})
		}
	}
	return out, nil
}
