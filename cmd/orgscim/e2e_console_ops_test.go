package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/connhealth"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/webhooks"
)

// upload posts a multipart form with one file, as a browser's file field sends it.
func (b *browser) upload(path string, fields map[string]string, name string, data []byte) consolePage {
	b.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	if name != "" {
		fw, err := w.CreateFormFile("file", name)
		if err != nil {
			b.t.Fatal(err)
		}
		_, _ = fw.Write(data)
	}
	_ = w.Close()
	req, err := http.NewRequest("POST", b.f.env.srv.URL+path, &body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	for _, m := range leaksIn(string(raw)) {
		b.t.Errorf("POST %s leaks %q", path, m)
	}
	return consolePage{status: res.StatusCode, url: res.Request.URL.String(), body: string(raw)}
}

// advance moves the server's clock forward.
func (f *consoleFixture) advance(d time.Duration) {
	f.env.clock.mu.Lock()
	f.env.clock.t = f.env.clock.t.Add(d)
	f.env.clock.mu.Unlock()
}

var hiddenField = func(name string) *regexp.Regexp {
	return regexp.MustCompile(`name="` + name + `" value="([^"]*)"`)
}

// opsFixture is what the operations pages show, on top of the console fixture: SCIM
// pushes to acme (one refused, a password in each), a webhook subscription whose
// receiver fails, and a pass whose plan for acme the guardrail held.
type opsFixture struct {
	receiver *httptest.Server
	hits     atomic.Int64
	hook     string
	run      *reconcile.Run
	eve      *reply // a SCIM push whose request id a spreadsheet would read as a formula
}

func newOpsFixture(t *testing.T, db *sqlstore.DB) (*consoleFixture, *opsFixture) {
	t.Helper()
	ctx := context.Background()
	f := newConsoleFixture(t, db)
	o := &opsFixture{}
	for _, n := range []string{"ann", "ben", "cat"} {
		u := f.acme.create(map[string]any{"userName": n + "@acme.example", "password": "hunter2-" + n})
		f.oper.post("/grants", map[string]any{"connection": "acme", "user_id": u["id"], "role": "editor", "org": "acme",
			"expires_at": f.env.clock.Now().Add(time.Hour)}).must(t, http.StatusCreated)
	}
	f.acme.send("POST", f.acme.base()+"/Users", map[string]any{"userName": "pat@acme.example"}) // a conflict: 409
	// A request id a spreadsheet would read as a formula.
	o.eve = f.acme.do("POST", "/Users", map[string]any{"userName": "eve@acme.example"}, "X-Request-Id", "-2-3")

	// A receiver that always fails, and one pass of the deliverer.
	o.receiver = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(o.receiver.Close)
	o.hook = field(f.oper.post("/webhooks", map[string]any{"connection": "acme", "url": o.receiver.URL + "/hook", "actions": []string{"grant."}}).
		must(t, http.StatusCreated).JSON, "id")
	f.oper.post("/grants", map[string]any{"connection": "acme", "user_id": f.people["sam"], "role": "viewer", "org": "lyon"}).
		must(t, http.StatusCreated)
	if _, err := (&webhooks.Deliverer{Outbox: db.Webhooks(), Now: f.env.clock.Now}).Once(ctx); err != nil {
		t.Fatal(err)
	}
	if o.hits.Load() == 0 {
		t.Fatal("the deliverer sent nothing")
	}

	// The three editor grants expire; the guardrail allows two changes: held.
	f.oper.call("PATCH", "/connections/acme/policy", map[string]any{"guard_max_changes": 2}).must(t, http.StatusOK)
	f.advance(2 * time.Hour)
	run, err := newReconciler(db, f.env.clock.Now).Once(ctx, reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Report.Held) != 1 {
		t.Fatalf("the pass held %d plans", len(run.Report.Held))
	}
	o.run = run

	// The recorder stores health and the request log about once a second.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		conn, _ := db.Orgs().ConnectionBySlug(ctx, "acme")
		h, err := db.Health().Health(ctx, conn.ID)
		log, _ := db.Health().RequestLog(ctx, conn.ID, connhealth.Keep)
		if err == nil && h.Requests > 0 && len(log) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no health stored: %+v %v", h, err)
		}
	}
	return f, o
}

