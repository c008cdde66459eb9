package main

// Benchmarks of the real HTTP server (newHandler behind httptest.NewServer, a loopback
// TCP listener) on PostgreSQL with 100,000 users (ORGSCIM_BENCH_USERS) in one connection: what an IdP sees,
// routing, authentication, JSON, metrics and the access log included; the per-connection
// rate limit is off. docs/PERFORMANCE.md has the
// figures and how they were taken:
//
//	ORGSCIM_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench BenchmarkHTTPUsers -benchtime 2000x -timeout 30m ./cmd/orgscim/
//
// One top-level benchmark seeds the connection once (through the provisioning service,
// which is what a POST calls, from 16 goroutines) and runs every measurement as a
// sub-benchmark on that data; "create" runs last so that the reads see exactly the
// seeded users. Identifiers here start with httpBench: this package's tests share one
// namespace.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for VACUUM
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/scim"
	"github.com/orgscim/orgscim/sqlstore"
)

const (
	httpBenchWorkers  = 16
	httpBenchPageSize = 100
)

// httpBenchUsers is how many users the connection is seeded with: 100,000, or
// ORGSCIM_BENCH_USERS (at least 10,000) for a shorter seed when what is measured is the
// CPU a request costs, which does not depend on the connection's size.
var httpBenchUsers = func() int {
	if n, err := strconv.Atoi(os.Getenv("ORGSCIM_BENCH_USERS")); err == nil && n >= 10_000 {
		return n
	}
	return 100_000
}()

// httpBenchEnv is a running server over a seeded PostgreSQL database.
type httpBenchEnv struct {
	base   string // SCIM root of the connection
	token  string
	client *http.Client
	ids    []string // ids[i] is the user named httpBenchUserName(i)
}

func httpBenchUserName(i int) string { return fmt.Sprintf("user%06d@bench.example", i) }

// httpBenchUser is a user as Entra or Okta would push it, of a realistic size.
func httpBenchUser(userName, externalID string, i int) map[string]any {
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

func httpBenchSetup(b *testing.B) *httpBenchEnv {
	b.Helper()
	if os.Getenv("ORGSCIM_TEST_DATABASE_URL") == "" {
		b.Skip("ORGSCIM_TEST_DATABASE_URL not set: the PostgreSQL benchmarks are skipped")
	}
	bctx := context.Background()
	dbURL := dbtest.URL(b, "postgres")
	db, err := sqlstore.Open(bctx, dbURL)
	if err != nil {
		b.Fatalf("open: %v", err)
	}
	b.Cleanup(func() { db.Close() }) // runs before dbtest drops the schema
	dir := &orgs.Directory{Store: db.Orgs()}
	if _, err := dir.CreateOrg(bctx, "Bench", "bench", ""); err != nil {
		b.Fatal(err)
	}
	conn, token, err := dir.CreateConnection(bctx, "bench", "bench", orgs.IdPEntra)
	if err != nil {
		b.Fatal(err)
	}

	users := &provisioning.Users{Store: db.Users()}
	ids := make([]string, httpBenchUsers)
	start := time.Now()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		errOnce  sync.Once
	)
	for range httpBenchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= httpBenchUsers {
					return
				}
				name := httpBenchUserName(i)
				u, err := users.Create(bctx, conn.ID, httpBenchUser(name, fmt.Sprintf("ext-%06d", i), i), "")
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("seed user %d: %w", i, err) })
					next.Store(int64(httpBenchUsers))
					return
				}
				ids[i] = u.ID
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	took := time.Since(start)
	// Printed, not logged, so that it shows without -v.
	fmt.Printf("seed: %d users in %s (%.0f creates/s from %d goroutines)\n", httpBenchUsers, took.Round(time.Millisecond),
		float64(httpBenchUsers)/took.Seconds(), httpBenchWorkers)

	// What autovacuum does within a minute or two of a bulk load, done at once so that
	// the measurements see the steady state (see sqlstore/bench_test.go).
	if os.Getenv("ORGSCIM_BENCH_NO_ANALYZE") != "1" {
		sqlDB, err := sql.Open("pgx", dbURL)
		if err != nil {
			b.Fatal(err)
		}
		_, err = sqlDB.Exec("VACUUM (ANALYZE) scim_users")
		sqlDB.Close()
		if err != nil {
			b.Fatalf("vacuum: %v", err)
		}
	}

	logger := slog.New(slog.NewJSONHandler(io.Discard, nil)) // the access log is formatted, then dropped
	// No rate limit: the benchmark measures what the server can do, not the 200/s it
	// grants one connection by default.
	srv := httptest.NewServer(newHandler(db, logger, httpConfig{Limits: scim.Limits{RateLimit: -1}}))
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	return &httpBenchEnv{base: srv.URL + "/scim/v2/" + conn.Slug, token: token, client: client, ids: ids}
}

