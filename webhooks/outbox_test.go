package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/webhooks"
)

var ctx = context.Background()

// clock is the deliverer's and the receiver's time, moved by the test: backoff and
// leases are checked without waiting for them.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0).UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// receiver is a downstream application on 127.0.0.1: it checks every delivery's
// signature as a real one must, and counts what it got by idempotency key.
type receiver struct {
	srv    *httptest.Server
	clock  *clock
	secret string
	// respond decides the answer to the n-th request (from 1); block holds the request
	// until the sender gives up on it.
	respond func(n int) (status int, block bool)

	mu      sync.Mutex
	n       int
	got     map[string]int    // idempotency key -> requests
	bodies  map[string]string // idempotency key -> body
	badSigs []string
}

func newReceiver(t *testing.T, clk *clock, respond func(n int) (int, bool)) *receiver {
	r := &receiver{clock: clk, respond: respond, got: map[string]int{}, bodies: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve)) // listens on 127.0.0.1
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	key := req.Header.Get(webhooks.IdempotencyHeader)
	var ev webhooks.Event
	_ = json.Unmarshal(body, &ev)
	r.mu.Lock()
	r.n++
	n := r.n
	err := webhooks.Verify(r.secret, req.Header.Get(webhooks.SignatureHeader), body, r.clock.Now(), 0)
	switch {
	case err != nil:
		r.badSigs = append(r.badSigs, err.Error())
	case key == "" || key != ev.ID:
		r.badSigs = append(r.badSigs, fmt.Sprintf("idempotency key %q, event id %q", key, ev.ID))
	default:
		if prev, ok := r.bodies[key]; ok && prev != string(body) {
			r.badSigs = append(r.badSigs, "a retry sent other bytes")
		}
		r.got[key]++
		r.bodies[key] = string(body)
	}
	r.mu.Unlock()
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	status, block := http.StatusOK, false
	if r.respond != nil {
		status, block = r.respond(n)
	}
	if block {
		<-req.Context().Done() // answered never: the sender is cut off mid-request
		return
	}
	w.WriteHeader(status)
}

func (r *receiver) keys() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

func (r *receiver) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.badSigs) > 0 {
		t.Errorf("receiver refused deliveries: %v", r.badSigs)
	}
}

// tenant creates an org with two connections and returns their ids.
func tenant(t *testing.T, db *sqlstore.DB) (a, b string) {
	t.Helper()
	dir := &orgs.Directory{Store: db.Orgs()}
	if _, err := dir.CreateOrg(ctx, "Acme", "acme", ""); err != nil {
		t.Fatal(err)
	}
	ca, _, err := dir.CreateConnection(ctx, "acme", "acme-a", "entra")
	if err != nil {
		t.Fatal(err)
	}
	cb, _, err := dir.CreateConnection(ctx, "acme", "acme-b", "okta")
	if err != nil {
		t.Fatal(err)
	}
	return ca.ID, cb.ID
}

func subscriptions(db *sqlstore.DB) *webhooks.Subscriptions {
	return &webhooks.Subscriptions{Store: db.Webhooks(), Tx: db, Audit: db.Audit(), NewID: provisioning.NewID}
}

func subscribe(t *testing.T, db *sqlstore.DB, r *receiver, conn, actions string) *webhooks.Subscription {
	t.Helper()
	f, err := webhooks.ParseActions(actions)
	if err != nil {
		t.Fatal(err)
	}
	s, err := subscriptions(db).Create(ctx, conn, r.srv.URL+"/hook", f, webhooks.FormatOrgscim)
	if err != nil {
		t.Fatal(err)
	}
	r.secret = s.Secret
	return s
}

type change struct {
	action string
	target string
	diff   json.RawMessage
	at     time.Time // zero: now
}

