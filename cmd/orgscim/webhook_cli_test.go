package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/webhooks"
)

// cli runs one command of the binary and returns what it printed.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr strings.Builder
	err := run(context.Background(), args, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cli(t, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return out
}

// hookReceiver is a downstream application on 127.0.0.1 that accepts only deliveries
// signed with its secret, in either format.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	events []webhooks.Event
	bad    []string
	got    chan struct{}
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{got: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		verify := func() error { return specVerify(r.secret, req.Header, body, time.Now()) }
		if req.Header.Get(webhooks.SignatureHeader) != "" {
			verify = func() error {
				return webhooks.Verify(r.secret, req.Header.Get(webhooks.SignatureHeader), body, time.Now(), 0)
			}
		}
		if err := verify(); err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e webhooks.Event
		if err := json.Unmarshal(body, &e); err != nil || e.ID != req.Header.Get(webhooks.IdempotencyHeader) {
			r.bad = append(r.bad, "body or idempotency key: "+string(body))
		}
		r.events = append(r.events, e)
		r.got <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) received() (events []webhooks.Event, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhooks.Event(nil), r.events...), append([]string(nil), r.bad...)
}

// The webhook commands end to end, on each engine: a subscription created from the
// terminal receives the signed events of SCIM changes made over HTTP, a deactivation's
// receipt is acknowledged and shows in the tenant's time to revoke, and the secret is
// printed once and never again.
func TestWebhookCommands(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			url := dbtest.URL(t, engine)
			db := []string{"--database", url}
			mustCLI(t, append([]string{"org", "create", "--name", "Acme", "--slug", "acme"}, db...)...)
			var conn struct{ Token string }
			if err := json.Unmarshal([]byte(mustCLI(t, append([]string{"connection", "create", "--org", "acme", "--json"}, db...)...)), &conn); err != nil {
				t.Fatal(err)
			}
			r := newHookReceiver(t)

			refused := []struct {
				name  string
				args  []string
				usage bool
				want  string
			}{
				{"no URL", []string{"--connection", "acme"}, true, "--url is required"},
				{"not http", []string{"--connection", "acme", "--url", "ftp://127.0.0.1/x"}, false, "http:// or https://"},
				{"credentials in the URL", []string{"--url", "https://u:p@127.0.0.1/x"}, false, "credentials"},
				{"unknown connection", []string{"--connection", "nope", "--url", r.srv.URL}, false, `no connection "nope"`},
				{"glob in the filter", []string{"--connection", "acme", "--url", r.srv.URL, "--actions", "user.*"}, false, "action filter"},
			}
			for _, tt := range refused {
				out, err := cli(t, append(append([]string{"webhook", "create"}, tt.args...), db...)...)
				if err == nil || errors.Is(err, errUsage) != tt.usage || !strings.Contains(out+err.Error(), tt.want) {
					t.Errorf("%s: %v\n%s; want refused with %q", tt.name, err, out, tt.want)
				}
			}

			var sub struct{ ID, Secret string }
			out := mustCLI(t, append([]string{"webhook", "create", "--connection", "acme", "--url", r.srv.URL + "/hook",
				"--actions", "user.", "--json"}, db...)...)
			if err := json.Unmarshal([]byte(out), &sub); err != nil || !strings.HasPrefix(sub.Secret, webhooks.SecretPrefix) {
				t.Fatalf("webhook create: %v\n%s", err, out)
			}
			r.secret = sub.Secret

			// SCIM over the real HTTP application: a user is created, then deactivated.
			store, err := sqlstore.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			srv := httptest.NewServer(newHandler(store, slog.New(slog.DiscardHandler), httpConfig{}))
			defer srv.Close()
			c := &scimClient{t: t, env: &e2eEnv{t: t, db: store, srv: srv}, slug: "acme", token: conn.Token}
			u := c.create(map[string]any{"userName": "ann@example.com", "active": true})
			if rep := c.patch(u["id"].(string), op("replace", "active", false)); rep.Status/100 != 2 {
				t.Fatalf("deactivate: %d %s", rep.Status, rep.Raw)
			}

			scrape := func() string {
				res, err := http.Get(srv.URL + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return string(b)
			}
			if m := scrape(); !strings.Contains(m, "orgscim_webhook_deliveries_pending 2\n") ||
				strings.Contains(m, "orgscim_webhook_outbox_lag_seconds 0\n") {
				t.Errorf("before delivery, /metrics shows no backlog:\n%s", grepLines(m, "orgscim_webhook"))
			}
			res, err := (&webhooks.Deliverer{Outbox: store.Webhooks()}).Once(context.Background())
			if err != nil || res.Delivered != 2 {
				t.Fatalf("delivery: %+v, %v; want the create and the deactivation delivered", res, err)
			}
			if m := scrape(); !strings.Contains(m, "orgscim_webhook_deliveries_pending 0\n") ||
				!strings.Contains(m, "orgscim_webhook_outbox_lag_seconds 0\n") ||
				!strings.Contains(m, `orgscim_time_to_revoke_seconds{connection="acme",stat="max"}`) ||
				!strings.Contains(m, `orgscim_revocations_unacknowledged{connection="acme"} 0`) {
				t.Errorf("after delivery, /metrics:\n%s", grepLines(m, "orgscim_webhook", "revo"))
			}
			events, bad := r.received()
			// Deliveries may arrive in any order; the chain position orders them.
			sort.Slice(events, func(i, j int) bool { return events[i].Seq < events[j].Seq })
			if len(bad) > 0 || len(events) != 2 || events[0].Type != "user.create" || events[1].Type != "user.update" ||
				events[1].Target.ID != u["id"] {
				t.Fatalf("receiver got %+v, refused %v", events, bad)
			}

			var ttr []struct {
				Connection                  string
				Revocations, Unacknowledged int
			}
			out = mustCLI(t, append([]string{"webhook", "revocations", "--json"}, db...)...)
			if err := json.Unmarshal([]byte(out), &ttr); err != nil || len(ttr) != 1 || ttr[0].Connection != "acme" ||
				ttr[0].Revocations != 1 || ttr[0].Unacknowledged != 0 {
				t.Fatalf("webhook revocations: %v\n%s", err, out)
			}
			if out := mustCLI(t, append([]string{"webhook", "revocations"}, db...)...); !strings.Contains(out, "acme: 1 acknowledged") {
				t.Errorf("webhook revocations: %s", out)
			}

			for _, args := range [][]string{{"webhook", "list"}, {"webhook", "list", "--json"}} {
				out := mustCLI(t, append(args, db...)...)
				if strings.Contains(out, sub.Secret) || !strings.Contains(out, sub.ID) || !strings.Contains(out, "acme") {
					t.Errorf("%v shows the secret or not the subscription:\n%s", args, out)
				}
			}
			mustCLI(t, append([]string{"webhook", "disable", "--id", sub.ID}, db...)...)
			if out := mustCLI(t, append([]string{"webhook", "list"}, db...)...); !strings.Contains(out, "disabled") {
				t.Errorf("after disable: %s", out)
			}
			if _, err := cli(t, append([]string{"webhook", "disable", "--id", "nope"}, db...)...); err == nil || !strings.Contains(err.Error(), "no webhook subscription") {
				t.Errorf("disable unknown: %v", err)
			}
		})
	}
}