// TestConsoleOps: the operations pages over plain HTTP on each engine, calling the same
// services as the admin API — a connection's health and redacted request log; webhooks
// with each delivery's last error and next attempt, disabled through the form (audited);
// the reconciler's held plan, approved only after a recent sign-in; audit search with
// paging and a CSV export, a delegate confined to their subtree; and a spreadsheet
// checked line by line, then applied with a page that follows its progress.
func TestConsoleOps(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		f, o := newOpsFixture(t, db)
		recv, hook, run, eve := o.receiver, o.hook, o.run, o.eve
		alice := f.operatorBrowser(t, "alice")
		pat := f.browser(t)
		pat.signIn("pat-sub").must(t, http.StatusOK, "Pat Example (acme)")

		t.Run("health", func(t *testing.T) {
			alice.get("/console/connections/acme").must(t, http.StatusOK, `href="/console/connections/acme/health"`)
			var page consolePage
			for deadline := time.Now().Add(30 * time.Second); ; {
				page = alice.get("/console/connections/acme/health").must(t, http.StatusOK, "Health of acme")
				counted := !strings.Contains(page.body, `id="health-requests">0 `) && strings.Contains(page.body, `id="request-log"`)
				if counted || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond) // the recorder stores its counts about once a second
			}
			if !strings.Contains(page.body, "POST /scim/v2/acme/Users") || !strings.Contains(page.body, ">409<") {
				t.Errorf("the request log lacks the pushes and the conflict:\n%s", page.body)
			}
			if strings.Contains(page.body, "hunter2") || !strings.Contains(page.body, connhealth.Redacted) {
				t.Errorf("the request log shows a password, or redacts nothing:\n%s", page.body)
			}
			if regexp.MustCompile(`id="health-requests">0 `).MatchString(page.body) {
				t.Errorf("no request counted:\n%s", page.body)
			}
			// pat's subtree and acme's org are on one path; globex's are not.
			pat.get("/console/connections/acme/health").must(t, http.StatusOK, "Health of acme")
			pat.get("/console/connections/globex/health").must(t, http.StatusNotFound)
		})

		t.Run("webhooks", func(t *testing.T) {
			list := alice.get("/console/webhooks").must(t, http.StatusOK, recv.URL+"/hook", "503", "next ")
			if !strings.Contains(list.body, `id="nav-webhooks"`) {
				t.Errorf("an operator's nav lacks webhooks")
			}
			page := alice.get("/console/webhooks/"+hook).must(t, http.StatusOK, `id="deliveries"`, "grant.create", "503", "pending")
			pat.get("/console/webhooks").must(t, http.StatusForbidden)
			pat.get("/console/webhooks/"+hook).must(t, http.StatusForbidden)
			if strings.Contains(pat.get("/console/").body, "nav-webhooks") {
				t.Errorf("a delegate is offered the webhooks")
			}
			// Without the form's token nothing changes.
			alice.do("POST", "/console/webhooks/"+hook+"/disable", url.Values{}).must(t, http.StatusForbidden)
			alice.do("POST", "/console/webhooks/"+hook+"/disable", url.Values{"csrf": {page.csrf(t)}}).
				must(t, http.StatusOK, `id="done"`, `id="subscription-state">disabled<`)
			if strings.Contains(alice.get("/console/webhooks/"+hook).body, `id="disable"`) {
				t.Errorf("a disabled subscription still offers to disable it")
			}
			events, err := db.Audit().Events(ctx, audit.Query{TargetID: hook, Action: "webhook.disable", Limit: 10})
			if err != nil || len(events) != 1 || !strings.HasPrefix(events[0].Actor, "console_session:") {
				t.Errorf("the disable's audit events: %v (%v)", events, err)
			}
		})

		t.Run("reconciler", func(t *testing.T) {
			alice.get("/console/reconciler").must(t, http.StatusOK, run.ID, `id="held-count"`)
			runURL := "/console/reconciler/runs/" + run.ID
			page := alice.get(runURL).must(t, http.StatusOK, "Connection acme", "revoke 3 grant(s) by rule grant-expired", `id="approve-all"`)
			pat.get("/console/reconciler").must(t, http.StatusForbidden)
			pat.do("POST", runURL+"/approve", url.Values{"csrf": {csrfOf(t, pat)}}).must(t, http.StatusForbidden)

			// alice signed in more than five minutes ago: sent to authenticate again, nothing applied.
			f.advance(6 * time.Minute)
			alice.do("POST", runURL+"/approve", url.Values{"csrf": {page.csrf(t)}}).
				must(t, http.StatusUnauthorized, `id="step-up"`, "orgscim console link --operator alice", `href="`+runURL+`" id="step-up-back"`)
			if r, _ := db.Reconcile().RunWithHolds(ctx, run.ID); r.Report.Held[0].State != "held" {
				t.Fatalf("a stale sign-in approved the plan: %+v", r.Report.Held[0])
			}
			fresh := f.operatorBrowser(t, "alice")
			page = fresh.get(runURL).must(t, http.StatusOK)
			done := fresh.do("POST", runURL+"/approve", url.Values{"csrf": {page.csrf(t)}, "connection": {run.Report.Held[0].ConnectionID}}).
				must(t, http.StatusOK, `id="done"`, "approved")
			if strings.Contains(done.body, `id="approve-all"`) {
				t.Errorf("an approved run still offers approval")
			}
			r, _ := db.Reconcile().RunWithHolds(ctx, run.ID)
			if h := r.Report.Held[0]; h.State != "approved" || !strings.HasPrefix(h.DecidedBy, "console_session:") {
				t.Errorf("the hold after approval: %+v", h)
			}
			approvals, err := db.Audit().Events(ctx, audit.Query{TargetID: run.ID, Action: "reconcile.approve", Limit: 10})
			if err != nil || len(approvals) != 1 || !strings.Contains(string(approvals[0].Diff), audit.AuthenticatedAt) {
				t.Errorf("the approval's audit events do not record the authentication: %v (%v)", approvals, err)
			}
			fresh.do("POST", runURL+"/approve", url.Values{"csrf": {page.csrf(t)}}).must(t, http.StatusConflict, "no held plan left")
		})

		t.Run("audit", func(t *testing.T) {
			page := alice.get("/console/audit?limit=5").must(t, http.StatusOK, `id="events"`, `id="next-page"`)
			second := alice.get(strings.ReplaceAll(regexp.MustCompile(`href="([^"]+)" id="next-page"`).FindStringSubmatch(page.body)[1], "&amp;", "&")).
				must(t, http.StatusOK, `id="first-page"`)
			if second.body == page.body {
				t.Errorf("the next page is the first")
			}
			byTarget := alice.get("/console/audit?target="+hook).must(t, http.StatusOK, "webhook.disable", "webhook.create")
			if strings.Count(byTarget.body, "<tr>") != 3 { // the header and two events
				t.Errorf("by target:\n%s", byTarget.body)
			}
			future := f.env.clock.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04")
			alice.get("/console/audit?since="+future).must(t, http.StatusOK, `id="events-empty"`)
			alice.get("/console/audit?since="+future+"&until=2001-01-01T00:00").must(t, http.StatusBadRequest, `id="until-problem"`, "until must be after since")
			alice.get("/console/audit?since=yesterday").must(t, http.StatusBadRequest, `id="since-problem"`)

			// A delegate sees the events of their subtree only, and names no org outside it.
			mine := pat.get("/console/audit?action=grant.").must(t, http.StatusOK, `id="audit-scope"`, "Events on Acme")
			if strings.Contains(mine.body, "Globex") || !strings.Contains(mine.body, "grant.create") {
				t.Errorf("pat's audit:\n%s", mine.body)
			}
			pat.get("/console/audit?org=globex").must(t, http.StatusBadRequest, `id="org-problem"`, "no org globex that you may see")
			pat.get("/console/audit.csv?org=globex").must(t, http.StatusBadRequest)

			res := alice.get("/console/audit.csv?action=grant.")
			if res.status != http.StatusOK {
				t.Fatalf("export: %d %s", res.status, res.body)
			}
			rows, err := csv.NewReader(strings.NewReader(res.body)).ReadAll()
			if err != nil || len(rows) < 5 || strings.Join(rows[0], ",") != strings.Join(auditCSVColumns, ",") {
				t.Fatalf("export: %v %v", rows, err)
			}
			want, _ := db.Audit().Events(ctx, audit.Query{Action: "grant.", Limit: 1000})
			if len(rows)-1 != len(want) {
				t.Errorf("export has %d events, the trail %d", len(rows)-1, len(want))
			}
			for i, e := range want {
				if rows[i+1][1] != e.ID || rows[i+1][11] != string(e.Diff) {
					t.Errorf("export row %d: %v, want event %s with diff %s", i+1, rows[i+1], e.ID, e.Diff)
					break
				}
			}
			formula, _ := csv.NewReader(strings.NewReader(alice.get("/console/audit.csv?target=" + field(eve.JSON, "id")).body)).ReadAll()
			if len(formula) != 2 || formula[1][9] != "'-2-3" {
				t.Errorf("a cell starting with - is not made safe: %q", formula)
			}
			patRows, _ := csv.NewReader(strings.NewReader(pat.get("/console/audit.csv").body)).ReadAll()
			acme, _ := db.Orgs().OrgBySlug(ctx, "acme")
			for _, r := range patRows[1:] {
				if !strings.HasPrefix(r[7], acme.Path) {
					t.Errorf("pat's export holds an event outside acme: %v", r)
				}
			}
		})

		t.Run("import", func(t *testing.T) {
			page := alice.get("/console/imports").must(t, http.StatusOK, `id="upload-form"`)
			token := page.csrf(t)
			alice.upload("/console/imports/check", map[string]string{"csrf": token}, "", nil).
				must(t, http.StatusBadRequest, `id="file-problem"`, "choose a CSV file")
			bad := alice.upload("/console/imports/check", map[string]string{"csrf": token}, "bad.csv",
				[]byte("org_path,user_name,role\nacme/emea,sam@acme.example,nosuchrole\nnowhere/x,,\n")).
				must(t, http.StatusBadRequest, `id="problem-lines"`, "nosuchrole")
			if strings.Contains(bad.body, `id="apply-form"`) {
				t.Errorf("a file with problems is offered to apply")
			}
			file := "org_path,org_name,user_name,email,connection,role,expires_at\n" +
				"acme/emea/paris,Acme Paris,dora@acme.example,dora@acme.example,acme,viewer,2031-06-30\n" +
				"acme/lyon,,sam@acme.example,,acme,editor,\n"
			plan := alice.upload("/console/imports/check", map[string]string{"csrf": token}, "partners.csv", []byte(file)).
				must(t, http.StatusOK, `id="lines"`, "paris <span class=\"pill\">create", "dora@acme.example", `id="apply"`)
			if _, err := db.Orgs().OrgBySlug(ctx, "paris"); err == nil {
				t.Fatal("the check created an org")
			}
			enc, sum := hiddenField("file").FindStringSubmatch(plan.body)[1], hiddenField("sha256").FindStringSubmatch(plan.body)[1]
			alice.do("POST", "/console/imports/apply", url.Values{"csrf": {token}, "file": {enc + "AAAA"}, "sha256": {sum}}).
				must(t, http.StatusBadRequest, "not the file that was checked")
			job := alice.do("POST", "/console/imports/apply", url.Values{"csrf": {token}, "file": {enc}, "sha256": {sum}, "name": {"partners.csv"}})
			for deadline := time.Now().Add(60 * time.Second); !strings.Contains(job.body, `id="import-done"`); {
				if job.status != http.StatusOK || time.Now().After(deadline) {
					t.Fatalf("the import's page: %d\n%s", job.status, job.body)
				}
				if !strings.Contains(job.body, `id="import-running"`) {
					t.Fatalf("neither running nor done:\n%s", job.body)
				}
				time.Sleep(50 * time.Millisecond)
				job = alice.get(strings.TrimPrefix(job.url, f.env.srv.URL))
			}
			job.must(t, http.StatusOK, `id="batch"`, "1 org(s), 1 person(s) and 2 grant(s) created")
			if _, err := db.Orgs().OrgBySlug(ctx, "paris"); err != nil {
				t.Errorf("paris after the import: %v", err)
			}
			// pat may grant what pat holds on acme's subtree, and creates no org there (no
			// delegate capability): the importer's own judgement, line by line.
			patToken := pat.get("/console/imports").must(t, http.StatusOK, `id="upload-form"`).csrf(t)
			refused := pat.upload("/console/imports/check", map[string]string{"csrf": patToken}, "pat.csv",
				[]byte("org_path,user_name,role\nacme/emea,sam@acme.example,viewer\nacme/emea/milan,,\n")).
				must(t, http.StatusBadRequest, `id="problem-lines"`)
			if strings.Contains(refused.body, `id="apply-form"`) || !strings.Contains(refused.body, "milan") {
				t.Errorf("pat's file with an org to create:\n%s", refused.body)
			}
			pat.upload("/console/imports/check", map[string]string{"csrf": patToken}, "pat.csv",
				[]byte("org_path,user_name,role\nacme/emea,sam@acme.example,viewer\n")).must(t, http.StatusOK, `id="apply-form"`)
			// Another session does not see the job.
			pat.get(strings.TrimPrefix(job.url, f.env.srv.URL)).must(t, http.StatusNotFound)
			events, _ := db.Audit().Events(ctx, audit.Query{Action: "import.", Limit: 10})
			if len(events) == 0 || !strings.HasPrefix(events[0].Actor, "console_session:") {
				t.Errorf("the import's audit events: %v", events)
			}
		})
	})
}

// csrfOf is the CSRF token on the browser's home page.
func csrfOf(t *testing.T, b *browser) string {
	t.Helper()
	return b.get("/console/").csrf(t)
}

// auditCSVColumns is the header the console's audit export writes.
var auditCSVColumns = []string{"time", "id", "actor", "action", "target_type", "target_id", "org_id", "org_path",
	"connection_id", "request_id", "client_addr", "diff", "hash"}
