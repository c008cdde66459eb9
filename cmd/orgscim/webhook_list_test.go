package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/webhooks"
)

// webhook list says why deliveries wait and when they are tried next, not only how
// many: the receiver answered 503, so the list shows "HTTP 503", one attempt, and the
// next attempt after the backoff; with --json the same fields. Once the receiver is
// back and the delivery went through, nothing is waiting and no error is shown.
func TestWebhookListShowsLastErrorAndNextAttempt(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			url := dbtest.URL(t, engine)
			var down atomic.Bool
			down.Store(true)
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if down.Load() {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			}))
			defer recv.Close()
			mustCLI(t, "webhook", "create", "--url", recv.URL, "--database", url)
			mustCLI(t, "org", "create", "--name", "Acme", "--database", url) // a control-plane event to send

			store, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
			d := &webhooks.Deliverer{Outbox: store.Webhooks(), Now: func() time.Time { return now },
				Rand: func() float64 { return 0 }, BaseDelay: time.Minute}
			if res, err := d.Once(ctx); err != nil || res.Retrying != 2 {
				t.Fatalf("first attempt: %+v %v", res, err) // webhook.create and org.create
			}

			var list []webhooks.Subscription
			if err := json.Unmarshal([]byte(mustCLI(t, "webhook", "list", "--json", "--database", url)), &list); err != nil || len(list) != 1 {
				t.Fatalf("list --json: %v %+v", err, list)
			}
			s := list[0]
			if s.Pending != 2 || s.LastError != "HTTP 503" || s.Attempts != 1 || s.NextAttemptAt == nil || !s.NextAttemptAt.After(now) {
				t.Errorf("list --json: %+v", s)
			}
			var text strings.Builder
			printSubscriptions(&text, list, now)
			want := "    last error: HTTP 503; 1 attempt(s) so far; next attempt " + s.NextAttemptAt.Format(time.RFC3339) + " (in " +
				s.NextAttemptAt.Sub(now).Round(time.Second).String() + ")"
			if !strings.Contains(text.String(), want) || !strings.Contains(text.String(), "pending 2, delivered 0, dead 0") {
				t.Errorf("list printed:\n%s\nwant the line %q", text.String(), want)
			}
			if out := mustCLI(t, "webhook", "list", "--database", url); !strings.Contains(out, "last error: HTTP 503; 1 attempt(s) so far; next attempt") {
				t.Errorf("webhook list:\n%s", out)
			}

			down.Store(false)
			now = now.Add(time.Hour)
			if res, err := d.Once(ctx); err != nil || res.Delivered != 2 {
				t.Fatalf("second attempt: %+v %v", res, err)
			}
			out := mustCLI(t, "webhook", "list", "--database", url)
			if strings.Contains(out, "last error") || strings.Contains(out, "next attempt") || !strings.Contains(out, "pending 0, delivered 2") {
				t.Errorf("after delivery:\n%s", out)
			}
		})
	}
}