// serve runs the delivery loop: the event of a subscription's own creation, queued by
// `webhook create`, reaches the receiver while the server runs, and is recorded as
// delivered when it stops.
func TestServeDeliversWebhooks(t *testing.T) {
	url := dbtest.URL(t, "sqlite")
	db := []string{"--database", url}
	mustCLI(t, append([]string{"org", "create", "--name", "Acme", "--slug", "acme"}, db...)...)
	mustCLI(t, append([]string{"connection", "create", "--org", "acme"}, db...)...)
	r := newHookReceiver(t)
	secret := regexp.MustCompile(`secret \(shown once\): (\S+)`).FindStringSubmatch(
		mustCLI(t, append([]string{"webhook", "create", "--connection", "acme", "--url", r.srv.URL}, db...)...))
	if secret == nil {
		t.Fatal("webhook create printed no secret")
	}
	r.mu.Lock()
	r.secret = secret[1]
	r.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--webhook-interval", "10ms", "--audit-key", filepath.Join(t.TempDir(), "audit.key")}, db...), stdout, stderr)
	}()
	select {
	case <-r.got:
	case err := <-done:
		t.Fatalf("serve returned: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second): // a hang, not a performance bound
		t.Fatalf("no delivery while serving:\n%s", stderr.String())
	}
	// The receiver has it; the server records the acknowledgement once the response is
	// back. (Stopped before that, it would send it again later: at least once.)
	store, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, err := store.Webhooks().PendingDeliveries(ctx); err != nil || n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("delivery never recorded")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	events, bad := r.received()
	if len(bad) > 0 || len(events) == 0 || events[0].Type != "webhook.create" {
		t.Fatalf("receiver got %+v, refused %v", events, bad)
	}
	var list []webhooks.Subscription
	if err := json.Unmarshal([]byte(mustCLI(t, append([]string{"webhook", "list", "--json"}, db...)...)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Delivered != 1 || list[0].Pending != 0 {
		t.Errorf("after serving: %+v", list)
	}
}

// grepLines keeps the lines of s that contain any of the words.
func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
