package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// RateBuckets are the connections' SCIM rate-limit token buckets in PostgreSQL, shared
// by every replica on the database. A take is one UPDATE ... RETURNING: it refills the
// bucket by the time since its last take (on PostgreSQL's clock, so replicas' clocks
// need not agree), takes up to n whole tokens and returns how many it got. The row lock
// of the UPDATE serialises takes of one connection across replicas. A connection's
// first take after a start (or after a crash emptied the UNLOGGED table) inserts its
// full bucket first.
type RateBuckets struct{ db *DB }

// RateBuckets returns the shared buckets, or nil on SQLite: there one process owns the
// database and keeps its buckets in memory.
func (db *DB) RateBuckets() *RateBuckets {
	if db.dialect.name != "postgres" {
		return nil
	}
	return &RateBuckets{db: db}
}

// Take takes up to n (at least 1) of conn's tokens, of a budget of perSecond a second
// and bursts of burst. It returns how many it got; none when the budget is spent, and
// then how long until a token is due.
func (b *RateBuckets) Take(ctx context.Context, conn string, perSecond float64, burst, n int) (int, time.Duration, error) {
	n = max(n, 1)
	// refill is the bucket's tokens now: its tokens plus what accrued since its last
	// take, capped at burst. A take that started before the last one committed accrues
	// nothing, and at never goes back.
	const now = `(EXTRACT(EPOCH FROM statement_timestamp()) * 1e6)::bigint`
	const refill = `LEAST(CAST(@burst AS float8), tokens + GREATEST(0, ` + now + ` - at) * CAST(@rate AS float8) / 1e6)`
	const got = `LEAST(@n, FLOOR(` + refill + `))::int`
	args := map[string]any{"conn": conn, "burst": burst, "rate": perSecond, "n": n}
	for attempt := 0; ; attempt++ {
		var rows []struct {
			Tokens  float64
			Granted int
		}
		err := b.db.gorm.WithContext(ctx).Raw(`UPDATE rate_buckets SET tokens = `+refill+` - `+got+`, granted = `+got+`,
			at = GREATEST(at, `+now+`) WHERE connection_id = @conn RETURNING tokens, granted`, args).Scan(&rows).Error
		if err != nil {
			return 0, 0, fmt.Errorf("sqlstore: rate bucket: %w", err)
		}
		if len(rows) == 1 {
			if rows[0].Granted > 0 {
				return rows[0].Granted, 0, nil
			}
			return 0, time.Duration((1 - rows[0].Tokens) / perSecond * float64(time.Second)), nil
		}
		if attempt > 0 {
			return 0, 0, fmt.Errorf("sqlstore: rate bucket of %s vanished", conn)
		}
		if err := b.db.gorm.WithContext(ctx).Exec(`INSERT INTO rate_buckets (connection_id, tokens, at, granted)
			VALUES (@conn, CAST(@burst AS float8), `+now+`, 0) ON CONFLICT (connection_id) DO NOTHING`, args).Error; err != nil {
			return 0, 0, fmt.Errorf("sqlstore: rate bucket: %w", err)
		}
	}
}
