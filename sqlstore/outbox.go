package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/webhooks"
	"gorm.io/gorm"
)

// chainSubscriptions are the active webhook subscriptions of the chains a transaction
// appends to (read by placeEvents).
type chainSubscriptions map[string][]subscriptionFilter

type subscriptionFilter struct {
	id      string
	actions []string
}

// enqueue is the transactional outbox: for the sealed event e it queues one delivery
// per subscription of its tenant whose filter selects it, and a receipt for each
// revocation, into w, which the transaction writes with the event. An event is
// therefore queued exactly when its change commits, and a rolled-back change queues
// nothing.
func (subs chainSubscriptions) enqueue(w *batchWriter, e *audit.Event) {
	var (
		payload string
		rev     bool
	)
	now := micros(time.Now())
	for _, s := range subs[e.Chain] {
		if !webhooks.Matches(s.actions, e.Action) {
			continue
		}
		if payload == "" { // built once per event, for its first subscriber
			payload, rev = string(webhooks.Payload(e)), webhooks.IsRevocation(e.Action, e.Diff)
		}
		w.add(`INSERT INTO outbox (id, subscription_id, event_id, chain, seq, action, revocation,
		payload, created_at, next_attempt_at) VALUES `, 10,
			provisioning.NewID(), s.id, e.ID, e.Chain, e.Seq, e.Action, rev, payload, now, 0)
		if rev {
			w.add(`INSERT INTO revocation_receipts (event_id, subscription_id, chain, action, requested_at) VALUES `, 5,
				e.ID, s.id, e.Chain, e.Action, micros(e.Time))
		}
	}
}

// insertRows inserts n rows of cols values each, 500 rows a statement, which keeps under
// the bind-parameter limits of both engines.
func insertRows(tx *gorm.DB, insert string, cols, n int, args []any) error {
	for n > 0 {
		k := min(n, 500)
		if err := tx.Exec(insert+placeholders(cols, k), args[:k*cols]...).Error; err != nil {
			return err
		}
		n, args = n-k, args[k*cols:]
	}
	return nil
}

