package main

// Tests of what operators watch: /metrics, /healthz and /readyz, and the JSON logs with
// their request ids and without secrets. All through the real server on each engine.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// newE2EWith is newE2E with a configuration of the server's own; its clock is the e2e
// clock unless cfg has one.
func newE2EWith(t *testing.T, db *sqlstore.DB, cfg httpConfig) *e2eEnv {
	t.Helper()
	if cfg.Now == nil {
		start, _ := time.Parse(time.RFC3339, e2eClockStart)
		cfg.Now = (&e2eClock{t: start}).Now
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	srv := httptest.NewServer(newHandler(db, logger, cfg))
	t.Cleanup(srv.Close)
	return &e2eEnv{t: t, db: db, srv: srv, dir: &orgs.Directory{Store: db.Orgs()}, logs: logs}
}

// plainGet fetches a path of the server without credentials.
func plainGet(t *testing.T, base, path string) (int, http.Header, []byte) {
	t.Helper()
	res, err := http.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return res.StatusCode, res.Header, body
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape reads /metrics and parses its samples.
func scrape(t *testing.T, base string) []sample {
	t.Helper()
	status, header, body := plainGet(t, base, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics: Content-Type %q", ct)
	}
	var out []sample
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexByte(line, '{'); i >= 0 {
			s.name = line[:i]
			j := strings.LastIndexByte(line, '}')
			for _, pair := range splitLabels(line[i+1 : j]) {
				k, v, _ := strings.Cut(pair, "=")
				uq, err := strconv.Unquote(v)
				if err != nil {
					t.Fatalf("metrics line %q: label %q: %v", line, pair, err)
				}
				s.labels[k] = uq
			}
			rest = strings.TrimSpace(line[j+1:])
		} else {
			s.name, rest, _ = strings.Cut(line, " ")
		}
		f, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		s.value = f
		out = append(out, s)
	}
	return out
}

// splitLabels splits `a="x",b="y,z"` at the commas between pairs.
func splitLabels(s string) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// metricValue is the value of the sample of name whose labels include want; ok is false
// when there is none.
func metricValue(samples []sample, name string, want map[string]string) (float64, bool) {
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("metrics-a", "generic")
		u := c.create(map[string]any{"userName": "metrics.user@example.com", "password": "Pa55word-metrics"})
		id := u["id"].(string)
		c.get(id)
		c.list("filter", `userName eq "metrics-filter-value"`).must(t, http.StatusOK)
		c.as("metrics-a", "not-a-token").do("GET", "/Users", nil).scimError(t, http.StatusUnauthorized, "")
		c.as("made-up-connection", "not-a-token").do("GET", "/Users/"+id, nil).scimError(t, http.StatusUnauthorized, "")
		if st, _, _ := plainGet(t, env.srv.URL, "/no/such/path/"+id); st != http.StatusNotFound {
			t.Errorf("GET /no/such/path: %d", st)
		}
		req, _ := http.NewRequest("BREW", env.srv.URL+"/healthz", nil)
		if res, err := http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		} else {
			res.Body.Close()
		}

		samples := scrape(t, env.srv.URL)
		const requests = "orgscim_http_requests_total"
		const usersRoute = "/scim/v2/:conn/Users"
		for _, want := range []struct {
			labels map[string]string
			n      float64
		}{
			{map[string]string{"route": usersRoute, "method": "POST", "status": "201", "connection": "metrics-a"}, 1},
			{map[string]string{"route": usersRoute + "/:id", "method": "GET", "status": "200", "connection": "metrics-a"}, 1},
			{map[string]string{"route": usersRoute, "method": "GET", "status": "200", "connection": "metrics-a"}, 1},
			// A request that did not authenticate counts against no connection.
			{map[string]string{"route": usersRoute, "method": "GET", "status": "401", "connection": ""}, 1},
			{map[string]string{"route": usersRoute + "/:id", "method": "GET", "status": "401", "connection": ""}, 1},
			{map[string]string{"method": "OTHER", "connection": ""}, 1},
		} {
			if got, ok := metricValue(samples, requests, want.labels); !ok || got != want.n {
				t.Errorf("%s%v = %v (present %v), want %v", requests, want.labels, got, ok, want.n)
			}
		}
		if n, ok := metricValue(samples, "orgscim_http_request_duration_seconds_count",
			map[string]string{"route": usersRoute, "method": "POST"}); !ok || n != 1 {
			t.Errorf("latency histogram count for POST Users = %v (present %v), want 1", n, ok)
		}
		if _, ok := metricValue(samples, "orgscim_http_request_duration_seconds_bucket",
			map[string]string{"route": usersRoute, "method": "POST", "le": "0.005"}); !ok {
			t.Errorf("latency histogram has no 5 ms bucket")
		}
		// Label values come from the route table and authenticated connections only:
		// no raw path, id, filter value, made-up slug or custom method makes a series.
		for _, s := range samples {
			for k, v := range s.labels {
				for _, bad := range []string{id, "metrics-filter-value", "made-up-connection", "no/such", "BREW", "Pa55word"} {
					if strings.Contains(v, bad) {
						t.Errorf("%s has label %s=%q", s.name, k, v)
					}
				}
			}
		}
		engine := map[string]string{"engine": db.Engine()}
		if n, ok := metricValue(samples, "orgscim_db_max_open_connections", engine); !ok || n < 1 {
			t.Errorf("orgscim_db_max_open_connections = %v (present %v)", n, ok)
		}
		if n, ok := metricValue(samples, "orgscim_db_open_connections", engine); !ok || n < 1 {
			t.Errorf("orgscim_db_open_connections = %v (present %v)", n, ok)
		}
		for _, name := range []string{"orgscim_db_in_use_connections", "orgscim_db_idle_connections",
			"orgscim_db_wait_count_total", "orgscim_db_wait_duration_seconds_total", "orgscim_http_requests_in_flight",
			"go_goroutines", "process_resident_memory_bytes"} {
			if _, ok := metricValue(samples, name, nil); !ok {
				t.Errorf("no metric %s", name)
			}
		}

		// Every server has a registry of its own: a second one in the process starts
		// from zero.
		other := newE2E(t, db)
		if _, ok := metricValue(scrape(t, other.srv.URL), requests, map[string]string{"connection": "metrics-a"}); ok {
			t.Errorf("a second server's metrics show the first one's requests")
		}
	})
}

