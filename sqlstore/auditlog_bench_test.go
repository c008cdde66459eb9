package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
)

// BenchmarkAuditVerify bulk-loads ORGSCIM_AUDIT_BENCH_EVENTS events (default 1,000,000)
// on PostgreSQL, seals them into the log, then times `audit verify`'s work — rebuilding
// the tree from every event and checking it against the checkpoint — while sampling the
// heap. Target: 1,000,000 events in 30 s or less, memory flat. `make bench-audit` runs it.
func BenchmarkAuditVerify(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("ORGSCIM_AUDIT_BENCH_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	db := dbtest.Open(b, "postgres")
	bctx := context.Background()
	t0 := time.Now()
	const rows = 500
	start := time.Unix(1_800_000_000, 0).UTC()
	for i := 0; i < n; i += rows {
		var (
			sql  strings.Builder
			args []any
		)
		sql.WriteString("INSERT INTO audit_events (id, chain, seq, at, actor, connection_id, action, target_type, target_id, diff, prev_hash, hash) VALUES ")
		for j := i; j < min(i+rows, n); j++ {
			e := audit.Event{ID: fmt.Sprintf("e%08d", j), Chain: fmt.Sprintf("conn-%d", j%10), Seq: int64(j + 1),
				Time: start.Add(time.Duration(j) * time.Millisecond), Actor: "token:bench", ConnectionID: fmt.Sprintf("conn-%d", j%10),
				Action: "user.update", TargetType: "user", TargetID: fmt.Sprint("u", j),
				Diff: json.RawMessage(fmt.Sprintf(`{"title":{"before":"a","after":"b%d"}}`, j))}
			if j > i {
				sql.WriteString(", ")
			}
			sql.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?)")
			args = append(args, e.ID, e.Chain, e.Seq, e.Time.UnixMilli(), e.Actor, e.ConnectionID, e.Action, e.TargetType,
				e.TargetID, string(e.Diff), audit.ContentHash(&e))
		}
		if err := db.Exec(sql.String(), args...); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Exec(fmt.Sprintf("SELECT setval('audit_events_seq', %d, false)", n+1)); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d events in %s", n, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	skey, _ := audit.GenerateKey("bench")
	key, _ := audit.ParseKey(skey)
	sealer := &audit.Sealer{Store: db.Audit(), Key: key, Batch: 10_000}
	if _, err := sealer.Once(bctx); err != nil {
		b.Fatal(err)
	}
	seal := time.Since(t0)
	b.Logf("sealed %d events in %s (%.0f events/s)", n, seal.Round(time.Millisecond), float64(n)/seal.Seconds())
	if err := db.Analyze(bctx); err != nil {
		b.Fatal(err)
	}

	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	runtime.GC()
	b.ResetTimer()
	for range b.N {
		var rep audit.Report
		err := db.Snapshot(bctx, func(ctx context.Context) error {
			var err error
			rep, err = audit.Verify(ctx, db.Audit(), audit.VerifyOptions{PublicKeys: []string{key.PublicKey}})
			return err
		})
		if err != nil || !rep.OK() || rep.LogSize != int64(n) {
			b.Fatalf("verify: %v, %+v", err, rep.Breaks)
		}
	}
	b.StopTimer()
	close(stop)
	<-sampled
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/verify")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(n), "events")
}
