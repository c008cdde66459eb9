package console

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sessions"
)

// The service account pages make the same domain calls as /api/v1/service-accounts, with
// the same rule: only a person with manage_members on an account's org sees it at all.

func serviceAccountURL(id string) string { return Prefix + "/service-accounts/" + url.PathEscape(id) }

func (s *Server) registerServiceAccounts(g *echo.Group) {
	g.GET("/orgs/:slug/service-accounts", s.authed(s.serviceAccountsPage))
	g.POST("/orgs/:slug/service-accounts", s.authed(s.createServiceAccount))
	g.GET("/service-accounts/:id", s.authed(s.serviceAccountPage))
	g.GET("/service-accounts/:id/why", s.authed(s.serviceAccountWhy))
	g.POST("/service-accounts/:id/grants", s.authed(s.grantServiceAccount))
	g.POST("/service-accounts/:id/elevations", s.authed(s.elevateServiceAccount))
	g.POST("/service-accounts/:id/tokens", s.authed(s.issueIntegrationToken))
	g.POST("/service-accounts/:id/tokens/:token/revoke", s.authed(s.revokeIntegrationToken))
	g.POST("/service-accounts/:id/reassign", s.authed(s.reassignServiceAccount))
	g.POST("/service-accounts/:id/retire", s.authed(s.retireServiceAccount))
}

type serviceAccountRow struct {
	SA       *orgs.ServiceAccount
	URL      string
	Org      string
	Owner    string
	State    string
	Why      string
	Decision bool // an orphan awaiting reassignment or retirement
}

// saForm is any of the forms of these pages, filled in again with its problems.
type saForm struct {
	Conns    []*orgs.Connection
	Roles    []*orgs.Role
	Values   map[string]string
	Problems map[string]string
}

type serviceAccountsView struct {
	Org         *orgs.Org
	Accounts    []serviceAccountRow
	Orphans     int
	MaxLifetime string
	Form        *saForm
	Notice      string
}

// serviceAccountsOf is the person's authority to administer org's service accounts
// (manage_members), or NotFound: the admin API answers the same to anyone else.
func (s *Server) serviceAccountsOf(ctx context.Context, p *sessions.Person, org *orgs.Org) (orgs.Principal, error) {
	if s.ServiceAccounts == nil {
		return orgs.Principal{}, orgscim.Errorf(orgscim.NotFound, "service accounts are not enabled")
	}
	by, ok, err := s.may(ctx, p, orgs.CapManageMembers, org)
	if err != nil {
		return by, err
	}
	if !ok {
		return by, orgscim.Errorf(orgscim.NotFound, "no service accounts of org %q that you administer", org.Slug)
	}
	return by, nil
}

func (s *Server) serviceAccountRow(ctx context.Context, sa *orgs.ServiceAccount, names map[string]*orgs.Org) (serviceAccountRow, error) {
	state, why, err := s.ServiceAccounts.State(ctx, sa)
	if err != nil {
		return serviceAccountRow{}, err
	}
	r := serviceAccountRow{SA: sa, URL: serviceAccountURL(sa.ID), State: state, Why: why, Org: sa.OrgID,
		Owner:    s.personName(ctx, "user:"+sa.OwnerConnectionID+"/"+sa.OwnerUserID),
		Decision: state == orgs.ServiceAccountOrphaned}
	if o := names[sa.OrgID]; o != nil {
		r.Org = o.Name
	}
	return r, nil
}

func (s *Server) serviceAccountsPage(c echo.Context) error {
	return s.renderServiceAccounts(c, http.StatusOK, nil, nil)
}