// commit makes one change: its events recorded in one transaction, as the domain does.
func commit(t *testing.T, db *sqlstore.DB, conn string, changes ...change) []string {
	t.Helper()
	var ids []string
	err := db.InTx(ctx, func(ctx context.Context) error {
		for _, c := range changes {
			e := audit.New(audit.WithSource(ctx, audit.Source{Actor: "token:t1"}), c.at, c.action, "user", c.target)
			e.ID = provisioning.NewID()
			e.ConnectionID, e.Diff = conn, c.diff
			ids = append(ids, e.ID)
			if err := db.Audit().Record(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func deactivate(user string, at time.Time) change {
	return change{"user.update", user, audit.Diff(map[string]any{"active": true}, map[string]any{"active": false}), at}
}

func retitle(user string, at time.Time) change {
	return change{"user.update", user, audit.Diff(map[string]any{"title": "a"}, map[string]any{"title": "b"}), at}
}

func deliverer(db *sqlstore.DB, clk *clock) *webhooks.Deliverer {
	return &webhooks.Deliverer{Outbox: db.Webhooks(), Now: clk.Now, Rand: func() float64 { return 0.5 },
		Timeout: 5 * time.Second, Lease: 20 * time.Second, BaseDelay: 2 * time.Second, MaxDelay: time.Minute,
		Concurrency: 4, MaxAttempts: 5}
}

func once(t *testing.T, d *webhooks.Deliverer) webhooks.Result {
	t.Helper()
	res, err := d.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func deliveries(t *testing.T, db *sqlstore.DB, sub string) map[string]webhooks.DeliveryStatus {
	t.Helper()
	ds, err := db.Webhooks().Deliveries(ctx, sub, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]webhooks.DeliveryStatus{}
	for _, d := range ds {
		out[d.EventID] = d
	}
	return out
}

func pending(t *testing.T, db *sqlstore.DB) int64 {
	t.Helper()
	n, err := db.Webhooks().PendingDeliveries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A receiver that is down at first gets the event once it is back, no sooner than the
// backoff allows, with the same signed bytes on every attempt.
func TestFailedDeliveriesAreRetriedWithBackoffUntilAcknowledged(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := tenant(t, db)
		clk := newClock()
		r := newReceiver(t, clk, func(n int) (int, bool) {
			if n <= 2 {
				return http.StatusServiceUnavailable, false
			}
			return http.StatusNoContent, false
		})
		sub := subscribe(t, db, r, a, "user.")
		id := commit(t, db, a, retitle("u1", time.Time{}))[0]
		d := deliverer(db, clk)

		steps := []struct {
			result   webhooks.Result
			state    string
			attempts int
			wait     time.Duration // until the next attempt is due
		}{
			{webhooks.Result{Claimed: 1, Retrying: 1}, webhooks.StatePending, 1, d.Backoff(1)},
			{webhooks.Result{Claimed: 1, Retrying: 1}, webhooks.StatePending, 2, d.Backoff(2)},
			{webhooks.Result{Claimed: 1, Delivered: 1}, webhooks.StateDelivered, 3, 0},
		}
		for i, s := range steps {
			start := clk.Now()
			if res := once(t, d); res != s.result {
				t.Fatalf("step %d: %+v; want %+v", i, res, s.result)
			}
			got := deliveries(t, db, sub.ID)[id]
			if got.State != s.state || got.Attempts != s.attempts {
				t.Fatalf("step %d: %+v; want %s after %d attempts", i, got, s.state, s.attempts)
			}
			if s.state == webhooks.StateDelivered {
				if got.Delivered == nil || !got.Delivered.Equal(start) || got.LastError != "" {
					t.Fatalf("delivered %+v; want at %v", got, start)
				}
				break
			}
			if got.LastError != "HTTP 503" || !got.NextAttempt.Equal(start.Add(s.wait)) {
				t.Fatalf("step %d: %+v; want HTTP 503, next attempt at %v", i, got, start.Add(s.wait))
			}
			clk.Advance(s.wait - time.Millisecond)
			if res := once(t, d); res.Claimed != 0 {
				t.Fatalf("step %d: retried %v before the backoff ran out", i, time.Millisecond)
			}
			clk.Advance(time.Millisecond)
		}
		if d.Backoff(2) != 2*d.Backoff(1) {
			t.Errorf("backoff %v then %v; want doubling", d.Backoff(1), d.Backoff(2))
		}
		if got := r.keys(); len(got) != 1 || got[id] != 3 {
			t.Errorf("receiver got %v; want event %s three times", got, id)
		}
		if res := once(t, d); res.Claimed != 0 {
			t.Errorf("delivered event sent again: %+v", res)
		}
		r.check(t)
	})
}

// The outbox is written by the change's transaction: a change that rolls back queues
// nothing, and one that commits queues its events for the tenant's subscribers only.
func TestOnlyCommittedChangesAreQueued(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, b := tenant(t, db)
		clk := newClock()
		r := newReceiver(t, clk, nil)
		subscribe(t, db, r, a, "user.")
		boom := errors.New("boom")
		err := db.InTx(ctx, func(ctx context.Context) error {
			e := audit.New(ctx, time.Time{}, "user.create", "user", "u1")
			e.ConnectionID = a
			if err := db.Audit().Record(ctx, e); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("rolled-back change: %v", err)
		}
		if n := pending(t, db); n != 0 {
			t.Fatalf("%d deliveries queued by a rolled-back change", n)
		}
		commit(t, db, b, retitle("u2", time.Time{})) // another tenant's change
		if n := pending(t, db); n != 0 {
			t.Fatalf("%d deliveries queued for another tenant's change", n)
		}
		if res := once(t, deliverer(db, clk)); res.Claimed != 0 || len(r.keys()) != 0 {
			t.Fatalf("sent %+v, receiver got %v; want nothing", res, r.keys())
		}
		ids := commit(t, db, a, retitle("u1", time.Time{}))
		if res := once(t, deliverer(db, clk)); res.Delivered != 1 || r.keys()[ids[0]] != 1 {
			t.Fatalf("committed change: %+v, receiver got %v", res, r.keys())
		}
		r.check(t)
	})
}

// A receiver that never acknowledges is given up on after MaxAttempts: the delivery is
// dead, with a short reason that leaks neither the URL's token nor the response.
func TestDeliveriesThatKeepFailingBecomeDead(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := tenant(t, db)
		clk := newClock()
		r := newReceiver(t, clk, func(int) (int, bool) { return http.StatusInternalServerError, false })
		sub := subscribe(t, db, r, a, "user.")
		// A second subscriber whose port is closed: the failure is the transport's.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "http://" + ln.Addr().String() + "/hook?token=receiver-s3cret"
		ln.Close()
		down, err := subscriptions(db).Create(ctx, a, closed, []string{"user."}, webhooks.FormatOrgscim)
		if err != nil {
			t.Fatal(err)
		}
		id := commit(t, db, a, change{action: "user.delete", target: "u1"})[0]
		d := deliverer(db, clk)
		for i := 1; i <= d.MaxAttempts; i++ {
			res := once(t, d)
			want := webhooks.Result{Claimed: 2, Retrying: 2}
			if i == d.MaxAttempts {
				want = webhooks.Result{Claimed: 2, Dead: 2}
			}
			if res != want {
				t.Fatalf("attempt %d: %+v; want %+v", i, res, want)
			}
			clk.Advance(d.MaxDelay)
		}
		if res := once(t, d); res.Claimed != 0 {
			t.Fatalf("dead delivery tried again: %+v", res)
		}
		for _, tt := range []struct {
			sub    string
			reason string
		}{{sub.ID, "HTTP 500"}, {down.ID, "connection refused"}} {
			got := deliveries(t, db, tt.sub)[id]
			if got.State != webhooks.StateDead || got.Attempts != d.MaxAttempts || !strings.Contains(got.LastError, tt.reason) {
				t.Errorf("%+v; want dead after %d attempts, reason %q", got, d.MaxAttempts, tt.reason)
			}
			if strings.Contains(got.LastError, "s3cret") || strings.Contains(got.LastError, "/hook") {
				t.Errorf("reason %q leaks the URL", got.LastError)
			}
		}
		if got := r.keys()[id]; got != d.MaxAttempts {
			t.Errorf("receiver got %d attempts; want %d", got, d.MaxAttempts)
		}
		// The revocation never reached its subscribers: it is not counted as done.
		ttr, err := db.Webhooks().TimeToRevoke(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ttr) != 1 || ttr[0].Revocations != 0 || ttr[0].Unacknowledged != 1 {
			t.Errorf("time to revoke %+v; want one unacknowledged revocation", ttr)
		}
		r.check(t)
	})
}

// Each subscriber's acknowledgement of a revocation is recorded; the tenant's time to
// revoke runs from the IdP's request to the last acknowledgement.
func TestRevocationReceiptsAndTimeToRevoke(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := tenant(t, db)
		clk := newClock()
		requested := clk.Now()
		fast := newReceiver(t, clk, nil)
		slow := newReceiver(t, clk, func(n int) (int, bool) {
			if n <= 2 {
				return http.StatusBadGateway, false
			}
			return http.StatusOK, false
		})
		subscribe(t, db, fast, a, "user.")
		slowSub := subscribe(t, db, slow, a, "user.")
		ids := commit(t, db, a, deactivate("u1", requested), retitle("u2", requested))
		revocation := ids[0]
		d := deliverer(db, clk)

		clk.Advance(3 * time.Second)
		if res := once(t, d); res != (webhooks.Result{Claimed: 4, Delivered: 2, Retrying: 2}) {
			t.Fatalf("first round: %+v", res)
		}
		revs, err := db.Webhooks().Revocations(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		want := webhooks.Revocation{Chain: a, Connection: "acme-a", EventID: revocation, Action: "user.update",
			Requested: requested, Subscribers: 2, Acknowledged: 1, LastAck: requested.Add(3 * time.Second)}
		if len(revs) != 1 || revs[0] != want {
			t.Fatalf("receipts %+v; want only the deactivation, acknowledged by one of two: %+v", revs, want)
		}
		ttr, _ := db.Webhooks().TimeToRevoke(ctx, time.Time{})
		if len(ttr) != 1 || ttr[0].Revocations != 0 || ttr[0].Unacknowledged != 1 {
			t.Fatalf("time to revoke while one subscriber is behind: %+v", ttr)
		}

		clk.Advance(7 * time.Second) // past the slow receiver's backoff
		if res := once(t, d); res != (webhooks.Result{Claimed: 2, Delivered: 2}) {
			t.Fatalf("second round: %+v", res)
		}
		if got := deliveries(t, db, slowSub.ID)[revocation]; got.State != webhooks.StateDelivered || got.Attempts != 2 {
			t.Fatalf("slow subscriber: %+v", got)
		}
		ttr, err = db.Webhooks().TimeToRevoke(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		wantTTR := webhooks.TimeToRevoke{Chain: a, Connection: "acme-a", Revocations: 1, P50: 10 * time.Second,
			Max: 10 * time.Second, Latest: 10 * time.Second, LatestAt: requested}
		if len(ttr) != 1 || ttr[0] != wantTTR {
			t.Fatalf("time to revoke %+v; want %+v", ttr, wantTTR)
		}
		// A window that starts after the revocation excludes it.
		if ttr, _ := db.Webhooks().TimeToRevoke(ctx, requested.Add(time.Second)); len(ttr) != 0 {
			t.Errorf("since after the revocation: %+v", ttr)
		}
		fast.check(t)
		slow.check(t)
	})
}

// Disabling a subscription stops its deliveries: what was pending is dead, and later
// changes are not queued for it. Its secret is never listed.
func TestDisabledSubscriptionsReceiveNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := tenant(t, db)
		clk := newClock()
		r := newReceiver(t, clk, func(int) (int, bool) { return http.StatusServiceUnavailable, false })
		sub := subscribe(t, db, r, a, "")
		commit(t, db, a, retitle("u1", time.Time{}))
		once(t, deliverer(db, clk))
		if _, err := subscriptions(db).Disable(ctx, sub.ID); err != nil {
			t.Fatal(err)
		}
		commit(t, db, a, retitle("u2", time.Time{}))
		clk.Advance(time.Hour)
		if res := once(t, deliverer(db, clk)); res.Claimed != 0 {
			t.Fatalf("disabled subscription still delivered to: %+v", res)
		}
		// webhook.create and the first change: both given up.
		for _, d := range deliveries(t, db, sub.ID) {
			if d.State != webhooks.StateDead || d.LastError != "subscription disabled" {
				t.Errorf("%+v; want dead, subscription disabled", d)
			}
		}
		list, err := subscriptions(db).List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].State != webhooks.Disabled || list[0].Secret != "" || list[0].Dead != 2 || list[0].Pending != 0 {
			t.Fatalf("listed %+v", list)
		}
		evs, _ := db.Audit().Events(ctx, audit.Query{Action: "webhook.", Limit: 10})
		if len(evs) != 2 || evs[0].Action != "webhook.create" || evs[1].Action != "webhook.disable" ||
			strings.Contains(string(evs[0].Diff), sub.Secret) || strings.Contains(string(evs[0].Diff), "whsec_") {
			t.Fatalf("audit of subscription changes: %+v", evs)
		}
		r.check(t)
	})
}

