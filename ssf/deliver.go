package ssf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Delivery is one queued SET of a stream, as claimed for push or returned by a poll.
type Delivery struct {
	ID                  string
	StreamID            string
	JTI                 string
	Type                string
	Claims              []byte // without iss, aud and jti
	Audience            string
	EndpointURL         string
	AuthorizationHeader string
	Attempt             int
	Lease               string
	RequestedAt         time.Time // the audit event's time: when the change was asked for
}

// Outbox is the store side of SET delivery.
type Outbox interface {
	// ClaimPush leases, until now+lease, the next due SET of up to limit enabled push
	// streams: a stream's SETs are claimed one at a time, in order, each only once the
	// one before it was delivered or given up.
	ClaimPush(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// Delivered marks ds acknowledged at at, in one statement.
	Delivered(ctx context.Context, ds []*Delivery, at time.Time) error
	// Failed records a failed attempt: tried again at next or, when dead, never.
	Failed(ctx context.Context, d *Delivery, next time.Time, dead bool, reason string) error
	// Poll acknowledges acks, gives up errs (jti → reason), then leases and returns up
	// to max due SETs of the poll stream, oldest first, and whether more are due.
	Poll(ctx context.Context, streamID string, acks []string, errs map[string]string, now time.Time,
		lease time.Duration, max int) ([]Delivery, bool, error)
}

// Signer signs SETs and publishes their keys (a Keyring).
type Signer interface {
	Sign(payload []byte) (string, error)
}

// SignSET is d's token: its claims with iss, aud and jti, signed. Each attempt signs the
// same claims, so a receiver that got the SET before recognises it by jti.
func SignSET(s Signer, issuer string, d *Delivery) (string, error) {
	var claims map[string]any
	if err := json.Unmarshal(d.Claims, &claims); err != nil {
		return "", fmt.Errorf("ssf: SET %s: %w", d.JTI, err)
	}
	claims["iss"], claims["aud"], claims["jti"] = issuer, d.Audience, d.JTI
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(claims); err != nil {
		return "", err
	}
	return s.Sign(bytes.TrimRight(buf.Bytes(), "\n"))
}

// Pusher sends the SETs of push streams (RFC 8935). Zero fields take the defaults
// documented on them.
type Pusher struct {
	Outbox Outbox
	Keys   Signer
	Issuer string
	// Client sends the requests; nil: one that follows no redirect.
	Client      *http.Client
	Timeout     time.Duration // per request; default 10s
	Concurrency int           // requests at once; default 16
	Batch       int           // SETs one claim takes at most; default 128
	MaxAttempts int           // attempts before a SET is given up; default 15
	BaseDelay   time.Duration // wait after the first failure, doubled after each; default 1s
	MaxDelay    time.Duration // longest wait; default 30m
	Now         func() time.Time
	Logger      *slog.Logger
	// Delivered, when set, is called after each acknowledged SET (metrics, tests).
	Delivered func(d *Delivery, at time.Time)
	// Wake, when set, makes Run look at once rather than at its next tick: the store
	// signals it when a transaction that queued SETs commits (sqlstore SSFWakeups). The
	// tick stays, for retries falling due and for wake-ups lost with a connection.
	Wake <-chan struct{}
	// Gather is how long a wake-up waits after a Once that met a backlog (it sent more
	// SETs than Concurrency, so more were queued while it was sending); default 50ms,
	// the tick it replaces. While changes keep committing, it lets their SETs gather into
	// one claim instead of each commit costing the pusher two write transactions, which
	// on SQLite queue for the one write lock with the changes themselves. Otherwise a
	// wake-up is served at once.
	Gather time.Duration
}

var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (p *Pusher) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pusher) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Backoff is the wait after the attempt-th failure, with equal jitter.
func (p *Pusher) Backoff(attempt int) time.Duration {
	base, max := orDefault(p.BaseDelay, time.Second), orDefault(p.MaxDelay, 30*time.Minute)
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + time.Duration(rand.Float64()*float64(d-d/2))
}

// Result counts what one Once did.
type Result struct {
	Delivered, Retrying, Dead int
	// Rounds is how many claims found SETs: more than one means SETs were queued while
	// the first were being sent, a backlog building.
	Rounds int
}

