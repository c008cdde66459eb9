package sqlstore

import (
	"context"
	"time"
)

// OldestPending is when the oldest delivery still pending was queued; ok is false when
// nothing is pending. Its age is the outbox's lag: how far delivery is behind.
func (s Webhooks) OldestPending(ctx context.Context) (at time.Time, ok bool, err error) {
	var oldest *int64
	if err := s.db.q(ctx).Raw("SELECT min(created_at) FROM outbox WHERE state = 'pending'").Scan(&oldest).Error; err != nil {
		return time.Time{}, false, err
	}
	if oldest == nil {
		return time.Time{}, false, nil
	}
	return fromMicros(*oldest), true, nil
}
