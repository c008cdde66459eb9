package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/internal/httpstatus"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/reviews"
	"github.com/orgscim/orgscim/sessions"
	"github.com/orgscim/orgscim/setuppage"
)

func orgURL(o *orgs.Org) string { return Prefix + "/orgs/" + url.PathEscape(o.Slug) }

func connURL(c *orgs.Connection) string { return Prefix + "/connections/" + url.PathEscape(c.Slug) }

// visibleOrg is the org of the path parameter, for a person who may see it; anything
// else is answered as if it did not exist (the admin API's canSee).
func (s *Server) visibleOrg(c echo.Context, param string) (*orgs.Org, error) {
	o, err := s.Directory.Store.OrgBySlug(c.Request().Context(), c.Param(param))
	if err != nil {
		return nil, err
	}
	if !person(c).Sees(o) {
		return nil, orgscim.Errorf(orgscim.NotFound, "no org %q", c.Param(param))
	}
	return o, nil
}

// reader is the authority the person reads org's records with: an operator's own, or the
// first of the delegate's delegations whose subtree contains org.
func reader(p *sessions.Person, org *orgs.Org) (orgs.Principal, bool) {
	if p.Operator != "" {
		return orgs.Principal{Operator: p.Operator}, true
	}
	for _, h := range p.Delegations {
		if h.Home != nil && h.Home.Contains(org) {
			return orgs.Principal{Delegation: h.Delegation}, true
		}
	}
	return orgs.Principal{}, false
}

// may reports whether the person holds capability c on org now.
func (s *Server) may(ctx context.Context, p *sessions.Person, c orgs.Capability, org *orgs.Org) (orgs.Principal, bool, error) {
	return s.Sessions.Principal(ctx, p, c, org)
}

// partnerBrand is the brand a page about org wears: that of the nearest org on its path,
// itself first, that has one. Presentation only.
func (s *Server) partnerBrand(ctx context.Context, org *orgs.Org) (*orgs.Org, error) {
	ids := org.AncestorIDs()
	m, err := s.Access.Store.OrgsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := len(ids) - 1; i >= 0; i-- {
		if o := m[ids[i]]; o != nil && o.Brand != (orgs.Brand{}) {
			return o, nil
		}
	}
	return nil, nil
}

// wear sets the page's brand to that of org's partner.
func (s *Server) wear(ctx context.Context, v *view, org *orgs.Org) error {
	b, err := s.partnerBrand(ctx, org)
	if err != nil || b == nil {
		return err
	}
	br := setuppage.BrandOf(b)
	v.Brand, v.BrandCSS = &br, orgURL(b)+"/brand.css"
	return nil
}

// wearConnection sets the page's brand to that of the connection's partner.
func (s *Server) wearConnection(ctx context.Context, v *view, conn *orgs.Connection) error {
	org, err := s.Directory.Store.OrgByID(ctx, conn.OrgID)
	if err != nil {
		return err
	}
	return s.wear(ctx, v, org)
}

// brandCSS colours the brand band with the org's own colours, checked by
// setuppage.BrandOf; the console's policy allows styles only from its own address.
func (s *Server) brandCSS(c echo.Context) error {
	o, err := s.visibleOrg(c, "slug")
	if err != nil {
		return err
	}
	b := setuppage.BrandOf(o)
	var css strings.Builder
	if b.Primary != "" {
		fmt.Fprintf(&css, ".partner-brand { background: %s; color: %s; }\n", b.Primary, b.Ink)
	}
	if b.Accent != "" {
		fmt.Fprintf(&css, ".partner-brand { border-bottom: 6px solid %s; }\n", b.Accent)
	}
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", []byte(css.String()))
}

type connRow struct {
	Conn *orgs.Connection
	URL  string
}

type delegationRow struct {
	D         *orgs.Delegation
	Holder    string
	GrantedBy string
	Live      bool
}

type grantRow struct {
	G         *orgs.Grant
	Role      *orgs.Role
	Person    string // the holder: a person's user name, or a service account's name
	PersonURL string
	Conn      string
	Revocable bool
	// Account: the holder is a service account, answerable to Owner (OwnerURL its page).
	Account  bool
	Owner    string
	OwnerURL string
}

type mappingRow struct {
	M          *orgs.Mapping
	Group      string
	Role       *orgs.Role
	Conn       string
	DraftedBy  string
	ApprovedBy string
	Approvable bool
	Rejectable bool
}

// orgGrantForm grants a role on the org to a person of one of the connections above it.
type orgGrantForm struct {
	Conns    []*orgs.Connection
	Roles    []*orgs.Role
	Values   map[string]string
	Problems map[string]string
}

