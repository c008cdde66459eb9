package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// `orgscim audit verify` passes an intact trail and, after someone with database access
// rewrites an event, exits 1 naming the chain, position and event.
func TestAuditVerifyCommand(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			url := dbtest.URL(t, engine)
			db, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for i := range 5 {
				e := audit.New(audit.WithSource(ctx, audit.Source{Actor: "operator:test"}), time.Now(), "role.create", "role", fmt.Sprint("r", i))
				err := db.InTx(ctx, func(ctx context.Context) error { return db.Audit().Record(ctx, e) })
				if err != nil {
					t.Fatal(err)
				}
			}
			err = db.Audit().ScanChain(ctx, audit.Control, func(e *audit.Event) error {
				ids = append(ids, e.ID)
				return nil
			})
			if err != nil || len(ids) != 5 {
				t.Fatalf("chain: %v, %d events", err, len(ids))
			}
			db.Close()

			var out, errb bytes.Buffer
			if err := run(ctx, []string{"audit", "verify", "--database", url}, &out, &errb); err != nil {
				t.Fatalf("intact trail: %v\n%s%s", err, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), "1 chains, 5 events checked: intact") {
				t.Errorf("intact trail printed %q", out.String())
			}

			tamper(t, engine, url, "UPDATE audit_events SET actor = 'operator:mallory' WHERE seq = 3")
			out.Reset()
			err = run(ctx, []string{"audit", "verify", "--json", "--database", url}, &out, &errb)
			if !errors.Is(err, errBroken) {
				t.Fatalf("tampered trail: err %v; want errBroken", err)
			}
			var rep audit.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("--json output %q: %v", out.String(), err)
			}
			if len(rep.Breaks) == 0 || rep.Breaks[0].Chain != audit.Control || rep.Breaks[0].Seq != 3 ||
				rep.Breaks[0].EventID != ids[2] || !strings.Contains(rep.Breaks[0].Problem, "modified") {
				t.Errorf("report %+v; want the third event (%s) named as modified", rep, ids[2])
			}
		})
	}
}

// tamper changes the database behind orgscim's back, append-only triggers switched off,
// as an attacker with the database's credentials could.
func tamper(t *testing.T, engine, url, stmt string) {
	t.Helper()
	var (
		raw *sql.DB
		err error
		off []string
	)
	switch engine {
	case "sqlite":
		raw, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(url, "sqlite:"))
		off = []string{"DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete"}
	case "postgres":
		raw, err = sql.Open("pgx", url)
		off = []string{"ALTER TABLE audit_events DISABLE TRIGGER USER"}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range append(off, stmt) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
