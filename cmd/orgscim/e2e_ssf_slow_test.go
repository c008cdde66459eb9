package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/ssf"
)

// hangingReceiver is a push endpoint that takes each SET's body and then answers
// nothing until it is released (or the transmitter gives up the request): a receiver
// that has stopped responding. Once released it verifies and acknowledges as
// setReceiver does.
type hangingReceiver struct {
	t                         *testing.T
	srv                       *httptest.Server
	jwksURI, issuer, audience string
	release                   chan struct{}
	releaseOnce               sync.Once

	mu       sync.Mutex
	arrived  int // requests whose body was read
	hanging  int // requests being held now
	answered int // requests answered
	got      []receivedSET
}

func newHangingReceiver(t *testing.T, jwksURI, issuer, audience string) *hangingReceiver {
	h := &hangingReceiver{t: t, jwksURI: jwksURI, issuer: issuer, audience: audience, release: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(h.push))
	t.Cleanup(h.srv.Close)
	// Registered after the server, so it runs before Close, which waits for handlers.
	t.Cleanup(h.unblock)
	return h
}

func (h *hangingReceiver) unblock() { h.releaseOnce.Do(func() { close(h.release) }) }

func (h *hangingReceiver) push(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	h.mu.Lock()
	h.arrived++
	h.hanging++
	h.mu.Unlock()
	select {
	case <-h.release:
	case <-req.Context().Done():
	}
	h.mu.Lock()
	h.hanging--
	h.mu.Unlock()
	if req.Context().Err() != nil {
		return // the transmitter gave up this request
	}
	set, err := verifySET(string(body), h.jwksURI, h.issuer, h.audience)
	if err != nil {
		h.t.Errorf("slow receiver: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.got = append(h.got, set)
	h.answered++
	h.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (h *hangingReceiver) counts() (arrived, hanging, answered int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.arrived, h.hanging, h.answered
}

// dedupe keeps the first of each jti: push is at least once.
func dedupe(sets []receivedSET) []receivedSET {
	seen := map[any]bool{}
	var out []receivedSET
	for _, s := range sets {
		if !seen[s.Claims["jti"]] {
			seen[s.Claims["jti"]] = true
			out = append(out, s)
		}
	}
	return out
}

// TestSharedSignalsSlowReceiver checks that a receiver that stops answering delays
// nobody else's revocations: receiver A (tenant acme) takes its SETs and hangs, and the
// pusher's per-request timeout is ten minutes, so only a pusher that does not wait on
// A's requests can get receiver B (tenant globex) its SETs within the test's bound. A
// stream has at most PerStream requests in flight, and once A answers again its SETs
// follow, each user's in order. The pusher runs as serve runs it, woken at commit.
func TestSharedSignalsSlowReceiver(t *testing.T) {
	const bound = 60 * time.Second // a hang bound, not a speed measure
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env, keys, _ := newE2ESSF(t, db)
		base := env.srv.URL
		jwks := base + "/ssf/jwks"
		acme, globex := env.connect("acme", "okta"), env.connect("globex", "okta")
		stream := func(name, conn, endpoint string) {
			t.Helper()
			_, token, err := ssfStreams(db).AddReceiver(context.Background(), name, "https://"+name+".example", conn)
			if err != nil {
				t.Fatal(err)
			}
			if st, v := ssfCall(t, base, token, "POST", "/ssf/stream", map[string]any{
				"delivery":         map[string]any{"method": ssf.PushMethod, "endpoint_url": endpoint, "authorization_header": "Bearer rcv"},
				"events_requested": []string{ssf.AccountDisabled, ssf.SessionRevoked}}); st != 201 {
				t.Fatalf("create stream: %d %v", st, v)
			}
		}
		slow := newHangingReceiver(t, jwks, base, "https://slow.example")
		stream("slow", acme.conn.ID, slow.srv.URL+"/events")
		fast := newSETReceiver(t, jwks, base, "https://fast.example", "Bearer rcv")
		stream("fast", globex.conn.ID, fast.srv.URL+"/events")

		ctx, cancel := context.WithCancel(context.Background())
		pusher := &ssf.Pusher{Outbox: db.SSF(), Keys: keys, Issuer: base, Now: env.clock.Now,
			Timeout: 10 * time.Minute, Concurrency: 8, PerStream: 2, Wake: db.SSFWakeups(ctx, nil)}
		stopped := make(chan struct{})
		go func() { defer close(stopped); pusher.Run(ctx, time.Hour) }()
		t.Cleanup(func() { cancel(); <-stopped })

		waitFor := func(what string, ok func() bool) {
			t.Helper()
			for deadline := time.Now().Add(bound); !ok(); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: not within %s", what, bound)
				}
			}
		}

		// Three acme users deactivated: A takes the first SET of two of them and hangs.
		var slowUsers []string
		for _, name := range []string{"ann", "amy", "abe"} {
			id := acme.create(map[string]any{"userName": name + "@acme.example"})["id"].(string)
			acme.patch(id, op("replace", "active", false)).must(t, 200)
			slowUsers = append(slowUsers, id)
		}
		waitFor("the slow receiver's first requests", func() bool { _, hanging, _ := slow.counts(); return hanging == 2 })

		// While A hangs, B gets every SET of two globex deactivations, each user's in order.
		var fastGot []receivedSET
		for _, name := range []string{"bob", "ben"} {
			id := globex.create(map[string]any{"userName": name + "@globex.example"})["id"].(string)
			globex.patch(id, op("replace", "active", false)).must(t, 200)
		}
		waitFor("the healthy receiver's SETs while the other hangs", func() bool {
			fastGot = dedupe(append(fastGot, fast.take()...))
			return len(fastGot) >= 4
		})
		want := []string{ssf.AccountDisabled, ssf.SessionRevoked}
		if got := bySubject(fastGot); !reflect.DeepEqual(got, map[string][]string{"bob@globex.example": want, "ben@globex.example": want}) {
			t.Fatalf("the healthy receiver got %v", got)
		}
		if arrived, hanging, answered := slow.counts(); answered != 0 || hanging != 2 || arrived != 2 {
			t.Fatalf("the slow receiver: %d requests arrived, %d hanging, %d answered; want 2 hanging within the stream's limit of 2",
				arrived, hanging, answered)
		}

		// A answers again: its SETs follow, each user's in order.
		slow.unblock()
		var slowGot []receivedSET
		waitFor("the slow receiver's SETs once it answers", func() bool {
			slow.mu.Lock()
			slowGot = dedupe(slow.got)
			slow.mu.Unlock()
			return len(slowGot) >= 6
		})
		if got := bySubject(slowGot); !reflect.DeepEqual(got, map[string][]string{
			"ann@acme.example": want, "amy@acme.example": want, "abe@acme.example": want}) {
			t.Fatalf("the slow receiver got %v", got)
		}
	})
}
