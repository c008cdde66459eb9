package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
)

// A bucket of burst 5 refilling once in 100 s: takes get what is there, up to what they
// ask, then nothing and a wait of about 100 s; another connection has a bucket of its
// own.
func TestRateBucketsTake(t *testing.T) {
	db := dbtest.Open(t, "postgres")
	b := db.RateBuckets()
	if b == nil {
		t.Fatal("no shared buckets on PostgreSQL")
	}
	ctx := context.Background()
	for i, want := range []int{2, 2, 1, 0} {
		got, wait, err := b.Take(ctx, "c1", 0.01, 5, 2)
		if err != nil || got != want {
			t.Fatalf("take %d: got %d tokens (err %v), want %d", i+1, got, err, want)
		}
		if want == 0 && (wait <= 90*time.Second || wait > 100*time.Second) {
			t.Errorf("wait %v, want just under 100 s", wait)
		}
	}
	if got, _, err := b.Take(ctx, "c2", 0.01, 5, 1); err != nil || got != 1 {
		t.Fatalf("another connection: got %d, err %v", got, err)
	}
	if dbtest.Open(t, "sqlite").RateBuckets() != nil {
		t.Error("SQLite shares buckets: it is one process, whose buckets stay in memory")
	}
}

// BenchmarkRateBucketsTake is the cost of one take on PostgreSQL: one UPDATE of the
// connection's bucket (a replica makes one per chunk of requests, see scim.shared).
func BenchmarkRateBucketsTake(b *testing.B) {
	if dbtest.PostgresURL() == "" {
		b.Skip("ORGSCIM_TEST_DATABASE_URL not set")
	}
	rb := dbtest.Open(b, "postgres").RateBuckets()
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := rb.Take(ctx, "bench", 1e9, 1e9, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
