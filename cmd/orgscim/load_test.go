package main

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/scim"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestLoadTool runs every phase of `orgscim load` against the real server and checks
// that each phase did what it says, without errors.
func TestLoadTool(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env := newE2E(t, db)
		c := env.connect("acme", "entra")
		srv := httptest.NewServer(newHandler(db, slog.New(slog.NewTextHandler(io.Discard, nil)), httpConfig{Limits: scim.Limits{RateLimit: -1}}))
		defer srv.Close()
		const users = 250
		res, err := runLoad(ctx, srv.URL+"/scim/v2/acme", c.token, loadOptions{Users: users, Concurrency: 8, Lookups: 100, Batch: 25, Phases: allPhases})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"create": users, "get": 100, "filter": 100, "page": 3, "groupadd": 10, "deactivate": users, "delete": users}
		for phase, n := range want {
			r, ok := res[phase]
			if !ok || r.Requests != n || r.Errors != 0 || r.PerSecond <= 0 || r.P99ms < r.P50ms {
				t.Errorf("%s: %+v, want %d requests without errors", phase, r, n)
			}
		}
		// The group adds are told apart by the size the group had: one p50 per tenth.
		if by := res["groupadd"].BySize; len(by) != 10 || slices.Min(by) <= 0 {
			t.Errorf("group adds by size: %v, want ten p50s", by)
		}
		// Everything the run created is gone again.
		if left := c.list("count", "0").JSON["totalResults"]; num(t, left) != 0 {
			t.Errorf("%v users left after the delete phase", left)
		}
	})
}

// TestSCIMOnOneConnection runs every phase of the load tool against a server whose pool
// holds one PostgreSQL connection. A request that sends a statement outside its open
// transaction (a lookup on the pool, say) then waits for itself forever, where with a
// larger pool it only waits when every connection is taken — as it did under load once,
// when the first writers after a start each held a transaction and one of them asked the
// pool for the audit lock's name.
func TestSCIMOnOneConnection(t *testing.T) {
	db := dbtest.Open(t, "postgres")
	env := newE2E(t, db)
	c := env.connect("acme", "entra")
	if err := db.SetMaxConns(1); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newHandler(db, slog.New(slog.NewTextHandler(io.Discard, nil)), httpConfig{Limits: scim.Limits{RateLimit: -1}}))
	defer srv.Close()
	// The bound on a hang: a deadlocked request never answers.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := runLoad(ctx, srv.URL+"/scim/v2/acme", c.token, loadOptions{Users: 60, Concurrency: 8, Lookups: 50, Batch: 25, Phases: allPhases})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range allPhases {
		if r := res[p]; r.Requests == 0 || r.Errors > 0 {
			t.Errorf("%s: %+v", p, r)
		}
	}
}

// TestLoadToolReportsCost checks that every phase reports what its requests cost — the
// server's CPU and statements on both engines, PostgreSQL's backends' CPU on PostgreSQL —
// as sane figures. Their size depends on the machine and is not tested.
func TestLoadToolReportsCost(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			u := dbtest.URL(t, engine)
			if engine == "postgres" {
				// The server's backends are told from other clients of the database by
				// their application_name.
				u += "&application_name=" + "orgscim_cost_" + strings.ReplaceAll(engine+t.Name(), "/", "_")
			}
			db, err := sqlstore.Open(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			env := newE2E(t, db)
			c := env.connect("acme", "entra")
			srv := httptest.NewServer(newHandler(db, slog.New(slog.NewTextHandler(io.Discard, nil)), httpConfig{Limits: scim.Limits{RateLimit: -1}}))
			defer srv.Close()
			o := loadOptions{Users: 200, Concurrency: 8, Lookups: 200, Batch: 100, Phases: []string{"create", "get", "filter", "deactivate", "delete"},
				Settle: time.Second}
			if engine == "postgres" {
				o.Postgres = u
			}
			res, err := runLoad(context.Background(), srv.URL+"/scim/v2/acme", c.token, o)
			if err != nil {
				t.Fatal(err)
			}
			sane := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) }
			for _, p := range o.Phases {
				r := res[p]
				if !sane(r.ServerCPUms) || !sane(r.Statements) || r.Statements < 1 {
					t.Errorf("%s: server CPU %v ms, %v statements per request", p, r.ServerCPUms, r.Statements)
				}
				if pg := r.PostgresCPUms; engine == "postgres" && !sane(pg) || engine == "sqlite" && pg != 0 {
					t.Errorf("%s on %s: PostgreSQL CPU %v ms per request", p, engine, pg)
				}
			}
			var table strings.Builder
			printCostTable(&table, res)
			if !strings.Contains(table.String(), "server ms") || strings.Count(table.String(), "\n") != len(o.Phases)+2 {
				t.Errorf("table:\n%s", table.String())
			}
		})
	}
}

func TestParseServerCounters(t *testing.T) {
	for _, tc := range []struct {
		in          string
		cpu, sts    float64
		ok, counted bool
	}{
		{"# HELP x\nprocess_cpu_seconds_total 1.5\norgscim_db_statements_total{engine=\"postgres\"} 42\n", 1.5, 42, true, true},
		{"process_cpu_seconds_total 1.5\n", 1.5, 0, true, false}, // a server before the counter
		{"orgscim_db_statements_total_other 3\norgscim_db_statements_total 7\nprocess_cpu_seconds_total 2e+00\n", 2, 7, true, true},
		{"", 0, 0, false, false},
	} {
		c := parseServerCounters(strings.NewReader(tc.in))
		if c.cpuSeconds != tc.cpu || c.statements != tc.sts || c.ok != tc.ok || c.counted != tc.counted {
			t.Errorf("%q: %+v", tc.in, c)
		}
	}
}
