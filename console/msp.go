package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/msp"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sessions"
)

// The engagement pages make the same calls as /api/v1/msp-engagements: an operator (the
// vendor) or the administrator of either org sees an engagement; the domain decides who
// may propose, consent and name technicians, and the pages offer only what it would
// accept. Both consents hand another organisation's people administration, so they need
// a recent sign-in (StepUp).

func engagementURL(id string) string { return Prefix + "/engagements/" + url.PathEscape(id) }

func (s *Server) registerEngagements(g *echo.Group) {
	g.GET("/orgs/:slug/engagements", s.authed(s.engagementsPage))
	g.POST("/orgs/:slug/engagements", s.authed(s.proposeEngagement))
	g.GET("/engagements/:id", s.authed(s.engagementPage))
	g.POST("/engagements/:id/consent-customer", s.authed(s.consentEngagement(true)))
	g.POST("/engagements/:id/consent-vendor", s.authed(s.consentEngagement(false)))
	g.POST("/engagements/:id/revoke", s.authed(s.revokeEngagement))
	g.POST("/engagements/:id/technicians", s.authed(s.nameTechnician))
	g.POST("/engagements/:id/technicians/:delegation/revoke", s.authed(s.removeTechnician))
}

// engagementCaps are what an engagement may confer: never delegate.
var engagementCaps = []orgs.Capability{orgs.CapManageMembers, orgs.CapManageMappings, orgs.CapApprove}

// administrator is the person's authority as an administrator of org's own (delegate
// there, not through an MSP's reach), or false.
func (s *Server) administrator(ctx context.Context, p *sessions.Person, org *orgs.Org) (orgs.Principal, bool, error) {
	if p.Operator != "" {
		return orgs.Principal{}, false, nil
	}
	by, ok, err := s.may(ctx, p, orgs.CapDelegate, org)
	if err != nil || !ok || by.Delegation == nil || by.Delegation.EngagementID != "" {
		return orgs.Principal{}, false, err
	}
	return by, true, nil
}

type engagementRow struct {
	E                 *orgs.Engagement
	URL               string
	MSP, Customer     *orgs.Org
	State             string
	Holds             string // why it does not hold now ("" when it does or is not active)
	ProposedBy        string
	CustomerBy        string
	VendorBy          string
	AsCustomer, AsMSP bool // the person administers that side
	Vendor            bool // the person is an operator
}

func (s *Server) engagementRow(ctx context.Context, p *sessions.Person, e *orgs.Engagement) (*engagementRow, orgs.Principal, error) {
	byID, err := s.Access.Store.OrgsByID(ctx, []string{e.MSPOrgID, e.CustomerOrgID})
	if err != nil {
		return nil, orgs.Principal{}, err
	}
	r := &engagementRow{E: e, URL: engagementURL(e.ID), MSP: byID[e.MSPOrgID], Customer: byID[e.CustomerOrgID],
		State: e.State(s.Access.CurrentTime()), ProposedBy: s.actorName(ctx, e.ProposedBy), Vendor: p.Operator != ""}
	if r.MSP == nil || r.Customer == nil {
		return nil, orgs.Principal{}, orgscim.Errorf(orgscim.NotFound, "no MSP engagement %q", e.ID)
	}
	if e.CustomerConsent != nil {
		r.CustomerBy = s.actorName(ctx, e.CustomerConsentBy)
	}
	if e.VendorConsent != nil {
		r.VendorBy = s.actorName(ctx, e.VendorConsentBy)
	}
	by := orgs.Principal{Operator: p.Operator}
	if p.Operator == "" {
		cust, asCustomer, err := s.administrator(ctx, p, r.Customer)
		if err != nil {
			return nil, by, err
		}
		m, asMSP, err := s.administrator(ctx, p, r.MSP)
		if err != nil {
			return nil, by, err
		}
		r.AsCustomer, r.AsMSP = asCustomer, asMSP
		switch {
		case asMSP:
			by = m
		case asCustomer:
			by = cust
		default:
			return nil, by, orgscim.Errorf(orgscim.NotFound, "no MSP engagement %q", e.ID)
		}
	}
	if r.State == "active" && s.MSP != nil {
		if err := s.MSP.Holds(ctx, e); err != nil {
			if orgscim.ErrorCode(err) != orgscim.Forbidden {
				return nil, by, err
			}
			r.Holds = orgscim.ErrorMessage(err)
		}
	}
	return r, by, nil
}

