package main

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/scim"
	"github.com/orgscim/orgscim/sqlstore"
)

func TestRateLimitPerConnection(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		// Three requests at once, then one every 100 s: nothing refills while the test runs.
		env := newE2EWith(t, db, httpConfig{Limits: scim.Limits{RateLimit: 0.01, RateBurst: 3}})
		a := env.connect("rl-a", "generic")
		b := env.connect("rl-b", "okta")

		// Requests that fail to authenticate spend nothing of a's budget: a wrong token,
		// none, and b's valid token aimed at a's URL.
		for range 4 {
			a.as("rl-a", "wrong").do("GET", "/Users", nil).scimError(t, http.StatusUnauthorized, "")
			a.as("rl-a", "").do("GET", "/Users", nil).scimError(t, http.StatusUnauthorized, "")
			a.as("rl-a", b.token).do("GET", "/Users", nil).scimError(t, http.StatusUnauthorized, "")
		}

		for i := range 3 {
			if r := a.do("GET", "/Users", nil); r.Status != http.StatusOK {
				t.Fatalf("request %d of the burst: %d %s", i+1, r.Status, r.Raw)
			}
		}
		for _, r := range []*reply{
			a.do("GET", "/Users", nil),
			a.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "limited@example.com"}),
			a.do("GET", "/ServiceProviderConfig", nil),
			a.do("DELETE", "/Users/whatever", nil),
		} {
			r.scimError(t, http.StatusTooManyRequests, "") // and a SCIM error document: checked by do
			ra := r.Header.Get("Retry-After")
			if secs, err := strconv.Atoi(ra); err != nil || secs < 1 {
				t.Errorf("Retry-After %q, want an integer number of seconds >= 1", ra)
			} else if secs > 100 {
				t.Errorf("Retry-After %d, want at most the 100 s until the next token", secs)
			}
		}
		// The refused create changed nothing.
		page, err := db.Users().Users(context.Background(), a.conn.ID, provisioning.Query{Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 0 {
			t.Errorf("a refused create stored a user: %d users", page.Total)
		}

		// Another connection has a budget of its own.
		for i := range 3 {
			if r := b.do("GET", "/Users", nil); r.Status != http.StatusOK {
				t.Errorf("connection b, request %d: %d %s", i+1, r.Status, r.Raw)
			}
		}

		samples := scrape(t, env.srv.URL)
		if n, _ := metricValue(samples, "orgscim_http_requests_total",
			map[string]string{"connection": "rl-a", "status": "429"}); n < 1 {
			t.Errorf("no 429 of rl-a in the metrics")
		}
	})
}

// The default limit (Limits zero) lets a busy IdP through.
func TestRateLimitDefaultAllowsBursts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("rl-default", "entra")
		for i := range 100 {
			if r := c.do("GET", "/ServiceProviderConfig", nil); r.Status != http.StatusOK {
				t.Fatalf("request %d: %d %s", i+1, r.Status, r.Raw)
			}
		}
	})
}

// Two replicas — two handlers, each with its own connection pool, on one PostgreSQL —
// share each connection's bucket: a burst of 4 is 4 requests in all, not 4 per replica.
// (SQLite is one process, whose buckets stay in its memory: TestRateLimitPerConnection.)
func TestRateLimitAcrossReplicas(t *testing.T) {
	url := dbtest.URL(t, "postgres")
	cfg := httpConfig{Limits: scim.Limits{RateLimit: 0.01, RateBurst: 4}} // nothing refills during the test
	var replicas [2]*e2eEnv
	for i := range replicas {
		db, err := sqlstore.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		replicas[i] = newE2EWith(t, db, cfg)
	}
	a := replicas[0].connect("rl-shared", "okta")
	via := func(i int) *scimClient { cp := *a; cp.env = replicas[i]; return &cp }

	for i := range 4 { // alternating replicas
		if r := via(i%2).do("GET", "/Users", nil); r.Status != http.StatusOK {
			t.Fatalf("request %d of the burst, replica %d: %d %s", i+1, i%2, r.Status, r.Raw)
		}
	}
	for i := range replicas {
		r := via(i).do("GET", "/Users", nil)
		r.scimError(t, http.StatusTooManyRequests, "")
		if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 100 {
			t.Errorf("replica %d: Retry-After %q, want 1 to 100 seconds", i, r.Header.Get("Retry-After"))
		}
	}
	// Another connection's budget is its own, on either replica.
	b := replicas[1].connect("rl-other", "entra")
	for i := range 4 {
		cp := *b
		cp.env = replicas[i%2]
		if r := cp.do("GET", "/Users", nil); r.Status != http.StatusOK {
			t.Errorf("connection b, request %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
}

// With a limit where replicas take tokens in chunks (20/s, burst 32: chunks of 2), 120
// requests alternating over two replicas get at most the burst, one chunk less one per
// replica, and what refilled while they ran — not a burst per replica.
func TestRateLimitAcrossReplicasInChunks(t *testing.T) {
	url := dbtest.URL(t, "postgres")
	const perSecond, burst, chunk = 20, 32, 2
	cfg := httpConfig{Limits: scim.Limits{RateLimit: perSecond, RateBurst: burst}}
	var replicas [2]*e2eEnv
	for i := range replicas {
		db, err := sqlstore.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		replicas[i] = newE2EWith(t, db, cfg)
	}
	a := replicas[0].connect("rl-chunks", "okta")
	start := time.Now()
	passed := 0
	for i := range 120 {
		cp := *a
		cp.env = replicas[i%2]
		switch r := cp.do("GET", "/ServiceProviderConfig", nil); r.Status {
		case http.StatusOK:
			passed++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("request %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
	// The bound counts the refill over the measured time: a slow machine widens it, but
	// a limit kept per replica (64 and its refills) still exceeds it.
	limit := burst + len(replicas)*(chunk-1) + int(perSecond*time.Since(start).Seconds()) + 1
	if passed > limit || passed < burst/2 {
		t.Errorf("%d of 120 requests passed, want %d to %d", passed, burst/2, limit)
	}
	t.Logf("%d of 120 passed in %v (bound %d)", passed, time.Since(start), limit)
}
