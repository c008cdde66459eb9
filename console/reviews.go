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
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reviews"
	"github.com/orgscim/orgscim/sessions"
)

// progress is how far a campaign has got against its deadline.
type progress struct {
	Decided, Items, Percent int
	Left                    string // time left before the deadline, in words
	Overdue                 bool
}

func progressOf(r *reviews.Review, now time.Time) progress {
	c := r.Counts
	p := progress{Decided: c.Confirmed + c.Revoked + c.RevokedAtDeadline, Items: c.Items - c.Lapsed}
	if p.Items > 0 {
		p.Percent = 100 * p.Decided / p.Items
	} else {
		p.Percent = 100
	}
	left := r.Deadline.Sub(now)
	switch {
	case left <= 0:
		p.Overdue, p.Left = true, "past its deadline"
	case left.Round(time.Hour) >= 48*time.Hour:
		p.Left = fmt.Sprintf("%d days left", int(left.Round(time.Hour).Hours()/24))
	case left.Round(time.Minute) >= time.Hour:
		p.Left = fmt.Sprintf("%d hours left", int(left.Round(time.Minute).Hours()))
	default:
		p.Left = fmt.Sprintf("%d minutes left", int(left.Minutes())+1)
	}
	return p
}

// principals are the authorities the person reads reviews with: an operator's own, or
// each of the delegate's delegations.
func principals(p *sessions.Person) []orgs.Principal {
	if p.Operator != "" {
		return []orgs.Principal{{Operator: p.Operator}}
	}
	out := make([]orgs.Principal, 0, len(p.Delegations))
	for _, h := range p.Delegations {
		out = append(out, orgs.Principal{Delegation: h.Delegation})
	}
	return out
}

type queueRow struct {
	Review   *reviews.Review
	Org      *orgs.Org
	Progress progress
}

type queueView struct {
	Open []queueRow
	Done []queueRow
}

// reviewQueue lists the campaigns the person reviews, open ones first, with their
// progress against the deadline (reviews.Service.List, as GET /api/v1/reviews).
func (s *Server) reviewQueue(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	now := s.Access.CurrentTime()
	seen := map[string]bool{}
	var v queueView
	for _, by := range principals(p) {
		rs, err := s.Reviews.List(ctx, by, nil, "", "", maxListed)
		if orgscim.ErrorCode(err) == orgscim.Forbidden {
			continue
		}
		if err != nil {
			return err
		}
		for _, r := range rs {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			o, err := s.Directory.Store.OrgByID(ctx, r.OrgID)
			if err != nil {
				return err
			}
			row := queueRow{Review: r, Org: o, Progress: progressOf(r, now)}
			if r.State == reviews.Open {
				v.Open = append(v.Open, row)
			} else {
				v.Done = append(v.Done, row)
			}
		}
	}
	return s.render(c, http.StatusOK, "reviews", view{Title: "Access reviews", Page: v})
}

