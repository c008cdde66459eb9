package webhooks

import (
	"context"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
)

// Subscription states.
const (
	Active   = "active"
	Disabled = "disabled"
)

// Subscription sends the events of one tenant — a connection, or the control plane when
// ConnectionID is empty — whose action its filter selects, to URL.
type Subscription struct {
	ID             string   `json:"id"`
	ConnectionID   string   `json:"connectionId,omitempty"`
	ConnectionSlug string   `json:"connection,omitempty"` // filled when listed
	URL            string   `json:"url"`
	Actions        []string `json:"actions"` // empty: every action
	State          string   `json:"state"`
	// Format is how deliveries are signed: FormatStandard or FormatOrgscim.
	Format  string    `json:"format"`
	Created time.Time `json:"created"`
	// Secret signs the deliveries. The store keeps it to sign with; it is set only on the
	// value Create returns, never on a listed one.
	Secret string `json:"-"`

	// Counts of the subscription's outbox rows, filled when listed.
	Pending   int64 `json:"pending"`
	Delivered int64 `json:"delivered"`
	Dead      int64 `json:"dead"`
	// Why deliveries fail, filled when listed: the error of the pending delivery due
	// next (or, with none pending, of the delivery that died last), its attempts so
	// far, and when the next attempt is due (nil: nothing pending).
	LastError     string     `json:"last_error,omitempty"`
	Attempts      int        `json:"attempts,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}

// SubscriptionStore keeps subscriptions.
type SubscriptionStore interface {
	CreateSubscription(ctx context.Context, s *Subscription) error
	// Subscriptions lists every subscription, oldest first, without secrets.
	Subscriptions(ctx context.Context) ([]Subscription, error)
	// DisableSubscription stops deliveries to the subscription: its pending deliveries
	// become dead. It returns the subscription as it was before; NotFound when there is
	// no such subscription.
	DisableSubscription(ctx context.Context, id string) (*Subscription, error)
	// SetSubscriptionFormat changes how the subscription's deliveries are signed, from
	// the next attempt on, and returns the subscription as it was before; NotFound when
	// there is no such subscription.
	SetSubscriptionFormat(ctx context.Context, id, format string) (*Subscription, error)
}

// Transactor runs fn in one transaction, with the audit events recorded in it.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// AuditLog records the audit event of a change, in the change's transaction.
type AuditLog interface {
	Record(ctx context.Context, e audit.Event) error
}

// Subscriptions manages subscriptions; creating and disabling one are audited.
type Subscriptions struct {
	Store SubscriptionStore
	Tx    Transactor       // optional: the change commits with its audit event
	Audit AuditLog         // optional
	Now   func() time.Time // nil means time.Now
	NewID func() string    // the subscription's id
}

func (s *Subscriptions) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Subscriptions) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.Tx == nil {
		return fn(ctx)
	}
	return s.Tx.InTx(ctx, fn)
}

// Create subscribes url to the events of connectionID ("" for the control plane) that
// actions selects, signed in format ("" for FormatStandard), and returns the
// subscription with its secret: the only time the secret is shown.
func (s *Subscriptions) Create(ctx context.Context, connectionID, url string, actions []string, format string) (*Subscription, error) {
	if err := ValidateURL(url); err != nil {
		return nil, err
	}
	format, err := ParseFormat(format)
	if err != nil {
		return nil, err
	}
	// Either shape of secret works with either format (see standardKey); a new one
	// takes the shape its format's receivers expect.
	secret := NewStandardSecret()
	if format == FormatOrgscim {
		secret = NewSecret()
	}
	sub := &Subscription{
		ID: s.NewID(), ConnectionID: connectionID, URL: url, Actions: actions, State: Active,
		Format: format, Created: s.now(), Secret: secret,
	}
	if sub.Actions == nil {
		sub.Actions = []string{}
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		if err := s.Store.CreateSubscription(ctx, sub); err != nil {
			return err
		}
		// The query of the URL may hold the receiver's own token: the trail keeps the
		// rest. The secret is never part of it.
		return s.record(ctx, sub, "webhook.create", audit.Diff(nil, map[string]any{
			"url": redactURL(sub.URL), "actions": sub.Actions, "state": sub.State, "format": sub.Format}))
	})
	if err != nil {
		return nil, err
	}
	return sub, nil
}

// List returns every subscription, without secrets.
func (s *Subscriptions) List(ctx context.Context) ([]Subscription, error) {
	return s.Store.Subscriptions(ctx)
}

// Disable stops deliveries to a subscription. Its pending deliveries become dead; its
// history stays.
func (s *Subscriptions) Disable(ctx context.Context, id string) (*Subscription, error) {
	if id == "" {
		return nil, orgscim.Errorf(orgscim.Invalid, "subscription id is required")
	}
	var sub *Subscription
	err := s.inTx(ctx, func(ctx context.Context) error {
		var err error
		if sub, err = s.Store.DisableSubscription(ctx, id); err != nil {
			return err
		}
		if sub.State == Disabled {
			return nil // nothing changed, nothing to record
		}
		sub.State = Disabled
		return s.record(ctx, sub, "webhook.disable", audit.Diff(map[string]any{"state": Active}, map[string]any{"state": Disabled}))
	})
	return sub, err
}

// SetFormat switches how a subscription's deliveries are signed — a receiver moving to
// Standard Webhooks, or back for the migration window — keeping its secret. Deliveries
// still pending are signed the new way on their next attempt.
func (s *Subscriptions) SetFormat(ctx context.Context, id, format string) (*Subscription, error) {
	if id == "" {
		return nil, orgscim.Errorf(orgscim.Invalid, "subscription id is required")
	}
	if format == "" {
		return nil, orgscim.Errorf(orgscim.Invalid, "format is required")
	}
	format, err := ParseFormat(format)
	if err != nil {
		return nil, err
	}
	var sub *Subscription
	err = s.inTx(ctx, func(ctx context.Context) error {
		var err error
		if sub, err = s.Store.SetSubscriptionFormat(ctx, id, format); err != nil {
			return err
		}
		if sub.Format == format {
			return nil // nothing changed, nothing to record
		}
		before := sub.Format
		sub.Format = format
		return s.record(ctx, sub, "webhook.update", audit.Diff(map[string]any{"format": before}, map[string]any{"format": format}))
	})
	return sub, err
}

func (s *Subscriptions) record(ctx context.Context, sub *Subscription, action string, diff []byte) error {
	if s.Audit == nil {
		return nil
	}
	e := audit.New(ctx, s.now(), action, "webhook", sub.ID)
	e.ConnectionID = sub.ConnectionID
	e.Diff = diff
	return s.Audit.Record(ctx, e)
}