// groupChoice is one group a mapping may name: "connection/group id".
type groupChoice struct{ Value, Label string }

type mappingForm struct {
	Groups   []groupChoice
	Roles    []*orgs.Role
	Values   map[string]string
	Problems map[string]string
}

type orgView struct {
	Org         *orgs.Org
	Parent      *orgs.Org
	Children    []*orgs.Org
	Contract    string
	Brand       setuppage.Brand
	Connections []connRow
	Delegations []delegationRow
	// Grants is the page of the org's live grants from GrantsFirst to GrantsLast of
	// GrantsTotal, in id order; GrantsNext continues after it and GrantsStart goes back
	// to the first page ("" when there is none).
	Grants                  []grantRow
	GrantsFirst, GrantsLast int
	GrantsTotal             int
	GrantsNext, GrantsStart string
	// GrantsHere is the page's cursor (?after=…, "" on the first page), which a
	// revocation posts to and comes back to.
	GrantsHere  string
	GrantForm   *orgGrantForm
	Mappings    []mappingRow
	MappingForm *mappingForm
	Reviews     []*reviews.Review
	Notice      string
	// ManagesMembers: the person may manage the org's members (and its service accounts).
	ManagesMembers bool
	// Engages: the person may see the org's MSP engagements (an operator or its administrator).
	Engages bool
}

// contract says the relationship's term in words.
func contract(o *orgs.Org) string {
	var b strings.Builder
	if o.ContractStart != nil {
		b.WriteString("from " + o.ContractStart.UTC().Format("2 Jan 2006"))
	}
	if o.ContractEnd != nil {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString("until " + o.ContractEnd.UTC().Format("2 Jan 2006"))
		if o.Grace > 0 {
			b.WriteString(", then " + o.Grace.String() + " of grace")
		}
	}
	if b.Len() == 0 {
		return "open-ended"
	}
	return b.String()
}

func (s *Server) orgPage(c echo.Context) error {
	return s.renderOrg(c, http.StatusOK, "", nil, nil)
}

