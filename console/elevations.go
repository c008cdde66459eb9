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
	"github.com/orgscim/orgscim/internal/httpstatus"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sessions"
)

// ElevationLists lists the requests awaiting a decision (sqlstore.Lists does); without
// it the elevations page has no queue.
type ElevationLists interface {
	PendingElevations(ctx context.Context, pathPrefix string, limit int) ([]*orgs.Elevation, error)
}

type elevationRow struct {
	E         *orgs.Elevation
	Person    string
	PersonURL string
	Role      *orgs.Role
	Org       *orgs.Org
	By        string
	Hours     string
	// Decidable: the person may approve or deny it (approve: not their own, nor for them).
	Decidable  bool
	Approvable bool
}

// roleChoice is a privileged role as the request form offers it, with its longest grant.
type roleChoice struct{ Key, Max string }

type elevationForm struct {
	Conns    []*orgs.Connection
	Roles    []roleChoice
	Values   map[string]string
	Problems map[string]string
}

type elevationsView struct {
	Pending []elevationRow
	Form    *elevationForm
	StepUp  string
	Notice  string
}

// actorName names who asked or decided: a person by their user name, an operator as one.
func (s *Server) actorName(ctx context.Context, who string) string {
	if op, ok := strings.CutPrefix(who, "operator:"); ok {
		return op + " (operator)"
	}
	return s.personName(ctx, who)
}

// minutes says a duration of whole minutes in words.
func minutes(d time.Duration) string {
	if n := int(d.Minutes()); n != 1 {
		return strconv.Itoa(n) + " minutes"
	}
	return "1 minute"
}

func hours(d time.Duration) string {
	return strconv.FormatFloat(d.Hours(), 'f', -1, 64)
}

func (s *Server) elevationsPage(c echo.Context) error {
	return s.renderElevations(c, http.StatusOK, nil, nil)
}

// homes are the roots of what the person sees: their delegations' subtrees, or
// everything for an operator (nil).
func homes(c echo.Context) []*orgs.Org {
	p := person(c)
	if p.Operator != "" {
		return nil
	}
	var out []*orgs.Org
	for _, h := range p.Delegations {
		if h.Home != nil {
			out = append(out, h.Home)
		}
	}
	return out
}

func (s *Server) renderElevations(c echo.Context, code int, values, problems map[string]string) error {
	ctx, p := c.Request().Context(), person(c)
	v := elevationsView{Notice: c.QueryParam("done"), StepUp: minutes(StepUpMaxAge)}
	var pending []*orgs.Elevation
	if l, ok := s.Lists.(ElevationLists); ok {
		prefixes := []string{""}
		if hs := homes(c); hs != nil {
			prefixes = prefixes[:0]
			for _, h := range hs {
				prefixes = append(prefixes, h.Path)
			}
		}
		seen := map[string]bool{}
		for _, pre := range prefixes {
			es, err := l.PendingElevations(ctx, pre, maxListed)
			if err != nil {
				return err
			}
			for _, e := range es {
				if !seen[e.ID] {
					seen[e.ID] = true
					pending = append(pending, e)
				}
			}
		}
	}
	for _, e := range pending {
		row, err := s.elevationRow(ctx, p, e)
		if err != nil {
			return err
		}
		if row != nil {
			v.Pending = append(v.Pending, *row)
		}
	}
	f, err := s.newElevationForm(ctx, c)
	if err != nil {
		return err
	}
	if f != nil && values != nil {
		f.Values, f.Problems = values, problems
	}
	v.Form = f
	return s.render(c, code, "elevations", view{Title: "Elevations", Page: v})
}

