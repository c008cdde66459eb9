package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// BenchmarkAdminAuthorization measures what the authority rule adds to an admin
// request, on PostgreSQL, through the real HTTP server: the same read (GET
// /api/v1/orgs/{slug}) by an operator key, whose authority needs no chain, and by the
// key of a delegate at the end of a chain of three delegations (operator → partner →
// subsidiary → business unit), whose every request evaluates the whole chain — each
// delegation, its holder and every org on its path. It reports p50 and p99 of each and
// the p99 difference.
//
//	ORGSCIM_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench BenchmarkAdminAuthorization -benchtime 4000x ./cmd/orgscim/
func BenchmarkAdminAuthorization(b *testing.B) {
	if dbtest.PostgresURL() == "" {
		b.Skip("ORGSCIM_TEST_DATABASE_URL not set: this benchmark runs on PostgreSQL")
	}
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, dbtest.URL(b, "postgres"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	srv := httptest.NewServer(newHandler(db, slog.New(slog.NewJSONHandler(io.Discard, nil)), httpConfig{NoHealth: true}))
	defer srv.Close()
	svc := newServices(db, nil)
	op := orgs.Principal{Operator: "ops"}
	_, opKey, err := svc.keys.IssueOperatorKey(ctx, "ops", nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range [][2]string{{"vendor", ""}, {"acme", "vendor"}, {"emea", "acme"}, {"paris", "emea"}} {
		if _, err := svc.dir.CreateOrg(ctx, o[0], o[0], o[1]); err != nil {
			b.Fatal(err)
		}
	}
	conn, _, err := svc.dir.CreateConnection(ctx, "acme", "acme", "entra")
	if err != nil {
		b.Fatal(err)
	}
	// Three holders, a chain of three delegations.
	by, key := op, ""
	for i, org := range []string{"acme", "emea", "paris"} {
		u, err := svc.users.Create(ctx, conn.ID, map[string]any{"userName": fmt.Sprintf("admin%d@acme.example", i), "active": true}, "")
		if err != nil {
			b.Fatal(err)
		}
		o, err := svc.dir.Store.OrgBySlug(ctx, org)
		if err != nil {
			b.Fatal(err)
		}
		d, err := svc.delegations.Delegate(ctx, by, orgs.DelegationRequest{OrgID: o.ID, HolderConnectionID: conn.ID, HolderUserID: u.ID,
			Capabilities: []orgs.Capability{orgs.CapManageMembers, orgs.CapDelegate}, Depth: 2 - i})
		if err != nil {
			b.Fatal(err)
		}
		_, secret, err := svc.keys.IssueDelegateKey(ctx, op, d.ID, nil)
		if err != nil {
			b.Fatal(err)
		}
		by, key = orgs.Principal{Delegation: d}, secret
	}
	get := func(secret string) time.Duration {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/orgs/paris", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"paris"`) {
			b.Fatalf("GET /orgs/paris: %d %s", resp.StatusCode, body)
		}
		return d
	}
	for i := 0; i < 200; i++ { // warm the pool and the plans
		get(opKey)
		get(key)
	}
	b.Run("requests", func(b *testing.B) {
		var opLat, delLat []time.Duration
		for i := 0; i < b.N; i++ {
			// Interleaved, so that both see the same load on a busy machine.
			opLat = append(opLat, get(opKey))
			delLat = append(delLat, get(key))
		}
		b.StopTimer()
		q := func(l []time.Duration, p float64) float64 {
			sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
			return float64(l[int(p*float64(len(l)-1))].Microseconds()) / 1000
		}
		b.ReportMetric(q(opLat, 0.5), "operator-p50-ms")
		b.ReportMetric(q(opLat, 0.99), "operator-p99-ms")
		b.ReportMetric(q(delLat, 0.5), "delegate-p50-ms")
		b.ReportMetric(q(delLat, 0.99), "delegate-p99-ms")
		b.ReportMetric(q(delLat, 0.99)-q(opLat, 0.99), "added-p99-ms")
	})
}
