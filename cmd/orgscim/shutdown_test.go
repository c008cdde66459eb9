package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/scim"
	"github.com/orgscim/orgscim/sqlstore"
)

const (
	shutdownRounds  = 5
	shutdownWorkers = 24
	shutdownAcks    = 60 // acknowledged creates per round before the server is told to stop
)

// shutdownTracker records, on the server side, which requests the server accepted (its
// handler started) and which it finished. Requests are named by the X-Test-Seq header.
type shutdownTracker struct {
	next     http.Handler
	mu       sync.Mutex
	entered  map[int]bool
	finished map[int]bool
}

func (s *shutdownTracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	seq, _ := strconv.Atoi(r.Header.Get("X-Test-Seq"))
	s.mu.Lock()
	s.entered[seq] = true
	s.mu.Unlock()
	s.next.ServeHTTP(w, r)
	s.mu.Lock()
	s.finished[seq] = true
	s.mu.Unlock()
}

func (s *shutdownTracker) inFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entered) - len(s.finished)
}

// createOutcome is what the client saw of one create.
type createOutcome struct {
	seq      int
	userName string
	status   int    // 0 when the request failed at the transport
	id       string // of an acknowledged (201) create
	err      error
	early    bool // failed before the server was told to stop
}

// TestGracefulShutdownUnderLoad starts the server on a loopback listener, drives
// concurrent creates at it, stops it mid-load the way SIGTERM does (cancelling the
// context of runServer), and checks that
//   - every request the server accepted was answered in full (no reset, no cut body),
//   - a request that failed at the transport had not been accepted (it was refused, or
//     met an idle connection being closed), and failed only after the stop,
//   - every acknowledged create (201) is in the database when it is opened again.
//
// It runs several rounds on one database, reopening it each time.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			dbURL := dbtest.URL(t, engine)
			ctx := context.Background()
			db, err := sqlstore.Open(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			dir := &orgs.Directory{Store: db.Orgs()}
			if _, err := dir.CreateOrg(ctx, "Shutdown", "shutdown", ""); err != nil {
				t.Fatal(err)
			}
			conn, token, err := dir.CreateConnection(ctx, "shutdown", "shutdown", "entra")
			if err != nil {
				t.Fatal(err)
			}
			db.Close()

			acked := map[string]string{} // id -> userName, over all rounds
			inFlightAtStop := 0
			for round := 1; round <= shutdownRounds; round++ {
				inFlightAtStop += shutdownRound(t, dbURL, round, conn.ID, token, acked)
			}
			if inFlightAtStop == 0 {
				t.Errorf("no request was in flight at any stop: the test did not test shutdown under load")
			}

			// Opened once more after the last stop: every acknowledged user is there.
			db, err = sqlstore.Open(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			verifyAcked(t, db, conn.ID, acked)
			t.Logf("%d acknowledged creates over %d rounds, none lost", len(acked), shutdownRounds)
		})
	}
}

// shutdownRound runs one start–load–stop cycle and adds its acknowledged creates to
// acked. It returns how many requests were in flight when the server was told to stop.
func shutdownRound(t *testing.T, dbURL string, round int, connID, token string, acked map[string]string) int {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("round %d: open: %v", round, err)
	}
	defer db.Close()
	verifyAcked(t, db, connID, acked) // what earlier rounds acknowledged survived the restart

	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	tracker := &shutdownTracker{
		next:    newHandler(db, logger, httpConfig{Limits: scim.Limits{RateLimit: -1}}),
		entered: map[int]bool{}, finished: map[int]bool{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serverCtx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- runServer(serverCtx, ln, tracker, logger, 10*time.Second) }()

	transport := &http.Transport{MaxIdleConnsPerHost: shutdownWorkers}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 15 * time.Second}
	url := "http://" + ln.Addr().String() + "/scim/v2/shutdown/Users"

	var (
		seq       atomic.Int64
		acks      atomic.Int64
		stopping  atomic.Bool
		mu        sync.Mutex
		outcomes  []createOutcome
		enoughAck = make(chan struct{})
		once      sync.Once
		wg        sync.WaitGroup
	)
	for range shutdownWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				o := createOutcome{seq: int(seq.Add(1))}
				o.userName = fmt.Sprintf("r%d-u%d@shutdown.example", round, o.seq)
				o.status, o.id, o.err = postUser(client, url, token, o.seq, o.userName)
				o.early = o.err != nil && !stopping.Load()
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				if o.status == http.StatusCreated && acks.Add(1) == shutdownAcks {
					once.Do(func() { close(enoughAck) })
				}
				if o.err != nil {
					return // the server is gone (or the test fails below)
				}
			}
		}()
	}
	select {
	case <-enoughAck:
	case <-time.After(time.Minute): // a hang, not a performance bound
		t.Errorf("round %d: only %d creates acknowledged in a minute", round, acks.Load())
	}
	stopping.Store(true)
	inFlight := tracker.inFlight()
	stop() // what SIGTERM does in serve
	if err := <-served; err != nil {
		t.Errorf("round %d: runServer: %v", round, err)
	}
	wg.Wait()

	tracker.mu.Lock()
	defer tracker.mu.Unlock()
	if len(tracker.entered) != len(tracker.finished) {
		t.Errorf("round %d: the server accepted %d requests but finished %d", round, len(tracker.entered), len(tracker.finished))
	}
	n, refused := 0, 0
	for _, o := range outcomes {
		switch {
		case o.err != nil && tracker.entered[o.seq]:
			t.Errorf("round %d: request %d was accepted by the server but its answer was lost: %v", round, o.seq, o.err)
		case o.early:
			t.Errorf("round %d: request %d failed before the stop: %v", round, o.seq, o.err)
		case o.err != nil:
			// Refused, or sent on an idle connection as the server closed it: never accepted.
			refused++
		case o.status == http.StatusCreated:
			acked[o.id] = o.userName
			n++
		default:
			t.Errorf("round %d: request %d answered %d", round, o.seq, o.status)
		}
	}
	t.Logf("round %d: %d requests in flight at the stop; %d creates acknowledged, %d not accepted (transport error after the stop)",
		round, inFlight, n, refused)
	return inFlight
}

// postUser creates one user and reads the whole answer.
func postUser(client *http.Client, url, token string, seq int, userName string) (int, string, error) {
	body := fmt.Sprintf(`{"schemas":[%q],"userName":%q,"active":true,"emails":[{"value":%q,"primary":true}]}`,
		userSchemaURN, userName, userName)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", scimContentType)
	req.Header.Set("X-Test-Seq", strconv.Itoa(seq))
	res, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, "", fmt.Errorf("reading the answer: %w", err)
	}
	if res.StatusCode != http.StatusCreated {
		return res.StatusCode, "", nil
	}
	var doc struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.ID == "" {
		return 0, "", errors.Join(errors.New("a 201 without an id"), err)
	}
	return res.StatusCode, doc.ID, nil
}

// verifyAcked checks that every acknowledged user is stored, under its userName.
func verifyAcked(t *testing.T, db *sqlstore.DB, connID string, acked map[string]string) {
	t.Helper()
	lost := 0
	for id, userName := range acked {
		u, err := db.Users().User(context.Background(), connID, id)
		if err != nil || u.UserName != userName {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged user %s (%s) lost: %v", id, userName, err)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged creates lost", lost, len(acked))
	}
}
