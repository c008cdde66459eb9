package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// serveChildEnv makes the test binary `orgscim serve` with the arguments it is given:
// the replicas TestReplicasSurviveAKill starts and kills.
const serveChildEnv = "ORGSCIM_SERVE_CHILD"

// TestReplicasSurviveAKill runs three `orgscim serve` processes on one PostgreSQL
// database behind a round-robin reverse proxy, drives SCIM creates and PATCHes through
// it as an IdP does (retrying a failed request), and SIGKILLs the replica that leads the
// audit sealer a third of the way through. Then: every write that was acknowledged is
// there in its last acknowledged state, no user exists twice, every retry got through,
// and another replica took the sealer's lead and sealed every event, those written
// after the kill included. No assertion depends on timing; timeouts only bound hangs.
//
// make scaleout runs it with more users and workers (ORGSCIM_SCALEOUT_USERS,
// ORGSCIM_SCALEOUT_WORKERS).
func TestReplicasSurviveAKill(t *testing.T) {
	if !slices.Contains(dbtest.Engines(t), "postgres") {
		t.Skip("replicas share one PostgreSQL database (SQLite is one process): ORGSCIM_TEST_DATABASE_URL is not set")
	}
	users, workers := envInt(t, "ORGSCIM_SCALEOUT_USERS", 40), envInt(t, "ORGSCIM_SCALEOUT_WORKERS", 4)
	const patches = 3 // per user, after its create
	dbURL := dbtest.URL(t, "postgres")
	ctx := context.Background()

	db, err := sqlstore.Open(ctx, dbURL) // migrates before the replicas start
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir := &orgs.Directory{Store: db.Orgs()}
	if _, err := dir.CreateOrg(ctx, "Org scale", "scale", ""); err != nil {
		t.Fatal(err)
	}
	conn, token, err := dir.CreateConnection(ctx, "scale", "scale", "okta")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := t.TempDir() + "/audit.key"
	if _, err := audit.LoadKey(keyFile, true); err != nil {
		t.Fatal(err)
	}
	sealerKey, err := db.Audit().SealerLockKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	// sealer is the application_name of the replica that leads the sealer ("" for none).
	sealer := func() string {
		var name string
		err := raw.QueryRow(`SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND l.granted AND (l.classid::bigint << 32 | l.objid::bigint) = $1`, sealerKey).Scan(&name)
		if err != nil && err != sql.ErrNoRows {
			t.Fatal(err)
		}
		return name
	}

	// replica-0 starts alone, so that it leads the sealer: the kill takes a leader.
	replicas := []*replica{startReplica(t, "replica-0", dbURL, keyFile)}
	waitFor(t, "replica-0 to lead the sealer", func() bool { return sealer() == "replica-0" })
	replicas = append(replicas, startReplica(t, "replica-1", dbURL, keyFile), startReplica(t, "replica-2", dbURL, keyFile))
	lb := newRoundRobin(t, replicas)

	idp := &idpClient{t: t, base: lb.URL + "/scim/v2/scale", token: token, http: &http.Client{Timeout: 30 * time.Second}}
	type state struct {
		id, userName, displayName string // displayName: the last acknowledged
	}
	states := make([]state, users)
	total := int64(users * (1 + patches))
	var acked atomic.Int64
	var killOnce sync.Once
	killed := make(chan struct{})
	ack := func() {
		if acked.Add(1) >= total/3 {
			killOnce.Do(func() {
				replicas[0].kill(t)
				close(killed)
			})
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := w; u < users; u += workers {
				s := &states[u]
				s.userName = fmt.Sprintf("scale-%04d@example.com", u)
				s.displayName = "v0"
				s.id = idp.createUser(s.userName, s.displayName)
				if s.id == "" {
					return // the failure is reported
				}
				ack()
				for p := 1; p <= patches; p++ {
					v := "v" + strconv.Itoa(p)
					if !idp.patchDisplayName(s.id, v) {
						return
					}
					s.displayName = v
					ack()
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	select {
	case <-killed:
	default:
		t.Fatal("the run ended without the kill")
	}

	// Nothing acknowledged is lost, nothing is there twice.
	for _, s := range states {
		got := idp.get(s.id)
		if got["displayName"] != s.displayName || got["userName"] != s.userName {
			t.Errorf("user %s: %v/%v, want the acknowledged %s/%s", s.id, got["userName"], got["displayName"], s.userName, s.displayName)
		}
	}
	var stored int
	if err := raw.QueryRow(`SELECT count(*) FROM scim_users WHERE connection_id = $1 AND deleted_at IS NULL`, conn.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != users {
		t.Errorf("%d users stored, want the %d created once each", stored, users)
	}
	// Another replica leads the sealer and has sealed every event, the killed leader's
	// unsealed ones and those written after its death.
	waitFor(t, "another replica to lead the sealer", func() bool { s := sealer(); return s != "" && s != "replica-0" })
	waitFor(t, "every audit event to be sealed", func() bool {
		var unsealed int
		if err := raw.QueryRow(`SELECT count(*) FROM audit_events e WHERE NOT EXISTS
			(SELECT 1 FROM audit_log l WHERE l.event_id = e.id)`).Scan(&unsealed); err != nil {
			t.Fatal(err)
		}
		return unsealed == 0
	})
	var created int
	if err := raw.QueryRow(`SELECT count(*) FROM audit_events WHERE action = 'user.create' AND connection_id = $1`, conn.ID).Scan(&created); err != nil {
		t.Fatal(err)
	}
	if created != users {
		t.Errorf("%d user.create audit events, want %d: every create commits with its event, once", created, users)
	}
	for i, r := range replicas {
		if n := lb.served(r); n == 0 {
			t.Errorf("replica %d served no request", i)
		}
	}
	t.Logf("%d users, %d writes acknowledged over %d workers; %d attempts failed at the proxy or the replica and were retried; served per replica %v",
		users, acked.Load(), workers, idp.retries.Load(), lb.servedAll())
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// waitFor polls cond until it holds; the bound only stops a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// replica is one `orgscim serve` child process.
type replica struct {
	name   string
	cmd    *exec.Cmd
	url    *url.URL
	stderr *syncBuffer
	exited chan struct{}
}

var listeningLine = regexp.MustCompile(`^orgscim listening on (http://\S+) `)

func startReplica(t *testing.T, name, dbURL, keyFile string) *replica {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--addr", "127.0.0.1:0", "--database", dbURL+"&application_name="+name,
		// A limit above what the machine serves: the replicas share its buckets in
		// PostgreSQL without refusing the IdP.
		"--audit-key", keyFile, "--rate-limit", "500", "--rate-burst", "1000", "--reconcile-at", "off", "--seal-interval", "100ms",
		"--analyze-every", "0")
	cmd.Env = append(os.Environ(), serveChildEnv+"=1")
	r := &replica{name: name, cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = r.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		_ = cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			t.Logf("%s stderr (tail):\n%s", name, tail(r.stderr.String(), 3000))
		}
	})
	select {
	case a := <-addr:
		r.url, _ = url.Parse(a)
	case <-r.exited:
		t.Fatalf("%s exited before listening:\n%s", name, r.stderr.String())
	case <-time.After(45 * time.Second):
		t.Fatalf("%s did not start:\n%s", name, r.stderr.String())
	}
	return r
}

// kill SIGKILLs the replica and waits for it to be gone.
func (r *replica) kill(t *testing.T) {
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Errorf("kill %s: %v", r.name, err)
	}
	<-r.exited
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// roundRobin is a small load balancer: each request goes to the next replica it has
// not seen gone. A replica that refuses a connection is dropped, as a health check would
// drop it; a request that failed on a replica is answered 502, which the IdP retries.
type roundRobin struct {
	*httptest.Server
	replicas []*replica
	mu       sync.Mutex
	next     int
	down     map[string]bool
	counts   map[string]int
}

func newRoundRobin(t *testing.T, replicas []*replica) *roundRobin {
	lb := &roundRobin{replicas: replicas, down: map[string]bool{}, counts: map[string]int{}}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(lb.pick())
			r.Out.Host = r.In.Host // the replicas answer with the proxy's URLs
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, syscall.ECONNREFUSED) { // nobody listens: the replica is gone
				lb.mu.Lock()
				lb.down[r.URL.Host] = true
				lb.mu.Unlock()
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	lb.Server = httptest.NewServer(proxy)
	t.Cleanup(lb.Close)
	return lb
}

func (lb *roundRobin) pick() *url.URL {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for range lb.replicas {
		r := lb.replicas[lb.next%len(lb.replicas)]
		lb.next++
		if !lb.down[r.url.Host] {
			lb.counts[r.name]++
			return r.url
		}
	}
	return lb.replicas[0].url // all down: let the request fail
}

func (lb *roundRobin) served(r *replica) int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.counts[r.name]
}

func (lb *roundRobin) servedAll() map[string]int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return maps.Clone(lb.counts)
}

// idpClient sends SCIM requests as an IdP does: a request that fails (no answer, 5xx,
// 429) is sent again, the same request, until it gets an answer.
type idpClient struct {
	t       *testing.T
	base    string
	token   string
	http    *http.Client
	retries atomic.Int64
}

func (c *idpClient) send(method, path string, body any) (int, map[string]any) {
	var payload []byte
	if body != nil {
		payload, _ = json.Marshal(body)
	}
	for attempt := 0; attempt < 50; attempt++ {
		req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(payload))
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/scim+json")
		res, err := c.http.Do(req)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode < 500 && res.StatusCode != http.StatusTooManyRequests {
				var doc map[string]any
				_ = json.Unmarshal(b, &doc)
				return res.StatusCode, doc
			}
		}
		c.retries.Add(1)
		time.Sleep(time.Duration(10*(attempt+1)) * time.Millisecond)
	}
	c.t.Errorf("%s %s: no answer after 50 attempts", method, path)
	return 0, nil
}

