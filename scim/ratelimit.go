package scim

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"golang.org/x/time/rate"
)

// SharedBuckets are rate-limit buckets that several replicas share, so that a
// connection's limit holds across them (sqlstore.RateBuckets, in PostgreSQL). Take takes
// up to n of conn's tokens and returns how many it got; none, and how long until one is
// due, when the budget is spent.
type SharedBuckets interface {
	Take(ctx context.Context, conn string, perSecond float64, burst, n int) (got int, wait time.Duration, err error)
}

// shared spends a connection's tokens from the shared buckets, taking a few at a time
// (a chunk: at most a sixteenth of the burst and a tenth of a second's worth) so that
// most requests spend one this replica holds instead of costing a database statement.
// A replica holds its unspent tokens for a second at most. So across R replicas a
// connection gets at most its burst plus R × (chunk − 1) requests at once, and its rate
// over time; with the defaults (200/s, burst 400) the chunk is 20 requests.
type shared struct {
	buckets SharedBuckets
	chunk   int

	mu   sync.Mutex
	held map[string]heldTokens
}

type heldTokens struct {
	n  int
	at time.Time
}

func newShared(b SharedBuckets, perSecond float64, burst int) *shared {
	chunk := max(1, min(burst/16, int(perSecond/10)))
	return &shared{buckets: b, chunk: chunk, held: map[string]heldTokens{}}
}

func (s *shared) take(ctx context.Context, conn string, perSecond float64, burst int, now time.Time) (time.Duration, bool, error) {
	s.mu.Lock()
	if h := s.held[conn]; h.n > 0 && now.Sub(h.at) < time.Second {
		h.n--
		s.held[conn] = h
		s.mu.Unlock()
		return 0, true, nil
	}
	delete(s.held, conn)
	s.mu.Unlock()
	got, wait, err := s.buckets.Take(ctx, conn, perSecond, burst, s.chunk)
	if err != nil || got == 0 {
		return wait, false, err
	}
	if got > 1 {
		s.mu.Lock()
		h := s.held[conn]
		if now.Sub(h.at) >= time.Second {
			h = heldTokens{at: now}
		}
		h.n += got - 1
		s.held[conn] = h
		s.mu.Unlock()
	}
	return 0, true, nil
}

// limiters holds one token bucket per connection, created on the connection's first
// authenticated request. Only authenticated connections get one, so their number is
// bounded by the connections that exist.
type limiters struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// newLimiters returns the buckets for perSecond requests per second and bursts of burst;
// nil, meaning no limit, when perSecond is negative or infinite.
func newLimiters(perSecond float64, burst int) *limiters {
	if perSecond < 0 || math.IsInf(perSecond, 1) || math.IsNaN(perSecond) {
		return nil
	}
	return &limiters{limit: rate.Limit(perSecond), burst: max(burst, 1), m: map[string]*rate.Limiter{}}
}

func (l *limiters) bucket(conn string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[conn]
	if !ok {
		b = rate.NewLimiter(l.limit, l.burst)
		l.m[conn] = b
	}
	return b
}

// take spends one request of conn's budget at now. When the budget is spent it spends
// nothing and returns how long until a request would be allowed.
func (l *limiters) take(conn string, now time.Time) (time.Duration, bool) {
	r := l.bucket(conn).ReserveN(now, 1)
	if !r.OK() {
		return time.Hour, false // cannot happen with burst >= 1; be safe
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		return 0, true
	}
	r.CancelAt(now) // give the token back: a refused request costs nothing
	return d, false
}

// rateLimit refuses a request beyond its connection's budget with 429, an integer
// Retry-After in seconds (at least 1) and a SCIM error document. It runs after
// authenticate.
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.limiters == nil {
			return next(c)
		}
		var (
			wait time.Duration
			ok   bool
		)
		if s.shared != nil {
			var err error
			wait, ok, err = s.shared.take(c.Request().Context(), connection(c).ID, s.Limits.RateLimit, s.Limits.RateBurst, time.Now())
			if err != nil {
				// The shared buckets are out of reach: this replica's own bucket limits
				// the connection meanwhile (a limit per replica rather than none).
				s.logger().Warn("rate limit: shared bucket unavailable; limiting in this process", "error", err.Error())
				wait, ok = s.limiters.take(connection(c).ID, time.Now())
			}
		} else {
			wait, ok = s.limiters.take(connection(c).ID, time.Now())
		}
		if ok {
			return next(c)
		}
		secs := max(1, int(math.Ceil(wait.Seconds())))
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		return orgscim.Errorf(orgscim.RateLimited,
			"too many requests for this connection; retry after %d seconds", secs)
	}
}
