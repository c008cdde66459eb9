package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/internal/httpstatus"
	"github.com/orgscim/orgscim/orgs"
)

// allCaps are the capabilities a delegation may confer, in the order forms show them.
var allCaps = []orgs.Capability{orgs.CapManageMembers, orgs.CapManageMappings, orgs.CapApprove, orgs.CapDelegate}

func delegationURL(id string) string { return Prefix + "/delegations/" + url.PathEscape(id) }

// chainStep is one link of a delegation's chain back to the vendor, in words.
type chainStep struct {
	Holder  string
	Org     string
	Caps    []orgs.Capability
	By      string
	Live    bool
	Current bool
}

type delegationListRow struct {
	D      *orgs.Delegation
	Holder string
	Live   bool
	Chain  []chainStep
	URL    string
}

// delegationForm grants a delegation, or names the successor of a revoked one.
type delegationForm struct {
	Conns    []*orgs.Connection
	Caps     []capChoice // those the person may give
	MaxDepth int
	Values   map[string]string
	Checked  map[string]bool
	Problems map[string]string
}

type delegationsView struct {
	Org         *orgs.Org
	Delegations []delegationListRow
	Form        *delegationForm
	StepUp      string
	Notice      string
}

// chain draws a delegation's chain, the delegation first, as the authority rule reads it.
func (s *Server) chain(ctx context.Context, id string) ([]chainStep, error) {
	links, byID, err := s.Delegations.Store.DelegationChain(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.Access.CurrentTime()
	out := make([]chainStep, 0, len(links))
	for i, l := range links {
		st := chainStep{Holder: s.personName(ctx, "user:"+l.Delegation.HolderConnectionID+"/"+l.Delegation.HolderUserID),
			Caps: l.Delegation.Capabilities, By: s.actorName(ctx, l.Delegation.GrantedBy),
			Live: l.Delegation.LiveAt(now) && l.HolderActive, Current: i == 0, Org: l.Delegation.OrgID}
		if o := byID[l.Delegation.OrgID]; o != nil {
			st.Org = o.Name
		}
		out = append(out, st)
	}
	return out, nil
}

// capChoice is a capability as a form offers it.
type capChoice struct{ Value, Label string }

func capChoices(cs []orgs.Capability) []capChoice {
	out := make([]capChoice, len(cs))
	for i, c := range cs {
		out[i] = capChoice{Value: string(c), Label: strings.ReplaceAll(string(c), "_", " ")}
	}
	return out
}

// newDelegationForm is the form for a person who may delegate on org: what they may give
// (an operator anything; a delegate a subset of their delegation, fewer levels).
func (s *Server) newDelegationForm(ctx context.Context, by orgs.Principal, org *orgs.Org) (*delegationForm, error) {
	f := &delegationForm{Caps: capChoices(allCaps), MaxDepth: orgs.MaxDelegationDepth, Values: map[string]string{}, Checked: map[string]bool{}}
	if d := by.Delegation; d != nil {
		var held []orgs.Capability
		for _, c := range allCaps {
			if d.Has(c) {
				held = append(held, c)
			}
		}
		f.Caps, f.MaxDepth = capChoices(held), d.Depth-1
	}
	if f.MaxDepth < 0 {
		return nil, nil
	}
	conns, err := s.connectionsAbove(ctx, org)
	if err != nil {
		return nil, err
	}
	below, err := s.Lists.Connections(ctx, org.ID, "", maxListed)
	if err != nil {
		return nil, err
	}
	for _, cn := range below {
		if !slices.ContainsFunc(conns, func(x *orgs.Connection) bool { return x.ID == cn.ID }) {
			conns = append(conns, cn)
		}
	}
	if len(conns) == 0 {
		return nil, nil
	}
	f.Conns = conns
	return f, nil
}

func (s *Server) delegationsPage(c echo.Context) error {
	values, checked := refill(c, "")
	return s.renderDelegations(c, http.StatusOK, values, checked, nil)
}

// refill reads back the values of a delegation form that a step-up sent away (nil when
// none): the form is shown filled in again, to be submitted as it was.
func refill(c echo.Context, prefix string) (map[string]string, map[string]bool) {
	q := c.QueryParams()
	if _, ok := q["again"]; !ok {
		return nil, nil
	}
	values := map[string]string{}
	for _, f := range []string{"connection", "user", "depth", "expires"} {
		values[f] = q.Get(prefix + f)
	}
	for _, f := range []string{"reason", "compromise"} {
		values[f] = q.Get(f)
	}
	checked := map[string]bool{}
	for _, v := range q[prefix+"capability"] {
		checked[v] = true
	}
	return values, checked
}

// again is the address of a form's page that shows it filled in with values, for the
// return from a step-up. Nothing secret is in a delegation form.
func again(path, anchor, prefix string, values map[string]string, checked map[string]bool) string {
	q := url.Values{"again": {"1"}}
	for k, v := range values {
		if v == "" {
			continue
		}
		if k == "reason" || k == "compromise" {
			q.Set(k, v)
		} else {
			q.Set(prefix+k, v)
		}
	}
	for _, c := range allCaps {
		if checked[string(c)] {
			q.Add(prefix+"capability", string(c))
		}
	}
	return path + "?" + q.Encode() + anchor
}

func (s *Server) renderDelegations(c echo.Context, code int, values map[string]string, checked map[string]bool, problems map[string]string) error {
	ctx, p := c.Request().Context(), person(c)
	org, err := s.visibleOrg(c, "slug")
	if err != nil {
		return err
	}
	v := delegationsView{Org: org, Notice: c.QueryParam("done"), StepUp: minutes(StepUpMaxAge)}
	ds, err := s.Lists.Delegations(ctx, org.ID, "", maxListed)
	if err != nil {
		return err
	}
	now := s.Access.CurrentTime()
	for _, d := range ds {
		ch, err := s.chain(ctx, d.ID)
		if err != nil {
			return err
		}
		v.Delegations = append(v.Delegations, delegationListRow{D: d, Live: d.LiveAt(now), Chain: ch, URL: delegationURL(d.ID),
			Holder: s.personName(ctx, "user:"+d.HolderConnectionID+"/"+d.HolderUserID)})
	}
	by, ok, err := s.may(ctx, p, orgs.CapDelegate, org)
	if err != nil {
		return err
	}
	if ok {
		if v.Form, err = s.newDelegationForm(ctx, by, org); err != nil {
			return err
		}
		if v.Form != nil && values != nil {
			v.Form.Values, v.Form.Checked, v.Form.Problems = values, checked, problems
		}
	}
	out := view{Title: "Delegations on " + org.Name, Page: v}
	if err := s.wear(ctx, &out, org); err != nil {
		return err
	}
	return s.render(c, code, "delegations", out)
}

// readDelegationForm reads the fields of a delegation form whose names start with
// prefix ("" for a grant, "successor-" for a successor).
func readDelegationForm(c echo.Context, prefix string) (map[string]string, map[string]bool, []orgs.Capability) {
	values := map[string]string{}
	for _, f := range []string{"connection", "user", "depth", "expires"} {
		values[f] = strings.TrimSpace(c.FormValue(prefix + f))
	}
	form, _ := c.FormParams()
	checked := map[string]bool{}
	var caps []orgs.Capability
	for _, v := range form[prefix+"capability"] {
		if !checked[v] {
			checked[v] = true
			caps = append(caps, orgs.Capability(v))
		}
	}
	return values, checked, caps
}

// delegationRequest turns a form's values into the domain's request, with each
// problem named by its field.
func (s *Server) delegationRequest(ctx context.Context, values map[string]string, caps []orgs.Capability) (orgs.DelegationRequest, map[string]string, error) {
	var r orgs.DelegationRequest
	problems := map[string]string{}
	for _, f := range []string{"connection", "user"} {
		if values[f] == "" {
			problems[f] = "missing " + f
		}
	}
	if len(caps) == 0 {
		problems["capability"] = "a delegation needs at least one capability"
	}
	if d, err := strconv.Atoi(values["depth"]); values["depth"] != "" && (err != nil || d < 0 || d > orgs.MaxDelegationDepth) {
		problems["depth"] = "depth must be a whole number between 0 and " + strconv.Itoa(orgs.MaxDelegationDepth)
	} else {
		r.Depth = d
	}
	expires, problem := parseDate(values["expires"])
	if problem != "" {
		problems["expires"] = problem
	}
	if len(problems) > 0 {
		return r, problems, nil
	}
	conn, err := s.Directory.Connection(ctx, values["connection"])
	if err != nil {
		if _, pr, ok := formProblem(err, "connection"); ok {
			return r, pr, nil
		}
		return r, nil, err
	}
	u, err := s.userByName(ctx, conn, values["user"])
	if err != nil {
		if _, pr, ok := formProblem(err, "user"); ok {
			return r, pr, nil
		}
		return r, nil, err
	}
	r.HolderConnectionID, r.HolderUserID, r.Capabilities, r.Expires = conn.ID, u.ID, caps, expires
	return r, nil, nil
}

// delegationField names the field a domain refusal of a delegation is about.
func delegationField(err error) string {
	m := orgscim.ErrorMessage(err)
	switch {
	case strings.Contains(m, "capabilit") || strings.Contains(m, "cannot delegate") || strings.Contains(m, "does not confer"):
		return "capability"
	case strings.Contains(m, "depth") || strings.Contains(m, "level"):
		return "depth"
	case strings.Contains(m, "expir"):
		return "expires"
	case strings.Contains(m, "user"):
		return "user"
	}
	return ""
}

// delegationRefused shows a domain refusal of a delegation form next to its field.
func delegationRefused(err error) (int, map[string]string, bool) {
	switch orgscim.ErrorCode(err) {
	case orgscim.Invalid, orgscim.InvalidValue, orgscim.NotFound, orgscim.Conflict, orgscim.Forbidden:
		return httpstatus.Of(orgscim.ErrorCode(err)), map[string]string{delegationField(err): orgscim.ErrorMessage(err)}, true
	}
	return 0, nil, false
}

// grantDelegation creates a delegation with the same call as POST /api/v1/delegations,
// after a step-up.
func (s *Server) grantDelegation(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	org, err := s.visibleOrg(c, "slug")
	if err != nil {
		return err
	}
	by, ok, err := s.may(ctx, p, orgs.CapDelegate, org)
	if err != nil {
		return err
	}
	if !ok {
		return orgscim.Errorf(orgscim.Forbidden, "you may not delegate on org %s", org.Slug)
	}
	values, checked, caps := readDelegationForm(c, "")
	r, problems, err := s.delegationRequest(ctx, values, caps)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return s.renderDelegations(c, http.StatusBadRequest, values, checked, problems)
	}
	ctx, fresh, err := s.StepUp(c, again(orgURL(org)+"/delegations", "#delegation-form", "", values, checked))
	if !fresh || err != nil {
		return err
	}
	r.OrgID = org.ID
	d, err := s.Delegations.Delegate(ctx, by, r)
	if err != nil {
		if code, pr, ok := delegationRefused(err); ok {
			return s.renderDelegations(c, code, values, checked, pr)
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, delegationURL(d.ID)+"?done=delegated")
}

type delegationView struct {
	D         *orgs.Delegation
	Org       *orgs.Org
	Holder    string
	GrantedBy string
	RevokedBy string
	Live      bool
	Chain     []chainStep
	Made      *orgs.MadeUnder
	// Revoke is the revocation form, for a person who may revoke it (nil: none).
	Revoke   *delegationForm
	Reason   string
	Problems map[string]string
	StepUp   string
	Notice   string
}

func (s *Server) delegationPage(c echo.Context) error {
	values, checked := refill(c, "successor-")
	return s.renderDelegation(c, http.StatusOK, values, checked, nil)
}

// visibleDelegation is the delegation of the path, for a person who sees its org.
func (s *Server) visibleDelegation(c echo.Context) (*orgs.Delegation, *orgs.Org, error) {
	ctx := c.Request().Context()
	d, err := s.Delegations.Store.Delegation(ctx, c.Param("id"))
	if err != nil {
		return nil, nil, err
	}
	org, err := s.Directory.Store.OrgByID(ctx, d.OrgID)
	if err != nil {
		return nil, nil, err
	}
	if !person(c).Sees(org) {
		return nil, nil, orgscim.Errorf(orgscim.NotFound, "delegation %q not found", c.Param("id"))
	}
	return d, org, nil
}

func (s *Server) renderDelegation(c echo.Context, code int, values map[string]string, checked map[string]bool, problems map[string]string) error {
	ctx, p := c.Request().Context(), person(c)
	d, org, err := s.visibleDelegation(c)
	if err != nil {
		return err
	}
	v := delegationView{D: d, Org: org, Live: d.LiveAt(s.Access.CurrentTime()), Notice: c.QueryParam("done"), StepUp: minutes(StepUpMaxAge),
		Holder:    s.personName(ctx, "user:"+d.HolderConnectionID+"/"+d.HolderUserID),
		GrantedBy: s.actorName(ctx, d.GrantedBy), RevokedBy: s.actorName(ctx, d.RevokedBy), Problems: problems}
	if v.Chain, err = s.chain(ctx, d.ID); err != nil {
		return err
	}
	if v.Made, err = s.Delegations.Store.MadeUnder(ctx, d.ID, 0); err != nil {
		return err
	}
	by, ok, err := s.may(ctx, p, orgs.CapDelegate, org)
	if err != nil {
		return err
	}
	if ok && d.Revoked == nil && (by.Delegation == nil || by.Delegation.ID != d.ID) {
		if v.Revoke, err = s.newDelegationForm(ctx, by, org); err != nil {
			return err
		}
		if v.Revoke == nil {
			v.Revoke = &delegationForm{}
		}
		v.Revoke.Values, v.Revoke.Checked = values, checked
		if v.Revoke.Values == nil {
			v.Revoke.Values, v.Revoke.Checked = map[string]string{}, map[string]bool{}
		}
		v.Revoke.Problems = problems
	}
	out := view{Title: "Delegation to " + v.Holder, Page: v}
	if err := s.wear(ctx, &out, org); err != nil {
		return err
	}
	return s.render(c, code, "delegation", out)
}

// revokeDelegation revokes with the same call as DELETE /api/v1/delegations/{id}. Naming
// a successor creates a delegation, so it needs a step-up as granting one does.
func (s *Server) revokeDelegation(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	d, org, err := s.visibleDelegation(c)
	if err != nil {
		return err
	}
	by, ok, err := s.may(ctx, p, orgs.CapDelegate, org)
	if err != nil {
		return err
	}
	if !ok {
		return orgscim.Errorf(orgscim.Forbidden, "you may not revoke delegations on org %s", org.Slug)
	}
	values, checked, caps := readDelegationForm(c, "successor-")
	values["reason"] = strings.TrimSpace(c.FormValue("reason"))
	values["compromise"] = c.FormValue("compromise")
	rv := orgs.Revocation{Reason: values["reason"], Compromise: values["compromise"] == "on"}
	problems := map[string]string{}
	if rv.Reason == "" {
		problems["reason"] = "a reason is required"
	}
	successor := values["connection"] != "" || values["user"] != "" || len(caps) > 0
	if successor {
		r, pr, err := s.delegationRequest(ctx, values, caps)
		if err != nil {
			return err
		}
		for k, m := range pr {
			problems["successor-"+k] = m
		}
		rv.Successor = &r
	}
	if len(problems) > 0 {
		return s.renderDelegation(c, http.StatusBadRequest, values, checked, problems)
	}
	if successor {
		var fresh bool
		if ctx, fresh, err = s.StepUp(c, again(delegationURL(d.ID), "#revoke-form", "successor-", values, checked)); !fresh || err != nil {
			return err
		}
	}
	if _, err := s.Delegations.Revoke(ctx, by, d.ID, rv); err != nil {
		if code, pr, ok := delegationRefused(err); ok {
			field := delegationField(err)
			if successor && field != "" {
				field = "successor-" + field
			}
			return s.renderDelegation(c, code, values, checked, map[string]string{field: pr[delegationField(err)]})
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, delegationURL(d.ID)+"?done=revoked")
}