// do sends one request and returns the status and the whole body.
func (e *httpBenchEnv) do(method, u string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := e.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, err
}

// httpBenchProfile writes a CPU profile of the rest of the sub-benchmark to
// $ORGSCIM_BENCH_CPUPROFILE_DIR/<sub-benchmark>.prof when that variable is set: one seed,
// one profile per kind of request (go test's -cpuprofile would mix them all). The
// returned function stops it; call it after b.StopTimer. The server's share of a request
// is the samples under net/http's (*conn).serve, divided by b.N.
func httpBenchProfile(b *testing.B) (stop func()) {
	dir := os.Getenv("ORGSCIM_BENCH_CPUPROFILE_DIR")
	if dir == "" {
		return func() {}
	}
	name := b.Name()
	if _, sub, ok := strings.Cut(name, "/"); ok {
		name = sub
	}
	f, err := os.Create(filepath.Join(dir, name+".prof"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

// httpBenchReport adds the 50th and 99th percentiles of lat, in microseconds.
func httpBenchReport(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	pct := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return float64(s[max(i, 0)].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

func BenchmarkHTTPUsersPostgres(b *testing.B) {
	e := httpBenchSetup(b)

	// GET /Users/{id}, one client at a time.
	b.Run("GET-id", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		lat := make([]time.Duration, 0, b.N)
		stopProfile := httpBenchProfile(b)
		b.ResetTimer()
		for range b.N {
			id := e.ids[rng.IntN(len(e.ids))]
			t0 := time.Now()
			code, body, err := e.do(http.MethodGet, e.base+"/Users/"+id, nil)
			lat = append(lat, time.Since(t0))
			if err != nil || code != http.StatusOK || !bytes.Contains(body, []byte(id)) {
				b.Fatalf("GET %s: %d %v", id, code, err)
			}
		}
		b.StopTimer()
		stopProfile()
		httpBenchReport(b, lat)
	})

	// GET /Users/{id} from 4 x GOMAXPROCS clients at once: throughput of reads.
	b.Run("GET-id-parallel", func(b *testing.B) {
		var seq atomic.Uint64
		b.SetParallelism(4)
		stopProfile := httpBenchProfile(b)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(seq.Add(1), 7))
			for pb.Next() {
				id := e.ids[rng.IntN(len(e.ids))]
				code, _, err := e.do(http.MethodGet, e.base+"/Users/"+id, nil)
				if err != nil || code != http.StatusOK {
					b.Errorf("GET %s: %d %v", id, code, err)
					return
				}
			}
		})
		b.StopTimer()
		stopProfile()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	})

	// GET /Users?filter=userName eq "...": how Entra and Okta look a user up before
	// creating it. The value is sent in upper case: userName is case-insensitive.
	b.Run("GET-filter-userName-eq", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(3, 4))
		lat := make([]time.Duration, 0, b.N)
		stopProfile := httpBenchProfile(b)
		b.ResetTimer()
		for range b.N {
			i := rng.IntN(httpBenchUsers)
			q := url.Values{"filter": {fmt.Sprintf(`userName eq "USER%06d@BENCH.EXAMPLE"`, i)}}
			t0 := time.Now()
			code, body, err := e.do(http.MethodGet, e.base+"/Users?"+q.Encode(), nil)
			lat = append(lat, time.Since(t0))
			if err != nil || code != http.StatusOK || !bytes.Contains(body, []byte(`"totalResults":1}`)) || !bytes.Contains(body, []byte(e.ids[i])) {
				b.Fatalf("filter user %d: %d %v %.200s", i, code, err, body)
			}
		}
		b.StopTimer()
		stopProfile()
		httpBenchReport(b, lat)
	})

	// GET /Users?startIndex=N&count=100, walking through all users and starting over.
	// s/fullscan is the time of the first complete walk through all 1,000 pages
	// (estimated from the mean page when b.N < 1,000).
	b.Run("GET-page-count100", func(b *testing.B) {
		pages := httpBenchUsers / httpBenchPageSize
		lat := make([]time.Duration, 0, b.N)
		var scan time.Duration
		want := []byte(fmt.Sprintf(`"itemsPerPage":%d,`, httpBenchPageSize))
		stopProfile := httpBenchProfile(b)
		b.ResetTimer()
		for n := range b.N {
			start := (n%pages)*httpBenchPageSize + 1
			u := fmt.Sprintf("%s/Users?startIndex=%d&count=%d", e.base, start, httpBenchPageSize)
			t0 := time.Now()
			code, body, err := e.do(http.MethodGet, u, nil)
			dt := time.Since(t0)
			lat = append(lat, dt)
			if n < pages {
				scan += dt
			}
			if err != nil || code != http.StatusOK || !bytes.Contains(body, want) {
				b.Fatalf("page at %d: %d %v %.200s", start, code, err, body)
			}
		}
		b.StopTimer()
		stopProfile()
		if b.N < pages {
			scan = scan / time.Duration(b.N) * time.Duration(pages)
		}
		b.ReportMetric(scan.Seconds(), "s/fullscan")
		httpBenchReport(b, lat)
	})

	// PATCH /Users/{id} with active false, as Entra deactivates a user, from 4 x
	// GOMAXPROCS clients at once; each user once, from the end of the seed (the reads
	// above are done). ns/op is wall time divided by requests.
	var patched atomic.Int64
	b.Run("PATCH-deactivate-parallel", func(b *testing.B) {
		b.SetParallelism(4)
		body := []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],` +
			`"Operations":[{"op":"replace","path":"active","value":false}]}`)
		stopProfile := httpBenchProfile(b)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(patched.Add(1))
				if i > len(e.ids)/2 {
					b.Errorf("PATCH: more operations than half the seeded users")
					return
				}
				id := e.ids[len(e.ids)-i]
				code, out, err := e.do(http.MethodPatch, e.base+"/Users/"+id, body)
				// 204 without a body, or 200 with the user (as the client asks).
				if err != nil || !(code == http.StatusNoContent || code == http.StatusOK && bytes.Contains(out, []byte(`"active":false`))) {
					b.Errorf("PATCH %s: %d %v %.200s", id, code, err, out)
					return
				}
			}
		})
		b.StopTimer()
		stopProfile()
	})

	// DELETE /Users/{id} of the users deactivated above (as an IdP deletes a user it
	// deactivated earlier), from 4 x GOMAXPROCS clients at once.
	var deleted atomic.Int64
	b.Run("DELETE-parallel", func(b *testing.B) {
		b.SetParallelism(4)
		stopProfile := httpBenchProfile(b)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(deleted.Add(1))
				if i > len(e.ids)/2 {
					b.Errorf("DELETE: more operations than half the seeded users")
					return
				}
				id := e.ids[len(e.ids)-i]
				code, out, err := e.do(http.MethodDelete, e.base+"/Users/"+id, nil)
				if err != nil || code != http.StatusNoContent {
					b.Errorf("DELETE %s: %d %v %.200s", id, code, err, out)
					return
				}
			}
		})
		b.StopTimer()
		stopProfile()
	})

	// POST /Users from 8 x GOMAXPROCS clients at once into the connection of 100,000
	// users, as an IdP's initial sync pushes them. ns/op is wall time divided by
	// creates, the inverse of throughput.
	var created atomic.Int64
	b.Run("POST-parallel", func(b *testing.B) {
		b.SetParallelism(8)
		stopProfile := httpBenchProfile(b)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(created.Add(1))
				name := fmt.Sprintf("new%07d@bench.example", i)
				doc := httpBenchUser(name, fmt.Sprintf("new-%07d", i), i)
				doc["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:User", provisioning.EnterpriseURN}
				body, _ := json.Marshal(doc)
				code, out, err := e.do(http.MethodPost, e.base+"/Users", body)
				if err != nil || code != http.StatusCreated {
					b.Errorf("POST %s: %d %v %.200s", name, code, err, out)
					return
				}
			}
		})
		b.StopTimer()
		stopProfile()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
	})
}
