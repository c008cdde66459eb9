package orgs

import (
	"context"
	"fmt"
	"slices"
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

// Question is one access question: may the user UserID of Connection exercise
// Permission on the org OrgID.
type Question struct {
	Connection *Connection
	UserID     string
	Permission string
	OrgID      string
}

// UserRef names a user of a connection.
type UserRef struct{ ConnectionID, UserID string }

// UserStanding is what the rule asks of a user that exists (not deleted).
type UserStanding struct {
	UserName string
	Active   bool
}

// MembershipRef asks whether a user of a connection is in a group.
type MembershipRef struct{ ConnectionID, UserID, GroupID string }

// UserFacts are the facts of users' questions: the target orgs and every org on their
// paths, by id; the users of the questions that exist (not deleted), by ref; and each
// asked user's unrevoked grants on the path of the org it is asked about, oldest first,
// with their roles.
type UserFacts struct {
	Orgs   map[string]*Org
	Users  map[UserRef]UserStanding
	Grants []*Grant
	Roles  map[string]*Role
}

// CheckStore reads what the access rule asks of many questions at once, each kind of
// fact in one query (the facts every user's question needs together, in UserFacts), as
// the rows are at that moment (nothing is cached between calls).
// The access store implements it (sqlstore's does).
type CheckStore interface {
	// OrgPaths returns the orgs of ids and every org on their paths.
	OrgPaths(ctx context.Context, ids []string) (map[string]*Org, error)
	// UserFacts reads everything users' questions ask, at one moment (a store reads it
	// in one statement): question i asks about user refs[i] on org targetIDs[i].
	UserFacts(ctx context.Context, refs []UserRef, targetIDs []string) (UserFacts, error)
	// LiveGrantsOf returns the unrevoked grants of any of the holders (users or service
	// accounts) on any of the orgs, oldest first, and their roles.
	LiveGrantsOf(ctx context.Context, holderIDs, orgIDs []string) ([]*Grant, map[string]*Role, error)
	// ConnectionsByID returns the connections that exist among ids.
	ConnectionsByID(ctx context.Context, ids []string) (map[string]*Connection, error)
	// MappingsByID returns the mappings that exist among ids.
	MappingsByID(ctx context.Context, ids []string) (map[string]*Mapping, error)
	// MembershipPaths answers MembershipPath for each ref: the chain of groups from the
	// user up to the group, the user's direct group first; refs the user is not in are
	// absent.
	MembershipPaths(ctx context.Context, refs []MembershipRef) (map[MembershipRef][]string, error)
}

func (a *Access) checkStore() (CheckStore, error) {
	if cs, ok := a.Store.(CheckStore); ok {
		return cs, nil
	}
	return nil, orgscim.Errorf(orgscim.Internal, "the access store cannot read access questions in batches")
}

func denial(format string, args ...any) *Decision {
	return &Decision{Reason: fmt.Sprintf(format, args...)}
}

// Check decides at query time: an expired grant, an inactive user, a suspended
// connection, or a suspended or ended org on the path gives no access, whatever any
// nightly job has or has not done yet. It is CheckMany of one question.
func (a *Access) Check(ctx context.Context, conn *Connection, userID, permission, orgID string) (*Decision, error) {
	ds, errs, err := a.CheckMany(ctx, []Question{{Connection: conn, UserID: userID, Permission: permission, OrgID: orgID}})
	if err != nil {
		return nil, err
	}
	return ds[0], errs[0]
}

// CheckMany answers each question as Check does, reading the facts of all of them
// together: a fixed number of queries for any number of questions (and one more per
// distinct delegation that grants were made under), all at one moment. For question i
// either ds[i] is its decision or errs[i] says why it has none (NotFound: no such org);
// err is a failure of the whole batch.
func (a *Access) CheckMany(ctx context.Context, qs []Question) (ds []*Decision, errs []error, err error) {
	now := a.CurrentTime()
	ds, errs = make([]*Decision, len(qs)), make([]error, len(qs))
	cs, err := a.checkStore()
	if err != nil {
		return nil, nil, err
	}
	// The holder's own standing: its connection, then the user.
	var refs []UserRef
	for i, q := range qs {
		if q.Connection.Status != "active" {
			ds[i] = denial("connection %s is %s", q.Connection.Slug, q.Connection.Status)
			continue
		}
		refs = append(refs, UserRef{q.Connection.ID, q.UserID})
	}
	if len(refs) == 0 {
		return ds, errs, nil
	}
	// One read for every question: the orgs on the targets' paths, the users, and each
	// user's live grants on the path it is asked about. The grants of a user who turns
	// out inactive, or of a path that turns out blocked, are read and left unused:
	// cheaper than a second round trip to read them only for the questions still open.
	var targets []string
	for i, q := range qs {
		if ds[i] == nil {
			targets = append(targets, q.OrgID) // aligned with refs
		}
	}
	uf, err := cs.UserFacts(ctx, refs, targets)
	if err != nil {
		return nil, nil, err
	}
	users, f := uf.Users, facts{orgs: uf.Orgs, grants: uf.Grants, roles: uf.Roles}
	var hqs []holderQuestion
	var at []int
	for i, q := range qs {
		if ds[i] != nil {
			continue
		}
		u, ok := users[UserRef{q.Connection.ID, q.UserID}]
		switch {
		case !ok:
			ds[i] = denial("user %s does not exist in connection %s", q.UserID, q.Connection.Slug)
		case !u.Active:
			ds[i] = denial("user %s is inactive", u.UserName)
		default:
			hqs = append(hqs, holderQuestion{h: holderOf{id: q.UserID, conn: q.Connection}, permission: q.Permission, orgID: q.OrgID})
			at = append(at, i)
		}
	}
	hds, herrs, err := a.judgeHolders(ctx, cs, hqs, now, f)
	if err != nil {
		return nil, nil, err
	}
	for k, i := range at {
		ds[i], errs[i] = hds[k], herrs[k]
	}
	return ds, errs, nil
}

// facts are what a batch's questions were decided on, as read at one moment: the orgs
// of the targets and their paths, and the holders' live grants on them with their roles.
type facts struct {
	orgs   map[string]*Org
	grants []*Grant
	roles  map[string]*Role
}

// holderOf is whom a check is about: a user of conn, or a service account (conn nil)
// whose grants count only inside the subtree of its org, within.
type holderOf struct {
	id     string
	conn   *Connection
	within *Org
}

// holderQuestion is one question past the holder's own standing.
type holderQuestion struct {
	h                 holderOf
	permission, orgID string
}

// checkHolders is the decision past each holder's own standing, which the caller has
// judged (a service account's): it reads the orgs on the questions' paths and the
// holders' live grants on them, for every question together, and judges them
// (judgeHolders).
func (a *Access) checkHolders(ctx context.Context, cs CheckStore, qs []holderQuestion, now time.Time) ([]*Decision, []error, error) {
	if len(qs) == 0 {
		return make([]*Decision, 0), make([]error, 0), nil
	}
	targets := distinct(len(qs), func(i int) []string { return []string{qs[i].orgID} })
	holders := distinct(len(qs), func(i int) []string { return []string{qs[i].h.id} })
	f := facts{}
	var err error
	if f.orgs, err = cs.OrgPaths(ctx, targets); err != nil {
		return nil, nil, err
	}
	var onPaths []string
	for _, o := range f.orgs {
		onPaths = append(onPaths, o.ID)
	}
	if f.grants, f.roles, err = cs.LiveGrantsOf(ctx, holders, onPaths); err != nil {
		return nil, nil, err
	}
	return a.judgeHolders(ctx, cs, qs, now, f)
}

// judgeHolders decides each question from f, read for all of them: the org path's
// relationships, then the holder's grants, each by the authority rule (grantStanding)
// and, for a mapping's grant, its mapping and membership now — what the grants need
// beyond f read together, one query per kind (connections, delegations, mappings,
// memberships), and only when some grant needs it.
func (a *Access) judgeHolders(ctx context.Context, cs CheckStore, qs []holderQuestion, now time.Time, f facts) ([]*Decision, []error, error) {
	ds, errs := make([]*Decision, len(qs)), make([]error, len(qs))
	if len(qs) == 0 {
		return ds, errs, nil
	}
	targets, orgsByID, grants, roles := f.orgs, f.orgs, f.grants, f.roles
	paths := make([][]string, len(qs))
	for i, q := range qs {
		if t := targets[q.orgID]; t != nil {
			paths[i] = t.AncestorIDs()
		} else {
			errs[i] = orgscim.Errorf(orgscim.NotFound, "no org %q", q.orgID)
		}
	}
	open := make([]bool, len(qs)) // still to be decided by the holder's grants
	for i, q := range qs {
		if errs[i] != nil {
			continue
		}
		target := targets[q.orgID]
		if blocked := inactiveOnPath(paths[i], orgsByID, now); blocked != "" {
			ds[i] = denial("the relationship with org %s is not active (status, contract or grace period)", blocked)
		} else if q.h.within != nil && !q.h.within.Contains(target) {
			ds[i] = denial("org %s is outside the subtree of the service account's org %s", target.Slug, q.h.within.Slug)
		} else {
			open[i] = true
		}
	}
	// Each question's candidates: the holder's grants on its path whose role gives the
	// permission there.
	candidates := make([][]*Grant, len(qs))
	st := a.newStanding(now)
	var connIDs []string
	for i, q := range qs {
		if !open[i] {
			continue
		}
		if q.h.conn != nil {
			st.conns[q.h.conn.ID] = q.h.conn
		}
		target, onPath := targets[q.orgID], map[string]bool{}
		for _, id := range paths[i] {
			onPath[id] = true
		}
		for _, g := range grants {
			if g.UserID != q.h.id || !onPath[g.OrgID] {
				continue
			}
			role := roles[g.RoleID]
			if role == nil || !hasPermission(role, q.permission) || (g.OrgID != target.ID && !role.Inherits) {
				continue
			}
			// A service account holds only its own grants (no connection), on its subtree.
			if o := orgsByID[g.OrgID]; q.h.within != nil && (g.ConnectionID != "" || g.Source == SourceMapping || o == nil || !q.h.within.Contains(o)) {
				continue
			}
			candidates[i] = append(candidates[i], g)
			if g.ConnectionID != "" {
				connIDs = append(connIDs, g.ConnectionID)
			}
		}
	}
	// The connections of the candidates' holders that the questions did not bring.
	var missing []string
	for _, id := range connIDs {
		if _, ok := st.conns[id]; !ok && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		found, err := cs.ConnectionsByID(ctx, missing)
		if err != nil {
			return nil, nil, err
		}
		for _, id := range missing {
			st.conns[id] = found[id] // nil: gone, which standing.of judges
		}
	}
	// Each grant's standing once, however many questions it answers.
	broken := map[string]string{}
	judged := map[string]bool{}
	var mappingIDs []string
	for i := range qs {
		for _, g := range candidates[i] {
			if !judged[g.ID] {
				judged[g.ID] = true
				why, err := st.of(ctx, g, orgsByID[g.OrgID])
				if err != nil {
					return nil, nil, err
				}
				if why != "" {
					broken[g.ID] = why
				}
			}
			if _, b := broken[g.ID]; !b && g.Source == SourceMapping {
				mappingIDs = append(mappingIDs, g.SourceID)
			}
		}
	}
	// The sources of mapping grants, read now: the mapping, then the membership behind it.
	var mappings map[string]*Mapping
	var err error
	if len(mappingIDs) > 0 {
		if mappings, err = cs.MappingsByID(ctx, distinct(1, func(int) []string { return mappingIDs })); err != nil {
			return nil, nil, err
		}
	}
	var refs []MembershipRef
	for i, q := range qs {
		for _, g := range candidates[i] {
			if _, b := broken[g.ID]; b || g.Source != SourceMapping {
				continue
			}
			if m := mappings[g.SourceID]; m != nil && m.State == MappingActive && q.h.conn != nil && m.ConnectionID == q.h.conn.ID {
				refs = append(refs, MembershipRef{q.h.conn.ID, q.h.id, m.GroupID})
			}
		}
	}
	var memberships map[MembershipRef][]string
	if len(refs) > 0 {
		if memberships, err = cs.MembershipPaths(ctx, refs); err != nil {
			return nil, nil, err
		}
	}
	for i, q := range qs {
		if !open[i] {
			continue
		}
		ds[i], errs[i] = decide(q, targets[q.orgID], candidates[i], broken, roles, orgsByID, mappings, memberships)
	}
	return ds, errs, nil
}

// decide is one question's decision from its candidate grants and what was read about
// them: the first grant that holds allows; otherwise the reason of the first that broke.
func decide(q holderQuestion, target *Org, candidates []*Grant, broken map[string]string, roles map[string]*Role,
	orgsByID map[string]*Org, mappings map[string]*Mapping, memberships map[MembershipRef][]string) (*Decision, error) {
	conn, userID := q.h.conn, q.h.id
	d := &Decision{}
	why := ""
	for _, g := range candidates {
		if w, b := broken[g.ID]; b {
			if why == "" {
				why = w
			}
			continue
		}
		ex := Explanation{Grant: g, Role: roles[g.RoleID], Org: orgsByID[g.OrgID], Connection: conn}
		if g.Source == SourceMapping {
			// The source: an active mapping of this connection and the membership behind
			// it, read now.
			if ex.Mapping = mappings[g.SourceID]; ex.Mapping == nil {
				return nil, orgscim.Errorf(orgscim.NotFound, "no mapping %q", g.SourceID)
			}
			if ex.Mapping.State != MappingActive || conn == nil || ex.Mapping.ConnectionID != conn.ID {
				if why == "" {
					why = fmt.Sprintf("grant %s comes from mapping %s, which is %s", g.ID, ex.Mapping.ID, ex.Mapping.State)
				}
				continue
			}
			if ex.Groups = memberships[MembershipRef{conn.ID, userID, ex.Mapping.GroupID}]; len(ex.Groups) == 0 {
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
			return denial("no grant that gives %s on org %s holds now: %s", q.permission, target.Slug, why), nil
		}
		return denial("no live grant gives %s on org %s", q.permission, target.Slug), nil
	}
	d.Allowed, d.Reason = true, "granted"
	return d, nil
}

// distinct gathers the ids of(i) for i < n, each once, in first-seen order.
func distinct(n int, of func(i int) []string) []string {
	seen := map[string]bool{}
	var out []string
	for i := range n {
		for _, id := range of(i) {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// orgPath loads the org and its ancestors, and names the first of them whose
// relationship gives no access at now ("" when all do).
func (a *Access) orgPath(ctx context.Context, orgID string, now time.Time) (target *Org, path []string, byID map[string]*Org, blocked string, err error) {
	if target, err = a.Org(ctx, orgID); err != nil {
		return nil, nil, nil, "", err
	}
	path = target.AncestorIDs()
	if byID, err = a.Store.OrgsByID(ctx, path); err != nil {
		return nil, nil, nil, "", err
	}
	return target, path, byID, inactiveOnPath(path, byID, now), nil
}

// Org returns the org with this id, its Path naming its ancestors; NotFound when there
// is none.
func (a *Access) Org(ctx context.Context, orgID string) (*Org, error) {
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
