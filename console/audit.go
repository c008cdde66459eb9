package console

import (
	"context"
	"encoding/csv"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sessions"
)

const (
	auditPageSize = 50
	// auditExportPage is how many events the CSV export reads at a time, so that its
	// memory stays constant however long the trail.
	auditExportPage = 1000
)

// auditFields are the search form's fields, in its order.
var auditFields = []string{"actor", "org", "target", "action", "since", "until"}

type auditView struct {
	Values   map[string]string // the fields as given; params also keeps a page size ("limit")
	Problems map[string]string
	// Scope is the subtree searched: the org asked for, or a delegate's own.
	Scope  *orgs.Org
	Events []auditRow
	// Query is the search's query string, without the cursor; Next the next page's.
	Query, Next, CSV string
	Paged            bool // this is not the first page
}

type auditRow struct {
	audit.Event
	Org       string // the org's name, when it has one
	ActorURL  string
	TargetURL string
	Diff      string
}

// auditTime reads a form's time: as a datetime-local field sends it, a date, or RFC
// 3339; without a zone it is UTC.
func auditTime(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// auditQuery reads the search from the request's query. It confines a delegate to
// their subtree as the admin API does: an org they name must lie inside it, and
// without one it is the subtree of their first delegation.
func (s *Server) auditQuery(c echo.Context) (audit.Query, auditView, error) {
	ctx, p := c.Request().Context(), person(c)
	v := auditView{Values: map[string]string{}, Problems: map[string]string{}}
	q := audit.Query{Limit: auditPageSize}
	params := url.Values{}
	for _, f := range auditFields {
		v.Values[f] = strings.TrimSpace(c.QueryParam(f))
		if v.Values[f] != "" {
			params.Set(f, v.Values[f])
		}
	}
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > auditExportPage {
			return q, v, orgscim.Errorf(orgscim.Invalid, "limit must be an integer from 1 to %d", auditExportPage)
		}
		q.Limit = n
		params.Set("limit", raw)
	}
	q.Actor, q.TargetID, q.Action = v.Values["actor"], v.Values["target"], v.Values["action"]
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if raw := v.Values[f.name]; raw != "" {
			t, ok := auditTime(raw)
			if !ok {
				v.Problems[f.name] = f.name + " must be a date and time such as 2030-01-02T03:04 (UTC)"
				continue
			}
			*f.to = t
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		v.Problems["until"] = "until must be after since"
	}
	if raw := c.QueryParam("after"); raw != "" {
		if _, _, ok := audit.ParseCursor(raw); !ok {
			return q, v, orgscim.Errorf(orgscim.Invalid, "this page's position is not one the console gave: start the search again")
		}
		q.After, v.Paged = raw, true
	}
	if slug := v.Values["org"]; slug != "" {
		o, err := s.Directory.Store.OrgBySlug(ctx, slug)
		if err != nil && orgscim.ErrorCode(err) != orgscim.NotFound {
			return q, v, err
		}
		if o == nil || !p.Sees(o) {
			v.Problems["org"] = "no org " + slug + " that you may see"
		} else {
			v.Scope = o
		}
	} else if p.Operator == "" {
		v.Scope = homeOf(p)
		if v.Scope == nil {
			return q, v, orgscim.Errorf(orgscim.Forbidden, "no authority here")
		}
	}
	if v.Scope != nil {
		q.OrgPath = v.Scope.Path
	}
	v.Query = params.Encode()
	v.CSV = Prefix + "/audit.csv?" + v.Query
	return q, v, nil
}

// homeOf is the root of a delegate's first delegated subtree.
func homeOf(p *sessions.Person) *orgs.Org {
	for _, h := range p.Delegations {
		if h.Home != nil {
			return h.Home
		}
	}
	return nil
}

