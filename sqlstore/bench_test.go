package sqlstore_test

// Benchmarks of the user store on PostgreSQL with 100,000 users in one connection,
// through the provisioning service as the SCIM adapter calls it. docs/PERFORMANCE.md
// has the figures and how they were taken:
//
//	ORGSCIM_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench . -benchtime 2000x -timeout 30m ./sqlstore/
//
// One top-level benchmark seeds the connection once and runs every measurement as a
// sub-benchmark on that data; the seeded schema is dropped when it ends. "create" runs
// last, so that the reads see exactly the seeded users.

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for VACUUM
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
)

const (
	benchUsers    = 100_000 // users seeded into the connection
	benchWorkers  = 16      // concurrent creates while seeding
	benchPageSize = 100     // count of the paging benchmark
)

// benchData is a seeded PostgreSQL database with one connection of benchUsers users.
type benchData struct {
	db    *sqlstore.DB
	users *provisioning.Users
	conn  string
	ids   []string // ids[i] is the user named benchUserName(i)
}

func benchUserName(i int) string { return fmt.Sprintf("user%06d@bench.example", i) }

// benchUserAttrs is a user as Entra or Okta would push it, of a realistic size.
func benchUserAttrs(userName, externalID string, i int) map[string]any {
	return map[string]any{
		"userName":    userName,
		"externalId":  externalID,
		"displayName": fmt.Sprintf("Bench User %d", i),
		"active":      true,
		"name":        map[string]any{"givenName": "Bench", "familyName": fmt.Sprintf("User%d", i)},
		"emails":      []any{map[string]any{"value": userName, "type": "work", "primary": true}},
		provisioning.EnterpriseURN: map[string]any{
			"department":     fmt.Sprintf("Dept %d", i%50),
			"employeeNumber": fmt.Sprintf("%06d", i),
		},
	}
}

// benchSeed opens a fresh PostgreSQL schema (dropped at b's cleanup), creates an org
// and a connection and creates benchUsers users through provisioning.Users.Create from
// benchWorkers goroutines.
func benchSeed(b *testing.B) *benchData {
	b.Helper()
	if os.Getenv("ORGSCIM_TEST_DATABASE_URL") == "" {
		b.Skip("ORGSCIM_TEST_DATABASE_URL not set: the PostgreSQL benchmarks are skipped")
	}
	bctx := context.Background()
	url := dbtest.URL(b, "postgres")
	db, err := sqlstore.Open(bctx, url)
	if err != nil {
		b.Fatalf("open: %v", err)
	}
	b.Cleanup(func() { db.Close() }) // runs before dbtest drops the schema
	dir := &orgs.Directory{Store: db.Orgs()}
	if _, err := dir.CreateOrg(bctx, "Bench", "bench", ""); err != nil {
		b.Fatal(err)
	}
	c, _, err := dir.CreateConnection(bctx, "bench", "bench", orgs.IdPEntra)
	if err != nil {
		b.Fatal(err)
	}
	d := &benchData{db: db, users: &provisioning.Users{Store: db.Users()}, conn: c.ID, ids: make([]string, benchUsers)}

	start := time.Now()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		errOnce  sync.Once
	)
	for range benchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= benchUsers {
					return
				}
				name := benchUserName(i)
				u, err := d.users.Create(bctx, d.conn, benchUserAttrs(name, fmt.Sprintf("ext-%06d", i), i), "")
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("seed user %d: %w", i, err) })
					next.Store(benchUsers)
					return
				}
				d.ids[i] = u.ID
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	took := time.Since(start)
	// Printed, not logged, so that it shows without -v.
	fmt.Printf("seed: %d users in %s (%.0f creates/s from %d goroutines)\n", benchUsers, took.Round(time.Millisecond),
		float64(benchUsers)/took.Seconds(), benchWorkers)
	benchAnalyze(b, url)
	return d
}