func (s *Server) renderServiceAccounts(c echo.Context, code int, values, problems map[string]string) error {
	ctx, p := c.Request().Context(), person(c)
	org, err := s.visibleOrg(c, "slug")
	if err != nil {
		return err
	}
	by, err := s.serviceAccountsOf(ctx, p, org)
	if err != nil {
		return err
	}
	list, err := s.ServiceAccounts.List(ctx, by, org.ID, c.QueryParam("retired") != "")
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(list))
	for _, sa := range list {
		ids = append(ids, sa.OrgID)
	}
	names, err := s.Access.Store.OrgsByID(ctx, ids)
	if err != nil {
		return err
	}
	v := serviceAccountsView{Org: org, Notice: c.QueryParam("done"), MaxLifetime: days(s.ServiceAccounts.MaxLifetime, orgs.DefaultServiceAccountLifetime)}
	for _, sa := range list {
		r, err := s.serviceAccountRow(ctx, sa, names)
		if err != nil {
			return err
		}
		if r.Decision {
			v.Orphans++
		}
		v.Accounts = append(v.Accounts, r)
	}
	conns, err := s.connectionsAbove(ctx, org)
	if err != nil {
		return err
	}
	if len(conns) > 0 {
		v.Form = &saForm{Conns: conns, Values: values, Problems: problems}
	}
	out := view{Title: "Service accounts of " + org.Name, Page: v}
	if err := s.wear(ctx, &out, org); err != nil {
		return err
	}
	return s.render(c, code, "serviceaccounts", out)
}

// days says a policy's duration (def when unset) in days.
func days(d, def time.Duration) string {
	if d <= 0 {
		d = def
	}
	return strconv.FormatFloat(d.Hours()/24, 'f', -1, 64) + " days"
}

// saField names the field a refusal of a service account form is about.
func saField(err error) string {
	m := orgscim.ErrorMessage(err)
	switch {
	case strings.Contains(m, "expir") || strings.Contains(m, "lives at most"):
		return "expires"
	case strings.Contains(m, "name") && strings.Contains(m, "service account"):
		return "name"
	case strings.Contains(m, "reason"):
		return "reason"
	case strings.Contains(m, "duration"):
		return "hours"
	case strings.Contains(m, "connection"):
		return "connection"
	case strings.Contains(m, "owner") || strings.Contains(m, "user"):
		return "user"
	case strings.Contains(m, "role"):
		return "role"
	case strings.Contains(m, "org"):
		return "org"
	}
	return ""
}

func formValues(c echo.Context, fields ...string) map[string]string {
	values := map[string]string{}
	for _, f := range fields {
		values[f] = strings.TrimSpace(c.FormValue(f))
	}
	return values
}

// owner resolves a form's owner (connection slug and user name) to their ids.
func (s *Server) owner(ctx context.Context, values map[string]string) (connID, userID string, problems map[string]string, err error) {
	problems = map[string]string{}
	for _, f := range []string{"connection", "user"} {
		if values[f] == "" {
			problems[f] = "missing " + f
		}
	}
	if len(problems) > 0 {
		return "", "", problems, nil
	}
	conn, err := s.Directory.Connection(ctx, values["connection"])
	if err != nil {
		if _, pr, ok := formProblem(err, "connection"); ok {
			return "", "", pr, nil
		}
		return "", "", nil, err
	}
	u, err := s.userByName(ctx, conn, values["user"])
	if err != nil {
		if _, pr, ok := formProblem(err, "user"); ok {
			return "", "", pr, nil
		}
		return "", "", nil, err
	}
	return conn.ID, u.ID, map[string]string{}, nil
}

