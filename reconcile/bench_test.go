package reconcile_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
)

// BenchmarkReconcilePass measures one pass on PostgreSQL over a partner of N users
// holding ten grants each on a tree of 1,000 orgs, with 1% of the grants to revoke:
// 0.9% expired, and the grants of 0.1% of the users, who are stale under a 90-day
// policy and deactivated. It reports the pass's time and the peak heap while it ran,
// at 10,000 and 100,000 users, so that the heap can be seen not to grow with the data.
//
//	ORGSCIM_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench BenchmarkReconcilePass -benchtime 1x -timeout 30m ./reconcile/
func BenchmarkReconcilePass(b *testing.B) {
	if dbtest.PostgresURL() == "" {
		b.Skip("ORGSCIM_TEST_DATABASE_URL not set: this benchmark runs on PostgreSQL")
	}
	for _, users := range benchSizes() {
		b.Run(fmt.Sprintf("users=%d/grants=%d", users, users*10), func(b *testing.B) { benchmarkPass(b, users) })
	}
}

func benchmarkPass(b *testing.B, users int) {
	ctx := context.Background()
	url := dbtest.URL(b, "postgres")
	db, err := sqlstore.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	dir := &orgs.Directory{Store: db.Orgs(), Tx: db, Audit: db.Audit(), Now: clock}
	root, err := dir.CreateOrg(ctx, "Vendor", "vendor", "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := dir.CreateOrg(ctx, "Partner", "partner", "vendor"); err != nil {
		b.Fatal(err)
	}
	conn, _, err := dir.CreateConnection(ctx, "partner", "partner", "entra")
	if err != nil {
		b.Fatal(err)
	}
	window, unlimited := 90*24*time.Hour, 0
	if _, err := dir.SetConnectionPolicy(ctx, "partner", "bench", orgs.PolicyUpdate{StaleAfter: &window, GuardMaxChanges: &unlimited}); err != nil {
		b.Fatal(err)
	}
	usersSvc := &provisioning.Users{Store: db.Users(), Tx: db, Audit: db.Audit(), Now: clock}
	access := &orgs.Access{Store: db.Access(), Users: usersSvc, Tx: db, Audit: db.Audit(), Now: clock}
	usersSvc.Observer = access
	role, err := access.CreateRole(ctx, orgs.Role{Key: "viewer", Permissions: []string{"viewer.read"}, Inherits: true})
	if err != nil {
		b.Fatal(err)
	}

	raw, err := sql.Open("pgx", url)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	start := time.Now()
	fresh, old := now.Add(-24*time.Hour).UnixMicro(), now.Add(-100*24*time.Hour).UnixMicro()
	expired, future := now.Add(-time.Hour).UnixMicro(), now.Add(365*24*time.Hour).UnixMicro()
	stale := users / 1000 // 0.1% of the users, with their ten grants each
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO orgs (id, slug, name, parent_id, path, kind, status, created_at, updated_at)
		 SELECT 'b' || i, 'b' || i, 'B' || i, $1, $2 || 'b' || i || '/', 'business_unit', 'active', 0, 0
		 FROM generate_series(0, 997) i`, []any{root.ID, root.Path}},
		{`INSERT INTO scim_users (connection_id, id, user_name, user_name_key, active, doc, version, created_at, updated_at)
		 SELECT $1, 'u' || i, 'user' || i || '@example.com', 'user' || i || '@example.com', true,
		        ('{"active":true,"userName":"user' || i || '@example.com"}')::jsonb, 1, 0, CASE WHEN i < $3 THEN $4::bigint ELSE $5::bigint END
		 FROM generate_series(0, $2 - 1) i`, []any{conn.ID, users, stale, old, fresh}},
		// Grants of the stale users come first; 0.9% of the grants after them expired.
		{`INSERT INTO grants (id, connection_id, user_id, role_id, org_id, source, source_id, granted_by, reason, valid_from, expires_at, created_at)
		 SELECT 'g' || i, $1, 'u' || (i / 10), $2, 'b' || ((i::bigint * 7919) % 998), 'direct', '', 'bench', 'bench', 0,
		        CASE WHEN i >= $4 AND i < $4 + $5 THEN $6::bigint ELSE $7::bigint END, 0
		 FROM generate_series(0, $3 - 1) i`, []any{conn.ID, role.ID, users * 10, stale * 10, users * 10 * 9 / 1000, expired, future}},
		{`ANALYZE`, nil},
	} {
		if _, err := raw.ExecContext(ctx, q.sql, q.args...); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded %d users and %d grants in %s", users, users*10, time.Since(start).Round(time.Second))

	rec := &reconcile.Reconciler{Store: db.Reconcile(), Tx: db, Audit: db.Audit(), Now: clock, Users: usersSvc, Mappings: access,
		Verify: func(ctx context.Context) (rep audit.Report, err error) {
			err = db.Snapshot(ctx, func(ctx context.Context) error {
				rep, err = audit.VerifyAll(ctx, db.Audit())
				return err
			})
			return rep, err
		}}
	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i > 0 {
			if _, err := raw.ExecContext(ctx, `UPDATE grants SET revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL WHERE revoked_at IS NOT NULL`); err != nil {
				b.Fatal(err)
			}
			if _, err := raw.ExecContext(ctx, `UPDATE scim_users SET active = true, doc = jsonb_set(doc, '{active}', 'true'), updated_at = $1 WHERE NOT active`, old); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		b.StartTimer()
		stop := sampleHeap(&peak)
		run, err := rec.Once(ctx, reconcile.Options{})
		stop()
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		revoked := 0
		for _, r := range run.Report.Rules {
			if r.Rule == reconcile.RuleGrantExpired || r.Rule == reconcile.RuleStaleMember {
				revoked += r.Count
			}
		}
		var stillLive int
		if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM grants WHERE revoked_at IS NULL AND (expires_at <= $1 OR user_id IN
			(SELECT id FROM scim_users WHERE NOT active))`, now.UnixMicro()).Scan(&stillLive); err != nil {
			b.Fatal(err)
		}
		if stillLive != 0 || revoked != users*9/100+stale {
			b.Fatalf("the pass left %d grants to revoke; its report counts %d expired grants and stale users", stillLive, revoked)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(users*10/100), "grants-revoked")
}

// sampleHeap records the largest heap in use until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > *peak {
				*peak = ms.HeapInuse
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// benchSizes are the user counts to measure; ORGSCIM_BENCH_USERS picks one.
func benchSizes() []int {
	if n, err := strconv.Atoi(os.Getenv("ORGSCIM_BENCH_USERS")); err == nil && n >= 1000 {
		return []int{n}
	}
	return []int{10_000, 100_000}
}
