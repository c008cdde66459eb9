package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/scim"
	"github.com/orgscim/orgscim/sqlstore"
)

// BenchmarkGroupMemberAdd measures a 100-member PATCH add through the real HTTP server
// on PostgreSQL, into groups that already hold 10, 10,000 and 100,000 members. Adding k
// members must cost O(k) whatever the group's size.
//
//	ORGSCIM_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench BenchmarkGroupMemberAdd -benchtime 200x ./cmd/orgscim/
func BenchmarkGroupMemberAdd(b *testing.B) {
	if testingPostgresURL() == "" {
		b.Skip("ORGSCIM_TEST_DATABASE_URL not set: this benchmark runs on PostgreSQL")
	}
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, dbtest.URL(b, "postgres"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	dir := &orgs.Directory{Store: db.Orgs()}
	if _, err := dir.CreateOrg(ctx, "Bench", "bench", ""); err != nil {
		b.Fatal(err)
	}
	conn, token, err := dir.CreateConnection(ctx, "bench", "bench", "entra")
	if err != nil {
		b.Fatal(err)
	}
	// No rate limit: the benchmark measures the server, not the limiter.
	srv := httptest.NewServer(newHandler(db, slog.New(slog.NewTextHandler(io.Discard, nil)), httpConfig{Limits: scim.Limits{RateLimit: -1}}))
	defer srv.Close()
	base := srv.URL + "/scim/v2/" + conn.Slug

	const largest, add = 100_000, 100
	ids := seedUsers(b, db, conn.ID, largest+add)
	pool, members := ids[:add], ids[add:]

	patch := func(groupID string, op string, batch []string) {
		var value []any
		for _, id := range batch {
			value = append(value, map[string]any{"value": id})
		}
		body, _ := json.Marshal(map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": op, "path": "members", "value": value}},
		})
		req, _ := http.NewRequest("PATCH", base+"/Groups/"+groupID, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			b.Fatalf("patch %s: %d", op, res.StatusCode)
		}
	}
	groups := &provisioning.Groups{Store: db.Groups()}
	for _, size := range []int{10, 10_000, 100_000} {
		g, err := groups.Create(ctx, conn.ID, map[string]any{"displayName": fmt.Sprintf("size %d", size)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < size; i += 10_000 {
			patch(g.ID, "add", members[i:min(i+10_000, size)])
		}
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				patch(g.ID, "add", pool)
				lat = append(lat, time.Since(start))
				b.StopTimer()
				patch(g.ID, "remove", pool)
				b.StartTimer()
			}
			reportLatency(b, lat)
		})
	}
}

// testingPostgresURL is the PostgreSQL of the benchmarks, if any.
func testingPostgresURL() string { return dbtest.PostgresURL() }

// seedUsers creates n users in the connection with 16 concurrent writers and returns
// their ids.
func seedUsers(b *testing.B, db *sqlstore.DB, conn string, n int) []string {
	b.Helper()
	users := &provisioning.Users{Store: db.Users()}
	ids := make([]string, n)
	var wg sync.WaitGroup
	var once sync.Once
	const writers = 16
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += writers {
				u, err := users.Create(context.Background(), conn, map[string]any{"userName": fmt.Sprintf("seed-%07d@example.com", i)}, "")
				if err != nil {
					once.Do(func() { b.Error(err) })
					return
				}
				ids[i] = u.ID
			}
		}(w)
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	// Measure the steady state that autovacuum reaches, not a table the planner has
	// never seen.
	if err := db.Analyze(context.Background()); err != nil {
		b.Fatal(err)
	}
	return ids
}

// reportLatency adds p50 and p99 of the measured operations to the benchmark's output.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
