package sqlstore_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/webhooks"
)

func subscribeURL(t *testing.T, db *sqlstore.DB, conn, actions string) *webhooks.Subscription {
	t.Helper()
	f, err := webhooks.ParseActions(actions)
	if err != nil {
		t.Fatal(err)
	}
	svc := &webhooks.Subscriptions{Store: db.Webhooks(), NewID: provisioning.NewID}
	s, err := svc.Create(ctx, conn, "http://127.0.0.1:9/hook", f, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func queuedActions(t *testing.T, db *sqlstore.DB, sub string) string {
	t.Helper()
	ds, err := db.Webhooks().Deliveries(ctx, sub, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		out = append(out, d.Action)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// One transaction that touches two tenants and the control plane queues each event for
// the active subscribers of its own tenant whose filter selects it, and nobody else.
func TestOutboxRoutesEachEventToItsTenantsSubscribers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, b := setup(t, db)
		subs := []struct {
			name    string
			sub     *webhooks.Subscription
			want    string
			disable bool
		}{
			{name: "tenant a, every action", sub: subscribeURL(t, db, a, ""), want: "grant.create user.delete user.update"},
			{name: "tenant a, filtered", sub: subscribeURL(t, db, a, "grant.,user.delete"), want: "grant.create user.delete"},
			{name: "tenant b", sub: subscribeURL(t, db, b, ""), want: "user.update"},
			{name: "control plane", sub: subscribeURL(t, db, "", ""), want: "org.update"},
			{name: "tenant a, disabled", sub: subscribeURL(t, db, a, ""), want: "", disable: true},
		}
		for _, s := range subs {
			if s.disable {
				if _, err := db.Webhooks().DisableSubscription(ctx, s.sub.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		err := db.InTx(ctx, func(ctx context.Context) error {
			for _, e := range []struct{ conn, action string }{
				{a, "user.update"}, {a, "user.delete"}, {a, "grant.create"}, {b, "user.update"}, {"", "org.update"},
			} {
				ev := audit.New(ctx, time.Now(), e.action, "x", "y")
				ev.ConnectionID = e.conn
				if err := db.Audit().Record(ctx, ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			if got := queuedActions(t, db, s.sub.ID); got != s.want {
				t.Errorf("%s: queued %q; want %q", s.name, got, s.want)
			}
		}
	})
}

// The domain's own events are what the outbox classifies: a SCIM deactivation and a
// delete get revocation receipts, a create and a title change do not.
func TestDomainRevocationsGetReceipts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := setup(t, db)
		sub := subscribeURL(t, db, a, "user.")
		users := &provisioning.Users{Store: db.Users(), Tx: db, Audit: db.Audit()}
		u := newUser(t, users, a, "ann@example.com", map[string]any{"active": true})
		set := func(k string, v any) {
			t.Helper()
			if _, err := users.Update(ctx, a, u.ID, func(u *provisioning.User) error { u.Attributes[k] = v; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		set("title", "Boss")
		set("active", false)
		if err := users.Delete(ctx, a, u.ID, nil); err != nil {
			t.Fatal(err)
		}
		if got := queuedActions(t, db, sub.ID); got != "user.create user.delete user.update user.update" {
			t.Fatalf("queued %q", got)
		}
		revs, err := db.Webhooks().Revocations(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range revs {
			got = append(got, r.Action)
			if r.Chain != a || r.Subscribers != 1 || r.Acknowledged != 0 || r.Requested.IsZero() {
				t.Errorf("receipt %+v", r)
			}
		}
		if strings.Join(got, " ") != "user.update user.delete" {
			t.Errorf("revocations %v; want the deactivation and the delete", got)
		}
	})
}

// A transaction of more events than one INSERT takes is queued in full.
func TestOutboxQueuesLargeTransactions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := setup(t, db)
		s1, s2 := subscribeURL(t, db, a, ""), subscribeURL(t, db, a, "user.delete")
		const n = 1201
		err := db.InTx(ctx, func(ctx context.Context) error {
			for i := range n {
				e := audit.New(ctx, time.Now(), "user.delete", "user", fmt.Sprint("u", i))
				e.ConnectionID = a
				if err := db.Audit().Record(ctx, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if p, err := db.Webhooks().PendingDeliveries(ctx); err != nil || p != 2*n {
			t.Fatalf("%d pending, %v; want %d", p, err, 2*n)
		}
		revs, err := db.Webhooks().Revocations(ctx, time.Time{})
		if err != nil || len(revs) != n || revs[0].Subscribers != 2 {
			t.Fatalf("%d revocations (%v), first %+v; want %d with two receipts each", len(revs), err, revs[0], n)
		}
		list, err := db.Webhooks().Subscriptions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range list {
			if (l.ID == s1.ID || l.ID == s2.ID) && l.Pending != n {
				t.Errorf("subscription %s: %d pending; want %d", l.ID, l.Pending, n)
			}
		}
	})
}

func TestSubscriptionsRefuseBadInput(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := setup(t, db)
		svc := &webhooks.Subscriptions{Store: db.Webhooks(), Tx: db, Audit: db.Audit(), NewID: provisioning.NewID}
		tests := []struct {
			name, conn, url string
			code            orgscim.Code
		}{
			{"unknown connection", "no-such-connection", "https://example.com/hook", orgscim.NotFound},
			{"file URL", a, "file:///etc/passwd", orgscim.Invalid},
			{"no scheme", a, "example.com/hook", orgscim.Invalid},
		}
		for _, tt := range tests {
			if _, err := svc.Create(ctx, tt.conn, tt.url, nil, ""); orgscim.ErrorCode(err) != tt.code {
				t.Errorf("%s: %v; want %s", tt.name, err, tt.code)
			}
		}
		if _, err := svc.Disable(ctx, "nope"); orgscim.ErrorCode(err) != orgscim.NotFound {
			t.Errorf("disable unknown: %v", err)
		}
		if list, err := svc.List(ctx); err != nil || len(list) != 0 {
			t.Errorf("after refusals: %v, %v; want no subscription", list, err)
		}
		if evs, _ := db.Audit().Events(ctx, audit.Query{Action: "webhook."}); len(evs) != 0 {
			t.Errorf("refused changes audited: %+v", evs)
		}
	})
}

// A subscription made before migration 0021 keeps the orgscim format, so that its
// receiver does not break; a new one is standard. Switching keeps the secret.
func TestSubscriptionFormat(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		if err := db.Exec(`INSERT INTO webhook_subscriptions (id, url, secret, actions, state, created_at)
			VALUES ('before', 'http://127.0.0.1:9/old', 'whsec_00', '', 'active', 0)`); err != nil {
			t.Fatal(err)
		}
		fresh := subscribeURL(t, db, "", "")
		formats := func() map[string]string {
			list, err := db.Webhooks().Subscriptions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, s := range list {
				out[s.ID] = s.Format
			}
			return out
		}
		if f := formats(); f["before"] != webhooks.FormatOrgscim || f[fresh.ID] != webhooks.FormatStandard {
			t.Fatalf("formats %v", f)
		}
		svc := &webhooks.Subscriptions{Store: db.Webhooks(), Tx: db, Audit: db.Audit(), NewID: provisioning.NewID}
		if _, err := svc.SetFormat(ctx, "before", webhooks.FormatStandard); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetFormat(ctx, "nope", webhooks.FormatStandard); orgscim.ErrorCode(err) != orgscim.NotFound {
			t.Errorf("unknown id: %v", err)
		}
		if _, err := svc.SetFormat(ctx, fresh.ID, "svix"); orgscim.ErrorCode(err) != orgscim.Invalid {
			t.Errorf("unknown format: %v", err)
		}
		if f := formats(); f["before"] != webhooks.FormatStandard || f[fresh.ID] != webhooks.FormatStandard {
			t.Errorf("after the switch: %v", f)
		}
		ds, err := db.Webhooks().Claim(ctx, time.Now().Add(time.Hour), time.Minute, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Format != webhooks.FormatStandard || d.Secret == "" {
				t.Errorf("claimed %s: format %q", d.Action, d.Format)
			}
		}
	})
}
