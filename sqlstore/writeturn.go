package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orgscim/orgscim"
)

// writeTurnWait bounds a transaction's wait for its turn, as busy_timeout bounds a wait
// for SQLite's lock: past it the answer is "unavailable, retry later".
const writeTurnWait = 10 * time.Second

// writeTurn waits, on SQLite, for this process's turn to hold the database's one write
// lock, and returns what gives the turn back. Every transaction here begins IMMEDIATE,
// taking the write lock at once; without a queue, the writers that find it taken sleep
// in SQLite's busy handler and retry, ever longer, and whoever retries at the right
// instant wins. Under a burst of SCIM writes a transaction could lose that draw for
// seconds: the Shared Signals pusher, whose claim and acknowledgement are transactions
// too, delivered a revocation up to 1.6 s after its commit (p99) at 16 deactivations at
// once. Turns are given in arrival order (a semaphore of one, first in, first out), so a
// transaction waits for those before it, not for luck. Statements outside a transaction
// still meet other processes' writers in the busy handler.
func (db *DB) writeTurn(ctx context.Context) (func(), error) {
	wctx, cancel := context.WithTimeout(ctx, writeTurnWait)
	defer cancel()
	if err := db.writers.Acquire(wctx, 1); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: waited %s for the database's write lock", orgscim.ErrUnavailable, writeTurnWait)
		}
		return nil, err
	}
	return func() { db.writers.Release(1) }, nil
}
