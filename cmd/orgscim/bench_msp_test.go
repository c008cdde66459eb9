package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/msp"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// BenchmarkTechnicianAuthorization measures what an MSP engagement adds to an admin
// request, on PostgreSQL, through the real HTTP server: the same read (GET
// /api/v1/orgs/cust) by the customer's own administrator (a chain of one delegation) and
// by an MSP technician (their delegation under the MSP administrator's: a chain of two,
// plus the engagement, both orgs' paths and the technician's home), interleaved. It
// reports p50 and p99 of each and the p99 difference.
//
//	ORGSCIM_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench BenchmarkTechnicianAuthorization -benchtime 4000x ./cmd/orgscim/
func BenchmarkTechnicianAuthorization(b *testing.B) {
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
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	_, err = svc.dir.CreateOrg(ctx, "vendor", "vendor", "")
	must(err)
	dels, keys := map[string]*orgs.Delegation{}, map[string]string{}
	users := map[string]string{}
	for _, o := range []string{"msp", "cust"} {
		org, err := svc.dir.CreateOrg(ctx, o, o, "vendor")
		must(err)
		conn, _, err := svc.dir.CreateConnection(ctx, o, o, "okta")
		must(err)
		for _, n := range []string{"admin", "tech"} {
			u, err := svc.users.Create(ctx, conn.ID, map[string]any{"userName": n + "@" + o + ".example", "active": true}, "")
			must(err)
			users[o+"/"+n] = u.ID
		}
		d, err := svc.delegations.Delegate(ctx, op, orgs.DelegationRequest{OrgID: org.ID, HolderConnectionID: conn.ID,
			HolderUserID: users[o+"/admin"], Capabilities: []orgs.Capability{orgs.CapManageMembers, orgs.CapDelegate}, Depth: 1})
		must(err)
		_, keys[o], err = svc.keys.IssueDelegateKey(ctx, op, d.ID, nil)
		must(err)
		dels[o] = d
	}
	e, err := svc.msps.Propose(ctx, op, msp.EngagementRequest{MSP: "msp", Customer: "cust", Capabilities: []orgs.Capability{orgs.CapManageMembers}})
	must(err)
	_, err = svc.msps.ConsentCustomer(ctx, orgs.Principal{Delegation: dels["cust"]}, e.ID)
	must(err)
	_, err = svc.msps.ConsentVendor(ctx, op, e.ID)
	must(err)
	mspConn, err := svc.dir.Connection(ctx, "msp")
	must(err)
	tech, err := svc.msps.NameTechnician(ctx, orgs.Principal{Delegation: dels["msp"]}, e.ID, msp.TechnicianRequest{
		HolderConnectionID: mspConn.ID, HolderUserID: users["msp/tech"], Capabilities: []orgs.Capability{orgs.CapManageMembers}})
	must(err)
	_, techKey, err := svc.keys.IssueDelegateKey(ctx, orgs.Principal{Delegation: dels["msp"]}, tech.ID, nil)
	must(err)
	get := func(secret string) time.Duration {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/orgs/cust", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"cust"`) {
			b.Fatalf("GET /orgs/cust: %d %s", resp.StatusCode, body)
		}
		return d
	}
	for i := 0; i < 200; i++ { // warm the pool and the plans
		get(keys["cust"])
		get(techKey)
	}
	b.Run("requests", func(b *testing.B) {
		var adminLat, techLat []time.Duration
		for i := 0; i < b.N; i++ {
			adminLat = append(adminLat, get(keys["cust"]))
			techLat = append(techLat, get(techKey))
		}
		b.StopTimer()
		q := func(l []time.Duration, p float64) float64 {
			sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
			return float64(l[int(p*float64(len(l)-1))].Microseconds()) / 1000
		}
		b.ReportMetric(q(adminLat, 0.5), "admin-p50-ms")
		b.ReportMetric(q(adminLat, 0.99), "admin-p99-ms")
		b.ReportMetric(q(techLat, 0.5), "technician-p50-ms")
		b.ReportMetric(q(techLat, 0.99), "technician-p99-ms")
		b.ReportMetric(q(techLat, 0.99)-q(adminLat, 0.99), "added-p99-ms")
	})
}
