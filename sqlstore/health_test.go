package sqlstore_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim/connhealth"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestHealthFromReplicas: replicas flushing at once into one database add their counts,
// keep the later of their times, and number their entries without gaps or repeats, so
// the ring holds the newest Keep of all of them.
func TestHealthFromReplicas(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			url := dbtest.URL(t, engine)
			var replicas []*sqlstore.DB
			for range 3 {
				db, err := sqlstore.Open(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				replicas = append(replicas, db)
			}
			dir := &orgs.Directory{Store: replicas[0].Orgs()}
			if _, err := dir.CreateOrg(ctx, "Acme", "acme", ""); err != nil {
				t.Fatal(err)
			}
			conn, _, err := dir.CreateConnection(ctx, "acme", "acme", "entra")
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			const rounds, perRound = 5, 20
			var wg sync.WaitGroup
			errs := make(chan error, len(replicas)*rounds)
			for r, db := range replicas {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rec := &connhealth.Recorder{Store: db.Health(), Every: time.Hour}
					for round := range rounds {
						for i := range perRound {
							at := t0.Add(time.Duration(r*1000+round*perRound+i) * time.Second)
							status := 200
							if i == 0 {
								status = 502
							}
							rec.Record(connhealth.Entry{ConnectionID: conn.ID, At: at, Method: "PATCH", Push: true,
								Path: fmt.Sprintf("/r%d/%d/%d", r, round, i), Status: status, RequestBody: []byte(`{"password":"x"}`)})
						}
						rec.RecordRejected("acme", t0)
						rec.RecordRejected("no-such-connection", t0)
						errs <- rec.Flush(ctx)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			h, err := replicas[1].Health().Health(ctx, conn.ID)
			if err != nil {
				t.Fatal(err)
			}
			total := int64(len(replicas) * rounds * perRound)
			last := t0.Add(time.Duration(2*1000+rounds*perRound-1) * time.Second)
			if h.Requests != total || h.ServerErrors != int64(len(replicas)*rounds) || h.ClientErrors != 0 ||
				!h.LastPush.Equal(last) || !h.LastSuccess.Equal(last) || h.LastError == nil ||
				h.Rejected != int64(len(replicas)*rounds) || !h.LastRejected.Equal(t0) {
				t.Fatalf("health %+v, want %d requests, last push %s", h, total, last)
			}
			log, err := replicas[2].Health().RequestLog(ctx, conn.ID, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(log) != connhealth.Keep {
				t.Fatalf("ring holds %d", len(log))
			}
			for i, l := range log {
				if want := total - 1 - int64(i); l.Seq != want {
					t.Fatalf("entry %d has seq %d, want %d", i, l.Seq, want)
				}
				if l.RequestBody != `{"password":"[redacted]"}` {
					t.Fatalf("stored body %s", l.RequestBody)
				}
			}
			if empty, err := replicas[0].Health().Health(ctx, "no-such-connection"); err != nil || empty.Requests != 0 || empty.LastPush != nil {
				t.Errorf("health of a silent connection: %+v %v", empty, err)
			}
		})
	}
}