type engagementForm struct {
	Caps     []capChoice
	Conns    []*orgs.Connection
	Values   map[string]string
	Checked  map[string]bool
	Problems map[string]string
}

type engagementsView struct {
	Org         *orgs.Org
	Engagements []*engagementRow
	Form        *engagementForm
	Notice      string
}

func (s *Server) engagementsPage(c echo.Context) error {
	return s.renderEngagements(c, http.StatusOK, nil, nil, nil)
}

// engagementsOf is the person's authority to read org's engagements: an operator's, or
// an administrator's of org; NotFound for anyone else, as the admin API answers.
func (s *Server) engagementsOf(c echo.Context) (*orgs.Org, orgs.Principal, error) {
	ctx, p := c.Request().Context(), person(c)
	org, err := s.visibleOrg(c, "slug")
	if err != nil {
		return nil, orgs.Principal{}, err
	}
	if s.MSP == nil {
		return nil, orgs.Principal{}, orgscim.Errorf(orgscim.NotFound, "MSP engagements are not enabled")
	}
	if p.Operator != "" {
		return org, orgs.Principal{Operator: p.Operator}, nil
	}
	by, ok, err := s.administrator(ctx, p, org)
	if err != nil {
		return nil, by, err
	}
	if !ok {
		return nil, by, orgscim.Errorf(orgscim.NotFound, "no MSP engagements of org %q that you administer", org.Slug)
	}
	return org, by, nil
}

func (s *Server) renderEngagements(c echo.Context, code int, values map[string]string, checked map[string]bool, problems map[string]string) error {
	ctx, p := c.Request().Context(), person(c)
	org, by, err := s.engagementsOf(c)
	if err != nil {
		return err
	}
	es, err := s.MSP.List(ctx, by, org.Slug, "", maxListed)
	if err != nil {
		return err
	}
	v := engagementsView{Org: org, Notice: c.QueryParam("done")}
	for _, e := range es {
		r, _, err := s.engagementRow(ctx, p, e)
		if orgscim.ErrorCode(err) == orgscim.NotFound {
			continue
		}
		if err != nil {
			return err
		}
		v.Engagements = append(v.Engagements, r)
	}
	// Proposing with org as the MSP: an operator, or the org's own administrator; a
	// vendor's org is administered by its operators and takes no engagement.
	if org.PartnerData() {
		f := &engagementForm{Caps: capChoices(engagementCaps), Values: values, Checked: checked, Problems: problems}
		if by.Delegation != nil {
			f.Caps = nil
			for _, cp := range engagementCaps {
				if by.Delegation.Has(cp) {
					f.Caps = append(f.Caps, capChoices([]orgs.Capability{cp})...)
				}
			}
		}
		if len(f.Caps) > 0 {
			v.Form = f
		}
	}
	out := view{Title: "MSP engagements of " + org.Name, Page: v}
	if err := s.wear(ctx, &out, org); err != nil {
		return err
	}
	return s.render(c, code, "engagements", out)
}

// engagementField names the field a refusal of an engagement form is about.
func engagementField(err error) string {
	m := orgscim.ErrorMessage(err)
	switch {
	case contains(m, "capabilit", "confer", "delegate "):
		return "capability"
	case contains(m, "expir"):
		return "expires"
	case contains(m, "reason"):
		return "reason"
	case contains(m, "connection"):
		return "connection"
	case contains(m, "user"):
		return "user"
	}
	return "customer"
}

func contains(m string, subs ...string) bool {
	return slices.ContainsFunc(subs, func(s string) bool { return len(s) > 0 && strings.Contains(m, s) })
}

func readCaps(c echo.Context) (map[string]bool, []orgs.Capability) {
	form, _ := c.FormParams()
	checked := map[string]bool{}
	var caps []orgs.Capability
	for _, v := range form["capability"] {
		if !checked[v] {
			checked[v] = true
			caps = append(caps, orgs.Capability(v))
		}
	}
	return checked, caps
}