func TestHealthAndReadiness(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		get := func(path string) (int, map[string]string) {
			t.Helper()
			st, _, body := plainGet(t, env.srv.URL, path)
			var doc map[string]string
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("GET %s: %d %q: %v", path, st, body, err)
			}
			return st, doc
		}
		if st, doc := get("/healthz"); st != http.StatusOK || doc["status"] != "ok" {
			t.Errorf("healthz: %d %v", st, doc)
		}
		if st, doc := get("/readyz"); st != http.StatusOK || doc["status"] != "ready" || doc["database"] != db.Engine() {
			t.Errorf("readyz: %d %v, want 200 ready on %s", st, doc, db.Engine())
		}

		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if st, doc := get("/readyz"); st != http.StatusServiceUnavailable || doc["status"] != "unavailable" {
			t.Errorf("readyz with the database closed: %d %v, want 503 unavailable", st, doc)
		}
		// Liveness does not depend on the database: the process is alive.
		if st, _ := get("/healthz"); st != http.StatusOK {
			t.Errorf("healthz with the database closed: %d", st)
		}
		if logs := env.logs.String(); strings.Contains(logs, "database is closed") && !strings.Contains(logs, `"msg":"not ready"`) {
			t.Errorf("the readiness failure is not logged as such:\n%s", logs)
		}
	})
}

