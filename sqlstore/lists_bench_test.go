package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
)

// BenchmarkOrgGrantPage100k measures what the console's org page spends on its grants at
// 100,000 live grants on one org, on each engine: a page of 200 (Lists.Grants) and the
// count saying which of how many it shows (Lists.CountGrants), for the first page and
// for a page halfway through.
//
//	ORGSCIM_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench BenchmarkOrgGrantPage100k -benchtime 20x ./sqlstore/
func BenchmarkOrgGrantPage100k(b *testing.B) {
	for _, engine := range dbtest.Engines(b) {
		b.Run(engine, func(b *testing.B) {
			ctx := context.Background()
			db := dbtest.Open(b, engine)
			now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			dir := &orgs.Directory{Store: db.Orgs(), Tx: db, Audit: db.Audit(), Now: clock}
			partner, err := dir.CreateOrg(ctx, "Partner", "partner", "")
			if err != nil {
				b.Fatal(err)
			}
			conn, _, err := dir.CreateConnection(ctx, "partner", "partner", "entra")
			if err != nil {
				b.Fatal(err)
			}
			access := &orgs.Access{Store: db.Access(), Tx: db, Audit: db.Audit(), Now: clock}
			role, err := access.CreateRole(ctx, orgs.Role{Key: "viewer", Permissions: []string{"reports.read"}})
			if err != nil {
				b.Fatal(err)
			}
			const n = 100_000
			if err := db.Exec(`INSERT INTO grants (id, connection_id, user_id, role_id, org_id, source, source_id, granted_by, reason, valid_from, created_at)
				WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
				SELECT 'g' || i, ?, 'u' || i, ?, ?, 'direct', '', 'bench', '', 0, 0 FROM seq`,
				n-1, conn.ID, role.ID, partner.ID); err != nil {
				b.Fatal(err)
			}
			if engine == "postgres" {
				if err := db.Analyze(ctx); err != nil {
					b.Fatal(err)
				}
			}
			lists := db.Lists()
			for _, at := range []struct{ name, after string }{{"first", ""}, {"halfway", "g5"}} {
				b.Run(at.name, func(b *testing.B) {
					var page, count time.Duration
					for range b.N {
						t0 := time.Now()
						gs, err := lists.Grants(ctx, partner.ID, true, at.after, 200)
						if err != nil || len(gs) != 200 {
							b.Fatalf("page: %d %v", len(gs), err)
						}
						t1 := time.Now()
						total, before, err := lists.CountGrants(ctx, partner.ID, true, at.after)
						if err != nil || total != n || (at.after == "") != (before == 0) {
							b.Fatalf("count: %d %d %v", total, before, err)
						}
						page, count = page+t1.Sub(t0), count+time.Since(t1)
					}
					b.ReportMetric(float64(page.Microseconds())/1000/float64(b.N), "page-ms")
					b.ReportMetric(float64(count.Microseconds())/1000/float64(b.N), "count-ms")
				})
			}
		})
	}
}
