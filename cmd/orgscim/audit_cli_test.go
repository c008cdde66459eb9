package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
	"golang.org/x/mod/sumdb/tlog"
)

// auditEnv is a database of one engine, its signing key file, and the CLI over both.
type auditEnv struct {
	t           *testing.T
	engine, url string
	key, dir    string
	orgs        int
}

func newAuditEnv(t *testing.T, engine string) *auditEnv {
	dir := t.TempDir()
	return &auditEnv{t: t, engine: engine, url: dbtest.URL(t, engine), key: filepath.Join(dir, "audit.key"), dir: dir}
}

// cli runs orgscim with the env's database and key; it returns the output and error.
func (a *auditEnv) cli(args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), append(args, "--database", a.url), &out, &errb)
	return out.String() + errb.String(), err
}

func (a *auditEnv) must(args ...string) string {
	a.t.Helper()
	out, err := a.cli(args...)
	if err != nil {
		a.t.Fatalf("orgscim %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// change makes n audited changes (orgs created) and seals them.
func (a *auditEnv) change(n int) {
	a.t.Helper()
	for range n {
		a.orgs++
		a.must("org", "create", "--name", fmt.Sprint("Org ", a.orgs), "--slug", fmt.Sprint("org-", a.orgs))
	}
	a.must("audit", "seal", "--audit-key", a.key)
}

// exportCheckpoint saves the latest checkpoint outside the database, as a witness would.
func (a *auditEnv) exportCheckpoint(name string) string {
	a.t.Helper()
	path := filepath.Join(a.dir, name)
	if err := os.WriteFile(path, []byte(a.must("audit", "checkpoint")), 0o644); err != nil {
		a.t.Fatal(err)
	}
	return path
}

// logPoint is what a backup holds of the log's tables, enough to restore it.
type logPoint struct{ size, sealedSeq int64 }

func (a *auditEnv) point() logPoint {
	a.t.Helper()
	var p logPoint
	a.sql(func(raw *sql.DB) {
		if err := raw.QueryRow("SELECT size, sealed_seq FROM audit_log_state").Scan(&p.size, &p.sealedSeq); err != nil {
			a.t.Fatal(err)
		}
	})
	return p
}

// restore puts the audit tables back as a backup taken at p held them: what restoring
// that backup does to the log (everything else in it is beside the point).
func (a *auditEnv) restore(p logPoint) {
	a.tamper(
		fmt.Sprintf("DELETE FROM audit_events WHERE seq > %d", p.sealedSeq),
		fmt.Sprintf("DELETE FROM audit_log WHERE position >= %d", p.size),
		fmt.Sprintf("DELETE FROM audit_tree WHERE idx >= %d", tlog.StoredHashIndex(0, p.size)),
		fmt.Sprintf("DELETE FROM audit_checkpoints WHERE size > %d", p.size),
		fmt.Sprintf("UPDATE audit_log_state SET size = %d, sealed_seq = %d", p.size, p.sealedSeq))
}

func (a *auditEnv) sql(fn func(*sql.DB)) {
	a.t.Helper()
	driver, dsn := "pgx", a.url
	if a.engine == "sqlite" {
		driver, dsn = "sqlite", "file:"+strings.TrimPrefix(a.url, "sqlite:")
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		a.t.Fatal(err)
	}
	defer raw.Close()
	fn(raw)
}

// tamper changes the database behind orgscim's back, append-only triggers switched
// off, as an attacker with the database's credentials could.
func (a *auditEnv) tamper(stmts ...string) {
	a.t.Helper()
	off := []string{"ALTER TABLE audit_events DISABLE TRIGGER USER", "ALTER TABLE audit_log DISABLE TRIGGER USER",
		"ALTER TABLE audit_checkpoints DISABLE TRIGGER USER"}
	if a.engine == "sqlite" {
		off = []string{"DROP TRIGGER IF EXISTS audit_events_no_update", "DROP TRIGGER IF EXISTS audit_events_no_delete",
			"DROP TRIGGER IF EXISTS audit_log_no_update", "DROP TRIGGER IF EXISTS audit_log_no_delete",
			"DROP TRIGGER IF EXISTS audit_checkpoints_no_update", "DROP TRIGGER IF EXISTS audit_checkpoints_no_delete"}
	}
	a.sql(func(raw *sql.DB) {
		for _, q := range append(off, stmts...) {
			if _, err := raw.Exec(q); err != nil {
				a.t.Fatalf("%s: %v", q, err)
			}
		}
	})
}

// reseal throws the log's tree and checkpoints away and seals every event again with
// the signing key: what an operator holding the key can do after rewriting events.
func (a *auditEnv) reseal() {
	a.tamper("DELETE FROM audit_log", "DELETE FROM audit_tree", "DELETE FROM audit_checkpoints",
		"UPDATE audit_log_state SET size = 0, sealed_seq = legacy_max, legacy_done = FALSE, legacy_at = -1, legacy_id = ''")
	a.must("audit", "seal", "--audit-key", a.key)
}

// `orgscim audit verify` passes an intact log and, after someone with database access
// rewrites a sealed event, exits 1 naming its position and id.
func TestAuditVerifyCommand(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			a := newAuditEnv(t, engine)
			a.change(5)
			out := a.must("audit", "verify", "--audit-key", a.key)
			if !strings.Contains(out, "5 events checked (5 in the log, 0 pending)") || !strings.Contains(out, "intact") ||
				!strings.Contains(out, "checkpoint latest stored (5 events): consistent, signature checked") {
				t.Errorf("intact log printed %q", out)
			}
			var id string
			a.sql(func(raw *sql.DB) {
				if err := raw.QueryRow("SELECT event_id FROM audit_log WHERE position = 2").Scan(&id); err != nil {
					t.Fatal(err)
				}
			})
			a.tamper("UPDATE audit_events SET actor = 'operator:mallory' WHERE id = '" + id + "'")
			out, err := a.cli("audit", "verify", "--json", "--audit-key", a.key)
			if !errors.Is(err, errBroken) {
				t.Fatalf("tampered log: err %v; want errBroken\n%s", err, out)
			}
			var rep audit.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("--json output %q: %v", out, err)
			}
			if len(rep.Breaks) == 0 || rep.Breaks[0].Position == nil || *rep.Breaks[0].Position != 2 ||
				rep.Breaks[0].EventID != id || !strings.Contains(rep.Breaks[0].Problem, "modified") {
				t.Errorf("report %+v; want the third event (%s) named as modified", rep, id)
			}
		})
	}
}

