package console

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sessions"
	"github.com/orgscim/orgscim/support"
)

// maxSupportListed bounds the sessions an org's support page lists, newest kept.
const maxSupportListed = 500

type supportRow struct {
	S *support.Session
	// Live: active and not past its expiry (an active session past it authorises nothing).
	Live bool
	// The controls the person is offered: those the support service would accept of them.
	Decidable, Endable, Reviewable bool
	// Who decided, ended and reviewed it, by name.
	DecidedBy, EndedBy, ReviewedBy string
}

type supportView struct {
	Org *orgs.Org
	// Requests wait for a partner administrator; Open are live; Reviews are break-glass
	// sessions over and not yet reviewed; Past is the rest.
	Requests, Open, Reviews, Past []supportRow
	Notice                        string
	StepUp                        string
	// Form is the operator's request form (nil for a partner administrator, and on the
	// vendor's own orgs, where operators need no session).
	Form        *supportForm
	MaxDuration string
	Problems    map[string]string // per session id: the answer to an action on it
}

type supportForm struct {
	MaxMinutes int64
	Values     map[string]string
	Problems   map[string]string
}

func (s *Server) supportService() (*support.Service, error) {
	if s.Trust.Support == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "support sessions are not served here")
	}
	return s.Trust.Support, nil
}

func (s *Server) supportPage(c echo.Context) error {
	return s.renderSupport(c, http.StatusOK, nil, nil, nil)
}

