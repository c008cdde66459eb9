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
	// ClaimPush leases, until now+lease, up to limit due SETs of enabled push streams,
	// each the next of its stream and subject (claimed only once the one before it was
	// delivered or given up), and of each stream at most perStream less busy[stream], the
	// SETs the caller holds for it (in flight or waiting to be sent).
	ClaimPush(ctx context.Context, now time.Time, lease time.Duration, limit, perStream int,
		busy map[string]int) ([]Delivery, error)
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
//
// A receiver that stops answering delays nobody else: each claimed SET is sent by its
// own request, at most PerStream of them to one stream and Concurrency in all, and the
// pusher never waits on a request before claiming and sending other streams' SETs. A
// stream's SETs about one subject still go out one at a time, in order: the next is
// claimed only once the one before it is recorded delivered or given up.
type Pusher struct {
	Outbox Outbox
	Keys   Signer
	Issuer string
	// Client sends the requests; nil: one that follows no redirect.
	Client      *http.Client
	Timeout     time.Duration // per request; default 10s
	Concurrency int           // requests at once, across streams; default 64
	PerStream   int           // requests at once to one stream; default 8
	Batch       int           // SETs one claim takes, and claimed SETs waiting for a request, at most; default 128
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
	// Gather is how long, while requests are in flight, acknowledgements wait to be
	// recorded together and wake-ups to be served by one claim; default 20ms. Each
	// record and each claim is a write transaction, which on SQLite queues for the one
	// write lock with the changes themselves: under load the pusher writes at most twice
	// per Gather, whatever the number of SETs. When nothing is in flight, both happen at
	// once.
	Gather time.Duration
}

// noRedirects is the default client. It keeps as many idle connections to a receiver
// as requests may be in flight to it, instead of net/http's two, so that a busy stream's
// requests reuse connections rather than open new ones.
var noRedirects = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}()

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
	// Rounds is how many claims found SETs: more than one means SETs were queued, or
	// became due behind others of their subject, while the first were being sent.
	Rounds int
}

// Once sends what is due until nothing more is, and returns: what it claims, what the
// acknowledgements it records make due (a subject's next SET), and so on, each SET by
// its own request within the limits of Run. It returns once nothing is in flight and a
// claim finds nothing, so a receiver that hangs holds it up to Timeout; Run does not
// wait for it.
func (p *Pusher) Once(ctx context.Context) (Result, error) {
	return p.pump(ctx, nil, nil, true)
}

// Run sends SETs as they fall due until ctx is done: at once when Wake says SETs were
// queued, every interval besides (retries falling due, a lost wake-up), and whenever an
// acknowledgement makes a subject's next SET due. On return nothing is in flight and
// every acknowledgement received is recorded.
func (p *Pusher) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	_, _ = p.pump(ctx, p.Wake, t.C, false)
}

// outcome is how one request ended: "delivered", "retry", "dead", or "" when shutting
// down (the lease runs out and the SET is sent again).
type outcome struct {
	d    *Delivery
	kind string
	err  error
	at   time.Time
}

// leaseSlack is how much longer than a request's timeout a claim leases a SET for. A
// claimed SET still waiting for a free request after that long is not sent: its request
// could outlast its lease, and another claim may have taken it over by then.
const leaseSlack = 30 * time.Second

// waiting is a claimed SET waiting in its stream's queue for a free request.
type waiting struct {
	d       *Delivery
	claimed time.Time
}