func splitActions(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Webhooks is the store of webhook subscriptions, the outbox and revocation receipts.
type Webhooks struct{ db *DB }

// Webhooks returns the store of webhook subscriptions and deliveries.
func (db *DB) Webhooks() Webhooks { return Webhooks{db} }

var (
	_ webhooks.SubscriptionStore = Webhooks{}
	_ webhooks.Outbox            = Webhooks{}
)

// CreateSubscription stores s, its secret included. No format is the default one,
// webhooks.FormatStandard.
func (s Webhooks) CreateSubscription(ctx context.Context, sub *webhooks.Subscription) error {
	if sub.Format == "" {
		sub.Format = webhooks.FormatStandard
	}
	var conn *string
	if sub.ConnectionID != "" {
		conn = &sub.ConnectionID
	}
	return s.db.tx(ctx, func(tx *gorm.DB) error {
		if conn != nil {
			var n int64
			if err := tx.Raw("SELECT count(*) FROM connections WHERE id = ?", *conn).Scan(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return orgscim.Errorf(orgscim.NotFound, "no such connection")
			}
		}
		return tx.Exec(`INSERT INTO webhook_subscriptions (id, connection_id, url, secret, actions, state, format, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, sub.ID, conn, sub.URL, sub.Secret, strings.Join(sub.Actions, ","),
			sub.State, sub.Format, micros(sub.Created)).Error
	})
}

type subscriptionRow struct {
	ID             string
	ConnectionID   *string
	ConnectionSlug string
	URL            string
	Actions        string
	State          string
	Format         string
	CreatedAt      int64
	Pending        int64
	Delivered      int64
	Dead           int64
	LastError      string
	Attempts       int
	NextAttemptAt  *int64
}

func (r subscriptionRow) subscription() webhooks.Subscription {
	s := webhooks.Subscription{ID: r.ID, ConnectionSlug: r.ConnectionSlug, URL: r.URL,
		Actions: splitActions(r.Actions), State: r.State, Format: r.Format, Created: fromMicros(r.CreatedAt),
		Pending: r.Pending, Delivered: r.Delivered, Dead: r.Dead, LastError: r.LastError, Attempts: r.Attempts}
	if r.NextAttemptAt != nil {
		t := fromMicros(*r.NextAttemptAt)
		s.NextAttemptAt = &t
	}
	if r.ConnectionID != nil {
		s.ConnectionID = *r.ConnectionID
	}
	if s.Actions == nil {
		s.Actions = []string{}
	}
	return s
}

// Subscriptions lists every subscription with the counts of its deliveries, oldest
// first. Secrets are not read.
func (s Webhooks) Subscriptions(ctx context.Context) ([]webhooks.Subscription, error) {
	var rows []subscriptionRow
	err := s.db.q(ctx).Raw(`SELECT s.id, s.connection_id, COALESCE(c.slug, '') AS connection_slug, s.url, s.actions,
			s.state, s.format, s.created_at,
			(SELECT count(*) FROM outbox o WHERE o.subscription_id = s.id AND o.state = 'pending') AS pending,
			(SELECT count(*) FROM outbox o WHERE o.subscription_id = s.id AND o.state = 'delivered') AS delivered,
			(SELECT count(*) FROM outbox o WHERE o.subscription_id = s.id AND o.state = 'dead') AS dead,
			COALESCE(NULLIF((SELECT o.last_error FROM outbox o WHERE o.subscription_id = s.id AND o.state = 'pending'
					ORDER BY o.next_attempt_at, o.id LIMIT 1), ''),
				(SELECT o.last_error FROM outbox o WHERE o.subscription_id = s.id AND o.state = 'dead'
					ORDER BY o.created_at DESC, o.id DESC LIMIT 1), '') AS last_error,
			COALESCE((SELECT o.attempts FROM outbox o WHERE o.subscription_id = s.id AND o.state = 'pending'
				ORDER BY o.next_attempt_at, o.id LIMIT 1), 0) AS attempts,
			(SELECT min(o.next_attempt_at) FROM outbox o WHERE o.subscription_id = s.id AND o.state = 'pending') AS next_attempt_at
		FROM webhook_subscriptions s LEFT JOIN connections c ON c.id = s.connection_id
		ORDER BY s.created_at, s.id`).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]webhooks.Subscription, len(rows))
	for i, r := range rows {
		out[i] = r.subscription()
	}
	return out, nil
}

// lockSubscription reads the subscription with this id, locked for the rest of tx.
func (s Webhooks) lockSubscription(tx *gorm.DB, id string) (subscriptionRow, error) {
	var r subscriptionRow
	err := tx.Raw("SELECT id, connection_id, url, actions, state, format, created_at FROM webhook_subscriptions WHERE id = ?"+
		s.db.dialect.forUpdate, id).Take(&r).Error
	if isNoRows(err) {
		return r, orgscim.Errorf(orgscim.NotFound, "no webhook subscription %q", id)
	}
	return r, err
}

// DisableSubscription disables a subscription and gives up its pending deliveries, in
// one transaction; it returns the subscription as it was before.
func (s Webhooks) DisableSubscription(ctx context.Context, id string) (*webhooks.Subscription, error) {
	var out *webhooks.Subscription
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		r, err := s.lockSubscription(tx, id)
		if err != nil {
			return err
		}
		sub := r.subscription()
		out = &sub
		if r.State == webhooks.Disabled {
			return nil
		}
		if err := tx.Exec("UPDATE webhook_subscriptions SET state = 'disabled' WHERE id = ?", id).Error; err != nil {
			return err
		}
		return tx.Exec("UPDATE outbox SET state = 'dead', last_error = 'subscription disabled', lease = '' WHERE subscription_id = ? AND state = 'pending'",
			id).Error
	})
	return out, err
}

// SetSubscriptionFormat changes the format deliveries of the subscription are signed
// in; it returns the subscription as it was before.
func (s Webhooks) SetSubscriptionFormat(ctx context.Context, id, format string) (*webhooks.Subscription, error) {
	var out *webhooks.Subscription
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		r, err := s.lockSubscription(tx, id)
		if err != nil {
			return err
		}
		sub := r.subscription()
		out = &sub
		if r.Format == format {
			return nil
		}
		return tx.Exec("UPDATE webhook_subscriptions SET format = ? WHERE id = ?", format, id).Error
	})
	return out, err
}

// Claim leases up to limit due deliveries of active subscriptions, oldest first, in one
// short transaction. On PostgreSQL the rows are locked with SKIP LOCKED, so replicas
// claiming at once take different rows instead of queueing; on SQLite the transaction
// holds the database's write lock. A claimed row stays pending with next_attempt_at at
// the end of the lease: if its deliverer dies, it is due again then.
func (s Webhooks) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]webhooks.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	lock := ""
	if s.db.dialect.name == postgresDialect.name {
		lock = " FOR UPDATE OF o SKIP LOCKED"
	}
	token := provisioning.NewID()
	var out []webhooks.Delivery
	err := s.db.transaction(ctx, func(tx *gorm.DB) error {
		var ids []string
		err := tx.Raw(`SELECT o.id FROM outbox o JOIN webhook_subscriptions s ON s.id = o.subscription_id
			WHERE o.state = 'pending' AND o.next_attempt_at <= ? AND s.state = 'active'
			ORDER BY o.next_attempt_at, o.created_at LIMIT ?`+lock, micros(now), limit).Scan(&ids).Error
		if err != nil || len(ids) == 0 {
			return err
		}
		if err := tx.Exec("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, lease = ? WHERE id IN ?",
			micros(now.Add(lease)), token, ids).Error; err != nil {
			return err
		}
		var rows []struct {
			ID             string
			SubscriptionID string
			URL            string
			Secret         string
			Format         string
			EventID        string
			Action         string
			Revocation     bool
			Payload        string
			Attempts       int
		}
		err = tx.Raw(`SELECT o.id, o.subscription_id, s.url, s.secret, s.format, o.event_id, o.action, o.revocation, o.payload, o.attempts
			FROM outbox o JOIN webhook_subscriptions s ON s.id = o.subscription_id
			WHERE o.id IN ? ORDER BY o.next_attempt_at, o.created_at`, ids).Scan(&rows).Error
		if err != nil {
			return err
		}
		out = make([]webhooks.Delivery, len(rows))
		for i, r := range rows {
			out[i] = webhooks.Delivery{ID: r.ID, SubscriptionID: r.SubscriptionID, URL: r.URL, Secret: r.Secret, Format: r.Format,
				EventID: r.EventID, Action: r.Action, Revocation: r.Revocation, Payload: []byte(r.Payload),
				Attempt: r.Attempts, Lease: token}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: claim deliveries: %w", err)
	}
	return out, nil
}

// Delivered marks d delivered and, for a revocation, records when the subscriber
// acknowledged it, in one transaction. A delivery whose lease ran out meanwhile is marked
// all the same: the subscriber has it.
func (s Webhooks) Delivered(ctx context.Context, d *webhooks.Delivery, at time.Time) error {
	return s.db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Exec("UPDATE outbox SET state = 'delivered', delivered_at = ?, last_error = '', lease = '' WHERE id = ? AND state <> 'delivered'",
			micros(at), d.ID).Error; err != nil {
			return err
		}
		if !d.Revocation {
			return nil
		}
		return tx.Exec("UPDATE revocation_receipts SET acknowledged_at = ? WHERE event_id = ? AND subscription_id = ? AND acknowledged_at IS NULL",
			micros(at), d.EventID, d.SubscriptionID).Error
	})
}

// Failed records a failed attempt of d, unless d's lease was taken over by a later
// claim, whose outcome is the one that counts.
func (s Webhooks) Failed(ctx context.Context, d *webhooks.Delivery, next time.Time, dead bool, reason string) error {
	state := webhooks.StatePending
	if dead {
		state = webhooks.StateDead
	}
	if len(reason) > 200 {
		reason = reason[:200]
	}
	return s.db.gorm.WithContext(ctx).Exec(`UPDATE outbox SET state = ?, next_attempt_at = ?, last_error = ?, lease = ''
		WHERE id = ? AND lease = ? AND state = 'pending'`, state, micros(next), reason, d.ID, d.Lease).Error
}

// Deliveries lists the deliveries of a subscription, oldest first, at most limit
// (default 100, at most 1,000).
func (s Webhooks) Deliveries(ctx context.Context, subscriptionID string, limit int) ([]webhooks.DeliveryStatus, error) {
	if limit <= 0 {
		limit = 100
	}
	return s.deliveries(ctx, `SELECT id, event_id, action, state, attempts, last_error, next_attempt_at, delivered_at
		FROM outbox WHERE subscription_id = ? ORDER BY created_at, chain, seq LIMIT ?`, subscriptionID, min(limit, 1000))
}

// NewestDeliveries lists the newest limit deliveries of a subscription (at most 1,000),
// newest first, and counts them all: what failed last is what an operator looks for,
// however many came before. The index on (subscription_id, created_at) reads only the
// rows listed.
func (s Webhooks) NewestDeliveries(ctx context.Context, subscriptionID string, limit int) ([]webhooks.DeliveryStatus, int, error) {
	if limit <= 0 {
		limit = 100
	}
	var total int
	if err := s.db.q(ctx).Raw("SELECT count(*) FROM outbox WHERE subscription_id = ?", subscriptionID).Scan(&total).Error; err != nil {
		return nil, 0, err
	}
	out, err := s.deliveries(ctx, `SELECT id, event_id, action, state, attempts, last_error, next_attempt_at, delivered_at
		FROM outbox WHERE subscription_id = ? ORDER BY created_at DESC, chain DESC, seq DESC LIMIT ?`, subscriptionID, min(limit, 1000))
	return out, total, err
}

func (s Webhooks) deliveries(ctx context.Context, query string, args ...any) ([]webhooks.DeliveryStatus, error) {
	var rows []struct {
		ID            string
		EventID       string
		Action        string
		State         string
		Attempts      int
		LastError     string
		NextAttemptAt int64
		DeliveredAt   *int64
	}
	if err := s.db.q(ctx).Raw(query, args...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]webhooks.DeliveryStatus, len(rows))
	for i, r := range rows {
		out[i] = webhooks.DeliveryStatus{ID: r.ID, EventID: r.EventID, Action: r.Action, State: r.State,
			Attempts: r.Attempts, LastError: r.LastError, Delivered: fromMicrosPtr(r.DeliveredAt)}
		if r.State == webhooks.StatePending && r.NextAttemptAt > 0 {
			out[i].NextAttempt = fromMicros(r.NextAttemptAt)
		}
	}
	return out, nil
}

// PendingDeliveries counts the deliveries not yet delivered nor dead.
func (s Webhooks) PendingDeliveries(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.q(ctx).Raw("SELECT count(*) FROM outbox WHERE state = 'pending'").Scan(&n).Error
	return n, err
}

// Revocations lists the revocations requested since since, oldest first, each with its
// receipts counted.
func (s Webhooks) Revocations(ctx context.Context, since time.Time) ([]webhooks.Revocation, error) {
	var rows []struct {
		Chain        string
		Connection   string
		EventID      string
		Action       string
		RequestedAt  int64
		Subscribers  int
		Acknowledged int
		LastAck      *int64
	}
	err := s.db.q(ctx).Raw(`SELECT r.chain, COALESCE(c.slug, '') AS connection, r.event_id, r.action, r.requested_at,
			count(*) AS subscribers, count(r.acknowledged_at) AS acknowledged, max(r.acknowledged_at) AS last_ack
		FROM revocation_receipts r LEFT JOIN connections c ON c.id = r.chain
		WHERE r.requested_at >= ?
		GROUP BY r.chain, c.slug, r.event_id, r.action, r.requested_at
		ORDER BY r.requested_at, r.event_id`, micros(since)).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]webhooks.Revocation, len(rows))
	for i, r := range rows {
		out[i] = webhooks.Revocation{Chain: r.Chain, Connection: r.Connection, EventID: r.EventID, Action: r.Action,
			Requested: fromMicros(r.RequestedAt), Subscribers: r.Subscribers, Acknowledged: r.Acknowledged}
		if r.LastAck != nil {
			out[i].LastAck = fromMicros(*r.LastAck)
		}
	}
	return out, nil
}

// TimeToRevoke is each tenant's time from a revocation's request to its last
// subscriber's acknowledgement, over the revocations requested since since.
func (s Webhooks) TimeToRevoke(ctx context.Context, since time.Time) ([]webhooks.TimeToRevoke, error) {
	revs, err := s.Revocations(ctx, since)
	if err != nil {
		return nil, err
	}
	return webhooks.Summarize(revs), nil
}