// renderSupport shows an org's support sessions; values and problems are those of the
// request form, rowProblems the answers to an action on a session.
func (s *Server) renderSupport(c echo.Context, code int, values, problems, rowProblems map[string]string) error {
	sup, err := s.supportService()
	if err != nil {
		return err
	}
	org, pr, err := s.trustOrg(c)
	if err != nil {
		return err
	}
	ctx, p := c.Request().Context(), person(c)
	list, err := sup.List(ctx, pr, org.Slug, "", maxSupportListed)
	if err != nil {
		return err
	}
	pol, err := sup.Policy(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	v := supportView{Org: org, Notice: c.QueryParam("done"), StepUp: minutes(StepUpMaxAge), MaxDuration: span(pol.MaxDuration),
		Problems: rowProblems}
	// Newest first (the store pages by id, which says nothing of time).
	sort.SliceStable(list, func(i, j int) bool { return list[i].Requested.After(list[j].Requested) })
	for i := range list {
		row := supportRowFor(p, list[i], now)
		for _, n := range []struct {
			to   *string
			from string
		}{{&row.DecidedBy, list[i].DecidedBy}, {&row.EndedBy, list[i].EndedBy}, {&row.ReviewedBy, list[i].ReviewedBy}} {
			if n.from != "" {
				*n.to = s.actorName(ctx, n.from)
			}
		}
		switch {
		case list[i].State == support.Requested:
			v.Requests = append(v.Requests, row)
		case row.Live:
			v.Open = append(v.Open, row)
		case list[i].ReviewOwed():
			v.Reviews = append(v.Reviews, row)
		default:
			v.Past = append(v.Past, row)
		}
	}
	if p.Operator != "" && org.PartnerData() {
		if values == nil {
			values = map[string]string{"minutes": "60"}
		}
		if problems == nil {
			problems = map[string]string{}
		}
		v.Form = &supportForm{MaxMinutes: int64(pol.MaxDuration / time.Minute), Values: values, Problems: problems}
	}
	page := view{Title: "Support sessions on " + org.Name, Page: v}
	if err := s.wear(ctx, &page, org); err != nil {
		return err
	}
	return s.render(c, code, "support", page)
}

// supportRowFor offers the person what support.Service would let them do to ss: the
// partner's administrators decide, end and review; the vendor's staff end, and review a
// break-glass session someone else opened. The page is shown only to an operator or to
// one who administers the org, so the administrator's authority holds.
func supportRowFor(p *sessions.Person, ss *support.Session, now time.Time) supportRow {
	r := supportRow{S: ss, Live: ss.LiveAt(now)}
	partner := p.Operator == ""
	r.Decidable = partner && ss.State == support.Requested
	r.Endable = ss.State == support.Requested || r.Live
	r.Reviewable = ss.ReviewOwed() && !r.Live && (partner || p.Operator != ss.Staff)
	return r
}

func supportURL(slug, done string) string {
	return Prefix + "/orgs/" + url.PathEscape(slug) + "/support?done=" + url.QueryEscape(done)
}

// supportField is the form field a support.Service.Open refusal is about.
func supportField(msg string) string {
	switch {
	case strings.HasPrefix(msg, "missing "):
		return strings.TrimSuffix(strings.Fields(strings.TrimPrefix(msg, "missing "))[0], ",")
	case strings.HasPrefix(msg, "ticket"):
		return "ticket"
	case strings.HasPrefix(msg, "duration"):
		return "minutes"
	}
	return ""
}

// openSupport asks for a session, or breaks the glass, with the call of
// POST /api/v1/support-sessions: the operator's own, on this org.
func (s *Server) openSupport(c echo.Context) error {
	sup, err := s.supportService()
	if err != nil {
		return err
	}
	org, pr, err := s.trustOrg(c)
	if err != nil {
		return err
	}
	if err := operatorOnly(person(c)); err != nil {
		return err
	}
	values := map[string]string{}
	for _, f := range []string{"ticket", "reason", "minutes", "write", "break_glass"} {
		values[f] = strings.TrimSpace(c.FormValue(f))
	}
	mins, err := strconv.ParseInt(values["minutes"], 10, 64)
	if err != nil || mins <= 0 || mins > 365*24*60 {
		return s.renderSupport(c, http.StatusBadRequest, values,
			map[string]string{"minutes": "the duration must be a positive whole number of minutes up to the policy's maximum"}, nil)
	}
	ss, err := sup.Open(c.Request().Context(), pr, support.OpenRequest{Org: org.Slug, Ticket: values["ticket"], Reason: values["reason"],
		Write: values["write"] != "", Duration: time.Duration(mins) * time.Minute, BreakGlass: values["break_glass"] != ""})
	if err != nil {
		if code, _, ok := formProblem(err, ""); ok {
			return s.renderSupport(c, code, values, map[string]string{supportField(orgscim.ErrorMessage(err)): orgscim.ErrorMessage(err)}, nil)
		}
		return err
	}
	done := "support session requested: it waits for one of the partner's administrators"
	if ss.BreakGlass {
		done = "break-glass session open until " + ss.Expires.UTC().Format("15:04 UTC") + "; the partner has been notified and a review is owed"
	}
	return c.Redirect(http.StatusSeeOther, supportURL(org.Slug, done)+"#support-"+ss.ID)
}

// supportSession finds the session of the path for the person: an operator reads any;
// a delegate one on an org they administer (anything else is not found, as in the API).
func (s *Server) supportSession(c echo.Context, sup *support.Service) (*support.Session, *orgs.Org, orgs.Principal, error) {
	ctx, p := c.Request().Context(), person(c)
	id := c.Param("id")
	var ss *support.Session
	if p.Operator != "" {
		var err error
		if ss, err = sup.Get(ctx, orgs.Principal{Operator: p.Operator}, id); err != nil {
			return nil, nil, orgs.Principal{}, err
		}
	} else {
		for _, h := range p.Delegations {
			if got, err := sup.Get(ctx, orgs.Principal{Delegation: h.Delegation}, id); err == nil {
				ss = got
				break
			} else if code := orgscim.ErrorCode(err); code != orgscim.NotFound && code != orgscim.Forbidden {
				return nil, nil, orgs.Principal{}, err
			}
		}
		if ss == nil {
			return nil, nil, orgs.Principal{}, orgscim.Errorf(orgscim.NotFound, "no support session %q", id)
		}
	}
	org, err := s.Directory.Store.OrgByID(ctx, ss.OrgID)
	if err != nil {
		return nil, nil, orgs.Principal{}, err
	}
	pr, ok, err := s.may(ctx, p, orgs.CapDelegate, org)
	if err != nil {
		return nil, nil, orgs.Principal{}, err
	}
	if !ok {
		return nil, nil, orgs.Principal{}, orgscim.Errorf(orgscim.NotFound, "no support session %q", id)
	}
	return ss, org, pr, nil
}

// decideSupport approves, refuses, ends or reviews a session with the support service's
// own calls (those of POST /api/v1/support-sessions/{id}/...). Approving hands the
// vendor's staff the partner's data: it needs a recent authentication (StepUp).
func (s *Server) decideSupport(act string) echo.HandlerFunc {
	return func(c echo.Context) error {
		sup, err := s.supportService()
		if err != nil {
			return err
		}
		ss, org, pr, err := s.supportSession(c, sup)
		if err != nil {
			return err
		}
		ctx, note := c.Request().Context(), strings.TrimSpace(c.FormValue("note"))
		var done string
		switch act {
		case "approve":
			var fresh bool
			if ctx, fresh, err = s.StepUp(c, Prefix+"/orgs/"+url.PathEscape(org.Slug)+"/support#support-"+ss.ID); !fresh || err != nil {
				return err
			}
			_, err = sup.Approve(ctx, pr, ss.ID, note)
			done = "approved the session of " + ss.Staff
		case "refuse":
			_, err = sup.Refuse(ctx, pr, ss.ID, note)
			done = "refused the session of " + ss.Staff
		case "end":
			_, err = sup.End(ctx, pr, ss.ID, note)
			done = "ended the session of " + ss.Staff
		case "review":
			_, err = sup.Review(ctx, pr, ss.ID, note)
			done = "reviewed the break-glass session of " + ss.Staff
		}
		if err != nil {
			if code, _, ok := formProblem(err, ""); ok && orgscim.ErrorCode(err) != orgscim.NotFound {
				c.SetParamNames("slug")
				c.SetParamValues(org.Slug)
				return s.renderSupport(c, code, nil, nil, map[string]string{ss.ID: orgscim.ErrorMessage(err)})
			}
			return err
		}
		return c.Redirect(http.StatusSeeOther, supportURL(org.Slug, done)+"#support-"+ss.ID)
	}
}

// span says a session's length as people do: "8 hours", "90 minutes".
func span(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "1 hour"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + " hours"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + " minutes"
	}
	return d.String()
}
