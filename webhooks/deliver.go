package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Delivery is one claimed outbox row: one event for one subscriber.
type Delivery struct {
	ID             string
	SubscriptionID string
	URL            string
	Secret         string
	Format         string // FormatStandard or FormatOrgscim ("" is FormatOrgscim)
	EventID        string
	Action         string
	Revocation     bool
	Payload        []byte
	Attempt        int    // the number of this attempt, from 1
	Lease          string // the claim's token: a later claim of the same row has another
}

// Outbox is the store side of delivery.
type Outbox interface {
	// Claim takes up to limit pending deliveries due at now and leases them until
	// now+lease: until then no other claim returns them, after it any claim does (the
	// process that held it may have died). Each claim counts as an attempt.
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// Delivered records the subscriber's acknowledgement at at, and for a revocation
	// fills its receipt.
	Delivered(ctx context.Context, d *Delivery, at time.Time) error
	// Failed records a failed attempt: the delivery is tried again at next, or, when
	// dead, never again. reason is short and holds no secret.
	Failed(ctx context.Context, d *Delivery, next time.Time, dead bool, reason string) error
}

// Deliverer sends the outbox's due deliveries. Several deliverers — one per server
// replica — may share one PostgreSQL database: claims skip rows another holds. Zero
// fields take the defaults documented on them.
type Deliverer struct {
	Outbox Outbox
	// Client sends the requests. nil: a client that follows no redirect (a 3xx is a
	// failure, so a receiver cannot bounce signed events elsewhere).
	Client  *http.Client
	Timeout time.Duration // per request; default 10s
	// Lease is how long a claimed delivery is reserved: it must outlast Timeout, or a
	// slow receiver gets the same event from two replicas at once. Default Timeout + 30s.
	Lease       time.Duration
	Concurrency int           // requests at once; default 8
	MaxPerOnce  int           // deliveries one Once attempts at most; default 1000
	MaxAttempts int           // attempts before a delivery is dead; default 15
	BaseDelay   time.Duration // wait after the first failure, doubled after each; default 5s
	MaxDelay    time.Duration // the longest wait between attempts; default 1h
	// Now is the clock and Rand the jitter source, in [0, 1); nil means the real ones.
	Now    func() time.Time
	Rand   func() float64
	Logger *slog.Logger // nil: no logs
}

// Defaults of a Deliverer. With them a receiver that stays down is given up on after
// three to five and a half hours (the waits after the 14 failures before the last sum
// to 5.4 h, less up to half of it for jitter), plus the time the attempts take.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultConcurrency = 8
	DefaultMaxPerOnce  = 1000
	DefaultMaxAttempts = 15
	DefaultBaseDelay   = 5 * time.Second
	DefaultMaxDelay    = time.Hour
)

// Result counts what one Once did.
type Result struct {
	Claimed   int // deliveries attempted
	Delivered int // acknowledged with a 2xx
	Retrying  int // failed, to be tried again
	Dead      int // failed for the last time
	Abandoned int // cut short by ctx; their lease runs out and they are tried again
}

var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (d *Deliverer) client() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	return noRedirects
}

func (d *Deliverer) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return DefaultTimeout
}

func (d *Deliverer) lease() time.Duration {
	if d.Lease > d.timeout() {
		return d.Lease
	}
	return d.timeout() + 30*time.Second
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deliverer) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Backoff is the wait after the attempt-th failed attempt: BaseDelay doubled per earlier
// failure, at most MaxDelay, with "equal jitter" — between half of that and all of it —
// so that the deliveries of a receiver that was down for a while do not all come back
// at the same instant.
func (d *Deliverer) Backoff(attempt int) time.Duration {
	base, max := orDefault(d.BaseDelay, DefaultBaseDelay), orDefault(d.MaxDelay, DefaultMaxDelay)
	delay := base
	for i := 1; i < attempt && delay < max; i++ {
		delay *= 2
	}
	delay = min(delay, max)
	r := rand.Float64
	if d.Rand != nil {
		r = d.Rand
	}
	half := delay / 2
	return half + time.Duration(r()*float64(delay-half))
}