// createServiceAccount makes an account with the same call as POST /api/v1/service-accounts.
func (s *Server) createServiceAccount(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	org, err := s.visibleOrg(c, "slug")
	if err != nil {
		return err
	}
	by, err := s.serviceAccountsOf(ctx, p, org)
	if err != nil {
		return err
	}
	values := formValues(c, "name", "description", "connection", "user", "expires")
	expires, problem := parseDate(values["expires"])
	connID, userID, problems, err := s.owner(ctx, values)
	if err != nil {
		return err
	}
	if values["name"] == "" {
		problems["name"] = "missing name"
	}
	if problem != "" {
		problems["expires"] = problem
	}
	if len(problems) > 0 {
		return s.renderServiceAccounts(c, http.StatusBadRequest, values, problems)
	}
	sa, err := s.ServiceAccounts.Create(ctx, by, orgs.ServiceAccountRequest{OrgID: org.ID, Name: values["name"],
		Description: values["description"], OwnerConnectionID: connID, OwnerUserID: userID, Expires: expires})
	if err != nil {
		if code, pr, ok := formProblem(err, saField(err)); ok {
			return s.renderServiceAccounts(c, code, values, pr)
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, serviceAccountURL(sa.ID)+"?done=created")
}

type saGrantRow struct {
	G    *orgs.Grant
	Role string
	Org  string
}

type saTokenRow struct {
	T      *orgs.IntegrationToken
	By     string
	Usable bool
}

type serviceAccountView struct {
	Row      serviceAccountRow
	By       string // who created it, in words
	Retirer  string
	Home     *orgs.Org
	Grants   []saGrantRow
	Tokens   []saTokenRow
	Notice   string
	Secret   string // a token just issued, shown this once
	Open     bool   // not retired: the forms that change it are offered
	Forms    map[string]*saForm
	Reassign *saForm
}

// visibleServiceAccount is the account of the path, to a person who administers its org.
func (s *Server) visibleServiceAccount(c echo.Context) (*orgs.ServiceAccount, *orgs.Org, orgs.Principal, error) {
	ctx, p := c.Request().Context(), person(c)
	missing := orgscim.Errorf(orgscim.NotFound, "service account %q not found", c.Param("id"))
	if s.ServiceAccounts == nil {
		return nil, nil, orgs.Principal{}, missing
	}
	sa, err := s.ServiceAccounts.Store.ServiceAccount(ctx, c.Param("id"))
	if err != nil {
		return nil, nil, orgs.Principal{}, err
	}
	org, err := s.Directory.Store.OrgByID(ctx, sa.OrgID)
	if err != nil {
		return nil, nil, orgs.Principal{}, err
	}
	if !p.Sees(org) {
		return nil, nil, orgs.Principal{}, missing
	}
	by, err := s.serviceAccountsOf(ctx, p, org)
	if err != nil {
		return nil, nil, orgs.Principal{}, missing
	}
	sa, err = s.ServiceAccounts.Get(ctx, by, sa.ID)
	return sa, org, by, err
}

func (s *Server) serviceAccountPage(c echo.Context) error {
	return s.renderServiceAccount(c, http.StatusOK, "", nil, nil, "")
}

// renderServiceAccount shows the account; form is the form values and problems belong to.
func (s *Server) renderServiceAccount(c echo.Context, code int, form string, values, problems map[string]string, secret string) error {
	ctx := c.Request().Context()
	sa, org, by, err := s.visibleServiceAccount(c)
	if err != nil {
		return err
	}
	row, err := s.serviceAccountRow(ctx, sa, map[string]*orgs.Org{org.ID: org})
	if err != nil {
		return err
	}
	v := serviceAccountView{Row: row, Home: org, Notice: c.QueryParam("done"), Secret: secret, Open: sa.Retired == nil,
		By: s.actorName(ctx, sa.CreatedBy), Retirer: s.actorName(ctx, sa.RetiredBy),
		Forms: map[string]*saForm{}}
	grants, roles, err := s.ServiceAccounts.Grants(ctx, by, sa.ID)
	if err != nil {
		return err
	}
	var ids []string
	for _, g := range grants {
		ids = append(ids, g.OrgID)
	}
	byID, err := s.Access.Store.OrgsByID(ctx, ids)
	if err != nil {
		return err
	}
	for _, g := range grants {
		r := saGrantRow{G: g, Role: g.RoleID, Org: g.OrgID}
		if role := roles[g.RoleID]; role != nil {
			r.Role = role.Key
		}
		if o := byID[g.OrgID]; o != nil {
			r.Org = o.Slug
		}
		v.Grants = append(v.Grants, r)
	}
	tokens, err := s.ServiceAccounts.Tokens(ctx, by, sa.ID)
	if err != nil {
		return err
	}
	now := s.Access.CurrentTime()
	for _, t := range tokens {
		v.Tokens = append(v.Tokens, saTokenRow{T: t, By: s.actorName(ctx, t.CreatedBy), Usable: t.UsableAt(now)})
	}
	if v.Open {
		all, err := s.grantableRoles(ctx, person(c))
		if err != nil {
			return err
		}
		var plain []*orgs.Role
		for _, r := range all {
			if !r.Privileged {
				plain = append(plain, r)
			}
		}
		rs, err := s.Lists.Roles(ctx, "", maxListed)
		if err != nil {
			return err
		}
		var privileged []*orgs.Role
		for _, r := range rs {
			if r.Privileged {
				privileged = append(privileged, r)
			}
		}
		conns, err := s.connectionsAbove(ctx, org)
		if err != nil {
			return err
		}
		fill := func(name string, f *saForm) {
			f.Values, f.Problems = map[string]string{"org": org.Slug}, nil
			if name == form {
				f.Values, f.Problems = values, problems
			}
			v.Forms[name] = f
		}
		if len(plain) > 0 && row.State == orgs.ServiceAccountActive {
			fill("grant", &saForm{Roles: plain})
		}
		if len(privileged) > 0 && row.State == orgs.ServiceAccountActive {
			fill("elevation", &saForm{Roles: privileged})
		}
		if now.Before(sa.Expires) {
			fill("token", &saForm{})
		}
		if len(conns) > 0 {
			fill("reassign", &saForm{Conns: conns})
		}
		fill("retire", &saForm{})
	}
	out := view{Title: "Service account " + sa.Name, Page: v}
	if err := s.wear(ctx, &out, org); err != nil {
		return err
	}
	return s.render(c, code, "serviceaccount", out)
}

// refused shows a domain refusal next to the form's field, and passes anything else on.
func (s *Server) saRefused(c echo.Context, form string, values map[string]string, err error) error {
	if code, pr, ok := formProblem(err, saField(err)); ok {
		return s.renderServiceAccount(c, code, form, values, pr, "")
	}
	if orgscim.ErrorCode(err) == orgscim.Forbidden {
		return s.renderServiceAccount(c, http.StatusForbidden, form, values, map[string]string{saField(err): orgscim.ErrorMessage(err)}, "")
	}
	return err
}

func (s *Server) orgIDOf(ctx context.Context, p *sessions.Person, slug string) (string, error) {
	o, err := s.Directory.Store.OrgBySlug(ctx, slug)
	if err == nil && !p.Sees(o) {
		err = orgscim.Errorf(orgscim.NotFound, "no org %q", slug)
	}
	if err != nil {
		return "", err
	}
	return o.ID, nil
}

// grantServiceAccount assigns a non-privileged role, as POST /api/v1/service-accounts/{id}/grants.
func (s *Server) grantServiceAccount(c echo.Context) error {
	ctx := c.Request().Context()
	sa, _, by, err := s.visibleServiceAccount(c)
	if err != nil {
		return err
	}
	values := formValues(c, "role", "org", "reason", "expires")
	problems := map[string]string{}
	for _, f := range []string{"role", "org"} {
		if values[f] == "" {
			problems[f] = "missing " + f
		}
	}
	expires, problem := parseDate(values["expires"])
	if problem != "" {
		problems["expires"] = problem
	}
	if len(problems) > 0 {
		return s.renderServiceAccount(c, http.StatusBadRequest, "grant", values, problems, "")
	}
	orgID, err := s.orgIDOf(ctx, person(c), values["org"])
	if err != nil {
		return s.saRefused(c, "grant", values, err)
	}
	if _, err := s.ServiceAccounts.Grant(ctx, by, sa.ID, values["role"], orgID, values["reason"], expires); err != nil {
		return s.saRefused(c, "grant", values, err)
	}
	return c.Redirect(http.StatusSeeOther, serviceAccountURL(sa.ID)+"?done=granted#grants-h")
}

// elevateServiceAccount asks for a privileged role; the elevations page decides it.
func (s *Server) elevateServiceAccount(c echo.Context) error {
	ctx := c.Request().Context()
	sa, _, by, err := s.visibleServiceAccount(c)
	if err != nil {
		return err
	}
	values := formValues(c, "role", "org", "hours", "reason")
	problems := map[string]string{}
	for _, f := range []string{"role", "org", "reason"} {
		if values[f] == "" {
			problems[f] = "missing " + f
		}
	}
	h, err := strconv.ParseFloat(values["hours"], 64)
	if err != nil || h <= 0 || h > 24*366 {
		problems["hours"] = "duration must be a positive number of hours"
	}
	if len(problems) > 0 {
		return s.renderServiceAccount(c, http.StatusBadRequest, "elevation", values, problems, "")
	}
	orgID, err := s.orgIDOf(ctx, person(c), values["org"])
	if err != nil {
		return s.saRefused(c, "elevation", values, err)
	}
	d := time.Duration(h * float64(time.Hour))
	if _, err := s.ServiceAccounts.RequestElevation(ctx, by, sa.ID, values["role"], orgID, values["reason"], d); err != nil {
		return s.saRefused(c, "elevation", values, err)
	}
	return c.Redirect(http.StatusSeeOther, serviceAccountURL(sa.ID)+"?done=elevation+requested%2C+awaiting+approval+on+the+elevations+page")
}

// issueIntegrationToken issues a token and shows its secret on this answer only: it is
// never stored, nor put in an address.
func (s *Server) issueIntegrationToken(c echo.Context) error {
	ctx := c.Request().Context()
	sa, _, by, err := s.visibleServiceAccount(c)
	if err != nil {
		return err
	}
	values := formValues(c, "expires")
	expires, problem := parseDate(values["expires"])
	if problem != "" {
		return s.renderServiceAccount(c, http.StatusBadRequest, "token", values, map[string]string{"expires": problem}, "")
	}
	_, secret, err := s.ServiceAccounts.IssueToken(ctx, by, sa.ID, expires)
	if err != nil {
		return s.saRefused(c, "token", values, err)
	}
	return s.renderServiceAccount(c, http.StatusCreated, "", nil, nil, secret)
}

func (s *Server) revokeIntegrationToken(c echo.Context) error {
	ctx := c.Request().Context()
	sa, _, by, err := s.visibleServiceAccount(c)
	if err != nil {
		return err
	}
	if err := s.ServiceAccounts.RevokeToken(ctx, by, sa.ID, c.Param("token")); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, serviceAccountURL(sa.ID)+"?done=token+revoked#tokens-h")
}

