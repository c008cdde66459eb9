package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// The CLI runs a pass, refuses a second leader, and shows the recorded pass.
func TestReconcileCommand(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			url := dbtest.URL(t, engine)
			mustCLI(t, "org", "create", "--name", "Acme", "--slug", "acme", "--database", url)

			if out := mustCLI(t, "reconcile", "--dry-run", "--database", url); !strings.Contains(out, "(dry run: nothing changed)") {
				t.Errorf("dry run printed %q", out)
			}
			var pass struct {
				ID, State string
				Report    struct {
					AuditEvents int64 `json:"audit_events"`
					AuditBreaks []any `json:"audit_breaks"`
				}
			}
			out := mustCLI(t, "reconcile", "--json", "--database", url)
			if err := json.Unmarshal([]byte(out), &pass); err != nil || pass.State != "done" || pass.Report.AuditEvents == 0 {
				t.Fatalf("reconcile --json: %v\n%s", err, out)
			}
			store, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			srv := httptest.NewServer(newHandler(store, slog.New(slog.DiscardHandler), httpConfig{}))
			defer srv.Close()
			res, err := http.Get(srv.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			metrics, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if !strings.Contains(string(metrics), `orgscim_reconciler_runs{state="done"} 1`) ||
				!strings.Contains(string(metrics), `orgscim_reconciler_last_finished_timestamp_seconds{state="done"}`) {
				t.Errorf("/metrics after one pass:\n%s", grepLines(string(metrics), "reconciler"))
			}
			if out := mustCLI(t, "reconcile", "show", pass.ID, "--database", url); !strings.Contains(out, "reconciler run "+pass.ID+": done") {
				t.Errorf("reconcile show printed %q", out)
			}
			var stdout, stderr bytes.Buffer
			if err := run(ctx, []string{"reconcile", "show", "--database", url}, &stdout, &stderr); !errors.Is(err, errUsage) {
				t.Errorf("show without RUN: %v", err)
			}
			if err := run(ctx, []string{"reconcile", "show", "no-such-run", "--database", url}, &stdout, &stderr); err == nil ||
				!strings.Contains(err.Error(), "no reconciler run") {
				t.Errorf("show of an unknown run: %v", err)
			}
		})
	}
}

