package sqlstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestSetMaxConnsBoundsThePool holds more statements in flight than the pool allows and
// checks, in PostgreSQL's own view of its backends, that no more connections than the
// bound were opened and that every statement still ran: the rest waited their turn.
func TestSetMaxConnsBoundsThePool(t *testing.T) {
	if sqlstore.DefaultMaxConns() < 8 || sqlstore.DefaultMaxConns() > 32 {
		t.Errorf("sqlstore.DefaultMaxConns() = %d, want 8 to 32", sqlstore.DefaultMaxConns())
	}
	db, err := sqlstore.Open(context.Background(), dbtest.URL(t, "postgres")+"&application_name=orgscim_pool_test")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.SetMaxConns(0); err == nil {
		t.Error("SetMaxConns(0) accepted")
	}
	if err := db.SetMaxConns(3); err != nil {
		t.Fatal(err)
	}
	backends := func() int64 {
		n, err := db.Count("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'orgscim_pool_test' AND pid <> pg_backend_pid()")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 12 {
		wg.Go(func() { errs <- db.Exec("SELECT pg_sleep(0.05)") })
	}
	var most int64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for watching := true; watching; {
		select {
		case <-done:
			watching = false
		default:
			// This count takes a pool connection too: at most two others run beside it.
			most = max(most, backends()+1)
		}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s := db.PoolStats(); most > 3 || s.MaxOpenConnections != 3 || s.WaitCount == 0 {
		t.Errorf("%d backends at most, pool %+v; want at most 3 and statements that waited", most, s)
	}
}