// renderOrg shows the org page; form names the form whose values and problems are
// shown again ("grant" or "mapping").
func (s *Server) renderOrg(c echo.Context, code int, form string, values, problems map[string]string) error {
	ctx, p := c.Request().Context(), person(c)
	org, err := s.visibleOrg(c, "slug")
	if err != nil {
		return err
	}
	v := orgView{Org: org, Contract: contract(org), Brand: setuppage.BrandOf(org), Notice: c.QueryParam("done")}
	if org.ParentID != "" {
		if parent, err := s.Directory.Store.OrgByID(ctx, org.ParentID); err == nil && p.Sees(parent) {
			v.Parent = parent
		}
	}
	if v.Children, err = s.Lists.ChildOrgs(ctx, org.ID, "", maxListed); err != nil {
		return err
	}
	conns, err := s.Lists.Connections(ctx, org.ID, "", maxListed)
	if err != nil {
		return err
	}
	for _, cn := range conns {
		v.Connections = append(v.Connections, connRow{Conn: cn, URL: connURL(cn)})
	}
	now := s.Access.CurrentTime()
	dels, err := s.Lists.Delegations(ctx, org.ID, "", maxListed)
	if err != nil {
		return err
	}
	for _, d := range dels {
		v.Delegations = append(v.Delegations, delegationRow{D: d, Live: d.LiveAt(now), GrantedBy: s.actorName(ctx, d.GrantedBy),
			Holder: s.personName(ctx, "user:"+d.HolderConnectionID+"/"+d.HolderUserID)})
	}
	roles := map[string]*orgs.Role{}
	role := func(id string) (*orgs.Role, error) {
		if r, ok := roles[id]; ok {
			return r, nil
		}
		r, err := s.Access.Store.RoleByID(ctx, id)
		roles[id] = r
		return r, err
	}
	connsByID := map[string]*orgs.Connection{}
	connOf := func(id string) (*orgs.Connection, error) {
		if cn, ok := connsByID[id]; ok {
			return cn, nil
		}
		cn, err := s.Access.Store.ConnectionByID(ctx, id)
		connsByID[id] = cn
		return cn, err
	}
	_, manageMembers, err := s.may(ctx, p, orgs.CapManageMembers, org)
	if err != nil {
		return err
	}
	// The grants page by id (?after= the last id of the page before), with the total and
	// where the page starts in it, so that nobody is silently left out.
	after := c.QueryParam("after")
	grants, err := s.Lists.Grants(ctx, org.ID, true, after, maxListed)
	if err != nil {
		return err
	}
	total, before, err := s.Lists.CountGrants(ctx, org.ID, true, after)
	if err != nil {
		return err
	}
	v.GrantsTotal = total
	if len(grants) > 0 {
		v.GrantsFirst, v.GrantsLast = before+1, before+len(grants)
	}
	if v.GrantsLast > 0 && v.GrantsLast < total {
		v.GrantsNext = orgURL(org) + "?" + url.Values{"after": {grants[len(grants)-1].ID}}.Encode() + "#grants-h"
	}
	if after != "" {
		v.GrantsStart = orgURL(org) + "#grants-h"
		v.GrantsHere = "?" + url.Values{"after": {after}}.Encode()
	}
	for _, g := range grants {
		r, err := role(g.RoleID)
		if err != nil {
			return err
		}
		row := grantRow{G: g, Role: r, Revocable: manageMembers && g.Source != orgs.SourceMapping}
		if g.ConnectionID == "" {
			// A service account's grant belongs to no connection: it is shown by the
			// account's name, with the person who answers for it.
			if err := s.accountHolder(ctx, &row, connOf); err != nil {
				return err
			}
		} else {
			cn, err := connOf(g.ConnectionID)
			if err != nil {
				return err
			}
			row.Conn, row.Person = cn.Slug, s.personName(ctx, "user:"+g.ConnectionID+"/"+g.UserID)
			row.PersonURL = connURL(cn) + "/people/" + url.PathEscape(g.UserID)
		}
		v.Grants = append(v.Grants, row)
	}
	// The connections whose people may hold roles here: those bound to org or above it.
	above, err := s.connectionsAbove(ctx, org)
	if err != nil {
		return err
	}
	v.ManagesMembers = manageMembers
	if _, v.Engages, err = s.administrator(ctx, p, org); err != nil {
		return err
	}
	v.Engages = (v.Engages || p.Operator != "") && s.MSP != nil
	if manageMembers {
		rs, err := s.grantableRoles(ctx, p)
		if err != nil {
			return err
		}
		if len(rs) > 0 && len(above) > 0 {
			v.GrantForm = &orgGrantForm{Conns: above, Roles: rs}
			if form == "grant" {
				v.GrantForm.Values, v.GrantForm.Problems = values, problems
			}
		}
	}
	approver, mayApprove, err := s.may(ctx, p, orgs.CapApprove, org)
	if err != nil {
		return err
	}
	for _, cn := range above {
		ms, err := s.Lists.Mappings(ctx, cn.ID, "", "", maxListed)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.OrgID != org.ID || m.State == orgs.MappingRetired {
				continue
			}
			r, err := role(m.RoleID)
			if err != nil {
				return err
			}
			row := mappingRow{M: m, Role: r, Conn: cn.Slug, Group: m.GroupID,
				DraftedBy: s.actorName(ctx, m.DraftedBy), ApprovedBy: s.actorName(ctx, m.ApprovedBy)}
			if g, err := s.Groups.Get(ctx, cn.ID, m.GroupID); err == nil {
				row.Group = g.DisplayName
			}
			row.Approvable = mayApprove && m.State == orgs.MappingDraft && s.Access.MayApproveMapping(m, r, approver.Name()) == nil
			row.Rejectable = mayApprove && m.State == orgs.MappingDraft
			v.Mappings = append(v.Mappings, row)
		}
	}
	if _, ok, err := s.may(ctx, p, orgs.CapManageMappings, org); err != nil {
		return err
	} else if ok {
		f := &mappingForm{}
		for _, cn := range above {
			page, err := s.Groups.List(ctx, cn.ID, provisioning.Query{StartIndex: 1, Count: maxListed})
			if err != nil {
				return err
			}
			for _, g := range page.Groups {
				f.Groups = append(f.Groups, groupChoice{Value: cn.Slug + "/" + g.ID, Label: g.DisplayName + " (" + cn.Slug + ")"})
			}
		}
		if f.Roles, err = s.Lists.Roles(ctx, "", maxListed); err != nil {
			return err
		}
		if len(f.Groups) > 0 && len(f.Roles) > 0 {
			if form == "mapping" {
				f.Values, f.Problems = values, problems
			}
			v.MappingForm = f
		}
	}
	if by, ok := reader(p, org); ok && s.Reviews != nil {
		if v.Reviews, err = s.Reviews.List(ctx, by, org, "", "", maxListed); err != nil && orgscim.ErrorCode(err) != orgscim.Forbidden {
			return err
		}
	}
	out := view{Title: org.Name, Page: v}
	if err := s.wear(ctx, &out, org); err != nil {
		return err
	}
	return s.render(c, code, "org", out)
}

