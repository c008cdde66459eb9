package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
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
			const n = 100_000
			partner := seedGrants(b, db, engine, "", n, clock).partner
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
