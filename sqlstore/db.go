// Package sqlstore is orgscim's storage: gorm over PostgreSQL (production, scale) and over
// an embedded pure-Go SQLite (the zero-setup default). Both engines run the same schema
// shape from ../migrations and the same test suite; where they differ (JSON functions,
// row locks) the difference is confined to the dialect type.
//
// Connections: on PostgreSQL a pool of DefaultMaxConns (SetMaxConns), and no transaction
// ever asks the pool for a second connection (TestSCIMOnOneConnection); on SQLite a
// process's transactions take the one write lock in arrival order (writeTurn).
//
// Every query of tenant data carries the connection id in its WHERE clause. Errors that
// leave this package are *orgscim.Error for what a caller can act on (NotFound, Conflict)
// and wrapped driver errors otherwise, which adapters log and answer as a generic 500.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/orgscim/orgscim/migrations"
	"golang.org/x/sync/semaphore"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// DB is an open orgscim database.
type DB struct {
	gorm    *gorm.DB
	dialect dialect
	hot     hotStatements   // the fixed SQL of the hottest statements (rawsql.go)
	check   checkStatements // the access check's (checksql.go)
	pages   *pageCache
	log     auditLogLocks
	// reconciling is the reconciler's leadership on SQLite, where one process owns the
	// database.
	reconciling sync.Mutex
	// statements counts what the server sends to the database (see Statements).
	statements atomic.Uint64
	// ssfWake wakes the Shared Signals pusher when SETs were queued (see SSFWakeups).
	ssfWake chan struct{}
	// lockScope is the database and schema that PostgreSQL advisory locks are named in
	// (lockKey), read once at Open.
	lockScope string
	// writers is SQLite's queue for its one write lock (writeTurn); nil on PostgreSQL.
	writers *semaphore.Weighted
}

// DefaultMaxConns is the PostgreSQL connections a DB opens at most unless SetMaxConns
// says otherwise: four per CPU of this machine, at least 8 and at most 32. More
// connections than PostgreSQL has cores to run them do not add throughput: its backends
// then spend their CPU on each other's locks. On two cores, 20,000 creates at
// concurrency 32 cost PostgreSQL 1.03–1.14 ms of CPU each through 8 connections and
// 1.53–1.55 ms through 32 (docs/PERFORMANCE.md); the requests beyond the pool wait
// in the server, which costs nothing.
func DefaultMaxConns() int { return min(max(4*runtime.NumCPU(), 8), 32) }

// SetMaxConns bounds the connections to PostgreSQL this DB keeps open and idle (n > 0).
// SQLite's pool is its own: one writer at a time, a few readers.
func (db *DB) SetMaxConns(n int) error {
	if n <= 0 {
		return fmt.Errorf("sqlstore: the connection pool needs at least one connection, not %d", n)
	}
	if db.dialect.name != postgresDialect.name {
		return nil
	}
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return err
	}
	sqlDB.SetMaxOpenConns(n)
	sqlDB.SetMaxIdleConns(n)
	return nil
}

// MaxConns is the most connections this DB opens at once.
func (db *DB) MaxConns() int {
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return 0
	}
	return sqlDB.Stats().MaxOpenConnections
}

