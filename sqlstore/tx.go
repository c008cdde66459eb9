package sqlstore

import (
	"context"

	"gorm.io/gorm"
)

// txKey carries the transaction of InTx in a context, so that every store method called
// with that context joins it: a change and its consequences in other parts of the domain
// (a membership and the grants it carries) commit or roll back together.
type txKey struct{ db *DB }

// InTx runs fn in one transaction. Store calls made with the context fn receives join
// it; an InTx inside another joins the outer one.
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{db}).(*gorm.DB); ok {
		return fn(ctx)
	}
	return db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(context.WithValue(ctx, txKey{db}, tx))
	})
}

// q is the handle for one statement: the context's transaction, or the pool.
func (db *DB) q(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{db}).(*gorm.DB); ok {
		return tx
	}
	return db.gorm.WithContext(ctx)
}

// tx runs fn in the context's transaction, or in a new one.
func (db *DB) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if tx, ok := ctx.Value(txKey{db}).(*gorm.DB); ok {
		return fn(tx)
	}
	return db.gorm.WithContext(ctx).Transaction(fn)
}
