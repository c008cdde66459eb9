package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
)

// A bucket of burst 3 refilling once in 100 s: three takes pass, the fourth waits about
// 100 s, and another connection has a bucket of its own.
func TestRateBucketsTake(t *testing.T) {
	db := dbtest.Open(t, "postgres")
	b := db.RateBuckets()
	if b == nil {
		t.Fatal("no shared buckets on PostgreSQL")
	}
	ctx := context.Background()
	for i := range 3 {
		if _, ok, err := b.Take(ctx, "c1", 0.01, 3); err != nil || !ok {
			t.Fatalf("take %d: ok %v, err %v", i+1, ok, err)
		}
	}
	wait, ok, err := b.Take(ctx, "c1", 0.01, 3)
	if err != nil || ok {
		t.Fatalf("fourth take: ok %v, err %v", ok, err)
	}
	if wait <= 90*time.Second || wait > 100*time.Second {
		t.Errorf("wait %v, want just under 100 s", wait)
	}
	if _, ok, err := b.Take(ctx, "c2", 0.01, 3); err != nil || !ok {
		t.Fatalf("another connection: ok %v, err %v", ok, err)
	}
	if dbtest.Open(t, "sqlite").RateBuckets() != nil {
		t.Error("SQLite shares buckets: it is one process, whose buckets stay in memory")
	}
}

// BenchmarkRateBucketsTake is the cost the shared limit adds to every SCIM request on
// PostgreSQL: one upsert of the connection's bucket.
func BenchmarkRateBucketsTake(b *testing.B) {
	if dbtest.PostgresURL() == "" {
		b.Skip("ORGSCIM_TEST_DATABASE_URL not set")
	}
	rb := dbtest.Open(b, "postgres").RateBuckets()
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := rb.Take(ctx, "bench", 1e9, 1e9); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