// Open connects to url — "postgres://..." (or "postgresql://") or "sqlite:PATH" — and
// applies any pending migrations under a lock, so that replicas starting together do
// not race.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
		TranslateError:         true, // see unavailableDialector
	}
	var (
		g   *gorm.DB
		d   dialect
		err error
	)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		d = postgresDialect
		g, err = gorm.Open(unavailableDialector{postgres.Open(url)}, cfg)
		if err == nil {
			var sqlDB *sql.DB
			if sqlDB, err = g.DB(); err == nil {
				n := DefaultMaxConns()
				sqlDB.SetMaxOpenConns(n)
				sqlDB.SetMaxIdleConns(n)
				sqlDB.SetConnMaxIdleTime(5 * time.Minute)
			}
		}
	case strings.HasPrefix(url, "sqlite:"):
		d = sqliteDialect
		path := strings.TrimPrefix(url, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("sqlstore: empty sqlite path in %q", url)
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("sqlstore: %w", err)
			}
		}
		// WAL lets readers run beside the one writer; IMMEDIATE transactions take the
		// write lock up front, so two read-modify-write transactions queue on
		// busy_timeout instead of failing with SQLITE_BUSY on upgrade.
		dsn := "file:" + path + "?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
			"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=case_sensitive_like(1)"
		// Switching a new file to WAL takes an exclusive lock without waiting on
		// busy_timeout, so processes opening one file at once retry for a while.
		for attempt := 0; ; attempt++ {
			g, err = gorm.Open(unavailableDialector{sqlite.Open(dsn)}, cfg)
			if err == nil || attempt == 50 || !strings.Contains(err.Error(), "SQLITE_BUSY") {
				break
			}
			if g != nil {
				if sqlDB, e := g.DB(); e == nil {
					sqlDB.Close()
				}
			}
			time.Sleep(time.Duration(10+attempt*10) * time.Millisecond)
		}
		if err == nil {
			var sqlDB *sql.DB
			if sqlDB, err = g.DB(); err == nil {
				sqlDB.SetMaxOpenConns(8)
			}
		}
	default:
		return nil, fmt.Errorf("sqlstore: unsupported database URL (want postgres://... or sqlite:PATH)")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open: %w", err)
	}
	db := &DB{gorm: g, dialect: d, hot: d.hotStatements(), check: d.checkStatements(), pages: newPageCache(), ssfWake: make(chan struct{}, 1)}
	if d.name == sqliteDialect.name {
		db.writers = semaphore.NewWeighted(1)
	}
	if err := countStatements(g, &db.statements); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if d.name == postgresDialect.name {
		if err := db.readLockScope(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlstore: %w", err)
		}
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Engine is "postgres" or "sqlite".
func (db *DB) Engine() string { return db.dialect.name }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Ready reports whether the database answers and every embedded migration is applied.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.Ping(ctx); err != nil {
		return err
	}
	files, err := db.migrationFiles()
	if err != nil {
		return err
	}
	var n int64
	if err := db.gorm.WithContext(ctx).Raw("SELECT count(*) FROM schema_migrations").Scan(&n).Error; err != nil {
		return err
	}
	if int(n) < len(files) {
		return fmt.Errorf("sqlstore: %d of %d migrations applied", n, len(files))
	}
	return nil
}

// Analyze refreshes the planner's statistics (after a bulk load, before autovacuum gets
// to it).
func (db *DB) Analyze(ctx context.Context) error {
	return db.gorm.WithContext(ctx).Exec("ANALYZE").Error
}

// migrationLockKey is the PostgreSQL advisory lock that serialises migrations across
// replicas: the ASCII of "orgscim" read as an integer.
const migrationLockKey = 0x6f726773_63696d

type migration struct {
	version int
	name    string
	sql     string
}

func (db *DB) migrationFiles() ([]migration, error) {
	dir := db.dialect.name
	entries, err := fs.ReadDir(migrations.FS, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("sqlstore: migration %s/%s is not named NNNN_name.sql", dir, name)
		}
		b, err := fs.ReadFile(migrations.FS, dir+"/"+name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("sqlstore: two migrations numbered %d", out[i].version)
		}
	}
	return out, nil
}

// migrate applies pending migrations. The whole run is one transaction that first takes
// the engine's lock (an advisory transaction lock on PostgreSQL, the write lock of an
// IMMEDIATE transaction on SQLite): a second replica waits, then finds nothing to do.
func (db *DB) migrate(ctx context.Context) error {
	files, err := db.migrationFiles()
	if err != nil {
		return err
	}
	err = db.transaction(ctx, func(tx *gorm.DB) error {
		if db.dialect.name == "postgres" {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", int64(migrationLockKey)).Error; err != nil {
				return err
			}
		}
		if err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`).Error; err != nil {
			return err
		}
		var applied []int
		if err := tx.Raw("SELECT version FROM schema_migrations").Scan(&applied).Error; err != nil {
			return err
		}
		done := map[int]bool{}
		for _, v := range applied {
			done[v] = true
		}
		for _, m := range files {
			if done[m.version] {
				continue
			}
			if err := tx.Exec(m.sql).Error; err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if err := tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, micros(time.Now())).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromMicrosPtr(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := fromMicros(*v)
	return &t
}

func microsPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := micros(*t)
	return &v
}

var errNoRows = gorm.ErrRecordNotFound

func isNoRows(err error) bool {
	return errors.Is(err, gorm.ErrRecordNotFound) || errors.Is(err, sql.ErrNoRows)
}