// Once delivers what is due now, Concurrency requests at a time, and returns when nothing
// more is due or MaxPerOnce deliveries were attempted. Each free worker claims the next
// due delivery only when it can send it at once, so a lease only has to outlast one
// request. When ctx is cancelled Once stops claiming, abandons the requests in flight
// (they are sent again once their lease runs out) and returns ctx's error.
func (d *Deliverer) Once(ctx context.Context) (Result, error) {
	conc := orDefault(d.Concurrency, DefaultConcurrency)
	limit := orDefault(d.MaxPerOnce, DefaultMaxPerOnce)
	var (
		mu       sync.Mutex
		res      Result
		wg       sync.WaitGroup
		err      error // the first failure to record an outcome, under mu
		claimErr error
	)
	slots := make(chan struct{}, conc)
claiming:
	for res.Claimed < limit {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break claiming
		}
		// Take every other free slot too, so that a backlog is claimed in batches.
		n := 1
	more:
		for n < conc && n < limit-res.Claimed {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		batch, cerr := d.Outbox.Claim(ctx, d.now(), d.lease(), n)
		for range n - len(batch) {
			<-slots
		}
		if cerr != nil {
			if ctx.Err() == nil {
				claimErr = fmt.Errorf("webhooks: claim: %w", cerr)
			}
			break
		}
		if len(batch) == 0 {
			break
		}
		mu.Lock()
		res.Claimed += len(batch)
		mu.Unlock()
		for i := range batch {
			wg.Add(1)
			go func(dl *Delivery) {
				defer wg.Done()
				defer func() { <-slots }()
				o, oerr := d.deliver(ctx, dl)
				mu.Lock()
				defer mu.Unlock()
				switch o {
				case delivered:
					res.Delivered++
				case retrying:
					res.Retrying++
				case dead:
					res.Dead++
				case abandoned:
					res.Abandoned++
				}
				if oerr != nil && err == nil {
					err = oerr
				}
			}(&batch[i])
		}
	}
	wg.Wait()
	return res, errors.Join(claimErr, err, ctx.Err())
}

type outcome int

const (
	abandoned outcome = iota
	delivered
	retrying
	dead
)

// deliver sends one delivery and records what came of it.
func (d *Deliverer) deliver(ctx context.Context, dl *Delivery) (outcome, error) {
	log := d.logger().With(slog.String("subscription", dl.SubscriptionID), slog.String("event", dl.EventID),
		slog.Int("attempt", dl.Attempt))
	reason := d.post(ctx, dl)
	if ctx.Err() != nil {
		// Shutting down (or killed): whether the receiver got it is unknown, and it is
		// not the receiver's failure. The lease runs out and the delivery is claimed
		// again: at least once.
		return abandoned, nil
	}
	// What happened has happened: record it even if ctx ends meanwhile, so that a
	// graceful shutdown does not cause a duplicate.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := d.now()
	if reason == "" {
		if err := d.Outbox.Delivered(rctx, dl, now); err != nil {
			// Not recorded: the lease runs out and it is sent again.
			return abandoned, fmt.Errorf("webhooks: record delivery: %w", err)
		}
		return delivered, nil
	}
	max := orDefault(d.MaxAttempts, DefaultMaxAttempts)
	isDead := dl.Attempt >= max
	next := now.Add(d.Backoff(dl.Attempt))
	if err := d.Outbox.Failed(rctx, dl, next, isDead, reason); err != nil {
		return abandoned, fmt.Errorf("webhooks: record failed delivery: %w", err)
	}
	if isDead {
		log.Error("webhook delivery dead", slog.String("reason", reason))
		return dead, nil
	}
	log.Warn("webhook delivery failed", slog.String("reason", reason), slog.Time("next_attempt", next))
	return retrying, nil
}

// post sends dl once and returns "" on a 2xx, else a short reason for the record. The
// reason never holds the URL (whose query may carry the receiver's token) nor the
// response body.
func (d *Deliverer) post(ctx context.Context, dl *Delivery) string {
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.URL, bytes.NewReader(dl.Payload))
	if err != nil {
		return "invalid URL"
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return "URL scheme is not http or https"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "orgscim-webhooks/1")
	req.Header.Set(IdempotencyHeader, dl.EventID)
	if dl.Format == FormatStandard {
		h, err := SignStandard(dl.Secret, dl.EventID, dl.Payload, d.now())
		if err != nil {
			return "secret unusable for the standard format"
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
	} else {
		req.Header.Set(SignatureHeader, Sign(dl.Secret, dl.Payload, d.now()))
	}
	resp, err := d.client().Do(req)
	if err != nil {
		return failure(err)
	}
	// Read a little of the body so that the connection can be reused; the rest is
	// dropped with the connection.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return ""
	}
	return "HTTP " + strconv.Itoa(resp.StatusCode)
}

func failure(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // without the URL
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// Run calls Once every interval until ctx is done, and at once again when a Once
// stopped at MaxPerOnce with more due. Failures are logged and tried again.
func (d *Deliverer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := d.Once(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d.logger().Warn("webhook delivery", slog.String("error", err.Error()))
		}
		if err == nil && res.Claimed >= orDefault(d.MaxPerOnce, DefaultMaxPerOnce) {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DeliveryStatus is where one delivery stands, for operators and tests.
type DeliveryStatus struct {
	ID          string     `json:"id"`
	EventID     string     `json:"eventId"`
	Action      string     `json:"action"`
	State       string     `json:"state"` // pending, delivered or dead
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"lastError,omitempty"`
	NextAttempt time.Time  `json:"nextAttempt,omitzero"`
	Delivered   *time.Time `json:"delivered,omitempty"`
}

// Outbox states.
const (
	StatePending   = "pending"
	StateDelivered = "delivered"
	StateDead      = "dead"
)