func (s *Server) reassignServiceAccount(c echo.Context) error {
	ctx := c.Request().Context()
	sa, _, by, err := s.visibleServiceAccount(c)
	if err != nil {
		return err
	}
	values := formValues(c, "connection", "user", "reason")
	connID, userID, problems, err := s.owner(ctx, values)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return s.renderServiceAccount(c, http.StatusBadRequest, "reassign", values, problems, "")
	}
	if _, err := s.ServiceAccounts.Reassign(ctx, by, sa.ID, connID, userID, values["reason"]); err != nil {
		return s.saRefused(c, "reassign", values, err)
	}
	return c.Redirect(http.StatusSeeOther, serviceAccountURL(sa.ID)+"?done=reassigned")
}

func (s *Server) retireServiceAccount(c echo.Context) error {
	ctx := c.Request().Context()
	sa, _, by, err := s.visibleServiceAccount(c)
	if err != nil {
		return err
	}
	values := formValues(c, "reason")
	if _, err := s.ServiceAccounts.Retire(ctx, by, sa.ID, values["reason"]); err != nil {
		return s.saRefused(c, "retire", values, err)
	}
	return c.Redirect(http.StatusSeeOther, serviceAccountURL(sa.ID)+"?done=retired")
}

type saWhyView struct {
	SA         *orgs.ServiceAccount
	Org        *orgs.Org
	Permission string
	Decision   *orgs.Decision
	Names      map[string]string
}

