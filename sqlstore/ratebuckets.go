package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// RateBuckets are the connections' SCIM rate-limit token buckets in PostgreSQL, shared
// by every replica on the database. One take is one statement: an upsert that refills
// the bucket by the time since its last take (on PostgreSQL's clock, so replicas' clocks
// need not agree), spends a token when there is a whole one, and returns the outcome.
// The row lock of the upsert serialises takes of one connection across replicas.
type RateBuckets struct{ db *DB }

// RateBuckets returns the shared buckets, or nil on SQLite: there one process owns the
// database and keeps its buckets in memory.
func (db *DB) RateBuckets() *RateBuckets {
	if db.dialect.name != "postgres" {
		return nil
	}
	return &RateBuckets{db: db}
}

// Take spends one request of conn's budget of perSecond requests a second and bursts
// of burst. When the budget is spent it spends nothing and returns how long until a
// request would be allowed.
func (b *RateBuckets) Take(ctx context.Context, conn string, perSecond float64, burst int) (time.Duration, bool, error) {
	var out struct {
		Tokens  float64
		Granted bool
	}
	// refill is the bucket's tokens now: its tokens plus what accrued since its last
	// take, capped at burst (a clock step backwards accrues nothing).
	const refill = `LEAST(CAST(@burst AS float8), b.tokens + GREATEST(0, excluded.at - b.at) * CAST(@rate AS float8) / 1e6)`
	err := b.db.gorm.WithContext(ctx).Raw(`WITH clock AS (SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1e6)::bigint AS now)
		INSERT INTO rate_buckets AS b (connection_id, tokens, at, granted)
		SELECT @conn, CAST(@burst AS float8) - 1, now, true FROM clock
		ON CONFLICT (connection_id) DO UPDATE SET
			tokens = CASE WHEN `+refill+` >= 1 THEN `+refill+` - 1 ELSE `+refill+` END,
			at = excluded.at,
			granted = `+refill+` >= 1
		RETURNING tokens, granted`,
		map[string]any{"conn": conn, "burst": burst, "rate": perSecond}).Scan(&out).Error
	if err != nil {
		return 0, false, fmt.Errorf("sqlstore: rate bucket: %w", err)
	}
	if out.Granted {
		return 0, true, nil
	}
	return time.Duration((1 - out.Tokens) / perSecond * float64(time.Second)), false, nil
}
