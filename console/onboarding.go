package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/onboarding"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sessions"
	"github.com/orgscim/orgscim/setuppage"
)

// idps are the identity providers a connection's setup has steps for.
var idps = [][2]string{{"entra", "Microsoft Entra ID"}, {"okta", "Okta"}, {"generic", "Another SCIM 2.0 client"}}

type onboardingRow struct {
	R      *onboarding.OnboardingRequest
	Parent *orgs.Org
	URL    string
}

type proposeForm struct {
	Parents  []*orgs.Org
	Roles    []*orgs.Role
	IdPs     [][2]string
	Values   map[string]string
	Problems map[string]string
}

type onboardingListView struct {
	Requests []onboardingRow
	Form     *proposeForm
}

// proposers are the authorities the person may propose partners with: an operator's
// own, or each delegation that may delegate.
func proposers(p *sessions.Person) []orgs.Principal {
	var out []orgs.Principal
	for _, by := range principals(p) {
		if by.Operator != "" || by.Delegation.Has(orgs.CapDelegate) {
			out = append(out, by)
		}
	}
	return out
}

func (s *Server) onboardingList(c echo.Context) error {
	return s.renderOnboardingList(c, http.StatusOK, nil, nil)
}

func (s *Server) renderOnboardingList(c echo.Context, code int, values, problems map[string]string) error {
	ctx, p := c.Request().Context(), person(c)
	bys := proposers(p)
	if len(bys) == 0 {
		return orgscim.Errorf(orgscim.Forbidden, "only operators, and delegates who may delegate, onboard partners")
	}
	var v onboardingListView
	seen := map[string]bool{}
	for _, by := range bys {
		rs, err := s.Onboarding.List(ctx, by, "", "", maxListed)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			parent, err := s.Directory.Store.OrgByID(ctx, r.ParentID)
			if err != nil {
				return err
			}
			v.Requests = append(v.Requests, onboardingRow{R: r, Parent: parent, URL: Prefix + "/onboarding/" + url.PathEscape(r.ID)})
		}
	}
	parents, err := s.delegatable(ctx, p)
	if err != nil {
		return err
	}
	roles, err := s.Lists.Roles(ctx, "", maxListed)
	if err != nil {
		return err
	}
	if values == nil {
		values = map[string]string{"idp": "generic"}
	}
	v.Form = &proposeForm{Parents: parents, Roles: roles, IdPs: idps, Values: values, Problems: problems}
	return s.render(c, code, "onboarding", view{Title: "Partner onboarding", Page: v})
}

// delegatable lists the orgs of the person's view on which they hold the delegate
// capability: where they may propose a partner.
func (s *Server) delegatable(ctx context.Context, p *sessions.Person) ([]*orgs.Org, error) {
	var roots []*orgs.Org
	if p.Operator != "" {
		var err error
		if roots, err = s.Lists.ChildOrgs(ctx, "", "", maxListed); err != nil {
			return nil, err
		}
	} else {
		for _, h := range p.Delegations {
			if h.Home != nil && h.Delegation.Has(orgs.CapDelegate) && !covered(roots, h.Home) {
				roots = append(roots, h.Home)
			}
		}
	}
	var nodes []orgNode
	for _, r := range roots {
		if err := s.walk(ctx, r, 0, &nodes); err != nil {
			return nil, err
		}
	}
	var out []*orgs.Org
	for _, n := range nodes {
		if _, ok, err := s.may(ctx, p, orgs.CapDelegate, n.Org); err != nil {
			return nil, err
		} else if ok {
			out = append(out, n.Org)
		}
	}
	return out, nil
}

// onboardingField names the form field a refusal of a proposal is about.
func onboardingField(err error) string {
	m := strings.ToLower(orgscim.ErrorMessage(err))
	for _, k := range [][2]string{{"mapping", "group"}, {"administrator", "admin_user_name"}, {"username", "admin_user_name"},
		{"owner", "owner"}, {"contract", "contract_end"}, {"connection", "connection_slug"}, {"slug", "slug"},
		{"idp", "idp"}, {"parent", "parent"}, {"name", "name"}} {
		if strings.Contains(m, k[0]) {
			return k[1]
		}
	}
	return ""
}

