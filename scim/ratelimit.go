package scim

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"golang.org/x/time/rate"
)

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
		wait, ok := s.limiters.take(connection(c).ID, time.Now())
		if ok {
			return next(c)
		}
		secs := max(1, int(math.Ceil(wait.Seconds())))
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		return orgscim.Errorf(orgscim.RateLimited,
			"too many requests for this connection; retry after %d seconds", secs)
	}
}
