package sqlstore

import (
	"context"
	"database/sql"

	"github.com/orgscim/orgscim/audit"
	"gorm.io/gorm"
)

// txKey carries the transaction of InTx in a context, so that every store method called
// with that context joins it: a change and its consequences in other parts of the domain
// (a membership and the grants it carries) commit or roll back together.
type txKey struct{ db *DB }

// txn is one transaction of InTx: its handle and the audit events recorded in it, which
// are written just before the commit (see appendAudit).
type txn struct {
	g      *gorm.DB
	events []audit.Event
	// queuedSETs: the commit must wake the Shared Signals pusher (see SSFWakeups).
	queuedSETs bool
}

// InTx runs fn in one transaction. Store calls made with the context fn receives join
// it; an InTx inside another joins the outer one. Audit events recorded in it are
// appended as its last statements, so they commit, or roll back, with the change.
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{db}).(*txn); ok {
		return fn(ctx)
	}
	t := &txn{}
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		t.g = tx
		if err := fn(context.WithValue(ctx, txKey{db}, t)); err != nil {
			return err
		}
		return db.appendAudit(tx, t)
	})
	if err == nil && t.queuedSETs {
		db.signalSSF()
	}
	return err
}

// inTx reports whether ctx carries a transaction of InTx.
func (db *DB) inTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{db}).(*txn)
	return ok
}

// q is the handle for one statement: the context's transaction, or the pool.
func (db *DB) q(ctx context.Context) *gorm.DB {
	if t, ok := ctx.Value(txKey{db}).(*txn); ok {
		return t.g
	}
	return db.gorm.WithContext(ctx)
}

// tx runs fn in the context's transaction, or in a new one.
func (db *DB) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if t, ok := ctx.Value(txKey{db}).(*txn); ok {
		return fn(t.g)
	}
	return db.transaction(ctx, fn)
}

// Snapshot runs fn in a read-only transaction that sees one consistent state of the
// database, however long it takes: audit verification reads each chain's head and then
// its events, and must not mistake an event appended in between for tampering.
func (db *DB) Snapshot(ctx context.Context, fn func(ctx context.Context) error) error {
	if db.inTx(ctx) {
		return fn(ctx)
	}
	var opts *sql.TxOptions
	if db.dialect.name == postgresDialect.name {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	return db.transaction(ctx, func(tx *gorm.DB) error {
		return fn(context.WithValue(ctx, txKey{db}, &txn{g: tx}))
	}, opts)
}