// createUser creates the user, or, when a retried create finds it made by an attempt
// whose answer was lost (409), finds it by userName as an IdP does. It returns the id.
func (c *idpClient) createUser(userName, displayName string) string {
	status, doc := c.send("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN},
		"userName": userName, "displayName": displayName})
	switch status {
	case http.StatusCreated:
		id, _ := doc["id"].(string)
		return id
	case http.StatusConflict:
		status, doc = c.send("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+userName+`"`), nil)
		if res, _ := doc["Resources"].([]any); status == http.StatusOK && len(res) == 1 {
			id, _ := res[0].(map[string]any)["id"].(string)
			return id
		}
	}
	c.t.Errorf("create %s: %d %v", userName, status, doc)
	return ""
}

func (c *idpClient) patchDisplayName(id, v string) bool {
	status, doc := c.send("PATCH", "/Users/"+id, patchBody(op("replace", "displayName", v)))
	if status != http.StatusOK && status != http.StatusNoContent {
		c.t.Errorf("patch %s: %d %v", id, status, doc)
		return false
	}
	return true
}

func (c *idpClient) get(id string) map[string]any {
	status, doc := c.send("GET", "/Users/"+id, nil)
	if status != http.StatusOK {
		c.t.Errorf("get %s: %d %v", id, status, doc)
	}
	return doc
}