// connectionsAbove lists the connections bound to org or to an org above it.
func (s *Server) connectionsAbove(ctx context.Context, org *orgs.Org) ([]*orgs.Connection, error) {
	var out []*orgs.Connection
	for _, id := range org.AncestorIDs() {
		cs, err := s.Lists.Connections(ctx, id, "", maxListed)
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

// formProblem shows a domain refusal of a form's input next to field, and passes
// anything else on.
func formProblem(err error, field string) (int, map[string]string, bool) {
	switch orgscim.ErrorCode(err) {
	case orgscim.Invalid, orgscim.InvalidValue, orgscim.NotFound, orgscim.Conflict:
		return httpstatus.Of(orgscim.ErrorCode(err)), map[string]string{field: orgscim.ErrorMessage(err)}, true
	}
	return 0, nil, false
}

// orgGrant assigns a role on the org with the same call as POST /api/v1/grants.
func (s *Server) orgGrant(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	org, err := s.visibleOrg(c, "slug")
	if err != nil {
		return err
	}
	values := map[string]string{}
	for _, f := range []string{"connection", "user", "role", "reason", "expires"} {
		values[f] = strings.TrimSpace(c.FormValue(f))
	}
	problems := map[string]string{}
	for _, f := range []string{"connection", "user", "role"} {
		if values[f] == "" {
			problems[f] = "missing " + f
		}
	}
	expires, problem := parseDate(values["expires"])
	if problem != "" {
		problems["expires"] = problem
	}
	if len(problems) > 0 {
		return s.renderOrg(c, http.StatusBadRequest, "grant", values, problems)
	}
	by, ok, err := s.may(ctx, p, orgs.CapManageMembers, org)
	if err != nil {
		return err
	}
	if !ok {
		return orgscim.Errorf(orgscim.Forbidden, "you may not manage the members of org %s", org.Slug)
	}
	conn, err := s.Directory.Connection(ctx, values["connection"])
	if err != nil {
		if code, pr, ok := formProblem(err, "connection"); ok {
			return s.renderOrg(c, code, "grant", values, pr)
		}
		return err
	}
	u, err := s.userByName(ctx, conn, values["user"])
	if err != nil {
		if code, pr, ok := formProblem(err, "user"); ok {
			return s.renderOrg(c, code, "grant", values, pr)
		}
		return err
	}
	if _, err := s.Access.AssignRole(ctx, by, conn, u.ID, values["role"], org.ID, values["reason"], expires); err != nil {
		if code, pr, ok := formProblem(err, fieldOf(err)); ok {
			return s.renderOrg(c, code, "grant", values, pr)
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, orgURL(org)+"?done=granted#grants-h")
}

// parseDate reads an optional YYYY-MM-DD date.
func parseDate(v string) (*time.Time, string) {
	if v == "" {
		return nil, ""
	}
	t, err := time.Parse("2006-01-02", v)
	if err != nil {
		return nil, "expiry must be a date (YYYY-MM-DD)"
	}
	return &t, ""
}

// userByName finds the person of conn with this userName (or id).
func (s *Server) userByName(ctx context.Context, conn *orgs.Connection, name string) (*provisioning.User, error) {
	page, err := s.Users.List(ctx, conn.ID, provisioning.Query{Count: 2, Filter: provisioning.Compare{
		Attr: provisioning.Attr{Path: []string{"userName"}, Type: provisioning.TypeString},
		Op:   provisioning.OpEq, Value: name}})
	if err != nil {
		return nil, err
	}
	if len(page.Users) == 1 {
		return page.Users[0], nil
	}
	if u, err := s.Users.Get(ctx, conn.ID, name); err == nil {
		return u, nil
	}
	return nil, orgscim.Errorf(orgscim.NotFound, "connection %s has no person with user name %q", conn.Slug, name)
}

// draftMapping drafts a mapping with the same calls as POST /api/v1/mappings.
func (s *Server) draftMapping(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	org, err := s.visibleOrg(c, "slug")
	if err != nil {
		return err
	}
	values := map[string]string{"group": strings.TrimSpace(c.FormValue("group")), "role": strings.TrimSpace(c.FormValue("role")),
		"reason": strings.TrimSpace(c.FormValue("reason"))}
	problems := map[string]string{}
	for _, f := range []string{"group", "role"} {
		if values[f] == "" {
			problems[f] = "missing " + f
		}
	}
	connSlug, groupID, ok := strings.Cut(values["group"], "/")
	if values["group"] != "" && !ok {
		problems["group"] = "choose a group from the list"
	}
	if len(problems) > 0 {
		return s.renderOrg(c, http.StatusBadRequest, "mapping", values, problems)
	}
	by, ok, err := s.may(ctx, p, orgs.CapManageMappings, org)
	if err != nil {
		return err
	}
	if !ok {
		return orgscim.Errorf(orgscim.Forbidden, "you may not manage the mappings of org %s", org.Slug)
	}
	conn, err := s.Directory.Connection(ctx, connSlug)
	if err == nil {
		if _, gerr := s.Groups.Get(ctx, conn.ID, groupID); orgscim.ErrorCode(gerr) == orgscim.NotFound {
			err = orgscim.Errorf(orgscim.Invalid, "connection %s has no group %q", conn.Slug, groupID)
		} else {
			err = gerr
		}
	}
	if err != nil {
		if code, pr, ok := formProblem(err, "group"); ok {
			return s.renderOrg(c, code, "mapping", values, pr)
		}
		return err
	}
	if _, err := s.Access.DraftMapping(ctx, by, conn, groupID, values["role"], org.ID, "", values["reason"]); err != nil {
		field := "role"
		if !strings.Contains(orgscim.ErrorMessage(err), "role") {
			field = "group"
		}
		if code, pr, ok := formProblem(err, field); ok {
			return s.renderOrg(c, code, "mapping", values, pr)
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, orgURL(org)+"?done=drafted#mappings-h")
}

// approveMapping approves a draft with the same call as POST /api/v1/mappings/{id}/approve:
// a second person, when the domain's rule asks for one.
func (s *Server) approveMapping(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	m, err := s.Access.Store.Mapping(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	org, err := s.Directory.Store.OrgByID(ctx, m.OrgID)
	if err != nil {
		return err
	}
	if !p.Sees(org) {
		return orgscim.Errorf(orgscim.NotFound, "mapping %q not found", m.ID)
	}
	by, ok, err := s.may(ctx, p, orgs.CapApprove, org)
	if err != nil {
		return err
	}
	if !ok {
		return orgscim.Errorf(orgscim.Forbidden, "you may not approve mappings on org %s", org.Slug)
	}
	if ctx, err = s.stepUpForRole(c, ctx, m.RoleID, orgURL(org)+"#mappings-h"); ctx == nil || err != nil {
		return err
	}
	if _, err := s.Access.ApproveMapping(ctx, by, m.ID); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, orgURL(org)+"?done=approved#mappings-h")
}

// revokeOnOrg revokes a grant from the org page (the same call as the person page's).
func (s *Server) revokeOnOrg(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	org, err := s.visibleOrg(c, "slug")
	if err != nil {
		return err
	}
	gs, ok := s.Access.Store.(orgs.GrantStore)
	if !ok {
		return orgscim.Errorf(orgscim.NotImplemented, "grants cannot be read one by one here")
	}
	g, err := gs.Grant(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if g.OrgID != org.ID {
		return orgscim.Errorf(orgscim.NotFound, "grant %q not found", g.ID)
	}
	by, ok, err := s.may(ctx, p, orgs.CapManageMembers, org)
	if err != nil {
		return err
	}
	if !ok {
		return orgscim.Errorf(orgscim.NotFound, "grant %q not found", g.ID)
	}
	if _, err := s.Access.RevokeGrant(ctx, by, g.ID, strings.TrimSpace(c.FormValue("reason"))); err != nil {
		return err
	}
	// Back to the page of grants the revocation was made on.
	back := url.Values{"done": {"revoked"}}
	if after := c.QueryParam("after"); after != "" {
		back.Set("after", after)
	}
	return c.Redirect(http.StatusSeeOther, orgURL(org)+"?"+back.Encode()+"#grants-h")
}

// accountHolder fills in row for a grant held by a service account: its name and page,
// its owner's user name and page. Without the service account pages, or when the account
// is not found, the grant is shown by the holder's id rather than failing the page.
func (s *Server) accountHolder(ctx context.Context, row *grantRow, connOf func(string) (*orgs.Connection, error)) error {
	row.Account, row.Person = true, row.G.UserID
	if s.ServiceAccounts == nil {
		return nil
	}
	sa, err := s.ServiceAccounts.Store.ServiceAccount(ctx, row.G.UserID)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	row.Person, row.PersonURL = sa.Name, serviceAccountURL(sa.ID)
	row.Owner = s.personName(ctx, "user:"+sa.OwnerConnectionID+"/"+sa.OwnerUserID)
	cn, err := connOf(sa.OwnerConnectionID)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	row.Conn, row.OwnerURL = cn.Slug, connURL(cn)+"/people/"+url.PathEscape(sa.OwnerUserID)
	return nil
}
