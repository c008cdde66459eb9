package sqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
	"golang.org/x/mod/sumdb/tlog"
)

func verifyAll(t *testing.T, db *sqlstore.DB) audit.Report {
	t.Helper()
	var rep audit.Report
	err := db.Snapshot(ctx, func(ctx context.Context) error {
		var err error
		rep, err = audit.VerifyAll(ctx, db.Audit())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func record(t *testing.T, db *sqlstore.DB, conn string, n int) {
	t.Helper()
	for i := range n {
		err := db.InTx(ctx, func(ctx context.Context) error {
			e := audit.New(audit.WithSource(ctx, audit.Source{Actor: "token:t", RequestID: fmt.Sprint("r", i)}),
				time.Now(), "user.update", "user", fmt.Sprint("u", i))
			e.ConnectionID = conn
			e.Diff = audit.Diff(map[string]any{"title": "a"}, map[string]any{"title": fmt.Sprint("b", i)})
			return db.Audit().Record(ctx, e)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func testSealer(t *testing.T, db *sqlstore.DB) *audit.Sealer {
	t.Helper()
	skey, err := audit.GenerateKey("test-audit")
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.ParseKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &audit.Sealer{Store: db.Audit(), Key: key, Audit: db.Audit(), Chains: db.Audit(), Batch: 100}
}

// Writers on two connections and the control plane append at once, while the sealer
// seals; no event is skipped or sealed twice, whatever order the transactions commit
// in, and the rebuilt tree matches the signed checkpoint.
func TestAuditLogSealsConcurrentWritersInCommitOrder(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, b := setup(t, db)
		sealer := testSealer(t, db)
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		done := make(chan struct{})
		sealed := make(chan error, 1)
		go func() { // the sealer runs while the writers write
			for {
				select {
				case <-done:
					sealed <- nil
					return
				default:
				}
				if _, err := sealer.Once(ctx); err != nil {
					sealed <- err
					return
				}
			}
		}()
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn := []string{a, b}[w%2]
				for i := range 25 {
					err := db.InTx(ctx, func(ctx context.Context) error {
						for k := range 2 { // two events of one change
							e := audit.New(ctx, time.Now(), "user.update", "user", fmt.Sprintf("w%d-%d-%d", w, i, k))
							e.ConnectionID = conn
							if err := db.Audit().Record(ctx, e); err != nil {
								return err
							}
						}
						return db.Audit().Record(ctx, audit.New(ctx, time.Now(), "org.update", "org", "x"))
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(done)
		if err := <-sealed; err != nil {
			t.Fatal(err)
		}
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if _, err := sealer.Once(ctx); err != nil {
			t.Fatal(err)
		}
		var rep audit.Report
		err := db.Snapshot(ctx, func(ctx context.Context) error {
			var err error
			rep, err = audit.Verify(ctx, db.Audit(), audit.VerifyOptions{PublicKeys: []string{sealer.Key.PublicKey}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Chains != 3 || rep.LogSize != 16*25*3 || rep.Pending != 0 || !rep.Checkpoints[0].Signed {
			t.Fatalf("report %+v; want 1,200 events sealed in 3 chains, a signed checkpoint", rep)
		}
		evs, err := db.Audit().Events(ctx, audit.Query{Action: "user.", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 800 || evs[0].OrgPath == "" || evs[0].OrgID == "" {
			t.Fatalf("%d user events, first %+v; want 800 placed in the connection's org", len(evs), evs[0])
		}
		// Every event has an inclusion proof against the latest checkpoint.
		for _, e := range evs[:20] {
			p, err := db.Audit().Proof(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			cp, err := audit.OpenCheckpoint(p.Checkpoint, []string{sealer.Key.PublicKey})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Check(cp); err != nil {
				t.Fatal(err)
			}
			p.Event.Actor = "operator:mallory"
			if p.Check(cp) == nil {
				t.Fatal("a modified event passed its inclusion proof")
			}
		}
	})
}

func TestAuditEventsAreAppendOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := setup(t, db)
		record(t, db, a, 3)
		if _, err := testSealer(t, db).Once(ctx); err != nil {
			t.Fatal(err)
		}
		for _, stmt := range []string{
			"UPDATE audit_events SET actor = 'operator:mallory'",
			"DELETE FROM audit_events",
			"DELETE FROM audit_log",
			"UPDATE audit_checkpoints SET note = ''",
		} {
			if err := db.Exec(stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v; want refused as append-only", stmt, err)
			}
		}
		if db.Engine() == "postgres" {
			if err := db.Exec("TRUNCATE audit_events"); err == nil {
				t.Error("TRUNCATE accepted")
			}
		}
		if rep := verifyAll(t, db); !rep.OK() || rep.Events != 3 || rep.LogSize != 3 {
			t.Fatalf("after refused changes: %+v", rep)
		}
	})
}

// An attacker with write access to the database, triggers switched off, changes the
// trail; verification names what and where.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	// Each statement gets the id of the event at log position 3 and the connection.
	tests := []struct {
		name     string
		sql      []string
		position int64 // -1: a break of no position
		words    string
	}{
		{"update", []string{"UPDATE audit_events SET actor = 'operator:mallory' WHERE id = ?"}, 3, "modified"},
		{"update and rehash", []string{"UPDATE audit_events SET actor = 'operator:mallory', hash = 'x' WHERE id = ?"}, 3, "modified"},
		{"delete", []string{"DELETE FROM audit_events WHERE id = ?"}, 3, "deleted"},
		{"insert behind the sealer", []string{`INSERT INTO audit_events (id, chain, seq, at, actor, action, target_type, target_id, prev_hash, hash)
			SELECT 'forged', 'forged-chain', seq, at, 'operator:mallory', action, target_type, target_id, '', hash FROM audit_events WHERE id = ?`},
			-1, "inserted outside orgscim"},
		{"truncate the log", []string{"DELETE FROM audit_log WHERE position >= 3 AND ? <> ''"}, -1, "the log holds 3 events, its state records 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
				a, _ := setup(t, db)
				record(t, db, a, 10)
				if _, err := testSealer(t, db).Once(ctx); err != nil {
					t.Fatal(err)
				}
				if rep := verifyAll(t, db); !rep.OK() || rep.LogSize != 10 {
					t.Fatalf("before tampering: %+v", rep)
				}
				p, err := db.Audit().Proof(ctx, eventAt(t, db, 3))
				if err != nil {
					t.Fatal(err)
				}
				disableAuditTriggers(t, db)
				for _, stmt := range tt.sql {
					if err := db.Exec(stmt, p.Event.ID); err != nil {
						t.Fatal(err)
					}
				}
				rep := verifyAll(t, db)
				if rep.OK() {
					t.Fatal("tampering not detected")
				}
				named := false
				for _, b := range rep.Breaks {
					at := b.Position != nil && *b.Position == tt.position || b.Position == nil && tt.position < 0
					named = named || at && strings.Contains(b.Problem, tt.words)
				}
				if !named {
					t.Errorf("breaks %v; want one at position %d mentioning %q", rep.Breaks, tt.position, tt.words)
				}
			})
		})
	}
}

// eventAt is the id of the event at a log position.
func eventAt(t *testing.T, db *sqlstore.DB, position int64) string {
	t.Helper()
	var id string
	err := db.Audit().ScanLog(ctx, func(pos int64, _ tlog.Hash, e *audit.Event) error {
		if pos == position {
			id = e.ID
		}
		return nil
	})
	if err != nil || id == "" {
		t.Fatalf("no event at position %d: %v", position, err)
	}
	return id
}

func disableAuditTriggers(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	stmts := []string{"ALTER TABLE audit_events DISABLE TRIGGER USER", "ALTER TABLE audit_log DISABLE TRIGGER USER",
		"ALTER TABLE audit_checkpoints DISABLE TRIGGER USER"}
	if db.Engine() == "sqlite" {
		stmts = []string{"DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete",
			"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete",
			"DROP TRIGGER audit_checkpoints_no_update", "DROP TRIGGER audit_checkpoints_no_delete"}
	}
	for _, s := range stmts {
		if err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
}

// A change whose transaction fails after its audit events were inserted keeps neither.
func TestAuditEventAndChangeCommitTogether(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := setup(t, db)
		users := &provisioning.Users{Store: db.Users(), Tx: db}
		// The events are inserted last: failing their insert fails the transaction at
		// its very end.
		fail := `CREATE TRIGGER fail_head BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'injected failure'); END`
		if db.Engine() == "postgres" {
			if err := db.Exec(`CREATE FUNCTION fail_head() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'injected failure'; END $$`); err != nil {
				t.Fatal(err)
			}
			fail = `CREATE TRIGGER fail_head BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION fail_head()`
		}
		if err := db.Exec(fail); err != nil {
			t.Fatal(err)
		}
		err := db.InTx(ctx, func(ctx context.Context) error {
			u, err := users.Create(ctx, a, map[string]any{"userName": "doomed@example.com"}, "")
			if err != nil {
				return err
			}
			e := audit.New(ctx, time.Now(), "user.create", "user", u.ID)
			e.ConnectionID = a
			return db.Audit().Record(ctx, e)
		})
		if err == nil || !strings.Contains(err.Error(), "injected failure") {
			t.Fatalf("create: %v; want the injected failure", err)
		}
		page, err := users.List(ctx, a, provisioning.Query{Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		evs, err := db.Audit().Events(ctx, audit.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 0 || len(evs) != 0 {
			t.Fatalf("after the failed commit: %d users, %d events; want none", page.Total, len(evs))
		}
		if _, err := db.Audit().Events(ctx, audit.Query{After: "garbage"}); orgscim.ErrorCode(err) != orgscim.Invalid {
			t.Errorf("bad cursor: %v", err)
		}
	})
}