// Once sends what is due until nothing more is, and returns. Each round claims up to
// Batch SETs, each the next of its stream and subject, sends them Concurrency at a time,
// and records the acknowledged ones together: two short write transactions per round,
// whatever its size, which keeps a SQLite writer free for the changes themselves.
func (p *Pusher) Once(ctx context.Context) (Result, error) {
	var res Result
	timeout := orDefault(p.Timeout, 10*time.Second)
	for ctx.Err() == nil {
		batch, err := p.Outbox.ClaimPush(ctx, p.now(), timeout+30*time.Second, orDefault(p.Batch, 128))
		if err != nil || len(batch) == 0 {
			return res, err
		}
		res.Rounds++
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			ferr      error
			delivered []*Delivery
			at        []time.Time
		)
		slots := make(chan struct{}, orDefault(p.Concurrency, 16))
		for i := range batch {
			wg.Add(1)
			slots <- struct{}{}
			go func(d *Delivery) {
				defer func() { <-slots; wg.Done() }()
				outcome, err := p.send(ctx, d, timeout)
				mu.Lock()
				defer mu.Unlock()
				switch outcome {
				case "delivered":
					res.Delivered++
					delivered, at = append(delivered, d), append(at, p.now())
				case "dead":
					res.Dead++
				case "retry":
					res.Retrying++
				}
				if err != nil && ferr == nil {
					ferr = err
				}
			}(&batch[i])
		}
		wg.Wait()
		if len(delivered) > 0 {
			// Recorded even when ctx is done: the receivers have these SETs.
			if err := p.Outbox.Delivered(context.WithoutCancel(ctx), delivered, at[len(at)-1]); err != nil && ferr == nil {
				ferr = err
			}
			if p.Delivered != nil {
				for i, d := range delivered {
					p.Delivered(d, at[i])
				}
			}
		}
		if ferr != nil {
			return res, ferr
		}
	}
	return res, ctx.Err()
}

// send pushes one SET and records a failure; an acknowledged SET is recorded by Once.
func (p *Pusher) send(ctx context.Context, d *Delivery, timeout time.Duration) (string, error) {
	token, err := SignSET(p.Keys, p.Issuer, d)
	if err != nil {
		return "", err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, d.EndpointURL, strings.NewReader(token))
	if err != nil {
		return p.fail(ctx, d, true, "invalid endpoint URL")
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Accept", "application/json")
	if d.AuthorizationHeader != "" {
		req.Header.Set("Authorization", d.AuthorizationHeader)
	}
	client := p.Client
	if client == nil {
		client = noRedirects
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", nil // shutting down: the lease runs out and the SET is sent again
		}
		reason := "request failed"
		if errors.Is(err, context.DeadlineExceeded) {
			reason = "timed out"
		}
		return p.fail(ctx, d, false, reason)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return "delivered", nil
	case resp.StatusCode == http.StatusBadRequest:
		// RFC 8935 §2.3: the receiver refused this SET for good and said why; sending it
		// again cannot help, so it is given up and the subject's next SET goes out.
		var e struct {
			Err         string `json:"err"`
			Description string `json:"description"`
		}
		_ = json.Unmarshal(body, &e)
		reason := "refused by the receiver"
		if e.Err != "" {
			reason += ": " + e.Err
		}
		return p.fail(ctx, d, true, reason)
	default:
		return p.fail(ctx, d, false, fmt.Sprintf("answered %d", resp.StatusCode))
	}
}

func (p *Pusher) fail(ctx context.Context, d *Delivery, permanent bool, reason string) (string, error) {
	dead := permanent || d.Attempt >= orDefault(p.MaxAttempts, 15)
	next := p.now().Add(p.Backoff(d.Attempt))
	p.logger().Warn("ssf push failed", slog.String("stream", d.StreamID), slog.String("jti", d.JTI),
		slog.Int("attempt", d.Attempt), slog.Bool("dead", dead), slog.String("reason", reason))
	if err := p.Outbox.Failed(ctx, d, next, dead, reason); err != nil {
		return "", err
	}
	if dead {
		return "dead", nil
	}
	return "retry", nil
}

// Run calls Once every interval, and whenever Wake says SETs were queued, until ctx is
// done. A wake-up during a Once is kept (the channel holds one), so a SET committed
// while Once was finishing is not left for the tick.
func (p *Pusher) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	gather := orDefault(p.Gather, 50*time.Millisecond)
	for {
		res, err := p.Once(ctx)
		if err != nil && ctx.Err() == nil {
			p.logger().Error("ssf push", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.Wake:
			if res.Delivered+res.Retrying+res.Dead > orDefault(p.Concurrency, 16) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(gather):
				}
			}
		}
	}
}
