// Package connhealth keeps the health of each SCIM connection: how many requests its IdP
// made, how many failed, when it last pushed a change, and a redacted log of its last
// requests and responses, so that a partner's failing set-up can be diagnosed from what
// it actually sent and what it was answered.
//
// Recording must not slow SCIM down: a Recorder keeps counts and the last entries of
// each connection in memory and adds them to the store in one batch about once a second
// (and on Flush, which the server calls when it stops). Redaction happens then, off the
// request's path, and only for the entries that are kept. The store adds counts rather
// than overwriting them, so replicas on one database share the figures.
package connhealth

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Keep is how many requests the log keeps per connection.
const Keep = 50

// Entry is one request as the SCIM adapter saw it; its bodies are the raw bytes (cut
// at CaptureLimit), redacted only when the entry is stored.
type Entry struct {
	ConnectionID string
	At           time.Time
	Method       string
	Path         string
	RawQuery     string // stored with only the parameters worth keeping (see keptParams)
	Status       int
	Latency      time.Duration
	RequestID    string
	Push         bool // a change: POST, PUT, PATCH or DELETE, not a search
	RequestBody  []byte
	ResponseBody []byte
	// RequestCut and ResponseCut say that the body was longer than what was captured.
	RequestCut, ResponseCut bool
}

// CaptureLimit is how much of each body the adapter hands over; MaxBody how much of it,
// redacted, is stored.
const (
	CaptureLimit = 32 << 10
	MaxBody      = 4 << 10
)

// Logged is a stored entry of the log, redacted.
type Logged struct {
	Seq          int64
	At           time.Time
	Method       string
	Path         string
	Status       int
	ScimType     string
	Detail       string
	Latency      time.Duration
	RequestID    string
	RequestBody  string
	ResponseBody string
}

// Health is the stored figures of one connection.
type Health struct {
	Requests     int64
	ClientErrors int64 // 4xx
	ServerErrors int64 // 5xx
	LastRequest  *time.Time
	LastPush     *time.Time
	LastSuccess  *time.Time
	LastError    *time.Time
	// Rejected counts the requests to the connection's URL whose bearer token was
	// refused: a partner whose IdP holds a wrong or revoked token shows here, not in
	// Requests. Only counted — anyone can send them, so they are not logged.
	Rejected     int64
	LastRejected *time.Time
}

// add adds o's counts to h and moves h's times forward to o's.
func (h *Health) add(o Health) {
	h.Requests += o.Requests
	h.ClientErrors += o.ClientErrors
	h.ServerErrors += o.ServerErrors
	h.Rejected += o.Rejected
	later(&h.LastRequest, o.LastRequest)
	later(&h.LastPush, o.LastPush)
	later(&h.LastSuccess, o.LastSuccess)
	later(&h.LastError, o.LastError)
	later(&h.LastRejected, o.LastRejected)
}

// later moves the time *dst forward to t; nil is earlier than any time.
func later(dst **time.Time, t *time.Time) {
	if t != nil && (*dst == nil || t.After(**dst)) {
		*dst = t
	}
}

// Batch is what one flush adds for one connection: counts to add, times to move
// forward, entries to append to the ring (oldest first). A batch of refused requests
// names the connection by ConnectionSlug, as the URL did, and is dropped when no
// connection has that slug.
type Batch struct {
	ConnectionID   string
	ConnectionSlug string
	Health
	Entries []Logged
}

// Store keeps health across restarts and replicas.
type Store interface {
	// AddHealth adds the batches' counts, moves their times forward (never back: another
	// replica may have seen later requests) and appends their entries to each
	// connection's ring of size keep, numbering them, in one transaction. A batch holds
	// at most keep entries.
	AddHealth(ctx context.Context, batches []Batch, keep int) error
	// Health returns the figures of a connection; zero when it never made a request.
	Health(ctx context.Context, connectionID string) (*Health, error)
	// RequestLog returns up to limit of the connection's last entries, newest first.
	RequestLog(ctx context.Context, connectionID string, limit int) ([]Logged, error)
}

// Recorder buffers what the SCIM adapter records and adds it to the store at most every
// Every. The zero value is not usable: set Store.
type Recorder struct {
	Store  Store
	Every  time.Duration // default one second
	Logger *slog.Logger

	mu      sync.Mutex
	pending map[string]*pending
	// rejected counts refused requests by the URL's connection slug, which anyone can
	// choose: at most maxRejectedSlugs of them are kept between flushes.
	rejected map[string]*Health
	timer    *time.Timer // a flush is scheduled
	closed   bool
	failures int // flushes failed in a row

	flushing sync.Mutex // one flush at a time, so that entries are stored in order
}

// pending is one connection's unflushed counts and last entries.
type pending struct {
	health  Health
	entries []Entry // a ring of at most Keep, oldest first once ordered
	next    int     // where the next entry goes once the ring is full
}