func TestLogsCarryRequestIDsAndNoSecrets(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("logs-a", "generic")
		const (
			password    = "Zq9-password-needle-7Ht"
			filterValue = "filter-needle-4Kx"
			wrongToken  = "wrong-token-needle-3Vb"
		)
		secrets := []string{c.token, password, filterValue, wrongToken}

		var ids []string
		track := func(r *reply) *reply {
			t.Helper()
			id := r.Header.Get("X-Request-ID")
			if id == "" {
				t.Errorf("response has no X-Request-ID")
			}
			ids = append(ids, id)
			return r
		}
		u := track(c.do("POST", "/Users", map[string]any{
			"schemas": []string{userSchemaURN}, "userName": "logs.user@example.com", "password": password,
		})).must(t, http.StatusCreated).JSON
		if r := track(c.patch(u["id"].(string), op("replace", "password", password))); r.Status != http.StatusOK && r.Status != http.StatusNoContent {
			t.Errorf("PATCH password: %d %s", r.Status, r.Raw)
		}
		track(c.list("filter", `userName eq "`+filterValue+`"`)).must(t, http.StatusOK)
		track(c.list("filter", `userName eq "`+filterValue+`" and (`)).scimError(t, http.StatusBadRequest, "invalidFilter")
		track(c.do("POST", "/Users/.search", map[string]any{
			"schemas": []string{searchRequestURN}, "filter": `emails.value co "` + filterValue + `"`,
		})).must(t, http.StatusOK)
		track(c.as(c.slug, wrongToken).do("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+filterValue+`"`), nil)).
			scimError(t, http.StatusUnauthorized, "")
		// A client's own request id is kept when it is a plain token, replaced otherwise.
		if got := c.do("GET", "/Users/"+u["id"].(string), nil, "X-Request-ID", "client-req-42").Header.Get("X-Request-ID"); got != "client-req-42" {
			t.Errorf("a plain client request id came back as %q", got)
		}
		ids = append(ids, "client-req-42")
		if got := c.do("GET", "/Users", nil, "X-Request-ID", "Bearer "+c.token).Header.Get("X-Request-ID"); got == "" || strings.Contains(got, c.token) {
			t.Errorf("an unsafe client request id came back as %q", got)
		}

		// A failure: the database goes away under the server (503). Its log line
		// carries the request id the client saw, and no secret either.
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		failed := c.list("filter", `userName eq "`+filterValue+`"`)
		if failed.Status != http.StatusServiceUnavailable {
			t.Fatalf("with the database closed: %d %s", failed.Status, failed.Raw)
		}
		failedID := failed.Header.Get("X-Request-ID")

		logs := env.logs.String()
		for _, s := range secrets {
			if strings.Contains(logs, s) {
				t.Errorf("the logs contain the secret %q:\n%s", s, logs)
			}
		}
		seen := map[string]bool{}
		internal := false
		for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line is not JSON: %q", line)
			}
			rid, _ := rec["request_id"].(string)
			switch rec["msg"] {
			case "request":
				if rid == "" {
					t.Errorf("access log line without request_id: %s", line)
				}
				if r, _ := rec["route"].(string); strings.Contains(r, "?") || strings.Contains(r, "filter") {
					t.Errorf("access log has a query string: %s", line)
				}
				seen[rid] = true
			case "database unavailable":
				internal = true
				if rid != failedID || rid == "" {
					t.Errorf("failure logged with request_id %q, the response said %q: %s", rid, failedID, line)
				}
				if id, _ := rec["error_id"].(string); id == "" || !strings.Contains(string(failed.Raw), id) {
					t.Errorf("failure's error_id %q is not the one answered: %s", id, failed.Raw)
				}
			}
		}
		if !internal {
			t.Errorf("no failure logged:\n%s", logs)
		}
		for _, id := range append(ids, failedID) {
			if !seen[id] {
				t.Errorf("no access log line for request %q", id)
			}
		}
	})
}