// elevationRow shows a request to a person who may see it (nil otherwise), with the
// decisions the domain would accept from them.
func (s *Server) elevationRow(ctx context.Context, p *sessions.Person, e *orgs.Elevation) (*elevationRow, error) {
	org, err := s.Directory.Store.OrgByID(ctx, e.OrgID)
	if err != nil {
		return nil, err
	}
	if !p.Sees(org) {
		return nil, nil
	}
	role, err := s.Access.Store.RoleByID(ctx, e.RoleID)
	if err != nil {
		return nil, err
	}
	row := &elevationRow{E: e, Role: role, Org: org, By: s.actorName(ctx, e.RequestedBy), Hours: hours(e.Duration),
		Person: s.personName(ctx, "user:"+e.ConnectionID+"/"+e.UserID)}
	if cn, err := s.Access.Store.ConnectionByID(ctx, e.ConnectionID); err == nil && e.ServiceAccountID == "" {
		row.PersonURL = connURL(cn) + "/people/" + url.PathEscape(e.UserID)
	}
	if e.ServiceAccountID != "" && s.ServiceAccounts != nil {
		if sa, err := s.ServiceAccounts.Store.ServiceAccount(ctx, e.ServiceAccountID); err == nil {
			row.Person, row.PersonURL = sa.Name+" (service account)", serviceAccountURL(sa.ID)
		}
	}
	by, ok, err := s.may(ctx, p, orgs.CapApprove, org)
	if err != nil {
		return nil, err
	}
	row.Decidable = ok
	row.Approvable = ok && by.Name() != e.RequestedBy && !by.Holds(e.ConnectionID, e.UserID)
	if !ok {
		// Whom the admin API's ElevationFor shows it to: its requester and beneficiary,
		// and those with approve or manage_members on its org.
		_, manages, err := s.may(ctx, p, orgs.CapManageMembers, org)
		if err != nil {
			return nil, err
		}
		self := p.Operator == "" && p.Connection.ID == e.ConnectionID && p.User.ID == e.UserID
		if !manages && !self && !requestedBy(p, e.RequestedBy) {
			return nil, nil
		}
	}
	return row, nil
}

// requestedBy reports whether name (a Principal's Name) is the person.
func requestedBy(p *sessions.Person, name string) bool {
	if p.Operator != "" {
		return name == "operator:"+p.Operator
	}
	return name == "user:"+p.Connection.ID+"/"+p.User.ID
}

// newElevationForm is the request form: the privileged roles, and the connections whose
// people the person sees. Anyone signed in may ask (a delegate for themselves at least);
// the domain decides who may ask for whom.
func (s *Server) newElevationForm(ctx context.Context, c echo.Context) (*elevationForm, error) {
	f := &elevationForm{Values: map[string]string{}}
	rs, err := s.Lists.Roles(ctx, "", maxListed)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.Privileged {
			rc := roleChoice{Key: r.Key}
			if r.MaxDuration > 0 {
				rc.Max = hours(r.MaxDuration) + " h"
			}
			f.Roles = append(f.Roles, rc)
		}
	}
	p := person(c)
	if p.Operator == "" {
		f.Conns = []*orgs.Connection{p.Connection}
		f.Values["user"] = p.User.UserName
	} else if f.Conns, err = s.allConnections(ctx); err != nil {
		return nil, err
	}
	if len(f.Roles) == 0 || len(f.Conns) == 0 {
		return nil, nil
	}
	return f, nil
}

