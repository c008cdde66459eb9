package ssf

import (
	"math"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"golang.org/x/time/rate"
)

// DefaultRateLimit is a receiver's requests per second on /ssf/* (its burst twice that):
// ample for managing streams and polling, while one receiver looping on its token cannot
// take the transmitter from the others.
const DefaultRateLimit = 100

// receiverLimits holds a token bucket per receiver, made on its first authenticated
// request, so their number is bounded by the receivers registered. The buckets are this
// replica's: with R replicas a receiver gets at most R times its limit.
type receiverLimits struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// allow spends one of the receiver's tokens, or says how many seconds until one is due.
func (s *Server) allow(c echo.Context, receiverID string) error {
	perSecond := s.RateLimit
	if perSecond < 0 {
		return nil
	}
	if perSecond == 0 {
		perSecond = DefaultRateLimit
	}
	burst := s.RateBurst
	if burst <= 0 {
		burst = max(1, int(2*perSecond))
	}
	s.limits.mu.Lock()
	if s.limits.m == nil {
		s.limits.m = map[string]*rate.Limiter{}
	}
	l := s.limits.m[receiverID]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(perSecond), burst)
		s.limits.m[receiverID] = l
	}
	s.limits.mu.Unlock()
	now := s.now()
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
		return orgscim.Errorf(orgscim.RateLimited, "too many requests for this receiver: at most %g a second; retry later", perSecond)
	}
	return nil
}