// reviewAs is the campaign and the authority the person sees it with.
func (s *Server) reviewAs(ctx context.Context, p *sessions.Person, id string) (*reviews.Review, orgs.Principal, error) {
	var last error = orgscim.Errorf(orgscim.NotFound, "review %q not found", id)
	for _, by := range principals(p) {
		r, err := s.Reviews.ReviewFor(ctx, by, id)
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

type itemRow struct {
	Item      *reviews.Item
	Person    string
	PersonURL string
	Role      *orgs.Role
	Org       *orgs.Org
	Decidable bool // the viewer may confirm or revoke it, and the domain would accept
	Own       bool // the viewer's own grant, or their service account's: someone else reviews it
	// Account is the service account holding the grant (nil for a person), answerable to
	// Owner (OwnerURL their page); AccountState is active, orphaned, expired or retired.
	Account      *orgs.ServiceAccount
	Owner        string
	OwnerURL     string
	AccountState string
	DecidedBy    string
	// AtDeadline: nobody confirmed it, and the campaign revoked it at its deadline.
	AtDeadline bool
	Action     string
}

type reviewView struct {
	Review   *reviews.Review
	Org      *orgs.Org
	Progress progress
	Open     bool
	// Items is the page of the lines the person reviews, of the decision Filter ("" all),
	// from First to Last of Total, by grant id; Next continues after it, Start goes back
	// to the first page ("" when there is none).
	Items              []itemRow
	Filter             string
	Filters            []decisionFilter
	FilterPhrase       string
	First, Last, Total int
	Next, Start        string
	// Here is the page's query (filter and cursor), which a decision's form posts to and
	// comes back to.
	Here    string
	Notice  string
	Problem string
}

// decisionFilter is one choice of the review page's filter: a decision reviews.Service.Items
// takes, in the page's words.
type decisionFilter struct{ Value, Label, Phrase string }

var decisionFilters = []decisionFilter{{"", "All lines", "in all"},
	{reviews.ItemPending, "Waiting for a decision", "waiting for a decision"},
	{reviews.ItemConfirmed, "Confirmed", "confirmed"}, {reviews.ItemRevoked, "Revoked", "revoked"},
	{reviews.ItemLapsed, "Ended otherwise", "ended otherwise"}}

// reviewQuery is the review page's query for a filter and a cursor ("" when neither).
func reviewQuery(decision, after string) string {
	q := url.Values{}
	if decision != "" {
		q.Set("decision", decision)
	}
	if after != "" {
		q.Set("after", after)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func (s *Server) reviewPage(c echo.Context) error {
	return s.renderReview(c, http.StatusOK, "")
}

func (s *Server) renderReview(c echo.Context, code int, problem string) error {
	ctx, p := c.Request().Context(), person(c)
	r, by, err := s.reviewAs(ctx, p, c.Param("id"))
	if err != nil {
		return err
	}
	now := s.Access.CurrentTime()
	org, err := s.Directory.Store.OrgByID(ctx, r.OrgID)
	if err != nil {
		return err
	}
	v := reviewView{Review: r, Org: org, Progress: progressOf(r, now), Notice: c.QueryParam("done"), Problem: problem,
		Open: r.State == reviews.Open && now.Before(r.Deadline), Filter: c.QueryParam("decision"), Filters: decisionFilters}
	// A big campaign pages by grant id (?after= the last line of the page before), with
	// the total and where the page starts in it, so that no line is silently left out.
	after := c.QueryParam("after")
	items, err := s.Reviews.Items(ctx, by, r.ID, v.Filter, after, maxListed)
	if err != nil {
		return err
	}
	total, before, err := s.Reviews.CountItems(ctx, by, r.ID, v.Filter, after)
	if err != nil {
		return err
	}
	v.Total = total
	here := Prefix + "/reviews/" + url.PathEscape(r.ID)
	if len(items) > 0 {
		v.First, v.Last = before+1, before+len(items)
	}
	if v.Last > 0 && v.Last < v.Total {
		v.Next = here + reviewQuery(v.Filter, items[len(items)-1].Grant.ID) + "#items-h"
	}
	if after != "" {
		v.Start = here + reviewQuery(v.Filter, "") + "#items-h"
	}
	v.Here = reviewQuery(v.Filter, after)
	for _, f := range decisionFilters {
		if f.Value == v.Filter {
			v.FilterPhrase = f.Phrase
		}
	}
	orgsByID := map[string]*orgs.Org{}
	rolesByID := map[string]*orgs.Role{}
	for _, it := range items {
		g := it.Grant
		o, ok := orgsByID[g.OrgID]
		if !ok {
			if o, err = s.Directory.Store.OrgByID(ctx, g.OrgID); err != nil {
				return err
			}
			orgsByID[g.OrgID] = o
		}
		role, ok := rolesByID[g.RoleID]
		if !ok {
			if role, err = s.Access.Store.RoleByID(ctx, g.RoleID); err != nil {
				return err
			}
			rolesByID[g.RoleID] = role
		}
		row := itemRow{Item: it, Org: o, Role: role, Person: s.personName(ctx, "user:"+g.ConnectionID+"/"+g.UserID),
			Own:       p.Operator == "" && p.Connection.ID == g.ConnectionID && p.User.ID == g.UserID,
			DecidedBy: s.personName(ctx, it.DecidedBy),
			Action:    Prefix + "/reviews/" + url.PathEscape(r.ID) + "/items/" + url.PathEscape(g.ID)}
		row.AtDeadline = it.DecidedBy == "review:"+r.ID
		// Whoever answers for the grant: the person, or the service account's owner.
		answerConn, answerUser := g.ConnectionID, g.UserID
		if sa := it.ServiceAccount; sa != nil {
			answerConn, answerUser = sa.OwnerConnectionID, sa.OwnerUserID
			row.Account, row.Person, row.AccountState = sa, sa.Name, reviews.AccountState(sa, now)
			row.Owner = s.personName(ctx, "user:"+sa.OwnerConnectionID+"/"+sa.OwnerUserID)
			row.Own = p.Operator == "" && p.Connection.ID == sa.OwnerConnectionID && p.User.ID == sa.OwnerUserID
			if cn, err := s.Access.Store.ConnectionByID(ctx, sa.OwnerConnectionID); err == nil {
				row.OwnerURL = connURL(cn) + "/people/" + url.PathEscape(sa.OwnerUserID)
			}
		} else if cn, err := s.Access.Store.ConnectionByID(ctx, g.ConnectionID); err == nil {
			row.PersonURL = connURL(cn) + "/people/" + url.PathEscape(g.UserID)
		}
		if v.Open && it.Decision == reviews.ItemPending && g.LiveAt(now) {
			decider, ok, err := s.may(ctx, p, orgs.CapManageMembers, o)
			if err != nil {
				return err
			}
			row.Decidable = ok && !decider.Holds(g.ConnectionID, g.UserID) && !decider.Holds(answerConn, answerUser)
		}
		v.Items = append(v.Items, row)
	}
	out := view{Title: r.Name, Page: v}
	if err := s.wear(ctx, &out, org); err != nil {
		return err
	}
	return s.render(c, code, "review", out)
}

// decideItem confirms or revokes one line with the same call as POST
// /api/v1/reviews/{id}/items/{item}/confirm|revoke.
func (s *Server) decideItem(decision string) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, p := c.Request().Context(), person(c)
		r, _, err := s.reviewAs(ctx, p, c.Param("id"))
		if err != nil {
			return err
		}
		gs, ok := s.Access.Store.(orgs.GrantStore)
		if !ok {
			return orgscim.Errorf(orgscim.NotImplemented, "grants cannot be read one by one here")
		}
		g, err := gs.Grant(ctx, c.Param("item"))
		if err != nil {
			return err
		}
		org, err := s.Directory.Store.OrgByID(ctx, g.OrgID)
		if err != nil {
			return err
		}
		by, ok, err := s.may(ctx, p, orgs.CapManageMembers, org)
		if err != nil {
			return err
		}
		if !ok {
			return orgscim.Errorf(orgscim.Forbidden, "you may not manage the members of org %s", org.Slug)
		}
		note := strings.TrimSpace(c.FormValue("note"))
		decide := s.Reviews.Confirm
		if decision == reviews.ItemRevoked {
			decide = s.Reviews.Revoke
		}
		if _, err := decide(ctx, by, r.ID, g.ID, note); err != nil {
			switch orgscim.ErrorCode(err) {
			case orgscim.Invalid, orgscim.Conflict:
				return s.renderReview(c, http.StatusConflict, orgscim.ErrorMessage(err))
			}
			return err
		}
		// Back to the page and filter the decision was made on.
		back := url.Values{"done": {decision}}
		for _, k := range []string{"decision", "after"} {
			if q := c.QueryParam(k); q != "" {
				back.Set(k, q)
			}
		}
		return c.Redirect(http.StatusSeeOther, Prefix+"/reviews/"+url.PathEscape(r.ID)+"?"+back.Encode())
	}
}
