package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"  // database/sql driver "sqlite", to hold the write lock
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to hold a table lock
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// holdWriteLock takes, on a connection of its own, a lock that makes every write to
// scim_users wait: SQLite's one write lock, or an exclusive lock of the table on
// PostgreSQL. It returns the function that releases it.
func holdWriteLock(t *testing.T, engine, dbURL string) (release func()) {
	t.Helper()
	ctx := context.Background()
	var (
		raw  *sql.DB
		err  error
		lock []string
	)
	switch engine {
	case "sqlite":
		raw, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(dbURL, "sqlite:")+"?_pragma=busy_timeout(10000)")
		lock = []string{"BEGIN IMMEDIATE"}
	case "postgres":
		raw, err = sql.Open("pgx", dbURL)
		lock = []string{"BEGIN", "LOCK TABLE scim_users IN EXCLUSIVE MODE"}
	}
	if err != nil {
		t.Fatal(err)
	}
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range lock {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Errorf("release lock: %v", err)
			}
			conn.Close()
			raw.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// A request that cannot finish within the request timeout — here a create waiting for a
// database lock that another session holds — is answered 503 with a SCIM error document
// instead of hanging, and stores nothing.
//
// On PostgreSQL the lock is held for the whole test: the driver cancels the waiting
// statement at the deadline and the answer comes right after the timeout. SQLite's busy
// wait for its write lock cannot be interrupted by the pure-Go driver, so there a waiting
// request is bounded by the database's busy_timeout (10 s), not by the request timeout;
// the test releases the lock after a second and checks that the request, by then past its
// deadline, fails with 503 as soon as the lock is free instead of finishing its write.
func TestRequestTimeoutAnswers503(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			dbURL := dbtest.URL(t, engine)
			db, err := sqlstore.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			const timeout = 300 * time.Millisecond
			env := newE2EWith(t, db, httpConfig{RequestTimeout: timeout})
			c := env.connect("slow", "entra")
			c.list().must(t, http.StatusOK) // authenticates once: the token's last use is recorded now

			release := holdWriteLock(t, engine, dbURL)
			answerBy := timeout
			if engine == "sqlite" {
				const held = time.Second
				time.AfterFunc(held, release)
				answerBy = held
			}
			start := time.Now()
			r := c.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "slow@example.com"})
			took := time.Since(start)
			r.scimError(t, http.StatusServiceUnavailable, "")
			if took < timeout || took > answerBy+2*time.Second {
				t.Errorf("answered after %s; want soon after %s", took, answerBy)
			}
			// The lock lets reads through (SQLite's WAL, PostgreSQL's EXCLUSIVE mode), and
			// the server is still answering.
			c.list().must(t, http.StatusOK)
			release()

			// The timed-out create left nothing behind: the same userName is free.
			c.create(map[string]any{"userName": "slow@example.com"})

			var logged bool
			for _, line := range strings.Split(strings.TrimSpace(env.logs.String()), "\n") {
				var rec map[string]any
				_ = json.Unmarshal([]byte(line), &rec)
				if rec["msg"] == "request timed out" {
					logged = rec["request_id"] == r.Header.Get("X-Request-ID") && rec["request_id"] != ""
				}
			}
			if !logged {
				t.Errorf("the timeout is not logged with the request id %q:\n%s", r.Header.Get("X-Request-ID"), env.logs.String())
			}
		})
	}
}