// serviceAccountWhy says whether the account may exercise a permission on an org now
// and through which grants, with the same decision as the admin API's check.
func (s *Server) serviceAccountWhy(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	sa, home, _, err := s.visibleServiceAccount(c)
	if err != nil {
		return err
	}
	perm, slug := strings.TrimSpace(c.QueryParam("permission")), strings.TrimSpace(c.QueryParam("org"))
	if perm == "" || slug == "" {
		return orgscim.Errorf(orgscim.Invalid, "missing org or permission")
	}
	org, err := s.Directory.Store.OrgBySlug(ctx, slug)
	if err == nil && !p.Sees(org) {
		err = orgscim.Errorf(orgscim.NotFound, "no org %q", slug)
	}
	if err != nil {
		return err
	}
	d, err := s.ServiceAccounts.Check(ctx, sa.ID, perm, org.ID)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, ex := range d.Because {
		for _, who := range []string{ex.Grant.GrantedBy, ex.Grant.ApprovedBy} {
			names[who] = s.actorName(ctx, who)
		}
	}
	out := view{Title: "Why " + sa.Name + " may " + perm, Page: saWhyView{SA: sa, Org: org, Permission: perm, Decision: d, Names: names}}
	if err := s.wear(ctx, &out, home); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "serviceaccountwhy", out)
}
