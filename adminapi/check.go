package adminapi

import (
	"context"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

// CheckQuestion is one access question as the admin API takes it: may the user (a SCIM
// id) of the connection (a slug) exercise the permission on the org (a slug).
type CheckQuestion struct {
	Connection, User, Permission, Org string
}

// CheckLookup resolves what the access check names, many at once (sqlstore's access
// store does): orgs, and connections with orgs, by slug, and the display names of
// groups. Without it, the check looks each one up alone.
type CheckLookup interface {
	OrgsBySlug(ctx context.Context, slugs []string) (map[string]*orgs.Org, error)
	ConnectionsAndOrgsBySlug(ctx context.Context, connSlugs, orgSlugs []string) (map[string]*orgs.Connection, map[string]*orgs.Org, error)
	GroupNames(ctx context.Context, conn string, ids []string) (map[string]string, error)
}

// Check is the access check as p may ask it: p must see the org and be related to the
// connection (else Forbidden, never an answer), and the decision is orgs.Access.Check's,
// explained. It is CheckMany of one question.
func (s *Server) Check(ctx context.Context, p orgs.Principal, connSlug, user, perm, orgSlug string) (Decision, error) {
	ds, errs, err := s.CheckMany(ctx, p, []CheckQuestion{{Connection: connSlug, User: user, Permission: perm, Org: orgSlug}})
	if err != nil {
		return Decision{}, err
	}
	return ds[0], errs[0]
}

// CheckMany is the access check of many questions as p may ask them, each answered as
// Check answers it alone: for question i, ds[i] is its explained decision, or errs[i]
// why it has none (NotFound: no such connection or org; Forbidden: outside p's scope).
// The questions are decided together by orgs.Access.CheckMany, and their names and
// explanations resolved together, so that a batch costs a fixed number of queries (one
// more per distinct connection, to name its groups), not one check per question. err
// is a failure of the whole batch. Other adapters that answer the same question (the
// AuthZEN PDP) call this.
func (s *Server) CheckMany(ctx context.Context, p orgs.Principal, qs []CheckQuestion) (ds []Decision, errs []error, err error) {
	ds, errs = make([]Decision, len(qs)), make([]error, len(qs))
	lookup, _ := s.Access.Store.(CheckLookup)
	connSlugs, orgSlugs := make([]string, len(qs)), make([]string, len(qs))
	for i, q := range qs {
		connSlugs[i], orgSlugs[i] = q.Connection, q.Org
	}
	conns, orgsBySlug, err := s.connectionsAndOrgsBySlug(ctx, lookup, connSlugs, orgSlugs)
	if err != nil {
		return nil, nil, err
	}
	// The caller's scope, judged once per org and once per connection.
	seen, related := map[string]error{}, map[string]error{}
	var asked []orgs.Question
	var at []int
	for i, q := range qs {
		conn, org := conns[q.Connection], orgsBySlug[q.Org]
		switch {
		case conn == nil:
			errs[i] = orgscim.Errorf(orgscim.NotFound, "no connection %q", q.Connection)
			continue
		case org == nil:
			errs[i] = orgscim.Errorf(orgscim.NotFound, "no org %q", q.Org)
			continue
		}
		e, ok := seen[org.ID]
		if !ok {
			e = s.canSee(ctx, p, org)
			seen[org.ID] = e
		}
		if e == nil {
			if e, ok = related[conn.ID]; !ok {
				e = s.relatedConnection(ctx, p, conn)
				related[conn.ID] = e
			}
		}
		if e != nil {
			errs[i] = e
			continue
		}
		asked = append(asked, orgs.Question{Connection: conn, UserID: q.User, Permission: q.Permission, OrgID: org.ID})
		at = append(at, i)
	}
	decided, derrs, err := s.Access.CheckMany(ctx, asked)
	if err != nil {
		return nil, nil, err
	}
	// The explanations name groups: each connection's, in one lookup.
	groups := map[string][]string{}
	for k := range asked {
		if d := decided[k]; d != nil {
			for _, ex := range d.Because {
				groups[asked[k].Connection.ID] = append(groups[asked[k].Connection.ID], ex.Groups...)
			}
		}
	}
	names := map[string]map[string]string{}
	for connID, ids := range groups {
		if names[connID], err = s.groupNames(ctx, lookup, connID, ids); err != nil {
			return nil, nil, err
		}
	}
	r := s.resolver(ctx)
	for k, i := range at {
		if errs[i] = derrs[k]; errs[i] != nil {
			continue
		}
		if ds[i], err = s.explain(r, names[asked[k].Connection.ID], asked[k].Connection, decided[k]); err != nil {
			return nil, nil, err
		}
	}
	return ds, errs, nil
}

// connectionsAndOrgsBySlug resolves a batch's names: in one lookup with lookup.
func (s *Server) connectionsAndOrgsBySlug(ctx context.Context, lookup CheckLookup, connSlugs, orgSlugs []string) (map[string]*orgs.Connection, map[string]*orgs.Org, error) {
	if lookup != nil {
		return lookup.ConnectionsAndOrgsBySlug(ctx, connSlugs, orgSlugs)
	}
	out := map[string]*orgs.Connection{}
	for _, slug := range connSlugs {
		if _, ok := out[slug]; ok {
			continue
		}
		c, err := s.Directory.Connection(ctx, slug)
		if err != nil && orgscim.ErrorCode(err) != orgscim.NotFound {
			return nil, nil, err
		}
		out[slug] = c
	}
	found, err := s.orgsBySlug(ctx, nil, orgSlugs)
	return out, found, err
}

func (s *Server) orgsBySlug(ctx context.Context, lookup CheckLookup, slugs []string) (map[string]*orgs.Org, error) {
	if lookup != nil {
		return lookup.OrgsBySlug(ctx, slugs)
	}
	out := map[string]*orgs.Org{}
	for _, slug := range slugs {
		if _, ok := out[slug]; ok {
			continue
		}
		o, err := s.Directory.Store.OrgBySlug(ctx, slug)
		if err != nil && orgscim.ErrorCode(err) != orgscim.NotFound {
			return nil, err
		}
		out[slug] = o
	}
	return out, nil
}

// groupNames names the groups of conn among ids ("" for one that is gone).
func (s *Server) groupNames(ctx context.Context, lookup CheckLookup, conn string, ids []string) (map[string]string, error) {
	if lookup != nil {
		return lookup.GroupNames(ctx, conn, ids)
	}
	out := map[string]string{}
	for _, id := range ids {
		if _, ok := out[id]; ok || s.Groups == nil {
			continue
		}
		g, err := s.Groups.Get(ctx, conn, id)
		if err != nil && orgscim.ErrorCode(err) != orgscim.NotFound {
			return nil, err
		}
		if g != nil {
			out[id] = g.DisplayName
		}
	}
	return out, nil
}

// Explain renders a decision of orgs.Access.Check with its chains, as the access check
// answers it (the CLI prints the same).
func (s *Server) Explain(ctx context.Context, conn *orgs.Connection, d *orgs.Decision) (Decision, error) {
	var ids []string
	for _, ex := range d.Because {
		ids = append(ids, ex.Groups...)
	}
	var names map[string]string
	if len(ids) > 0 {
		lookup, _ := s.Access.Store.(CheckLookup)
		var err error
		if names, err = s.groupNames(ctx, lookup, conn.ID, ids); err != nil {
			return Decision{}, err
		}
	}
	return s.explain(s.resolver(ctx), names, conn, d)
}

// explain renders d with r, which remembers what it resolved for the rest of the
// request, and the names of the groups of conn.
func (s *Server) explain(r *resolver, names map[string]string, conn *orgs.Connection, d *orgs.Decision) (Decision, error) {
	r.conns[conn.ID] = conn
	out := Decision{Allowed: d.Allowed, Reason: d.Reason, Because: make([]Explanation, 0, len(d.Because))}
	for _, ex := range d.Because {
		r.remember(ex.Org)
		if ex.Role != nil {
			r.roles[ex.Role.ID] = ex.Role
		}
		if ex.Connection != nil {
			r.conns[ex.Connection.ID] = ex.Connection
		}
		e := Explanation{Org: orgRef(ex.Org), Connection: connectionRef(conn), Groups: []GroupRef{}}
		var err error
		if e.Grant, err = r.grantJSON(ex.Grant); err != nil {
			return Decision{}, err
		}
		role, err := r.role(ex.Grant.RoleID)
		if err != nil {
			return Decision{}, err
		}
		e.Role = roleJSON(role)
		if ex.Mapping != nil {
			m, err := r.mappingJSON(ex.Mapping)
			if err != nil {
				return Decision{}, err
			}
			e.Mapping = &m
		}
		for _, gid := range ex.Groups {
			e.Groups = append(e.Groups, GroupRef{ID: gid, DisplayName: names[gid]})
		}
		out.Because = append(out.Because, e)
	}
	return out, nil
}
