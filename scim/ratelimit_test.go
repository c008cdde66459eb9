package scim

import (
	"testing"
	"time"
)

func TestLimitersBucket(t *testing.T) {
	l := newLimiters(1, 2) // one request a second, two at once
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2 {
		if _, ok := l.take("a", t0); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	// Refused requests spend nothing: however many come, the next token is due a
	// second after the burst.
	for range 5 {
		wait, ok := l.take("a", t0.Add(100*time.Millisecond))
		if ok || wait <= 0 || wait > 900*time.Millisecond {
			t.Fatalf("beyond the burst: ok %v, wait %v; want refused with a wait of at most 900ms", ok, wait)
		}
	}
	if _, ok := l.take("b", t0); !ok {
		t.Fatalf("another connection's first request refused")
	}
	if _, ok := l.take("a", t0.Add(time.Second)); !ok {
		t.Fatalf("a second later, refused")
	}
	if _, ok := l.take("a", t0.Add(time.Second)); ok {
		t.Fatalf("a second later, two allowed")
	}
}

func TestLimitsDefaults(t *testing.T) {
	l := Limits{}.withDefaults()
	if l.RateLimit != 200 || l.RateBurst != 400 {
		t.Errorf("defaults: %v/s burst %d, want 200/s burst 400", l.RateLimit, l.RateBurst)
	}
	l = Limits{RateLimit: 0.01}.withDefaults()
	if l.RateBurst != 1 {
		t.Errorf("burst of a tiny rate: %d, want 1", l.RateBurst)
	}
	if newLimiters(Limits{RateLimit: -1}.withDefaults().RateLimit, 0) != nil {
		t.Errorf("a negative rate does not turn limiting off")
	}
}
