// Package dbtest gives tests a fresh, migrated orgscim database on every engine: an
// embedded SQLite file always, and PostgreSQL when ORGSCIM_TEST_DATABASE_URL is set.
// With ORGSCIM_REQUIRE_POSTGRES=1 (as in CI) a missing PostgreSQL fails the test instead
// of skipping it.
//
// Each PostgreSQL database lives in a schema of its own, dropped when the test ends, so
// tests run in parallel against one server without seeing each other.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to create and drop schemas
	"github.com/orgscim/orgscim/sqlstore"
)

// Engines names the engines a storage test must run on.
func Engines(t testing.TB) []string {
	engines := []string{"sqlite"}
	if os.Getenv("ORGSCIM_TEST_DATABASE_URL") != "" {
		engines = append(engines, "postgres")
	} else if os.Getenv("ORGSCIM_REQUIRE_POSTGRES") == "1" {
		t.Fatal("ORGSCIM_REQUIRE_POSTGRES=1 but ORGSCIM_TEST_DATABASE_URL is not set")
	}
	// ORGSCIM_TEST_ENGINES narrows a long run (make model) to some engines.
	if only := os.Getenv("ORGSCIM_TEST_ENGINES"); only != "" {
		engines = slices.DeleteFunc(engines, func(e string) bool { return !slices.Contains(strings.Split(only, ","), e) })
	}
	return engines
}

// URL returns the URL of a fresh, empty database of the engine, removed at cleanup.
func URL(t testing.TB, engine string) string {
	t.Helper()
	switch engine {
	case "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "orgscim.db")
	case "postgres":
		base := os.Getenv("ORGSCIM_TEST_DATABASE_URL")
		if base == "" {
			t.Skip("ORGSCIM_TEST_DATABASE_URL not set: PostgreSQL skipped")
		}
		var b [6]byte
		_, _ = rand.Read(b[:])
		schema := "t_" + hex.EncodeToString(b[:])
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Fatalf("dbtest: %v", err)
		}
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			admin.Close()
			t.Fatalf("dbtest: create schema: %v", err)
		}
		t.Cleanup(func() {
			_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			admin.Close()
		})
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("dbtest: %v", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	t.Fatalf("dbtest: unknown engine %q", engine)
	return ""
}

// Open returns a fresh migrated database of the engine, closed at cleanup. Its support
// policy is off, as in a deployment that existed before the policy: tests act on
// partners' data with operator keys; those of support sessions turn it on (OpenNew).
func Open(t testing.TB, engine string) *sqlstore.DB {
	t.Helper()
	db := OpenNew(t, engine)
	p, err := db.Support().SupportPolicy(context.Background())
	if err == nil {
		p.Required = false
		err = db.Support().SetSupportPolicy(context.Background(), p)
	}
	if err != nil {
		t.Fatalf("dbtest: support policy: %v", err)
	}
	return db
}

// OpenNew returns a fresh migrated database of the engine as a new deployment has it,
// support policy on; closed at cleanup.
func OpenNew(t testing.TB, engine string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), URL(t, engine))
	if err != nil {
		t.Fatalf("dbtest: open %s: %v", engine, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Each runs fn as a subtest per engine with a fresh database. Without a PostgreSQL the
// postgres subtest is there, skipped, so that make test counts and lists what did not
// run.
func Each(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	for _, engine := range Engines(t) {
		t.Run(engine, func(t *testing.T) {
			fn(t, Open(t, engine))
		})
	}
	if PostgresURL() == "" {
		t.Run("postgres", func(t *testing.T) { URL(t, "postgres") })
	}
}

// PostgresURL is the PostgreSQL server of the tests, or "" when there is none.
func PostgresURL() string { return os.Getenv("ORGSCIM_TEST_DATABASE_URL") }