func (s *Server) auditPage(c echo.Context) error {
	ctx := c.Request().Context()
	log := s.auditLog()
	if log == nil {
		return orgscim.Errorf(orgscim.NotImplemented, "this server keeps no audit trail")
	}
	q, v, err := s.auditQuery(c)
	if err != nil {
		return err
	}
	if len(v.Problems) > 0 {
		return s.render(c, http.StatusBadRequest, "audit", view{Title: "Audit", Page: v})
	}
	events, err := log.Events(ctx, q)
	if err != nil {
		return err
	}
	names, err := s.orgNames(ctx, events)
	if err != nil {
		return err
	}
	for i := range events {
		e := &events[i]
		row := auditRow{Event: *e, Org: names[e.OrgID], ActorURL: Prefix + "/audit?" + url.Values{"actor": {e.Actor}}.Encode()}
		if e.TargetID != "" {
			row.TargetURL = Prefix + "/audit?" + url.Values{"target": {e.TargetID}}.Encode()
		}
		if len(e.Diff) > 0 && string(e.Diff) != "null" {
			row.Diff = string(e.Diff)
		}
		v.Events = append(v.Events, row)
	}
	if len(events) == q.Limit {
		next := url.Values{}
		if v.Query != "" {
			next, _ = url.ParseQuery(v.Query)
		}
		next.Set("after", audit.Cursor(&events[len(events)-1]))
		v.Next = Prefix + "/audit?" + next.Encode()
	}
	return s.render(c, http.StatusOK, "audit", view{Title: "Audit", Page: v})
}

// orgNames names the orgs of events by id.
func (s *Server) orgNames(ctx context.Context, events []audit.Event) (map[string]string, error) {
	var ids []string
	for _, e := range events {
		if e.OrgID != "" {
			ids = append(ids, e.OrgID)
		}
	}
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	m, err := s.Access.Store.OrgsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	for id, o := range m {
		if o != nil {
			out[id] = o.Name
		}
	}
	return out, nil
}

// auditCSVHeader names the export's columns.
var auditCSVHeader = []string{"time", "id", "actor", "action", "target_type", "target_id", "org_id", "org_path",
	"connection_id", "request_id", "client_addr", "diff", "hash"}

// spreadsheetSafe keeps a cell from being read as a formula by a spreadsheet: one
// starting with = + - @ (or a tab or carriage return, which some read past) gets a
// leading apostrophe. encoding/csv does the quoting.
func spreadsheetSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// auditCSV streams every event the search selects as CSV, oldest first, a page of
// the store at a time.
func (s *Server) auditCSV(c echo.Context) error {
	ctx := c.Request().Context()
	log := s.auditLog()
	if log == nil {
		return orgscim.Errorf(orgscim.NotImplemented, "this server keeps no audit trail")
	}
	q, v, err := s.auditQuery(c)
	if err != nil {
		return err
	}
	if len(v.Problems) > 0 {
		return s.render(c, http.StatusBadRequest, "audit", view{Title: "Audit", Page: v})
	}
	q.Limit = auditExportPage
	// The first page is read before the status is sent, so that its failure is still a page.
	page, err := log.Events(ctx, q)
	if err != nil {
		return err
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="audit.csv"`)
	res.WriteHeader(http.StatusOK)
	w := csv.NewWriter(res)
	_ = w.Write(auditCSVHeader)
	for {
		for i := range page {
			e := &page[i]
			diff := ""
			if len(e.Diff) > 0 && string(e.Diff) != "null" {
				diff = string(e.Diff)
			}
			row := []string{e.Time.UTC().Format(time.RFC3339Nano), e.ID, e.Actor, e.Action, e.TargetType, e.TargetID, e.OrgID,
				e.OrgPath, e.ConnectionID, e.RequestID, e.ClientAddr, diff, e.Hash}
			for j := range row {
				row[j] = spreadsheetSafe(row[j])
			}
			if err := w.Write(row); err != nil {
				return nil // the client went away
			}
		}
		w.Flush()
		if w.Error() != nil || len(page) < q.Limit {
			return nil
		}
		res.Flush()
		q.After = audit.Cursor(&page[len(page)-1])
		if page, err = log.Events(ctx, q); err != nil {
			// The status is sent: breaking the connection is the only way left to say the
			// export is incomplete, rather than let it pass for whole.
			s.logger().Error("console audit export failed", slog.String("error", err.Error()))
			panic(http.ErrAbortHandler)
		}
	}
}
