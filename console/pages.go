package console

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/internal/httpstatus"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sessions"
	"github.com/orgscim/orgscim/setuppage"
)

// maxListed bounds what one page lists; the admin API pages through the rest.
const maxListed = 200

// orgNode is an org of the home page's tree, with its depth for indenting.
type orgNode struct {
	Org         *orgs.Org
	Depth       int
	Connections []*orgs.Connection
	URL         string
	Contract    string
	Branded     bool
	Brand       setuppage.Brand
}

type homeView struct {
	Delegations []sessions.Held
	Orgs        []orgNode
}

func (s *Server) home(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	var roots []*orgs.Org
	if p.Operator != "" {
		var err error
		if roots, err = s.Lists.ChildOrgs(ctx, "", "", maxListed); err != nil {
			return err
		}
	} else {
		for _, h := range p.Delegations {
			if h.Home != nil && !covered(roots, h.Home) {
				roots = append(roots, h.Home)
			}
		}
	}
	var nodes []orgNode
	for _, r := range roots {
		if err := s.walk(ctx, r, 0, &nodes); err != nil {
			return err
		}
	}
	return s.render(c, http.StatusOK, "home", view{Title: "Home", Page: homeView{Delegations: p.Delegations, Orgs: nodes}})
}

func covered(roots []*orgs.Org, o *orgs.Org) bool {
	for _, r := range roots {
		if r.Contains(o) {
			return true
		}
	}
	return false
}

// walk lists o's subtree, depth first, up to maxListed orgs.
func (s *Server) walk(ctx context.Context, o *orgs.Org, depth int, out *[]orgNode) error {
	if len(*out) >= maxListed {
		return nil
	}
	conns, err := s.Lists.Connections(ctx, o.ID, "", maxListed)
	if err != nil {
		return err
	}
	*out = append(*out, orgNode{Org: o, Depth: depth, Connections: conns, URL: orgURL(o), Contract: contract(o),
		Branded: o.Brand != (orgs.Brand{}), Brand: setuppage.BrandOf(o)})
	kids, err := s.Lists.ChildOrgs(ctx, o.ID, "", maxListed)
	if err != nil {
		return err
	}
	for _, k := range kids {
		if err := s.walk(ctx, k, depth+1, out); err != nil {
			return err
		}
	}
	return nil
}

// visibleConnection is the connection of the path, for a person who may see its
// people: an operator, or a delegate whose subtree and the connection's org lie on one
// path of the tree (the admin API's rule for the people of a connection). Anything else
// is answered as if the connection did not exist.
func (s *Server) visibleConnection(c echo.Context) (*orgs.Connection, error) {
	ctx, p := c.Request().Context(), person(c)
	conn, err := s.Directory.Connection(ctx, c.Param("conn"))
	if err != nil {
		return nil, err
	}
	if p.Operator != "" {
		return conn, nil
	}
	home, err := s.Directory.Store.OrgByID(ctx, conn.OrgID)
	if err != nil {
		return nil, err
	}
	for _, h := range p.Delegations {
		if h.Home != nil && (h.Home.Contains(home) || home.Contains(h.Home)) {
			return conn, nil
		}
	}
	return nil, orgscim.Errorf(orgscim.NotFound, "no connection %q", c.Param("conn"))
}

// holding is one grant of a person, as the pages show it.
type holding struct {
	orgs.Holding
	WhyURL    string
	Revocable bool // the viewer may revoke it, and the domain would
}

// visibleHoldings is what the user can do, on the orgs the viewer sees.
func (s *Server) visibleHoldings(ctx context.Context, p *sessions.Person, conn *orgs.Connection, userID string) ([]holding, error) {
	hs, err := s.Access.WhatCanUserDo(ctx, conn, userID)
	if err != nil {
		return nil, err
	}
	var out []holding
	for _, h := range hs {
		if !p.Sees(h.Org) {
			continue
		}
		hv := holding{Holding: h}
		if len(h.Role.Permissions) > 0 {
			hv.WhyURL = Prefix + "/connections/" + url.PathEscape(conn.Slug) + "/people/" + url.PathEscape(userID) + "/why?" +
				url.Values{"org": {h.Org.Slug}, "permission": {h.Role.Permissions[0]}}.Encode()
		}
		if h.Grant.Source != orgs.SourceMapping {
			_, ok, err := s.Sessions.Principal(ctx, p, orgs.CapManageMembers, h.Org)
			if err != nil {
				return nil, err
			}
			hv.Revocable = ok
		}
		out = append(out, hv)
	}
	return out, nil
}