// pump claims due SETs into per-stream queues and sends each by its own request, at
// most PerStream at once per stream and Concurrency in all. It never waits on a request
// to claim or to send another stream's SETs: requests report on results, and a claim
// happens when the queues have room and SETs may be due — at once when nothing is in
// flight, otherwise at most once per Gather, together with recording the
// acknowledgements received meanwhile. A claim takes up to Batch SETs whatever their
// streams, so a busy stream's SETs still cost two write transactions per Batch. With
// once it returns when nothing is in flight, queued or due; else it runs until ctx is
// done, then waits for the requests in flight.
func (p *Pusher) pump(ctx context.Context, wake <-chan struct{}, tick <-chan time.Time, once bool) (Result, error) {
	timeout := orDefault(p.Timeout, 10*time.Second)
	concurrency := orDefault(p.Concurrency, 64)
	perStream := orDefault(p.PerStream, 8)
	batch := orDefault(p.Batch, 128)
	gather := orDefault(p.Gather, 20*time.Millisecond)
	var (
		res      Result
		firstErr error
		acks     []*Delivery
		ackAt    []time.Time
		// due: SETs may be due, so claim when there is room; full: the last claim took
		// all it was allowed, so more may be waiting.
		due, full = true, false
		queues    = map[string][]waiting{} // claimed SETs waiting, per stream
		order     []string                 // the streams with SETs waiting, served in turn
		held      = map[string]int{}       // per stream: SETs waiting or in flight
		flying    = map[string]int{}       // per stream: requests in flight
		inflight  int
		queued    int
		soon      = time.NewTimer(time.Hour)
		armed     bool
		done      = ctx.Done()
	)
	soon.Stop()
	defer soon.Stop()
	arm := func() {
		if !armed {
			soon.Reset(gather)
			armed = true
		}
	}
	results := make(chan outcome, concurrency)
	report := func(err error) {
		if err == nil {
			return
		}
		if firstErr == nil {
			firstErr = err
		}
		if !once && ctx.Err() == nil {
			p.logger().Error("ssf push", slog.String("error", err.Error()))
		}
	}
	release := func(streamID string) {
		if held[streamID]--; held[streamID] <= 0 {
			delete(held, streamID)
		}
	}
	record := func() {
		if len(acks) == 0 {
			return
		}
		// Recorded even when ctx is done: the receivers have these SETs. Should it fail,
		// their leases run out and they are sent again (at least once).
		if err := p.Outbox.Delivered(context.WithoutCancel(ctx), acks, ackAt[len(ackAt)-1]); err != nil {
			report(err)
		} else if p.Delivered != nil {
			for i, d := range acks {
				p.Delivered(d, ackAt[i])
			}
		}
		acks, ackAt = nil, nil
		due = true // the next SET about each acknowledged subject
	}
	// dispatch starts requests for waiting SETs, taking the streams in turn.
	dispatch := func() {
		now := p.now()
		for _, id := range order {
			for len(queues[id]) > 0 && flying[id] < perStream && inflight < concurrency {
				w := queues[id][0]
				queues[id] = queues[id][1:]
				queued--
				if ctx.Err() != nil || now.Sub(w.claimed) > leaseSlack {
					release(id) // left to its lease running out, then claimed again
					continue
				}
				flying[id]++
				inflight++
				go func() {
					kind, err := p.send(ctx, w.d, timeout)
					results <- outcome{d: w.d, kind: kind, err: err, at: p.now()}
				}()
			}
		}
		kept := order[:0]
		for _, id := range order {
			if len(queues[id]) > 0 {
				kept = append(kept, id)
			} else {
				delete(queues, id)
			}
		}
		if len(kept) > 1 { // the stream served first this time is served last next time
			kept = append(kept[1:], kept[0])
		}
		order = kept
	}
	claim := func() {
		due = false
		n := batch - queued
		if n <= 0 {
			due = true // once the queues drain
			return
		}
		ds, err := p.Outbox.ClaimPush(ctx, p.now(), timeout+leaseSlack, n, batch, held)
		if err != nil {
			report(err)
			return
		}
		if len(ds) > 0 {
			res.Rounds++
		}
		full = len(ds) == n
		claimed := p.now()
		for i := range ds {
			d := &ds[i]
			if _, ok := queues[d.StreamID]; !ok {
				order = append(order, d.StreamID)
			}
			queues[d.StreamID] = append(queues[d.StreamID], waiting{d: d, claimed: claimed})
			held[d.StreamID]++
			queued++
		}
		dispatch()
	}
	for {
		stopping := ctx.Err() != nil || (once && firstErr != nil)
		if stopping && queued > 0 {
			dispatch() // gives the waiting SETs back to their leases
		}
		if inflight == 0 && queued == 0 {
			if armed {
				soon.Stop()
				armed = false
			}
			record()
			if stopping {
				if firstErr == nil {
					firstErr = ctx.Err()
				}
				return res, firstErr
			}
			if due {
				claim()
				if inflight > 0 || queued > 0 || (due && firstErr == nil) {
					continue
				}
			}
			if once {
				return res, firstErr
			}
		}
		var soonC <-chan time.Time
		if armed {
			soonC = soon.C
		}
		select {
		case o := <-results:
			id := o.d.StreamID
			inflight--
			if flying[id]--; flying[id] <= 0 {
				delete(flying, id)
			}
			// A stream that held all a claim may give it may have SETs the last claim left.
			atCap := held[id] >= batch
			release(id)
			switch o.kind {
			case "delivered":
				res.Delivered++
				acks, ackAt = append(acks, o.d), append(ackAt, o.at)
				arm()
			case "retry":
				res.Retrying++
			case "dead":
				res.Dead++
			}
			report(o.err)
			// Room for what the last claim left, and a SET given up lets the next about
			// its subject go.
			if full || atCap || o.kind == "dead" {
				due = true
				arm()
			}
			dispatch()
		case <-soonC:
			armed = false
			record()
			if due && !stopping {
				claim()
			}
		case <-wake:
			due = true
			arm()
		case <-tick:
			due = true
			arm()
		case <-done:
			done = nil // requests end with ctx; wait for them
		}
	}
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
