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

func TestAuditChainsStayLinearUnderConcurrentWriters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, b := setup(t, db)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
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
						// and one of the control plane, so transactions hold two chains
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
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		rep := verifyAll(t, db)
		if !rep.OK() || rep.Chains != 3 || rep.Events != 16*25*3 {
			t.Fatalf("report %+v; want 3 intact chains of 1,200 events", rep)
		}
		evs, err := db.Audit().Events(ctx, audit.Query{Action: "user.", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 800 || evs[0].OrgPath == "" || evs[0].OrgID == "" {
			t.Fatalf("%d user events, first %+v; want 800 placed in the connection's org", len(evs), evs[0])
		}
	})
}

func TestAuditEventsAreAppendOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := setup(t, db)
		record(t, db, a, 3)
		for _, stmt := range []string{
			"UPDATE audit_events SET actor = 'operator:mallory'",
			"DELETE FROM audit_events WHERE seq = 2",
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
		if rep := verifyAll(t, db); !rep.OK() || rep.Events != 3 {
			t.Fatalf("after refused changes: %+v", rep)
		}
	})
}

// An attacker with write access to the database, triggers switched off, changes the
// trail; verification names what and where.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name  string
		sql   []string
		seq   int64
		words string
	}{
		{"update", []string{"UPDATE audit_events SET actor = 'operator:mallory' WHERE seq = 4 AND chain = ?"}, 4, "modified"},
		{"delete", []string{"DELETE FROM audit_events WHERE seq = 4 AND chain = ?"}, 5, "4 to 4 are missing"},
		{"truncate the middle", []string{"DELETE FROM audit_events WHERE seq BETWEEN 3 AND 7 AND chain = ?"}, 8, "3 to 7 are missing"},
		{"truncate the end", []string{"DELETE FROM audit_events WHERE seq > 6 AND chain = ?"}, 7, "truncated"},
		{"insert", []string{`INSERT INTO audit_events (id, chain, seq, at, actor, action, target_type, target_id, prev_hash, hash)
			SELECT 'forged', chain, 11, at, 'operator:mallory', action, target_type, target_id, hash, hash FROM audit_events WHERE seq = 10 AND chain = ?`}, 11, "outside orgscim"},
		{"reorder", []string{
			"UPDATE audit_events SET seq = -1 WHERE seq = 3 AND chain = ?",
			"UPDATE audit_events SET seq = 3 WHERE seq = 4 AND chain = ?",
			"UPDATE audit_events SET seq = 4 WHERE seq = -1 AND chain = ?"}, 3, "reordered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
				a, _ := setup(t, db)
				record(t, db, a, 10)
				if rep := verifyAll(t, db); !rep.OK() {
					t.Fatalf("before tampering: %+v", rep)
				}
				disableAuditTriggers(t, db)
				for _, stmt := range tt.sql {
					if err := db.Exec(stmt, a); err != nil {
						t.Fatal(err)
					}
				}
				rep := verifyAll(t, db)
				if rep.OK() {
					t.Fatal("tampering not detected")
				}
				named := false
				for _, b := range rep.Breaks {
					named = named || b.Chain == a && b.Seq == tt.seq && strings.Contains(b.Problem, tt.words)
				}
				if !named {
					t.Errorf("breaks %v; want one at chain %s seq %d mentioning %q", rep.Breaks, a, tt.seq, tt.words)
				}
			})
		})
	}
}

func disableAuditTriggers(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	stmts := []string{"ALTER TABLE audit_events DISABLE TRIGGER USER"}
	if db.Engine() == "sqlite" {
		stmts = []string{"DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete"}
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
		// The chain head is updated after the events are inserted: failing it fails
		// the transaction at its very end.
		fail := `CREATE TRIGGER fail_head BEFORE UPDATE ON audit_chains BEGIN SELECT RAISE(ABORT, 'injected failure'); END`
		if db.Engine() == "postgres" {
			if err := db.Exec(`CREATE FUNCTION fail_head() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'injected failure'; END $$`); err != nil {
				t.Fatal(err)
			}
			fail = `CREATE TRIGGER fail_head BEFORE UPDATE ON audit_chains FOR EACH ROW EXECUTE FUNCTION fail_head()`
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
