package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// processCPU is the CPU time this process (the benchmark's client and the server) has
// used: the Go side of a request; PostgreSQL's backends are not counted.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAuthZEN measures the AuthZEN PDP through the real HTTP server on PostgreSQL
// with 1,000 orgs, 100,000 users and 1,000,000 grants (the load of sqlstore's
// BenchmarkAccessCheck): "single" is one POST /access/v1/evaluation per question (p50,
// p99), "batch" POSTs /access/v1/evaluations of 100 questions with execute_all
// (decisions per second, one client). Both report the Go process's CPU (client and
// server together) per evaluation.
//
//	ORGSCIM_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench BenchmarkAuthZEN -benchtime 5000x ./cmd/orgscim/
func BenchmarkAuthZEN(b *testing.B) {
	if dbtest.PostgresURL() == "" {
		b.Skip("ORGSCIM_TEST_DATABASE_URL not set: this benchmark runs on PostgreSQL")
	}
	ctx := context.Background()
	url := dbtest.URL(b, "postgres")
	db, err := sqlstore.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc := newServices(db, nil)
	_, key, err := svc.keys.IssueOperatorKey(ctx, "ops", nil)
	if err != nil {
		b.Fatal(err)
	}
	root, err := svc.dir.CreateOrg(ctx, "Vendor", "vendor", "")
	if err != nil {
		b.Fatal(err)
	}
	// Bound to the root, so that every bulk-loaded org lies in its subtree.
	conn, _, err := svc.dir.CreateConnection(ctx, "vendor", "partner", "entra")
	if err != nil {
		b.Fatal(err)
	}
	var roleIDs []string
	for i, k := range []string{"viewer", "editor", "approver", "auditor", "admin"} {
		r, err := svc.access.CreateRole(ctx, orgs.Role{Key: k, Permissions: []string{k + ".read", k + ".write"}, Inherits: i%2 == 0})
		if err != nil {
			b.Fatal(err)
		}
		roleIDs = append(roleIDs, r.ID)
	}
	raw, err := sql.Open("pgx", url)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	start := time.Now()
	for _, q := range []string{
		`INSERT INTO orgs (id, slug, name, parent_id, path, kind, status, created_at, updated_at)
		 SELECT 'p' || i, 'p' || i, 'P' || i, $1, $2 || 'p' || i || '/', 'partner', 'active', 0, 0 FROM generate_series(0, 9) i`,
		`INSERT INTO orgs (id, slug, name, parent_id, path, kind, status, created_at, updated_at)
		 SELECT 's' || i, 's' || i, 'S' || i, 'p' || (i / 10), $2 || 'p' || (i / 10) || '/s' || i || '/', 'subsidiary', 'active', 0, 0
		 FROM generate_series(0, 99) i WHERE $1::text IS NOT NULL`,
		`INSERT INTO orgs (id, slug, name, parent_id, path, kind, status, created_at, updated_at)
		 SELECT 'b' || i, 'b' || i, 'B' || i, 's' || (i / 10), $2 || 'p' || (i / 100) || '/s' || (i / 10) || '/b' || i || '/', 'business_unit', 'active', 0, 0
		 FROM generate_series(0, 889) i WHERE $1::text IS NOT NULL`,
	} {
		if _, err := raw.ExecContext(ctx, q, root.ID, root.Path); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO scim_users (connection_id, id, user_name, user_name_key, active, doc, version, created_at, updated_at)
		SELECT $1, 'u' || i, 'user' || i || '@example.com', 'user' || i || '@example.com', true,
		       ('{"userName":"user' || i || '@example.com"}')::jsonb, 1, 0, 0 FROM generate_series(0, 99999) i`, conn.ID); err != nil {
		b.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO grants (id, connection_id, user_id, role_id, org_id, source, source_id, granted_by, reason, valid_from, created_at)
		SELECT 'g' || i, $1, 'u' || (i / 10), ($2::text[])[1 + i % 5], 'b' || ((i::bigint * 7919) % 890), 'direct', '', 'bench', 'bench', 0, 0
		FROM generate_series(0, 999999) i`, conn.ID, roleIDs); err != nil {
		b.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded 1,000 orgs, 100,000 users, 1,000,000 grants in %s", time.Since(start).Round(time.Second))

	srv := httptest.NewServer(newHandler(db, slog.New(slog.NewJSONHandler(io.Discard, nil)), httpConfig{NoHealth: true}))
	defer srv.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	// Half the questions are about an org the user holds a grant on.
	question := func() map[string]any {
		u := rng.IntN(100_000)
		j := u*10 + rng.IntN(10)
		org := fmt.Sprintf("b%d", (j*7919)%890)
		if rng.IntN(2) == 0 {
			org = fmt.Sprintf("b%d", rng.IntN(890))
		}
		return map[string]any{
			"subject":  map[string]any{"type": "user", "id": fmt.Sprintf("u%d", u), "properties": map[string]any{"connection": "partner"}},
			"action":   map[string]any{"name": []string{"viewer", "editor", "approver", "auditor", "admin"}[j%5] + ".read"},
			"resource": map[string]any{"type": "org", "id": org},
		}
	}
	post := func(path string, body any) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d %s", path, res.StatusCode, out)
		}
	}

	// A server's pool connections live for hours, and PostgreSQL plans a prepared
	// statement afresh for its first five executions on a connection before it keeps the
	// generic plan: the questions timed are those of a warm server, after a few dozen
	// that bring the connections the HTTP client and the pool use past that.
	for range 50 {
		post("/access/v1/evaluation", question())
	}
	b.Run("single", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		cpu0 := processCPU()
		for i := 0; i < b.N; i++ {
			q := question()
			t0 := time.Now()
			post("/access/v1/evaluation", q)
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		at := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
		b.ReportMetric(at(0.50), "p50-ms")
		b.ReportMetric(at(0.90), "p90-ms")
		b.ReportMetric(at(0.99), "p99-ms")
		b.ReportMetric(at(0.999), "p99.9-ms")
	})
	b.Run("batch100", func(b *testing.B) {
		const n = 100
		var spent time.Duration
		cpu0 := processCPU()
		for i := 0; i < b.N; i++ {
			items := make([]any, n)
			for k := range items {
				items[k] = question()
			}
			body := map[string]any{"evaluations": items, "options": map[string]any{"evaluations_semantic": "execute_all"}}
			t0 := time.Now()
			post("/access/v1/evaluations", body)
			spent += time.Since(t0)
		}
		b.StopTimer()
		b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N*n), "cpu-µs/decision")
		b.ReportMetric(float64(b.N*n)/spent.Seconds(), "decisions/s")
	})
}