// THE KILL TEST. Delivery is killed midway — requests in flight, one of them already
// received by the subscriber but never acknowledged — and the database closed like a
// crashed process leaves it. A new process opens the same database and delivers until
// the outbox is empty: every event of the tenant arrives, some more than once, and the
// receiver's deduplication by Idempotency-Key leaves exactly the set of events sent.
func TestDeliverySurvivesAKillMidway(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			url := dbtest.URL(t, engine)
			db, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			a, b := tenant(t, db)
			clk := newClock()
			const killAt = 20
			killed := make(chan struct{})
			var phase1 sync.Once
			crashed := false
			var mu sync.Mutex
			r := newReceiver(t, clk, func(n int) (int, bool) {
				mu.Lock()
				defer mu.Unlock()
				if crashed {
					return http.StatusOK, false
				}
				if n >= killAt {
					phase1.Do(func() { close(killed) })
					return 0, true // received, never answered
				}
				return http.StatusOK, false
			})
			sub := subscribe(t, db, r, a, "")
			revocations := 0
			for i := range 20 {
				at := clk.Now()
				cs := []change{retitle(fmt.Sprint("u", i), at), {action: "user.create", target: fmt.Sprint("n", i), at: at}}
				if i%4 == 0 {
					cs = append(cs, deactivate(fmt.Sprint("u", i), at))
					revocations++
				}
				commit(t, db, a, cs...)
				commit(t, db, b, retitle(fmt.Sprint("b", i), at)) // not this subscriber's tenant
			}
			var want []string
			evs, err := db.Audit().Events(ctx, audit.Query{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if e.Chain == a {
					want = append(want, e.ID)
				}
			}
			if len(want) != 1+20*2+revocations { // webhook.create, then 20 changes of 2 or 3 events
				t.Fatalf("%d events in the tenant's chain", len(want))
			}

			// Process one: killed while requests are in flight.
			runCtx, kill := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				_, err := deliverer(db, clk).Once(runCtx)
				done <- err
			}()
			<-killed
			kill()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("killed deliverer returned %v", err)
			}
			before := deliveries(t, db, sub.ID)
			delivered, unacked := 0, 0
			for id, n := range r.keys() {
				if n > 0 && before[id].State == webhooks.StatePending {
					unacked++ // received, but the crash came before the acknowledgement was recorded
				}
			}
			for _, d := range before {
				if d.State == webhooks.StateDelivered {
					delivered++
				}
			}
			if delivered == 0 || delivered >= len(want) || unacked == 0 {
				t.Fatalf("after the kill: %d of %d delivered, %d received but unacknowledged; want a kill midway",
					delivered, len(want), unacked)
			}
			db.Close()

			// Process two: a new store on the same database, once the dead process's
			// leases have run out.
			mu.Lock()
			crashed = true
			mu.Unlock()
			db, err = sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			clk.Advance(deliverer(db, clk).Lease)
			d := deliverer(db, clk)
			for round := 0; pending(t, db) > 0; round++ {
				if round == 10 {
					t.Fatalf("%d deliveries still pending after 10 rounds", pending(t, db))
				}
				once(t, d)
				clk.Advance(d.MaxDelay)
			}

			got := r.keys()
			dupes := 0
			for _, id := range want {
				if got[id] == 0 {
					t.Errorf("event %s never arrived", id)
				}
				dupes += got[id] - 1
				delete(got, id)
			}
			if len(got) > 0 {
				t.Errorf("receiver got events it was not sent: %v", got)
			}
			if dupes < unacked {
				t.Errorf("%d duplicates; want at least the %d received before the kill but unacknowledged", dupes, unacked)
			}
			for id, d := range deliveries(t, db, sub.ID) {
				if d.State != webhooks.StateDelivered {
					t.Errorf("event %s: %+v", id, d)
				}
			}
			ttr, err := db.Webhooks().TimeToRevoke(ctx, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(ttr) != 1 || ttr[0].Chain != a || ttr[0].Revocations != revocations || ttr[0].Unacknowledged != 0 {
				t.Errorf("time to revoke %+v; want %d acknowledged revocations of %s", ttr, revocations, a)
			}
			var rep audit.Report
			err = db.Snapshot(ctx, func(ctx context.Context) error {
				rep, err = audit.VerifyAll(ctx, db.Audit())
				return err
			})
			if err != nil || !rep.OK() {
				t.Errorf("audit trail after the crash: %+v, %v", rep, err)
			}
			r.check(t)
		})
	}
}