func (p *pending) add(e Entry) {
	h := &p.health
	h.Requests++
	t := e.At // not &e.At, which would move the whole entry to the heap
	at := &t
	later(&h.LastRequest, at)
	if e.Push {
		later(&h.LastPush, at)
	}
	switch {
	case e.Status >= 500:
		h.ServerErrors++
		later(&h.LastError, at)
	case e.Status >= 400:
		h.ClientErrors++
		later(&h.LastError, at)
	default:
		later(&h.LastSuccess, at)
	}
	if len(p.entries) < Keep {
		p.entries = append(p.entries, e)
		return
	}
	p.entries[p.next] = e
	p.next = (p.next + 1) % Keep
}

// ordered returns the entries oldest first.
func (p *pending) ordered() []Entry {
	return append(append([]Entry(nil), p.entries[p.next:]...), p.entries[:p.next]...)
}

// maxRejectedSlugs bounds the slugs of refused requests buffered between two flushes.
const maxRejectedSlugs = 1000

// RecordRejected notes a request to /scim/v2/{slug} whose bearer token was refused.
func (r *Recorder) RecordRejected(slug string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rejected == nil {
		r.rejected = map[string]*Health{}
	}
	h := r.rejected[slug]
	if h == nil {
		if len(r.rejected) >= maxRejectedSlugs {
			return
		}
		h = &Health{}
		r.rejected[slug] = h
	}
	h.Rejected++
	later(&h.LastRejected, &at)
	r.schedule()
}

// Record notes one request. It never blocks on the database.
func (r *Recorder) Record(e Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		r.pending = map[string]*pending{}
	}
	p := r.pending[e.ConnectionID]
	if p == nil {
		p = &pending{}
		r.pending[e.ConnectionID] = p
	}
	p.add(e)
	r.schedule()
}

func (r *Recorder) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Flush stores what was recorded so far. On failure the counts stay buffered for the
// next flush.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushing.Lock()
	defer r.flushing.Unlock()
	r.mu.Lock()
	taken, rejected := r.pending, r.rejected
	r.pending, r.rejected = nil, nil
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.mu.Unlock()
	if len(taken) == 0 && len(rejected) == 0 {
		return nil
	}
	batches := make([]Batch, 0, len(taken)+len(rejected))
	for slug, h := range rejected {
		batches = append(batches, Batch{ConnectionSlug: slug, Health: *h})
	}
	for conn, p := range taken {
		b := Batch{ConnectionID: conn, Health: p.health}
		for _, e := range p.ordered() {
			b.Entries = append(b.Entries, redactEntry(e))
		}
		batches = append(batches, b)
	}
	err := r.Store.AddHealth(ctx, batches, Keep)
	if err != nil {
		r.restore(taken, rejected)
		return err
	}
	r.mu.Lock()
	r.failures = 0
	r.mu.Unlock()
	return nil
}

// restore puts counts and entries that failed to store back in front of what was
// recorded since, and schedules another try.
func (r *Recorder) restore(taken map[string]*pending, rejected map[string]*Health) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rejected == nil {
		rejected = map[string]*Health{}
	}
	for slug, h := range r.rejected {
		old := rejected[slug]
		if old == nil {
			if len(rejected) < maxRejectedSlugs {
				rejected[slug] = h
			}
			continue
		}
		old.add(*h)
	}
	r.rejected = rejected
	if taken == nil {
		taken = map[string]*pending{}
	}
	for conn, p := range r.pending {
		old := taken[conn]
		if old == nil {
			taken[conn] = p
			continue
		}
		old.merge(p)
	}
	r.pending = taken
	// A database that stays away (or was closed under a test) is not retried forever:
	// the next request recorded schedules another try, and Close tries once more.
	r.failures++
	if r.failures < maxRetries {
		r.schedule()
	}
}

// maxRetries is how many flushes in a row may fail before the recorder waits for the
// next request to try again.
const maxRetries = 5

// merge adds newer's counts, times and entries to p.
func (p *pending) merge(newer *pending) {
	p.health.add(newer.health)
	entries := append(p.ordered(), newer.ordered()...)
	if len(entries) > Keep {
		entries = entries[len(entries)-Keep:]
	}
	p.entries, p.next = entries, 0
}

// schedule arranges a flush after Every unless one is arranged; r.mu is held.
func (r *Recorder) schedule() {
	if r.timer != nil || r.closed {
		return
	}
	every := r.Every
	if every <= 0 {
		every = time.Second
	}
	r.timer = time.AfterFunc(every, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Flush(ctx); err != nil {
			r.logger().Warn("connection health: flush failed; retrying", slog.String("error", err.Error()))
		}
	})
}

// Close flushes what is buffered and stops scheduling flushes; what is recorded after it
// stays in memory until the next Flush.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return r.Flush(ctx)
}
