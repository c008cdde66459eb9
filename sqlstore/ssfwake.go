package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// ssfChannel is the PostgreSQL notification channel a transaction that queued SETs
// notifies. NOTIFY is delivered only when that transaction commits, so a pusher woken
// by it finds the SETs there; a rolled-back change wakes nobody.
const ssfChannel = "orgscim_ssf"

// signalSSF wakes this process's pusher without blocking: wakes that arrive while it
// is busy fold into one, and that one makes it look again once it is done.
func (db *DB) signalSSF() {
	select {
	case db.ssfWake <- struct{}{}:
	default:
	}
}

// wakeSSFAfterCommit wakes this process's pusher once what ctx wrote is committed: now,
// or when the InTx ctx carries commits.
func (db *DB) wakeSSFAfterCommit(ctx context.Context) {
	if t, ok := ctx.Value(txKey{db}).(*txn); ok {
		t.queuedSETs = true
		return
	}
	db.signalSSF()
}

// notifySSF asks, inside tx, for the pushers of every replica to be woken when tx
// commits (PostgreSQL); on SQLite, whose one process is the only writer, InTx signals
// after the commit instead.
func (db *DB) notifySSF(tx *gorm.DB) error {
	if db.dialect.name != postgresDialect.name {
		return nil
	}
	if err := tx.Exec("SELECT pg_notify('" + ssfChannel + "', '')").Error; err != nil {
		return fmt.Errorf("sqlstore: notify queued SETs: %w", err)
	}
	return nil
}

// SSFWakeups is the channel that says SETs may have been queued since the last look,
// for ssf.Pusher.Wake: after a commit of this process, and on PostgreSQL after a commit
// of any replica, through LISTEN on a connection of the pool kept until ctx ends. A lost
// connection is replaced after a pause, with a wake-up, since notifications sent
// meanwhile are lost; the pusher's tick covers the pause. Call it once per DB.
func (db *DB) SSFWakeups(ctx context.Context, logger *slog.Logger) <-chan struct{} {
	if db.dialect.name == postgresDialect.name {
		go db.listenSSF(ctx, logger)
	}
	return db.ssfWake
}

func (db *DB) listenSSF(ctx context.Context, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for pause := 100 * time.Millisecond; ctx.Err() == nil; pause = min(pause*2, 5*time.Second) {
		err := db.listenSSFOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		logger.Warn("ssf: listening for queued SETs", slog.String("error", err.Error()),
			slog.Duration("retry_in", pause))
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// errListenDone discards the listening connection instead of returning it to the pool,
// where it would go on receiving notifications.
var errListenDone = fmt.Errorf("sqlstore: ssf listener done: %w", driver.ErrBadConn)

func (db *DB) listenSSFOnce(ctx context.Context) error {
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var cause error
	_ = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			cause = fmt.Errorf("sqlstore: ssf listener: unexpected driver connection %T", dc)
			return errListenDone
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+ssfChannel); err != nil {
			cause = err
			return errListenDone
		}
		// Whatever was committed before LISTEN took effect is looked for now.
		db.signalSSF()
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				cause = err
				return errListenDone
			}
			db.signalSSF()
		}
	})
	if cause == nil {
		cause = errors.New("sqlstore: ssf listener stopped")
	}
	return cause
}