// Deliverers of two replicas over one database share the work without sending an event
// twice: a claim leases its rows, and on PostgreSQL another claim skips them.
func TestReplicasDoNotDoubleSend(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			url := dbtest.URL(t, engine)
			var dbs [2]*sqlstore.DB
			for i := range dbs {
				db, err := sqlstore.Open(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				dbs[i] = db
			}
			a, _ := tenant(t, dbs[0])
			clk := newClock()
			r := newReceiver(t, clk, nil)
			subscribe(t, dbs[0], r, a, "user.")
			for i := range 100 {
				commit(t, dbs[i%2], a, retitle(fmt.Sprint("u", i), time.Time{}), retitle(fmt.Sprint("v", i), time.Time{}))
			}
			var (
				wg      sync.WaitGroup
				claimed [2]int
				errs    [2]error
			)
			for i := range dbs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := deliverer(dbs[i], clk)
					d.MaxPerOnce = 10 // many small claims, so the replicas interleave
					for {
						res, err := d.Once(ctx)
						claimed[i] += res.Claimed
						if err != nil || res.Claimed == 0 {
							errs[i] = err
							return
						}
					}
				}()
			}
			wg.Wait()
			if err := errors.Join(errs[:]...); err != nil {
				t.Fatal(err)
			}
			got := r.keys()
			if len(got) != 200 || claimed[0]+claimed[1] != 200 {
				t.Fatalf("receiver got %d events, replicas claimed %v; want 200 in all", len(got), claimed)
			}
			for id, n := range got {
				if n != 1 {
					t.Errorf("event %s sent %d times", id, n)
				}
			}
			r.check(t)
		})
	}
}
