package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/scim"
)

// BenchmarkHealthRecording measures what recording connection health costs SCIM: user
// creates over HTTP from 8 x GOMAXPROCS clients, with recording off and on, each on a
// fresh database of each engine. Run it with -count to interleave the two on a busy
// machine:
//
//	go test -run '^$' -bench HealthRecording -benchtime 2000x -count 3 ./cmd/orgscim/
func BenchmarkHealthRecording(b *testing.B) {
	for _, engine := range dbtest.Engines(b) {
		for _, on := range []bool{false, true} {
			name := engine + "/off"
			if on {
				name = engine + "/on"
			}
			b.Run(name, func(b *testing.B) {
				db := dbtest.Open(b, engine)
				dir := &orgs.Directory{Store: db.Orgs()}
				ctx := b.Context()
				if _, err := dir.CreateOrg(ctx, "Bench", "bench", ""); err != nil {
					b.Fatal(err)
				}
				conn, token, err := dir.CreateConnection(ctx, "bench", "bench", "entra")
				if err != nil {
					b.Fatal(err)
				}
				logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
				srv := httptest.NewServer(newHandler(db, logger, httpConfig{Limits: scim.Limits{RateLimit: -1}, NoHealth: !on}))
				defer srv.Close()
				client := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}}
				defer client.CloseIdleConnections()
				base := srv.URL + "/scim/v2/" + conn.Slug
				var created atomic.Int64
				b.SetParallelism(1)
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := int(created.Add(1))
						doc := httpBenchUser(fmt.Sprintf("u%07d@bench.example", i), fmt.Sprintf("x-%07d", i), i)
						doc["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:User", provisioning.EnterpriseURN}
						body, _ := json.Marshal(doc)
						req, _ := http.NewRequest(http.MethodPost, base+"/Users", bytes.NewReader(body))
						req.Header.Set("Authorization", "Bearer "+token)
						req.Header.Set("Content-Type", "application/scim+json")
						res, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode != http.StatusCreated {
							b.Errorf("POST: %d", res.StatusCode)
							return
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
			})
		}
	}
}
