package sqlstore

import (
	"context"
	"database/sql"
	"sync/atomic"

	"gorm.io/gorm"
)

// Stats returns the statistics of the database's connection pool (open, in use and idle
// connections, waits for a free one), for the server's metrics. It is the zero value when
// the pool cannot be reached.
func (db *DB) Stats() sql.DBStats {
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return sql.DBStats{}
	}
	return sqlDB.Stats()
}

// Statements is how many statements the server has sent to the database since it
// opened it, each transaction's begin and commit (or rollback) included: the round
// trips a request costs, which the load tool divides by its requests where
// pg_stat_statements is not loaded.
func (db *DB) Statements() uint64 { return db.statements.Load() }

// countStatements counts every statement gorm sends, whatever the method that built it.
// It runs after the statement, so a statement gorm refused before sending (an error in
// building it) is not counted.
func countStatements(g *gorm.DB, n *atomic.Uint64) error {
	count := func(*gorm.DB) { n.Add(1) }
	cb := g.Callback()
	for _, err := range []error{
		cb.Create().After("*").Register("orgscim:count", count),
		cb.Query().After("*").Register("orgscim:count", count),
		cb.Update().After("*").Register("orgscim:count", count),
		cb.Delete().After("*").Register("orgscim:count", count),
		cb.Row().After("*").Register("orgscim:count", count),
		cb.Raw().After("*").Register("orgscim:count", count),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// transaction runs fn in a new transaction and counts its begin and its end.
func (db *DB) transaction(ctx context.Context, fn func(tx *gorm.DB) error, opts ...*sql.TxOptions) error {
	if db.writers != nil {
		release, err := db.writeTurn(ctx)
		if err != nil {
			return err
		}
		defer release()
	}
	db.statements.Add(2)
	return db.gorm.WithContext(ctx).Transaction(fn, opts...)
}