func TestNextDaily(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct{ now, at, want string }{
		{"2031-03-01T01:00:00Z", "02:00", "2031-03-01T02:00:00Z"},
		{"2031-03-01T02:00:00Z", "02:00", "2031-03-02T02:00:00Z"}, // this moment's pass has begun
		{"2031-03-01T23:59:00Z", "00:00", "2031-03-02T00:00:00Z"},
		{"2031-03-01T05:00:00+04:00", "02:00", "2031-03-01T02:00:00Z"}, // 01:00 UTC: the schedule is UTC
	} {
		off, on, err := parseTimeOfDay(tt.at)
		if err != nil || !on {
			t.Fatal(tt.at, err)
		}
		if got := nextDaily(at(tt.now), off); !got.Equal(at(tt.want)) {
			t.Errorf("next %s after %s: %s, want %s", tt.at, tt.now, got, tt.want)
		}
	}
	if _, on, err := parseTimeOfDay("off"); on || err != nil {
		t.Errorf("off: %v %v", on, err)
	}
	for _, bad := range []string{"2am", "25:00", "", "02:00:00"} {
		if _, _, err := parseTimeOfDay(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The guardrail through the CLI: a policy set from the terminal holds a pass, show
// names the plan, approve applies it once.
func TestReconcileApproveCommand(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			url := dbtest.URL(t, engine)
			mustCLI(t, "org", "create", "--name", "Acme", "--slug", "acme", "--database", url)
			mustCLI(t, "connection", "create", "--org", "acme", "--slug", "acme", "--database", url)
			if out, err := cli(t, "connection", "policy", "--connection", "acme", "--stale-after", "2h", "--database", url); !errors.Is(err, errUsage) && err == nil {
				t.Errorf("a 2h stale window was accepted: %s", out)
			}
			out := mustCLI(t, "connection", "policy", "--connection", "acme", "--stale-after", "90d", "--guard-max-changes", "1", "--database", url)
			if !strings.Contains(out, "stale after 2160h0m0s; guardrail: 1 changes") {
				t.Errorf("policy printed %q", out)
			}
			store, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			past := time.Now().Add(-48 * time.Hour)
			svc := newServices(store, func() time.Time { return past })
			conn, err := svc.dir.Connection(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.access.CreateRole(ctx, orgs.Role{Key: "viewer", Permissions: []string{"a.read"}}); err != nil {
				t.Fatal(err)
			}
			exp := past.Add(time.Hour)
			for _, name := range []string{"ann", "ben"} {
				u, err := svc.users.Create(ctx, conn.ID, map[string]any{"userName": name, "active": true}, "")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.access.AssignRole(ctx, orgs.Principal{Operator: "ops"}, conn, u.ID, "viewer", conn.OrgID, "t", &exp); err != nil {
					t.Fatal(err)
				}
			}
			store.Close()

			var pass struct {
				ID     string
				Report struct{ Held []struct{ State string } }
			}
			// A held plan is news for whoever runs the pass: exit 3, the connection by
			// its slug and what each rule holds back. A dry run says the same.
			for _, dry := range []bool{true, false} {
				args := []string{"reconcile", "--database", url}
				if dry {
					args = append(args, "--dry-run")
				}
				out, err := cli(t, args...)
				var coded *codedError
				if !errors.As(err, &coded) || coded.code != exitHeld {
					t.Fatalf("dry run %v: %v, want exit %d\n%s", dry, err, exitHeld, out)
				}
				for _, want := range []string{"HELD connection acme: 2 grants to revoke (grant-expired 2), 0 members",
					"grant-expired             0  revoke; 2 more held for approval"} {
					if !strings.Contains(out, want) {
						t.Errorf("dry run %v printed no %q:\n%s", dry, want, out)
					}
				}
				if !dry {
					_, id, _ := strings.Cut(out, "reconciler run ")
					pass.ID, _, _ = strings.Cut(id, ":")
				}
			}
			var shown struct {
				Report struct{ Held []struct{ State string } }
				Held   []struct {
					Connection string
					Revoke     map[string]int
				}
			}
			if err := json.Unmarshal([]byte(mustCLI(t, "reconcile", "show", pass.ID, "--json", "--database", url)), &shown); err != nil ||
				len(shown.Report.Held) != 1 || len(shown.Held) != 1 || shown.Held[0].Connection != "acme" ||
				shown.Held[0].Revoke["grant-expired"] != 2 {
				t.Fatalf("show --json: %+v %v", shown, err)
			}
			if out := mustCLI(t, "reconcile", "show", pass.ID, "--database", url); !strings.Contains(out, "HELD connection acme") ||
				!strings.Contains(out, "orgscim reconcile approve "+pass.ID) {
				t.Errorf("show printed %q", out)
			}
			heldMetric := func() string {
				t.Helper()
				store, err := sqlstore.Open(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				defer store.Close()
				srv := httptest.NewServer(newHandler(store, slog.New(slog.DiscardHandler), httpConfig{}))
				defer srv.Close()
				res, err := http.Get(srv.URL + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				body, _ := io.ReadAll(res.Body)
				for _, l := range strings.Split(string(body), "\n") {
					if strings.HasPrefix(l, "orgscim_reconciler_held_plans ") {
						return l
					}
				}
				return ""
			}
			if m := heldMetric(); m != "orgscim_reconciler_held_plans 1" {
				t.Errorf("held plans metric while held: %q", m)
			}
			out = mustCLI(t, "reconcile", "approve", pass.ID, "--connection", "acme", "--database", url)
			if !strings.Contains(out, "applied the held plans of run "+pass.ID) || !strings.Contains(out, "grant-expired             2") {
				t.Errorf("approve printed %q", out)
			}
			if out, err := cli(t, "reconcile", "approve", pass.ID, "--database", url); err == nil {
				t.Errorf("a second approval succeeded: %s", out)
			}
			if out := mustCLI(t, "reconcile", "show", pass.ID, "--database", url); !strings.Contains(out, ": approved") {
				t.Errorf("show after approval printed %q", out)
			}
			if m := heldMetric(); m != "orgscim_reconciler_held_plans 0" {
				t.Errorf("held plans metric after approval: %q", m)
			}
		})
	}
}
