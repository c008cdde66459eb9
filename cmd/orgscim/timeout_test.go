package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"  // database/sql driver "sqlite", to hold the write lock
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to hold a table lock
	"github.com/labstack/echo/v4"
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
// The verdict does not depend on the machine's speed. Only the create goes through the
// server with the short timeout; everything around it uses a server on the same database
// with the default timeout. A probe inside the timeout middleware hands the test the
// create's context, and the lock is released only once that context's deadline has
// passed (SQLite's busy wait for its write lock cannot be interrupted by the pure-Go
// driver) or, on PostgreSQL, once the answer is in (the driver cancels the waiting
// statement at the deadline). Either way the create cannot have written before its
// deadline, and the answer must be the timeout's. Durations here bound hangs only.
func TestRequestTimeoutAnswers503(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			dbURL := dbtest.URL(t, engine)
			db, err := sqlstore.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			env := newE2E(t, db) // the default request timeout
			c := env.connect("slow", "entra")
			c.list().must(t, http.StatusOK) // authenticates once: the token's last use is recorded now

			const timeout = 300 * time.Millisecond
			slow, creates := newTimeoutServer(t, env, timeout)
			release := holdWriteLock(t, engine, dbURL)
			type answer struct {
				r    *reply
				took time.Duration
			}
			answered := make(chan answer, 1)
			sc := *c
			sc.env = slow
			go func() {
				start := time.Now()
				r := sc.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "slow@example.com"})
				answered <- answer{r, time.Since(start)}
			}()
			var reqCtx context.Context
			select {
			case reqCtx = <-creates:
			case <-time.After(time.Minute):
				t.Fatal("the create never reached the handler")
			}
			<-reqCtx.Done() // the request's own deadline
			if engine == "sqlite" {
				release()
			}
			var a answer
			select {
			case a = <-answered:
			case <-time.After(time.Minute):
				t.Fatal("no answer a minute after the request's deadline")
			}
			a.r.scimError(t, http.StatusServiceUnavailable, "")
			if a.took < timeout {
				t.Errorf("answered 503 after %s, before the %s timeout", a.took, timeout)
			}
			// The server that timed out is still answering.
			if st, _, body := plainGet(t, slow.srv.URL, "/healthz"); st != http.StatusOK {
				t.Errorf("after the timeout /healthz answers %d %s", st, body)
			}
			// The lock lets reads through (SQLite's WAL, PostgreSQL's EXCLUSIVE mode).
			c.list().must(t, http.StatusOK)
			release()

			// The timed-out create left nothing behind: the same userName is free.
			c.create(map[string]any{"userName": "slow@example.com"})

			var logged bool
			for _, line := range strings.Split(strings.TrimSpace(slow.logs.String()), "\n") {
				var rec map[string]any
				_ = json.Unmarshal([]byte(line), &rec)
				if rec["msg"] == "request timed out" {
					logged = rec["request_id"] == a.r.Header.Get("X-Request-ID") && rec["request_id"] != ""
				}
			}
			if !logged {
				t.Errorf("the timeout is not logged with the request id %q:\n%s", a.r.Header.Get("X-Request-ID"), slow.logs.String())
			}
		})
	}
}

// newTimeoutServer starts a second server over env's database and clock with the given
// request timeout, and returns it with a channel that gets
// the context of each POST as its handler sees it: deadline included.
func newTimeoutServer(t *testing.T, env *e2eEnv, timeout time.Duration) (*e2eEnv, <-chan context.Context) {
	t.Helper()
	logs := &syncBuffer{}
	h := newHandler(env.db, slog.New(slog.NewJSONHandler(logs, nil)), httpConfig{RequestTimeout: timeout, Now: env.clock.Now})
	creates := make(chan context.Context, 1)
	// Use appends: the probe runs inside the timeout middleware, just before the route.
	h.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().Method == http.MethodPost {
				creates <- c.Request().Context()
			}
			return next(c)
		}
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &e2eEnv{t: t, db: env.db, srv: srv, logs: logs, clock: env.clock}, creates
}