// propose records a proposal with the same call as POST /api/v1/onboarding.
func (s *Server) propose(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	values := map[string]string{}
	for _, f := range []string{"parent", "name", "slug", "connection_slug", "idp", "owner", "admin_user_name", "admin_display_name",
		"contract_end", "group", "role", "reason"} {
		values[f] = strings.TrimSpace(c.FormValue(f))
	}
	problems := map[string]string{}
	for _, f := range []string{"parent", "name", "owner", "admin_user_name"} {
		if values[f] == "" {
			problems[f] = "missing " + strings.ReplaceAll(f, "_", " ")
		}
	}
	req := onboarding.OnboardingRequest{OrgName: values["name"], OrgSlug: values["slug"], ConnectionSlug: values["connection_slug"],
		IdP: values["idp"], Owner: values["owner"], AdminUserName: values["admin_user_name"], AdminDisplayName: values["admin_display_name"],
		Reason: values["reason"]}
	if values["contract_end"] != "" {
		t, err := time.Parse("2006-01-02", values["contract_end"])
		if err != nil {
			problems["contract_end"] = "the contract's end must be a date (YYYY-MM-DD)"
		} else {
			req.ContractEnd = &t
		}
	}
	if (values["group"] == "") != (values["role"] == "") {
		problems["group"] = "a mapping needs both a group and a role"
	} else if values["group"] != "" {
		req.Mappings = []onboarding.OnboardingMapping{{Group: values["group"], Role: values["role"]}}
	}
	if len(problems) > 0 {
		return s.renderOnboardingList(c, http.StatusBadRequest, values, problems)
	}
	parent, err := s.Directory.Store.OrgBySlug(ctx, values["parent"])
	if err != nil {
		if code, pr, ok := formProblem(err, "parent"); ok {
			return s.renderOnboardingList(c, code, values, pr)
		}
		return err
	}
	by, ok, err := s.may(ctx, p, orgs.CapDelegate, parent)
	if err != nil {
		return err
	}
	if !ok {
		return orgscim.Errorf(orgscim.Forbidden, "you may not onboard partners under org %s", parent.Slug)
	}
	r, err := s.Onboarding.Propose(ctx, by, req, parent.Slug)
	if err != nil {
		if code, pr, ok := formProblem(err, onboardingField(err)); ok {
			return s.renderOnboardingList(c, code, values, pr)
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/onboarding/"+url.PathEscape(r.ID)+"?done=proposed")
}

type onboardingView struct {
	R          *onboarding.OnboardingRequest
	Parent     *orgs.Org
	ProposedBy string
	DecidedBy  string
	Decidable  bool
	Org        *orgs.Org
	Connection *orgs.Connection
	Notice     string
}

// requestAs is the request and the authority the person sees it with.
func (s *Server) requestAs(ctx context.Context, p *sessions.Person, id string) (*onboarding.OnboardingRequest, orgs.Principal, error) {
	var last error = orgscim.Errorf(orgscim.NotFound, "onboarding request %q not found", id)
	for _, by := range principals(p) {
		r, err := s.Onboarding.OnboardingFor(ctx, by, id)
		if err == nil {
			return r, by, nil
		}
		last = err
		if code := orgscim.ErrorCode(err); code != orgscim.NotFound && code != orgscim.Forbidden {
			return nil, orgs.Principal{}, err
		}
	}
	return nil, orgs.Principal{}, last
}

func (s *Server) onboardingPage(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	r, by, err := s.requestAs(ctx, p, c.Param("id"))
	if err != nil {
		return err
	}
	parent, err := s.Directory.Store.OrgByID(ctx, r.ParentID)
	if err != nil {
		return err
	}
	v := onboardingView{R: r, Parent: parent, ProposedBy: s.personName(ctx, r.ProposedBy), DecidedBy: s.personName(ctx, r.DecidedBy),
		Notice:    c.QueryParam("done"),
		Decidable: r.State == onboarding.OnboardingProposed && onboarding.MayApprove(by, r) == nil}
	if r.OrgID != "" {
		if o, err := s.Directory.Store.OrgByID(ctx, r.OrgID); err == nil && p.Sees(o) {
			v.Org = o
		}
	}
	if r.ConnectionID != "" && v.Org != nil {
		if cn, err := s.Access.Store.ConnectionByID(ctx, r.ConnectionID); err == nil {
			v.Connection = cn
		}
	}
	return s.render(c, http.StatusOK, "onboardingrequest", view{Title: "Onboarding " + r.OrgName, Page: v})
}

// decideOnboarding approves or rejects with the same calls as POST
// /api/v1/onboarding/{id}/approve|reject: an operator other than the proposer.
func (s *Server) decideOnboarding(approve bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, p := c.Request().Context(), person(c)
		r, by, err := s.requestAs(ctx, p, c.Param("id"))
		if err != nil {
			return err
		}
		decide, done := s.Onboarding.Reject, "rejected"
		if approve {
			decide, done = s.Onboarding.Approve, "approved"
		}
		if _, err := decide(ctx, by, r.ID, strings.TrimSpace(c.FormValue("reason"))); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, Prefix+"/onboarding/"+url.PathEscape(r.ID)+"?done="+done)
	}
}

