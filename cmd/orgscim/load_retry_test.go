package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/scim"
	"github.com/orgscim/orgscim/sqlstore"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		header string
		want   time.Duration
	}{
		{"2", 2 * time.Second},
		{"0", 50 * time.Millisecond}, // never a busy loop
		{"", time.Second},
		{"soon", time.Second},
		{"3600", 30 * time.Second}, // bounded by the limit
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second},
	} {
		if got := retryAfter(tt.header, now, 30*time.Second); got != tt.want {
			t.Errorf("Retry-After %q: %s, want %s", tt.header, got, tt.want)
		}
	}
}

// orgscim load against a server that throttles: every third request is answered 429
// with Retry-After, as the rate limiter does. The run waits those out and retries, so no
// request fails; and what it created is gone afterwards although it ran no delete
// phase. With --keep, the users stay.
func TestLoadRetriesThrottledRequestsAndCleansUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		app := newHandler(db, slog.New(slog.NewTextHandler(io.Discard, nil)), httpConfig{Limits: scim.Limits{RateLimit: -1}})
		var n, refused atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The load tool's scrapes of /metrics (what each phase cost) are not throttled,
			// as the server's rate limit throttles only SCIM requests.
			if strings.HasPrefix(r.URL.Path, "/scim/") && n.Add(1)%3 == 0 {
				refused.Add(1)
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			app.ServeHTTP(w, r)
		}))
		defer srv.Close()
		const users = 30
		for _, keep := range []bool{false, true} {
			refused.Store(0)
			var stdout, stderr strings.Builder
			args := []string{"load", "--url", srv.URL + "/scim/v2/acme", "--token", c.token, "--users", "30", "--concurrency", "4",
				"--lookups", "10", "--phases", "create,get,filter,groupadd,deactivate"}
			if keep {
				args = append(args, "--keep")
			}
			if err := run(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("load: %v\n%s", err, stderr.String())
			}
			// Not a terminal: nothing but the result.
			if stderr.Len() != 0 {
				t.Errorf("load wrote to a stderr that is not a terminal: %q", stderr.String())
			}
			res := decodeLoad(t, stdout.String())
			var throttled int64
			for phase, r := range res {
				if r.Errors != 0 {
					t.Errorf("keep %v, %s: %+v", keep, phase, r)
				}
				throttled += r.Throttled
			}
			if throttled != refused.Load() || throttled == 0 {
				t.Errorf("keep %v: %d requests waited out, the server refused %d", keep, throttled, refused.Load())
			}
			cleanup, cleaned := res[cleanupPhase]
			left := num(t, c.list("count", "0").JSON["totalResults"])
			if keep {
				if cleaned || left != users {
					t.Errorf("--keep: cleanup %+v, %v users left, want %d", cleanup, left, users)
				}
				continue
			}
			if !cleaned || cleanup.Requests != users+1 || left != 0 {
				t.Errorf("cleanup %+v, %v users left", cleanup, left)
			}
		}
	})
}

func decodeLoad(t *testing.T, out string) map[string]phaseResult {
	t.Helper()
	var res map[string]phaseResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return res
}
