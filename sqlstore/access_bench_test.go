package sqlstore_test

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
)

// BenchmarkAccessCheck measures "may user U do P on org O, and why" on PostgreSQL with
// 100,000 users and 1,000,000 grants spread over a tree of 1,000 orgs (ten grants per
// user, a tenth of them through inheriting roles on ancestors).
//
//	ORGSCIM_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench BenchmarkAccessCheck -benchtime 20000x ./sqlstore/
func BenchmarkAccessCheck(b *testing.B) {
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
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	dir := &orgs.Directory{Store: db.Orgs(), Now: clock}
	root, err := dir.CreateOrg(ctx, "Vendor", "vendor", "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := dir.CreateOrg(ctx, "Partner", "partner", "vendor"); err != nil {
		b.Fatal(err)
	}
	// Bound to the root, so that every bulk-loaded org lies in its subtree (the authority
	// rule holds no grant outside its connection's subtree).
	conn, _, err := dir.CreateConnection(ctx, "vendor", "partner", "entra")
	if err != nil {
		b.Fatal(err)
	}
	users := &provisioning.Users{Store: db.Users(), Now: clock}
	access := &orgs.Access{Store: db.Access(), Users: users, Now: clock}
	var roleIDs []string
	for i, key := range []string{"viewer", "editor", "approver", "auditor", "admin"} {
		r, err := access.CreateRole(ctx, orgs.Role{Key: key, Permissions: []string{key + ".read", key + ".write"}, Inherits: i%2 == 0})
		if err != nil {
			b.Fatal(err)
		}
		roleIDs = append(roleIDs, r.ID)
	}

	// Bulk load with set-based SQL: 1,000 orgs (ten partners of ten subsidiaries of ten
	// business units), 100,000 users, 1,000,000 direct grants.
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

	// A sub-benchmark, so that the load above runs once, not once per b.N probe.
	b.Run("check", func(b *testing.B) { benchmarkChecks(b, access, conn) })
}

func benchmarkChecks(b *testing.B, access *orgs.Access, conn *orgs.Connection) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, b.N)
	allowed := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u := rng.IntN(100_000)
		// Half the questions are about an org the user holds a grant on.
		j := u*10 + rng.IntN(10)
		org := "b" + itoa((j*7919)%890)
		perm := []string{"viewer", "editor", "approver", "auditor", "admin"}[j%5] + ".read"
		if rng.IntN(2) == 0 {
			org = "b" + itoa(rng.IntN(890))
		}
		t0 := time.Now()
		d, err := access.Check(ctx, conn, "u"+itoa(u), perm, org)
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if d.Allowed {
			allowed++
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(allowed)/float64(b.N), "allowed-ratio")
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var buf [20]byte
	n := len(buf)
	for i > 0 {
		n--
		buf[n] = byte('0' + i%10)
		i /= 10
	}
	return string(buf[n:])
}
