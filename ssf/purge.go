package ssf

import (
	"context"
	"time"
)

// DefaultRetention is how long a delivered, acknowledged or given-up SET is kept: long
// enough to answer "was it sent?" about last week.
const DefaultRetention = 7 * 24 * time.Hour

// Purger deletes the SETs that are done once older than Retention, so that the queue
// holds what is pending and recent, not everything ever sent.
type Purger struct {
	Store interface {
		PurgeSETs(ctx context.Context, before time.Time, limit int) (int, error)
	}
	Retention time.Duration // default DefaultRetention
	Batch     int           // rows one statement deletes at most; default 1000
	Now       func() time.Time
}

// Once deletes every SET done and queued more than Retention ago, Batch rows per
// statement so that no transaction holds a SQLite writer for long, and says how many.
func (p *Purger) Once(ctx context.Context) (int, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	before := now().Add(-orDefault(p.Retention, DefaultRetention))
	batch := orDefault(p.Batch, 1000)
	total := 0
	for ctx.Err() == nil {
		n, err := p.Store.PurgeSETs(ctx, before, batch)
		total += n
		if err != nil || n < batch {
			return total, err
		}
	}
	return total, ctx.Err()
}