// proposeEngagement proposes, as POST /api/v1/msp-engagements, that org administer a customer.
func (s *Server) proposeEngagement(c echo.Context) error {
	ctx := c.Request().Context()
	org, by, err := s.engagementsOf(c)
	if err != nil {
		return err
	}
	values := formValues(c, "customer", "expires", "reason")
	checked, caps := readCaps(c)
	problems := map[string]string{}
	if values["customer"] == "" {
		problems["customer"] = "missing customer"
	}
	if len(caps) == 0 {
		problems["capability"] = "an engagement needs at least one capability"
	}
	expires, problem := parseDate(values["expires"])
	if problem != "" {
		problems["expires"] = problem
	}
	if len(problems) > 0 {
		return s.renderEngagements(c, http.StatusBadRequest, values, checked, problems)
	}
	e, err := s.MSP.Propose(ctx, by, msp.EngagementRequest{MSP: org.Slug, Customer: values["customer"], Capabilities: caps,
		Expires: expires, Reason: values["reason"]})
	if err != nil {
		if code, pr, ok := refusedForm(err, engagementField(err)); ok {
			return s.renderEngagements(c, code, values, checked, pr)
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, engagementURL(e.ID)+"?done=proposed")
}

// refusedForm is formProblem that shows a Forbidden refusal by the field too: the
// domain's rules about what an engagement may confer answer Forbidden.
func refusedForm(err error, field string) (int, map[string]string, bool) {
	if orgscim.ErrorCode(err) == orgscim.Forbidden {
		return http.StatusForbidden, map[string]string{field: orgscim.ErrorMessage(err)}, true
	}
	return formProblem(err, field)
}

type technicianRow struct {
	D      *orgs.Delegation
	Holder string
	Org    string
	Live   bool
}

type engagementView struct {
	Row         *engagementRow
	Technicians []technicianRow
	Form        *engagementForm // naming a technician
	Open        bool
	StepUp      string
	Notice      string
	Problem     string
}

// visibleEngagement is the engagement of the path to one of its parties, with the
// authority the person acts on it with.
func (s *Server) visibleEngagement(c echo.Context) (*engagementRow, orgs.Principal, error) {
	ctx, p := c.Request().Context(), person(c)
	if s.MSP == nil {
		return nil, orgs.Principal{}, orgscim.Errorf(orgscim.NotFound, "no MSP engagement %q", c.Param("id"))
	}
	e, err := s.MSP.Store.Engagement(ctx, c.Param("id"))
	if err != nil {
		return nil, orgs.Principal{}, err
	}
	r, by, err := s.engagementRow(ctx, p, e)
	if err != nil {
		return nil, by, err
	}
	if _, err := s.MSP.Get(ctx, by, e.ID); err != nil {
		return nil, by, err
	}
	return r, by, nil
}

func (s *Server) engagementPage(c echo.Context) error {
	return s.renderEngagement(c, http.StatusOK, nil, nil, nil, "")
}

func (s *Server) renderEngagement(c echo.Context, code int, values map[string]string, checked map[string]bool, problems map[string]string, problem string) error {
	ctx := c.Request().Context()
	r, by, err := s.visibleEngagement(c)
	if err != nil {
		return err
	}
	now := s.Access.CurrentTime()
	v := engagementView{Row: r, Open: r.State == "proposed" || r.State == "active", StepUp: minutes(StepUpMaxAge),
		Notice: c.QueryParam("done"), Problem: problem}
	ds, err := s.MSP.Technicians(ctx, by, r.E.ID)
	if err != nil {
		return err
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.OrgID)
	}
	byID, err := s.Access.Store.OrgsByID(ctx, ids)
	if err != nil {
		return err
	}
	for _, d := range ds {
		t := technicianRow{D: d, Holder: s.personName(ctx, "user:"+d.HolderConnectionID+"/"+d.HolderUserID), Org: d.OrgID, Live: d.LiveAt(now)}
		if o := byID[d.OrgID]; o != nil {
			t.Org = o.Slug
		}
		v.Technicians = append(v.Technicians, t)
	}
	// Technicians are named by the MSP's administrator, through a delegation that may
	// delegate further, with capabilities both it and the engagement hold.
	if v.Open && r.AsMSP && by.Delegation != nil && by.Delegation.Depth >= 1 {
		f := &engagementForm{Values: values, Checked: checked, Problems: problems}
		for _, cp := range r.E.Capabilities {
			if by.Delegation.Has(cp) {
				f.Caps = append(f.Caps, capChoices([]orgs.Capability{cp})...)
			}
		}
		if f.Conns, err = s.Lists.Connections(ctx, r.MSP.ID, "", maxListed); err != nil {
			return err
		}
		if len(f.Caps) > 0 && len(f.Conns) > 0 {
			v.Form = f
		}
	}
	out := view{Title: "MSP engagement of " + r.MSP.Name + " for " + r.Customer.Name, Page: v}
	return s.render(c, code, "engagement", out)
}