type personRow struct {
	User     *provisioning.User
	URL      string
	Holdings []holding
}

type peopleView struct {
	Connection *orgs.Connection
	// Total is how many people match Query (all of them when it is empty); People is
	// the page of them from First to Last, oldest first.
	Total       int
	First, Last int
	Query       string
	People      []personRow
	// Prev and Next link the neighbouring pages ("" when there is none).
	Prev, Next string
}

// peopleFilter is what the people page's search box asks: a person whose userName,
// formatted name or display name contains q, ignoring case.
func peopleFilter(q string) provisioning.Filter {
	co := func(path ...string) provisioning.Filter {
		return provisioning.Compare{Attr: provisioning.Attr{Path: path, Type: provisioning.TypeString}, Op: provisioning.OpCo, Value: q}
	}
	return provisioning.Or{Left: co("userName"), Right: provisioning.Or{Left: co("name", "formatted"), Right: co("displayName")}}
}

// pageNumber reads the 1-based ?page= of a list (1 when absent or not a number).
func pageNumber(c echo.Context) int {
	n, err := strconv.Atoi(c.QueryParam("page"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// people lists a connection's people, maxListed a page, filtered by ?q=. The users
// store pages by the last row of the page before when it can (keyset), so a later page
// of a large connection costs what the first does.
func (s *Server) people(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	conn, err := s.visibleConnection(c)
	if err != nil {
		return err
	}
	n := pageNumber(c)
	q := provisioning.Query{StartIndex: (n-1)*maxListed + 1, Count: maxListed}
	v := peopleView{Connection: conn, Query: strings.TrimSpace(c.QueryParam("q"))}
	if v.Query != "" {
		q.Filter = peopleFilter(v.Query)
	}
	page, err := s.Users.List(ctx, conn.ID, q)
	if err != nil {
		return err
	}
	v.Total = page.Total
	for _, u := range page.Users {
		hs, err := s.visibleHoldings(ctx, p, conn, u.ID)
		if err != nil {
			return err
		}
		v.People = append(v.People, personRow{User: u, Holdings: hs,
			URL: Prefix + "/connections/" + url.PathEscape(conn.Slug) + "/people/" + url.PathEscape(u.ID)})
	}
	if len(v.People) > 0 {
		v.First, v.Last = q.StartIndex, q.StartIndex+len(v.People)-1
	}
	link := func(page int) string {
		vals := url.Values{"page": {strconv.Itoa(page)}}
		if v.Query != "" {
			vals.Set("q", v.Query)
		}
		return Prefix + "/connections/" + url.PathEscape(conn.Slug) + "/people?" + vals.Encode()
	}
	if n > 1 {
		v.Prev = link(n - 1)
	}
	if v.Last > 0 && v.Last < v.Total {
		v.Next = link(n + 1)
	}
	out := view{Title: "People of " + conn.Slug, Page: v}
	if err := s.wearConnection(ctx, &out, conn); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "people", out)
}

// grantForm is the form to grant a role, offered only with choices the domain would
// accept from this viewer.
type grantForm struct {
	Action string
	Roles  []*orgs.Role
	Orgs   []*orgs.Org
	// Values and Problems per field (role, org, reason, expires, "" for the form).
	Values   map[string]string
	Problems map[string]string
}

type personView struct {
	Connection *orgs.Connection
	User       *provisioning.User
	Holdings   []holding
	Form       *grantForm
	Back       string
}

func (s *Server) person(c echo.Context) error {
	return s.personPage(c, http.StatusOK, nil, nil)
}

func (s *Server) personPage(c echo.Context, code int, values, problems map[string]string) error {
	ctx, p := c.Request().Context(), person(c)
	conn, err := s.visibleConnection(c)
	if err != nil {
		return err
	}
	u, err := s.Users.Get(ctx, conn.ID, c.Param("id"))
	if err != nil {
		return err
	}
	hs, err := s.visibleHoldings(ctx, p, conn, u.ID)
	if err != nil {
		return err
	}
	v := personView{Connection: conn, User: u, Holdings: hs,
		Back: Prefix + "/connections/" + url.PathEscape(conn.Slug) + "/people"}
	if u.Active {
		f, err := s.grantForm(ctx, p, conn)
		if err != nil {
			return err
		}
		if f != nil {
			f.Action = v.Back + "/" + url.PathEscape(u.ID) + "/grants"
			f.Values, f.Problems = values, problems
			v.Form = f
		}
	}
	name := u.DisplayName
	if name == "" {
		name = u.UserName
	}
	out := view{Title: name, Page: v}
	if err := s.wearConnection(ctx, &out, conn); err != nil {
		return err
	}
	return s.render(c, code, "person", out)
}

// grantForm offers the orgs of the connection's subtree on which the viewer has
// manage_members, and the roles the domain lets them grant: for an operator every
// role that is not privileged (privileged ones come only through elevations), for a
// delegate the non-privileged roles they hold themselves. nil when there is nothing.
func (s *Server) grantForm(ctx context.Context, p *sessions.Person, conn *orgs.Connection) (*grantForm, error) {
	home, err := s.Directory.Store.OrgByID(ctx, conn.OrgID)
	if err != nil {
		return nil, err
	}
	var nodes []orgNode
	if err := s.walk(ctx, home, 0, &nodes); err != nil {
		return nil, err
	}
	f := &grantForm{}
	for _, n := range nodes {
		if _, ok, err := s.Sessions.Principal(ctx, p, orgs.CapManageMembers, n.Org); err != nil {
			return nil, err
		} else if ok {
			f.Orgs = append(f.Orgs, n.Org)
		}
	}
	if len(f.Orgs) == 0 {
		return nil, nil
	}
	if f.Roles, err = s.grantableRoles(ctx, p); err != nil || len(f.Roles) == 0 {
		return nil, err
	}
	return f, nil
}

// grantableRoles are the roles the domain lets the viewer grant directly: for an
// operator every role that is not privileged (privileged ones come only through
// elevations), for a delegate the non-privileged roles they hold themselves.
func (s *Server) grantableRoles(ctx context.Context, p *sessions.Person) ([]*orgs.Role, error) {
	var roles, out []*orgs.Role
	if p.Operator != "" {
		var err error
		if roles, err = s.Lists.Roles(ctx, "", maxListed); err != nil {
			return nil, err
		}
	} else {
		hs, err := s.Access.WhatCanUserDo(ctx, p.Connection, p.User.ID)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, h := range hs {
			if !seen[h.Role.ID] {
				seen[h.Role.ID] = true
				roles = append(roles, h.Role)
			}
		}
	}
	for _, r := range roles {
		if !r.Privileged {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// grant assigns a role with the same call, authority and audit event as POST
// /api/v1/grants. A refusal of the input is shown next to its field.
func (s *Server) grant(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	conn, err := s.visibleConnection(c)
	if err != nil {
		return err
	}
	values := map[string]string{"role": strings.TrimSpace(c.FormValue("role")), "org": strings.TrimSpace(c.FormValue("org")),
		"reason": strings.TrimSpace(c.FormValue("reason")), "expires": strings.TrimSpace(c.FormValue("expires"))}
	problems := map[string]string{}
	for _, f := range []string{"role", "org"} {
		if values[f] == "" {
			problems[f] = "missing " + f
		}
	}
	var expires *time.Time
	if values["expires"] != "" {
		t, err := time.Parse("2006-01-02", values["expires"])
		if err != nil {
			problems["expires"] = "expiry must be a date (YYYY-MM-DD)"
		} else {
			expires = &t
		}
	}
	if len(problems) > 0 {
		return s.personPage(c, http.StatusBadRequest, values, problems)
	}
	org, err := s.Directory.Store.OrgBySlug(ctx, values["org"])
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return s.personPage(c, http.StatusBadRequest, values, map[string]string{"org": orgscim.ErrorMessage(err)})
	}
	if err != nil {
		return err
	}
	by, ok, err := s.Sessions.Principal(ctx, p, orgs.CapManageMembers, org)
	if err != nil {
		return err
	}
	if !ok {
		return orgscim.Errorf(orgscim.Forbidden, "org %s is outside your delegated subtree, or you may not manage its members", org.Slug)
	}
	if _, err := s.Access.AssignRole(ctx, by, conn, c.Param("id"), values["role"], org.ID, values["reason"], expires); err != nil {
		switch orgscim.ErrorCode(err) {
		case orgscim.Invalid, orgscim.InvalidValue, orgscim.NotFound, orgscim.Conflict:
			return s.personPage(c, httpstatus.Of(orgscim.ErrorCode(err)), values, map[string]string{fieldOf(err): orgscim.ErrorMessage(err)})
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/connections/"+url.PathEscape(conn.Slug)+"/people/"+url.PathEscape(c.Param("id")))
}

// fieldOf names the form field a domain refusal is about, by what its message names.
func fieldOf(err error) string {
	m := orgscim.ErrorMessage(err)
	switch {
	case strings.Contains(m, "role"):
		return "role"
	case strings.Contains(m, "expir"):
		return "expires"
	case strings.Contains(m, "org"):
		return "org"
	}
	return ""
}

// revoke revokes a grant with the same call as DELETE /api/v1/grants/{id}.
func (s *Server) revoke(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	gs, ok := s.Access.Store.(orgs.GrantStore)
	if !ok {
		return orgscim.Errorf(orgscim.NotImplemented, "grants cannot be read one by one here")
	}
	g, err := gs.Grant(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	org, err := s.Directory.Store.OrgByID(ctx, g.OrgID)
	if err != nil {
		return err
	}
	by, ok, err := s.Sessions.Principal(ctx, p, orgs.CapManageMembers, org)
	if err != nil {
		return err
	}
	if !ok {
		return orgscim.Errorf(orgscim.NotFound, "grant %q not found", g.ID)
	}
	if _, err := s.Access.RevokeGrant(ctx, by, g.ID, strings.TrimSpace(c.FormValue("reason"))); err != nil {
		return err
	}
	conn, err := s.Access.Store.ConnectionByID(ctx, g.ConnectionID)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/connections/"+url.PathEscape(conn.Slug)+"/people/"+url.PathEscape(g.UserID))
}

type whyView struct {
	Connection *orgs.Connection
	User       *provisioning.User
	Org        *orgs.Org
	Permission string
	Decision   *orgs.Decision
	Back       string
	// Names are the people the chain's records name ("user:CONN/ID"), by their userName.
	Names map[string]string
}

// why draws the chain the access check decides by: grant ← mapping ← group ←
// connection, with approvals and expiry (orgs.Access.Check, as GET /access/check).
func (s *Server) why(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	conn, err := s.visibleConnection(c)
	if err != nil {
		return err
	}
	perm, slug := strings.TrimSpace(c.QueryParam("permission")), strings.TrimSpace(c.QueryParam("org"))
	if perm == "" || slug == "" {
		return orgscim.Errorf(orgscim.Invalid, "missing org or permission")
	}
	org, err := s.Directory.Store.OrgBySlug(ctx, slug)
	if err != nil {
		return err
	}
	if !p.Sees(org) {
		return orgscim.Errorf(orgscim.NotFound, "no org %q", slug)
	}
	u, err := s.Users.Get(ctx, conn.ID, c.Param("id"))
	if err != nil {
		return err
	}
	d, err := s.Access.Check(ctx, conn, u.ID, perm, org.ID)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, ex := range d.Because {
		for _, who := range []string{ex.Grant.GrantedBy, ex.Grant.ApprovedBy} {
			names[who] = s.personName(ctx, who)
		}
		if ex.Mapping != nil {
			names[ex.Mapping.DraftedBy] = s.personName(ctx, ex.Mapping.DraftedBy)
			names[ex.Mapping.ApprovedBy] = s.personName(ctx, ex.Mapping.ApprovedBy)
		}
	}
	out := view{Title: "Why " + u.UserName + " has " + perm, Page: whyView{Connection: conn, User: u,
		Org: org, Permission: perm, Decision: d, Names: names,
		Back: Prefix + "/connections/" + url.PathEscape(conn.Slug) + "/people/" + url.PathEscape(u.ID)}}
	if err := s.wearConnection(ctx, &out, conn); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "why", out)
}

// personName turns a record's "user:CONNECTION/ID" into the user's userName; anything
// else (operator:NAME, a user gone) stays as recorded.
func (s *Server) personName(ctx context.Context, who string) string {
	conn, id, ok := strings.Cut(strings.TrimPrefix(who, "user:"), "/")
	if !ok || !strings.HasPrefix(who, "user:") {
		return who
	}
	u, err := s.Users.Get(ctx, conn, id)
	if err != nil {
		return who
	}
	return u.UserName
}
