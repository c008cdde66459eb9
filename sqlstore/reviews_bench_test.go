package sqlstore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reviews"
	"github.com/orgscim/orgscim/ssf"
)

// BenchmarkAccessReview100k measures an access review of a subtree holding 100,000
// live grants on each engine: starting it (the snapshot is one INSERT … SELECT), reading
// its counts, listing its first page of pending items, counting the pending items and
// where a page halfway through starts among them (the console's "which of how many"),
// and closing it at the deadline (every grant unconfirmed: 200 batches of 500, each a
// transaction with its audit event). With ORGSCIM_REVIEW_BENCH_SSF=1 a Shared Signals
// poll stream takes grant-revoked, so the close also queues a SET per grant.
//
//	ORGSCIM_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench BenchmarkAccessReview100k -benchtime 1x ./sqlstore/
func BenchmarkAccessReview100k(b *testing.B) {
	for _, engine := range dbtest.Engines(b) {
		b.Run(engine, func(b *testing.B) {
			ctx := context.Background()
			db := dbtest.Open(b, engine)
			now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			dir := &orgs.Directory{Store: db.Orgs(), Tx: db, Audit: db.Audit(), Now: clock}
			if _, err := dir.CreateOrg(ctx, "Vendor", "vendor", ""); err != nil {
				b.Fatal(err)
			}
			const n = 100_000
			seeded := seedGrants(b, db, engine, "vendor", n, clock)
			partner, access := seeded.partner, seeded.access
			withSSF := os.Getenv("ORGSCIM_REVIEW_BENCH_SSF") == "1"
			if withSSF {
				streams := &ssf.Streams{Store: db.SSF(), Tx: db, Audit: db.Audit(), Now: clock}
				rcv, _, err := streams.AddReceiver(ctx, "siem", "https://siem.example", "")
				if err != nil {
					b.Fatal(err)
				}
				method, types := ssf.PollMethod, []string{ssf.GrantRevoked}
				if _, err := streams.CreateStream(ctx, rcv, ssf.StreamRequest{Method: &method, EventsRequested: &types}); err != nil {
					b.Fatal(err)
				}
			}
			rv := &reviews.Service{Store: db.Reviews(), Access: access, Tx: db, Audit: db.Audit(), Now: clock}
			op := orgs.Principal{Operator: "bench"}
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				r, err := rv.StartReview(ctx, op, partner.ID, "bench", "", now.Add(time.Hour))
				if err != nil || r.Counts.Items != n {
					b.Fatalf("start: %+v %v", r, err)
				}
				t1 := time.Now()
				got, err := rv.ReviewFor(ctx, op, r.ID)
				if err != nil || got.Counts.Pending != n {
					b.Fatalf("counts: %+v %v", got, err)
				}
				t2 := time.Now()
				page, err := rv.Items(ctx, op, r.ID, reviews.ItemPending, "", 100)
				if err != nil || len(page) != 100 {
					b.Fatalf("items: %d %v", len(page), err)
				}
				t3 := time.Now()
				// 'g5' sorts after 'g0'…'g4…': the page that starts after it is about halfway.
				total, before, err := rv.CountItems(ctx, op, r.ID, reviews.ItemPending, "g5")
				if err != nil || total != n || before == 0 || before == n {
					b.Fatalf("count: %d %d %v", total, before, err)
				}
				t3b := time.Now()
				res, err := rv.CloseDue(ctx, reviews.CloseOptions{AsOf: now.Add(2 * time.Hour), Batch: 500})
				if err != nil || res.Revoked != n || len(res.Closed) != 1 {
					b.Fatalf("close: %+v %v", res, err)
				}
				t4 := time.Now()
				b.ReportMetric(float64(t1.Sub(t0).Milliseconds()), "start-ms")
				b.ReportMetric(float64(t2.Sub(t1).Milliseconds()), "counts-ms")
				b.ReportMetric(float64(t3.Sub(t2).Microseconds())/1000, "page-ms")
				b.ReportMetric(float64(t3b.Sub(t3).Microseconds())/1000, "pagecount-ms")
				b.ReportMetric(float64(t4.Sub(t3b).Milliseconds()), "close-ms")
				if withSSF {
					queued, err := db.Count("SELECT count(*) FROM ssf_outbox WHERE event_type = ?", ssf.GrantRevoked)
					if err != nil {
						b.Fatal(err)
					}
					if queued != int64(n) {
						b.Fatalf("%d grant-revoked SETs queued, want %d", queued, n)
					}
				}
				b.StopTimer()
				// The next iteration reviews live grants again.
				if err := db.Exec("UPDATE grants SET revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL"); err != nil {
					b.Fatal(err)
				}
				if err := db.Exec("DELETE FROM ssf_outbox"); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
