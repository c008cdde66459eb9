package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/webhooks"
	"golang.org/x/mod/sumdb/tlog"
)

// writeLegacyChains puts events into the database as orgscim wrote them before the log —
// hash-chained per connection, each chain's head in audit_chains — and moves the log's
// state to where migration 0017 leaves a database that held them.
func writeLegacyChains(t *testing.T, db *sqlstore.DB, chains []string, n int) {
	t.Helper()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for c, chain := range chains {
		prev := ""
		for i := 1; i <= n; i++ {
			e := &audit.Event{ID: fmt.Sprintf("legacy-%d-%02d", c, i), Time: t0.Add(time.Duration(i*len(chains)+c) * time.Second),
				Actor: "token:t", ConnectionID: chain, Action: "user.update", TargetType: "user", TargetID: fmt.Sprint("u", i),
				Diff: json.RawMessage(fmt.Sprintf(`{"title":{"after":"v%d"}}`, i))}
			audit.Seal(e, chain, int64(i), prev)
			prev = e.Hash
			err := db.Exec(`INSERT INTO audit_events (id, chain, seq, at, actor, connection_id, action, target_type, target_id,
				diff, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.Chain, e.Seq, e.Time.UnixMilli(), e.Actor,
				e.ConnectionID, e.Action, e.TargetType, e.TargetID, string(e.Diff), e.PrevHash, e.Hash)
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Exec("INSERT INTO audit_chains (chain, seq, hash) VALUES (?, ?, ?)", chain, n, prev); err != nil {
			t.Fatal(err)
		}
	}
	stmts := []string{fmt.Sprintf("UPDATE audit_log_state SET legacy_max = %d, sealed_seq = %d", n, n)}
	if db.Engine() == "postgres" {
		stmts = append(stmts, fmt.Sprintf("SELECT setval('audit_events_seq', %d, false)", n+1))
	} else {
		stmts = append(stmts, fmt.Sprintf("UPDATE audit_event_numbers SET last = %d", n))
	}
	for _, s := range stmts {
		if err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
}

// The per-connection chains of a database from before the log are checked once more,
// the outcome recorded as an event, and sealed into the log first, in time order, on
// both engines; events written since follow.
func TestAuditLogMigratesTheOldChains(t *testing.T) {
	for _, tampered := range []bool{false, true} {
		t.Run(fmt.Sprint("tampered=", tampered), func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
				a, b := setup(t, db)
				writeLegacyChains(t, db, []string{a, b}, 5)
				if tampered {
					disableAuditTriggers(t, db)
					if err := db.Exec("UPDATE audit_events SET actor = 'operator:mallory' WHERE id = 'legacy-1-03'"); err != nil {
						t.Fatal(err)
					}
				}
				if rep := verifyAll(t, db); rep.OK() == tampered || rep.Pending != 10 {
					t.Fatalf("before sealing: %+v", rep)
				}
				record(t, db, a, 1) // written after the migration, before the first seal
				sealer := testSealer(t, db)
				sealer.Batch = 4 // the old events take several transactions
				if _, err := sealer.Once(ctx); err != nil {
					t.Fatal(err)
				}
				rep := verifyAll(t, db)
				if !rep.OK() || rep.LogSize != 12 || rep.Pending != 0 {
					t.Fatalf("after sealing: %+v; want 10 old events, the migration's and the new one, all sealed", rep)
				}
				var order []string
				err := db.Audit().ScanLog(ctx, func(_ int64, _ tlog.Hash, e *audit.Event) error {
					order = append(order, e.ID)
					if e.Action == "audit.log.migrate" {
						var d struct {
							Intact bool  `json:"intact"`
							Events int64 `json:"events"`
							Chains int   `json:"chains"`
						}
						if err := json.Unmarshal(e.Diff, &d); err != nil || d.Intact == tampered || d.Events != 10 || d.Chains != 2 {
							t.Errorf("migration event %s; want intact=%v over 10 events in 2 chains", e.Diff, !tampered)
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if order[0] != "legacy-0-01" || order[1] != "legacy-1-01" || order[9] != "legacy-1-05" {
					t.Errorf("log order %v; want the old events first, in time order", order)
				}
			})
		})
	}
}

// A control-plane subscription that names audit.checkpoint gets every signed checkpoint
// through the outbox — signed and retried like any delivery — and one that does not,
// none of them.
func TestAuditCheckpointsAreQueuedForWitnesses(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := setup(t, db)
		for _, s := range []webhooks.Subscription{
			{ID: "witness", URL: "https://witness.example/", Actions: []string{sqlstore.WitnessAction}, State: webhooks.Active, Secret: "s1"},
			{ID: "everything", URL: "https://all.example/", Actions: []string{}, State: webhooks.Active, Secret: "s2"},
		} {
			if err := db.Webhooks().CreateSubscription(ctx, &s); err != nil {
				t.Fatal(err)
			}
		}
		record(t, db, a, 2)
		sealer := testSealer(t, db)
		sealed, err := sealer.Once(ctx)
		if err != nil || sealed == nil {
			t.Fatalf("seal: %v", err)
		}
		ds, err := db.Webhooks().Claim(ctx, time.Now(), time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].SubscriptionID != "witness" || ds[0].Action != sqlstore.WitnessAction {
			t.Fatalf("deliveries %+v; want one checkpoint for the witness", ds)
		}
		var body struct {
			Type       string `json:"type"`
			Size       int64  `json:"size"`
			Checkpoint string `json:"checkpoint"`
		}
		if err := json.Unmarshal(ds[0].Payload, &body); err != nil {
			t.Fatal(err)
		}
		cp, err := audit.OpenCheckpoint([]byte(body.Checkpoint), []string{sealer.Key.PublicKey})
		if err != nil || body.Type != sqlstore.WitnessAction || body.Size != 2 || cp.Size != 2 || cp.Root != sealed.Checkpoint.Root {
			t.Fatalf("delivered %s (%v); want the signed checkpoint of 2 events", ds[0].Payload, err)
		}
	})
}