type connectionView struct {
	Connection *orgs.Connection
	Org        *orgs.Org
	BaseURL    string
	IdPName    string
	MayLink    bool
	// SetupURL is a new setup link's address, shown once, with its expiry.
	SetupURL string
	Expires  time.Time
}

// mayCreateLink is whether the domain would let the person create a setup link for the
// connection (onboarding.Onboarding.CreateSetupLink's rule).
func (s *Server) mayCreateLink(ctx context.Context, p *sessions.Person, conn *orgs.Connection, org *orgs.Org) (bool, error) {
	if conn.Status == "suspended" {
		return false, nil
	}
	_, ok, err := s.may(ctx, p, orgs.CapDelegate, org)
	return ok && (p.Operator != "" || conn.Status == orgs.ConnectionPending), err
}

func (s *Server) connectionPage(c echo.Context) error {
	return s.renderConnection(c, "", time.Time{})
}

func (s *Server) renderConnection(c echo.Context, setupURL string, expires time.Time) error {
	ctx, p := c.Request().Context(), person(c)
	conn, err := s.visibleConnection(c)
	if err != nil {
		return err
	}
	org, err := s.Directory.Store.OrgByID(ctx, conn.OrgID)
	if err != nil {
		return err
	}
	v := connectionView{Connection: conn, Org: org, BaseURL: s.base(c) + "/scim/v2/" + conn.Slug, IdPName: "Another SCIM 2.0 client",
		SetupURL: setupURL, Expires: expires}
	for _, i := range idps {
		if i[0] == conn.IdP {
			v.IdPName = i[1]
		}
	}
	if v.MayLink, err = s.mayCreateLink(ctx, p, conn, org); err != nil {
		return err
	}
	out := view{Title: "Connection " + conn.Slug, Page: v}
	if err := s.wear(ctx, &out, org); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "connection", out)
}

// createSetupLink creates a setup link with the same call as POST
// /api/v1/connections/{slug}/setup-links, and shows its address once.
func (s *Server) createSetupLink(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	conn, err := s.visibleConnection(c)
	if err != nil {
		return err
	}
	org, err := s.Directory.Store.OrgByID(ctx, conn.OrgID)
	if err != nil {
		return err
	}
	by, ok, err := s.may(ctx, p, orgs.CapDelegate, org)
	if err != nil {
		return err
	}
	if !ok {
		return orgscim.Errorf(orgscim.Forbidden, "you may not create setup links for connection %s", conn.Slug)
	}
	l, secret, err := s.Onboarding.CreateSetupLink(ctx, by, conn.Slug, 0)
	if err != nil {
		return err
	}
	return s.renderConnection(c, s.base(c)+setuppage.Prefix+secret, l.Expires)
}