// The four attacks of issue 15 by someone who holds the database and the signing key,
// each caught by a checkpoint exported before it; the untouched log passes.
func TestAuditVerifyDetectsAttacksWithExportedCheckpoints(t *testing.T) {
	attacks := []struct {
		name   string
		attack func(a *auditEnv, backup logPoint)
		want   string
	}{
		{"untouched", func(a *auditEnv, _ logPoint) { a.change(2) }, ""},
		{"rollback to a backup", func(a *auditEnv, backup logPoint) { a.restore(backup) },
			"is of 10 events, the database holds 5: events were removed (rolled back or truncated)"},
		{"truncation with a rewritten head", func(a *auditEnv, _ logPoint) {
			var oldest int64
			a.sql(func(raw *sql.DB) {
				if err := raw.QueryRow("SELECT seq FROM audit_events e JOIN audit_log l ON l.event_id = e.id WHERE l.position = 7").
					Scan(&oldest); err != nil {
					a.t.Fatal(err)
				}
			})
			a.tamper(fmt.Sprintf("DELETE FROM audit_events WHERE seq >= %d", oldest))
			a.reseal() // the head (state, tree, checkpoint) rewritten and re-signed to match
			if out, err := a.cli("audit", "verify", "--audit-key", a.key); err != nil {
				a.t.Fatalf("the truncated log must look intact on its own: %v\n%s", err, out)
			}
		}, "is of 10 events, the database holds 7: events were removed (rolled back or truncated)"},
		{"old event modified, everything recomputed", func(a *auditEnv, _ logPoint) {
			e := a.eventAt(1)
			e.Actor = "operator:mallory"
			a.tamper(fmt.Sprintf("UPDATE audit_events SET actor = '%s', hash = '%s' WHERE id = '%s'", e.Actor, audit.ContentHash(&e), e.ID))
			a.reseal()
			if out, err := a.cli("audit", "verify", "--audit-key", a.key); err != nil {
				a.t.Fatalf("the recomputed log must look intact on its own: %v\n%s", err, out)
			}
		}, "the root of the log's first 10 events differs from the checkpoint's: history was rewritten"},
		{"fork on an older backup", func(a *auditEnv, backup logPoint) {
			a.restore(backup)
			a.change(8) // a different history, longer than the exported checkpoint
		}, "the root of the log's first 10 events differs from the checkpoint's: history was rewritten or forked"},
	}
	for _, engine := range dbtest.Engines(t) {
		for _, tt := range attacks {
			t.Run(engine+"/"+tt.name, func(t *testing.T) {
				a := newAuditEnv(t, engine)
				a.change(5)
				backup := a.point()
				a.change(5)
				exported := a.exportCheckpoint("witnessed.checkpoint")
				tt.attack(a, backup)
				out, err := a.cli("audit", "verify", "--checkpoint", exported, "--audit-key", a.key)
				if tt.want == "" {
					if err != nil || !strings.Contains(out, "consistent, signature checked") {
						t.Fatalf("untouched log: %v\n%s", err, out)
					}
					return
				}
				if !errors.Is(err, errBroken) || !strings.Contains(out, tt.want) {
					t.Fatalf("after the attack: err %v; want errBroken naming %q\n%s", err, tt.want, out)
				}
			})
		}
	}
}

// eventAt reads the event at a position of the log.
func (a *auditEnv) eventAt(position int64) audit.Event {
	a.t.Helper()
	db, err := sqlstore.Open(context.Background(), a.url)
	if err != nil {
		a.t.Fatal(err)
	}
	defer db.Close()
	var out *audit.Event
	err = db.Audit().ScanLog(context.Background(), func(pos int64, _ tlog.Hash, e *audit.Event) error {
		if pos == position {
			out = e
		}
		return nil
	})
	if err != nil || out == nil {
		a.t.Fatalf("no event at position %d: %v", position, err)
	}
	return *out
}