// benchAnalyze runs VACUUM (ANALYZE) on the users table: what autovacuum does on its own
// within a minute or two of a bulk load, done at once so that the measurements see the
// steady state. ORGSCIM_BENCH_NO_ANALYZE=1 skips it, to measure the moments right after
// an initial sync instead, when the planner still believes the table is empty.
func benchAnalyze(b *testing.B, url string) {
	if os.Getenv("ORGSCIM_BENCH_NO_ANALYZE") == "1" {
		b.Log("ORGSCIM_BENCH_NO_ANALYZE=1: measuring without VACUUM (ANALYZE) after the seed")
		return
	}
	sqlDB, err := sql.Open("pgx", url)
	if err != nil {
		b.Fatal(err)
	}
	defer sqlDB.Close()
	if _, err := sqlDB.Exec("VACUUM (ANALYZE) scim_users"); err != nil {
		b.Fatalf("vacuum: %v", err)
	}
}

// latencies collects the duration of every operation of one benchmark run.
type latencies []time.Duration

// report adds the 50th and 99th percentiles, in microseconds, to b's results.
func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	pct := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return float64(s[max(i, 0)].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

func BenchmarkUsersPostgres(b *testing.B) {
	d := benchSeed(b)
	bctx := context.Background()

	// get: one user by id, one client at a time.
	b.Run("get", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		lat := make(latencies, 0, b.N)
		b.ResetTimer()
		for range b.N {
			id := d.ids[rng.IntN(len(d.ids))]
			t0 := time.Now()
			u, err := d.users.Get(bctx, d.conn, id)
			lat = append(lat, time.Since(t0))
			if err != nil || u.ID != id {
				b.Fatalf("get %s: %v", id, err)
			}
		}
		b.StopTimer()
		lat.report(b)
	})

	// filter: userName eq "..." as an IdP checks whether a user exists before creating
	// it. Case-insensitive, as the schema says; the value is sent in upper case.
	b.Run("filter-userName-eq", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(3, 4))
		userName := provisioning.Attr{Path: []string{"userName"}, Type: provisioning.TypeString}
		lat := make(latencies, 0, b.N)
		b.ResetTimer()
		for range b.N {
			i := rng.IntN(benchUsers)
			q := provisioning.Query{
				Filter:     provisioning.Compare{Attr: userName, Op: provisioning.OpEq, Value: fmt.Sprintf("USER%06d@BENCH.EXAMPLE", i)},
				StartIndex: 1,
				Count:      benchPageSize,
			}
			t0 := time.Now()
			page, err := d.users.List(bctx, d.conn, q)
			lat = append(lat, time.Since(t0))
			if err != nil || page.Total != 1 || len(page.Users) != 1 || page.Users[0].ID != d.ids[i] {
				b.Fatalf("filter user %d: total %d, err %v", i, page.Total, err)
			}
		}
		b.StopTimer()
		lat.report(b)
	})

	// page: one page of count=100 per operation, walking startIndex 1, 101, ... through
	// all users and starting over. s/fullscan is the time of the first complete walk
	// through all 1,000 pages (estimated from the mean page when b.N < 1,000).
	b.Run("page-count100", func(b *testing.B) {
		pages := benchUsers / benchPageSize
		lat := make(latencies, 0, b.N)
		var scan time.Duration
		b.ResetTimer()
		for n := range b.N {
			start := (n%pages)*benchPageSize + 1
			t0 := time.Now()
			page, err := d.users.List(bctx, d.conn, provisioning.Query{StartIndex: start, Count: benchPageSize})
			dt := time.Since(t0)
			lat = append(lat, dt)
			if n < pages {
				scan += dt
			}
			if err != nil || page.Total != benchUsers || len(page.Users) != benchPageSize {
				b.Fatalf("page at %d: total %d, %d users, err %v", start, page.Total, len(page.Users), err)
			}
		}
		b.StopTimer()
		if b.N < pages {
			scan = scan / time.Duration(b.N) * time.Duration(pages)
		}
		b.ReportMetric(scan.Seconds(), "s/fullscan")
		lat.report(b)
	})

	// create: new users in the seeded connection (100,000 and growing), from 8 x
	// GOMAXPROCS goroutines, as an IdP's initial sync pushes them. ns/op is wall time
	// divided by creates, the inverse of throughput.
	var created atomic.Int64
	b.Run("create-parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(created.Add(1))
				name := fmt.Sprintf("new%07d@bench.example", i)
				if _, err := d.users.Create(bctx, d.conn, benchUserAttrs(name, fmt.Sprintf("new-%07d", i), i), ""); err != nil {
					b.Errorf("create %s: %v", name, err)
					return
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
	})
}