// allConnections lists the connections of the whole tree, for an operator's forms.
func (s *Server) allConnections(ctx context.Context) ([]*orgs.Connection, error) {
	var out []*orgs.Connection
	var walk func(parent string, depth int) error
	walk = func(parent string, depth int) error {
		kids, err := s.Lists.ChildOrgs(ctx, parent, "", maxListed)
		if err != nil || depth > 16 {
			return err
		}
		for _, k := range kids {
			cs, err := s.Lists.Connections(ctx, k.ID, "", maxListed)
			if err != nil {
				return err
			}
			out = append(out, cs...)
			if len(out) >= maxListed {
				return nil
			}
			if err := walk(k.ID, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk("", 0)
}

// elevationField names the field a refusal of a request is about.
func elevationField(err error) string {
	m := orgscim.ErrorMessage(err)
	switch {
	case strings.Contains(m, "reason"):
		return "reason"
	case strings.Contains(m, "duration"):
		return "hours"
	case strings.Contains(m, "role"):
		return "role"
	case strings.Contains(m, "org"):
		return "org"
	case strings.Contains(m, "user") || strings.Contains(m, "person"):
		return "user"
	}
	return ""
}

// requestElevation asks for a privileged role with the same call as POST
// /api/v1/elevations.
func (s *Server) requestElevation(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	values := map[string]string{}
	for _, f := range []string{"connection", "user", "role", "org", "hours", "reason"} {
		values[f] = strings.TrimSpace(c.FormValue(f))
	}
	problems := map[string]string{}
	for _, f := range []string{"connection", "user", "role", "org", "reason"} {
		if values[f] == "" {
			problems[f] = "missing " + f
		}
	}
	h, err := strconv.ParseFloat(values["hours"], 64)
	if err != nil || h <= 0 || h > 24*366 {
		problems["hours"] = "duration must be a positive number of hours"
	}
	if len(problems) > 0 {
		return s.renderElevations(c, http.StatusBadRequest, values, problems)
	}
	refuse := func(err error, field string) error {
		switch orgscim.ErrorCode(err) {
		case orgscim.Invalid, orgscim.InvalidValue, orgscim.NotFound, orgscim.Conflict, orgscim.Forbidden:
			return s.renderElevations(c, httpstatus.Of(orgscim.ErrorCode(err)), values, map[string]string{field: orgscim.ErrorMessage(err)})
		}
		return err
	}
	conn, err := s.Directory.Connection(ctx, values["connection"])
	if err != nil {
		return refuse(err, "connection")
	}
	org, err := s.Directory.Store.OrgBySlug(ctx, values["org"])
	if err == nil && !p.Sees(org) {
		err = orgscim.Errorf(orgscim.NotFound, "no org %q", values["org"])
	}
	if err != nil {
		return refuse(err, "org")
	}
	u, err := s.userByName(ctx, conn, values["user"])
	if err != nil {
		return refuse(err, "user")
	}
	// The requester acts as themselves when the request is for them (any delegation of
	// theirs will do), otherwise with manage_members on the org.
	by, ok, err := s.may(ctx, p, orgs.CapManageMembers, org)
	if err != nil {
		return err
	}
	if !ok && p.Operator == "" && len(p.Delegations) > 0 {
		by, ok = orgs.Principal{Delegation: p.Delegations[0].Delegation}, true
	}
	if !ok {
		return orgscim.Errorf(orgscim.Forbidden, "you may not ask for roles on org %s", org.Slug)
	}
	if _, err := s.Access.RequestElevation(ctx, by, conn, u.ID, values["role"], org.ID, values["reason"],
		time.Duration(h*float64(time.Hour))); err != nil {
		return refuse(err, elevationField(err))
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/elevations?done=requested")
}

// decideElevation approves (after a step-up) or denies a request with the same calls
// as POST /api/v1/elevations/{id}/approve and /reject.
func (s *Server) decideElevation(approve bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, p := c.Request().Context(), person(c)
		el, err := s.elevationFor(ctx, p, c.Param("id"))
		if err != nil {
			return err
		}
		org, err := s.Directory.Store.OrgByID(ctx, el.OrgID)
		if err != nil {
			return err
		}
		pr, ok, err := s.may(ctx, p, orgs.CapApprove, org)
		if err != nil {
			return err
		}
		if !ok {
			return orgscim.Errorf(orgscim.Forbidden, "you may not decide requests on org %s", org.Slug)
		}
		reason := strings.TrimSpace(c.FormValue("reason"))
		if approve {
			var fresh bool
			if ctx, fresh, err = s.StepUp(c, Prefix+"/elevations#elevation-"+el.ID); !fresh || err != nil {
				return err
			}
			_, err = s.Access.ApproveElevation(ctx, pr, el.ID, reason)
		} else {
			if reason == "" {
				return orgscim.Errorf(orgscim.Invalid, "a reason is required to deny a request")
			}
			_, err = s.Access.RejectElevation(ctx, pr, el.ID, reason)
		}
		if err != nil {
			return err
		}
		done := "denied"
		if approve {
			done = "approved"
		}
		return c.Redirect(http.StatusSeeOther, Prefix+"/elevations?done="+done)
	}
}

// elevationFor is a request the person may see: the admin API's ElevationFor, asked
// with each of their authorities in turn.
func (s *Server) elevationFor(ctx context.Context, p *sessions.Person, id string) (*orgs.Elevation, error) {
	if p.Operator != "" {
		return s.Access.ElevationFor(ctx, orgs.Principal{Operator: p.Operator}, id)
	}
	var last error = orgscim.Errorf(orgscim.NotFound, "elevation %q not found", id)
	for _, h := range p.Delegations {
		el, err := s.Access.ElevationFor(ctx, orgs.Principal{Delegation: h.Delegation}, id)
		if err == nil {
			return el, nil
		}
		if orgscim.ErrorCode(err) != orgscim.NotFound {
			return nil, err
		}
		last = err
	}
	return nil, last
}
