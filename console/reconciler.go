package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/reconcile"
)

// listedRuns is how many recent runs the reconciler's page lists.
const listedRuns = 50

type runRow struct {
	Run     *reconcile.Run
	URL     string
	Changes int // items changed (or, held, counted) by every rule
	Held    int // plans still held
}

type runsView struct {
	Runs []runRow
	Held int
}

type runView struct {
	Run   runRow
	Rules []ruleLine // the rules that changed (or counted) something
	Idle  []string   // the others, "rule: action"
	Holds []holdView
	// MayApprove: the person is an operator, and something is still held.
	MayApprove bool
	Done       string
	Problem    string
}

type ruleLine struct {
	reconcile.RuleResult
	Connections []string // "slug: n", by count
}

type holdView struct {
	Hold       *reconcile.Hold
	Connection string // its slug
	Lines      []string
	DecidedBy  string // the approver in words
}

func (s *Server) reconciler(c echo.Context) (Reconciler, error) {
	if err := operatorOnly(person(c)); err != nil {
		return nil, err
	}
	if s.Reconciler == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "this server has no reconciler")
	}
	return s.Reconciler, nil
}

func summarize(r *reconcile.Run) runRow {
	row := runRow{Run: r, URL: Prefix + "/reconciler/runs/" + url.PathEscape(r.ID)}
	for _, rule := range r.Report.Rules {
		row.Changes += rule.Count
	}
	for _, h := range r.Report.Held {
		if h.State == "held" {
			row.Held++
		}
	}
	return row
}

func (s *Server) runsPage(c echo.Context) error {
	rec, err := s.reconciler(c)
	if err != nil {
		return err
	}
	runs, err := rec.Runs(c.Request().Context(), listedRuns)
	if err != nil {
		return err
	}
	var v runsView
	for _, r := range runs {
		row := summarize(r)
		v.Held += row.Held
		v.Runs = append(v.Runs, row)
	}
	return s.render(c, http.StatusOK, "reconciler", view{Title: "Reconciler", Page: v})
}

// slugs names connections by id, for the plans and counts that carry ids; "control" is
// the control plane's tenant.
func (s *Server) slugs(ctx context.Context, ids []string) map[string]string {
	out := map[string]string{"control": "control plane"}
	for _, id := range ids {
		if _, ok := out[id]; ok {
			continue
		}
		out[id] = id
		if conn, err := s.Sessions.Connections.ConnectionByID(ctx, id); err == nil {
			out[id] = conn.Slug
		}
	}
	return out
}

// planLines is a held plan in words, one line per change it counted.
func planLines(h *reconcile.Hold) []string {
	var out []string
	rules := make([]string, 0, len(h.Plan.Revoke))
	for r := range h.Plan.Revoke {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	for _, r := range rules {
		if n := h.Plan.Revoke[r]; n > 0 {
			out = append(out, fmt.Sprintf("revoke %d grant(s) by rule %s", n, r))
		}
	}
	if h.Plan.Deactivate > 0 {
		out = append(out, fmt.Sprintf("deactivate %d member(s) by rule stale-member", h.Plan.Deactivate))
	}
	if h.Plan.Add > 0 {
		out = append(out, fmt.Sprintf("add %d grant(s) by drift repair (adding is never held back)", h.Plan.Add))
	}
	return out
}

func (s *Server) runPage(c echo.Context) error {
	return s.renderRun(c, http.StatusOK, "")
}

func (s *Server) renderRun(c echo.Context, code int, problem string) error {
	ctx := c.Request().Context()
	rec, err := s.reconciler(c)
	if err != nil {
		return err
	}
	run, err := rec.RunWithHolds(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	var ids []string
	for _, r := range run.Report.Rules {
		for id := range r.ByConnection {
			ids = append(ids, id)
		}
	}
	for _, h := range run.Report.Held {
		ids = append(ids, h.ConnectionID)
	}
	names := s.slugs(ctx, ids)
	v := runView{Run: summarize(run), Done: c.QueryParam("done"), Problem: problem}
	for _, r := range run.Report.Rules {
		if r.Count == 0 {
			v.Idle = append(v.Idle, r.Rule+" ("+r.Action+")")
			continue
		}
		l := ruleLine{RuleResult: r}
		for id, n := range r.ByConnection {
			l.Connections = append(l.Connections, fmt.Sprintf("%s: %d", names[id], n))
		}
		sort.Strings(l.Connections)
		v.Rules = append(v.Rules, l)
	}
	for _, h := range run.Report.Held {
		by := h.DecidedBy
		// A console session's actor is "console_session:ID NAME": the person is NAME.
		if rest, ok := strings.CutPrefix(by, "console_session:"); ok {
			if _, name, ok := strings.Cut(rest, " "); ok {
				by = name
			}
		}
		v.Holds = append(v.Holds, holdView{Hold: h, Connection: names[h.ConnectionID], Lines: planLines(h), DecidedBy: s.actorName(ctx, by)})
	}
	v.MayApprove = v.Run.Held > 0 && run.Kind == "pass"
	return s.render(c, code, "run", view{Title: "Reconciler run " + run.ID, Page: v})
}

// approveRun applies held plans with the same call as POST
// /api/v1/reconcile/runs/{id}/approve: all the run still holds, or one connection's.
// It needs a recent authentication (StepUp).
func (s *Server) approveRun(c echo.Context) error {
	rec, err := s.reconciler(c)
	if err != nil {
		return err
	}
	// A held plan is authority over many at once: a recent authentication, recorded in
	// the approval's audit events.
	ctx, fresh, err := s.StepUp(c, Prefix+"/reconciler/runs/"+url.PathEscape(c.Param("id")))
	if !fresh || err != nil {
		return err
	}
	var conns []string
	if id := strings.TrimSpace(c.FormValue("connection")); id != "" {
		conns = []string{id}
	}
	out, err := rec.Approve(ctx, c.Param("id"), audit.SourceOf(ctx).Actor, conns)
	if err != nil {
		switch orgscim.ErrorCode(err) {
		case orgscim.Conflict, orgscim.NotFound, orgscim.Invalid:
			return s.renderRun(c, http.StatusConflict, orgscim.ErrorMessage(err))
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/reconciler/runs/"+url.PathEscape(c.Param("id"))+"?done="+url.QueryEscape(out.ID))
}