// consentEngagement records the customer's (an administrator of the customer) or the
// vendor's (an operator) consent, after a step-up.
func (s *Server) consentEngagement(customer bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, by, err := s.visibleEngagement(c)
		if err != nil {
			return err
		}
		if customer && !r.AsCustomer || !customer && !r.Vendor {
			return orgscim.Errorf(orgscim.Forbidden, "you may not consent to this engagement for that side")
		}
		if customer {
			// The customer's own administrator consents, not the MSP's authority.
			if by, _, err = s.administrator(c.Request().Context(), person(c), r.Customer); err != nil {
				return err
			}
		}
		ctx, fresh, err := s.StepUp(c, engagementURL(r.E.ID))
		if !fresh || err != nil {
			return err
		}
		if customer {
			_, err = s.MSP.ConsentCustomer(ctx, by, r.E.ID)
		} else {
			_, err = s.MSP.ConsentVendor(ctx, by, r.E.ID)
		}
		if err != nil {
			if orgscim.ErrorCode(err) == orgscim.Conflict {
				return s.renderEngagement(c, http.StatusConflict, nil, nil, nil, orgscim.ErrorMessage(err))
			}
			return err
		}
		side := "vendor"
		if customer {
			side = "customer"
		}
		return c.Redirect(http.StatusSeeOther, engagementURL(r.E.ID)+"?done=consented+for+the+"+side)
	}
}

func (s *Server) revokeEngagement(c echo.Context) error {
	r, by, err := s.visibleEngagement(c)
	if err != nil {
		return err
	}
	if _, err := s.MSP.Revoke(c.Request().Context(), by, r.E.ID, formValues(c, "reason")["reason"]); err != nil {
		if code := orgscim.ErrorCode(err); code == orgscim.Conflict || code == orgscim.Invalid {
			return s.renderEngagement(c, http.StatusConflict, nil, nil, nil, orgscim.ErrorMessage(err))
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, engagementURL(r.E.ID)+"?done=revoked")
}

func (s *Server) nameTechnician(c echo.Context) error {
	ctx := c.Request().Context()
	r, by, err := s.visibleEngagement(c)
	if err != nil {
		return err
	}
	if !r.AsMSP {
		return orgscim.Errorf(orgscim.Forbidden, "an MSP's administrator names its technicians")
	}
	values := formValues(c, "connection", "user", "org", "expires")
	checked, caps := readCaps(c)
	problems := map[string]string{}
	if len(caps) == 0 {
		problems["capability"] = "a technician needs at least one capability"
	}
	expires, problem := parseDate(values["expires"])
	if problem != "" {
		problems["expires"] = problem
	}
	connID, userID, owner, err := s.owner(ctx, values)
	if err != nil {
		return err
	}
	for k, v := range owner {
		problems[k] = v
	}
	if len(problems) > 0 {
		return s.renderEngagement(c, http.StatusBadRequest, values, checked, problems, "")
	}
	_, err = s.MSP.NameTechnician(ctx, by, r.E.ID, msp.TechnicianRequest{Org: values["org"], HolderConnectionID: connID,
		HolderUserID: userID, Capabilities: caps, Expires: expires})
	if err != nil {
		field := engagementField(err)
		if contains(orgscim.ErrorMessage(err), "org ", "no org") && field == "customer" {
			field = "org"
		}
		if code, pr, ok := refusedForm(err, field); ok {
			return s.renderEngagement(c, code, values, checked, pr, "")
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, engagementURL(r.E.ID)+"?done=technician+named#technicians-h")
}

func (s *Server) removeTechnician(c echo.Context) error {
	r, by, err := s.visibleEngagement(c)
	if err != nil {
		return err
	}
	if _, err := s.MSP.RemoveTechnician(c.Request().Context(), by, r.E.ID, c.Param("delegation"), formValues(c, "reason")["reason"]); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, engagementURL(r.E.ID)+"?done=technician+removed#technicians-h")
}
