package main

// A small harness for end-to-end tests: a real HTTP server (httptest over loopback)
// around the real application of newHandler, on a real database of each engine, and a
// tiny SCIM client that checks what must hold of every response.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

const (
	userSchemaURN       = "urn:ietf:params:scim:schemas:core:2.0:User"
	enterpriseURN       = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	errorSchemaURN      = "urn:ietf:params:scim:api:messages:2.0:Error"
	listResponseURN     = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	patchOpURN          = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	searchRequestURN    = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	scimContentType     = "application/scim+json"
	e2eClockStart       = "2030-01-02T03:04:05Z"
	e2eClockStepPerCall = time.Millisecond
)

// leakMarkers must never appear in a response body: storage internals, driver names and
// Go stack traces stay in the logs.
var leakMarkers = []string{
	"SELECT ", "INSERT ", "UPDATE scim", "scim_users", "sqlite", "SQLITE", "pq:", "pgx", "pgconn",
	"SQLSTATE", "gorm", "goroutine ", "panic:", ".go:", "runtime/", "database is closed",
}

// leaksIn returns the leak markers body contains outside the random strings a response
// may rightly carry — secrets, request ids, CSRF tokens, signed tokens — which spell a
// marker ("pgx") once in a few hundred pages.
func leaksIn(body string) []string {
	scanned := secretPattern.ReplaceAllString(body, "SECRET")
	scanned = randomRun.ReplaceAllStringFunc(scanned, func(run string) string {
		if strings.ContainsAny(run, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			return "RANDOM"
		}
		return run // all lowercase: a name such as scim_users_user_name, still scanned
	})
	var found []string
	for _, m := range leakMarkers {
		if strings.Contains(scanned, m) {
			found = append(found, m)
		}
	}
	return found
}

// randomRun matches runs of base64url letters long enough to be random rather than a word.
var randomRun = regexp.MustCompile(`[A-Za-z0-9_-]{16,}`)

// e2eClock is the server's clock: deterministic, and every reading is a millisecond
// after the previous one, so creation times are distinct and exactly representable in
// SCIM's millisecond timestamps.
type e2eClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *e2eClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(e2eClockStepPerCall)
	return c.t
}

// syncBuffer collects the server's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// e2eEnv is one running server over one database.
type e2eEnv struct {
	t     *testing.T
	db    *sqlstore.DB
	srv   *httptest.Server
	dir   *orgs.Directory
	logs  *syncBuffer
	clock *e2eClock
}

func newE2E(t *testing.T, db *sqlstore.DB) *e2eEnv {
	t.Helper()
	start, _ := time.Parse(time.RFC3339, e2eClockStart)
	clock := &e2eClock{t: start}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	srv := httptest.NewServer(newHandler(db, logger, httpConfig{Now: clock.Now}))
	t.Cleanup(srv.Close)
	return &e2eEnv{t: t, db: db, srv: srv, dir: &orgs.Directory{Store: db.Orgs(), Now: clock.Now}, logs: logs, clock: clock}
}

// connect creates an org and a connection of the IdP kind, both named slug, and returns
// a client holding the connection's first token.
func (e *e2eEnv) connect(slug, idp string) *scimClient {
	e.t.Helper()
	return e.connectUnder(slug, "", idp)
}

// connectUnder is connect with the org created under the parent org's slug.
func (e *e2eEnv) connectUnder(slug, parent, idp string) *scimClient {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.dir.CreateOrg(ctx, "Org "+slug, slug, parent); err != nil {
		e.t.Fatalf("create org %s: %v", slug, err)
	}
	conn, secret, err := e.dir.CreateConnection(ctx, slug, slug, idp)
	if err != nil {
		e.t.Fatalf("create connection %s: %v", slug, err)
	}
	return &scimClient{t: e.t, env: e, conn: conn, slug: slug, token: secret}
}

// scimClient speaks SCIM to one connection's endpoint.
type scimClient struct {
	t     *testing.T
	env   *e2eEnv
	conn  *orgs.Connection
	slug  string // URL segment; may differ from conn.Slug to aim at another connection
	token string
}

// as returns a copy of c that sends token to the URL of slug.
func (c *scimClient) as(slug, token string) *scimClient {
	cp := *c
	cp.slug, cp.token = slug, token
	return &cp
}

// in returns a copy of c that reports to t, for use inside a subtest.
func (c *scimClient) in(t *testing.T) *scimClient {
	cp := *c
	cp.t = t
	return &cp
}

// base is the absolute URL of the connection's SCIM root.
func (c *scimClient) base() string { return c.env.srv.URL + "/scim/v2/" + c.slug }

// reply is one HTTP response, its body decoded when it is a JSON object.
type reply struct {
	Status int
	Header http.Header
	Raw    []byte
	JSON   map[string]any
}

// do sends method to the path under the connection's SCIM root. body is nil, a string
// or []byte sent verbatim, or a value sent as JSON. headers are name, value pairs.
// Every response is checked for what must always hold: no leaked internals, no
// password, and a well-formed SCIM error document for every non-success.
func (c *scimClient) do(method, path string, body any, headers ...string) *reply {
	c.t.Helper()
	return c.send(method, c.base()+path, body, headers...)
}

func (c *scimClient) send(method, u string, body any, headers ...string) *reply {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	case io.Reader:
		r = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("encode body: %v", err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		c.t.Fatalf("request: %v", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", scimContentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, u, err)
	}
	rep := &reply{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&rep.JSON); err != nil {
			c.t.Errorf("%s %s: %d body is not a JSON object: %v\n%s", method, u, res.StatusCode, err, raw)
		}
	}
	c.checkInvariants(method, u, rep)
	return rep
}

func (c *scimClient) checkInvariants(method, u string, rep *reply) {
	c.t.Helper()
	body := string(rep.Raw)
	for _, m := range leaksIn(body) {
		c.t.Errorf("%s %s: response body leaks %q:\n%s", method, u, m, body)
	}
	path, _ := url.Parse(u)
	if strings.Contains(strings.ToLower(path.Path), "/users") && strings.Contains(strings.ToLower(body), `"password"`) {
		c.t.Errorf("%s %s: response body contains a password:\n%s", method, u, body)
	}
	if rep.Status >= 400 && strings.HasPrefix(path.Path, "/scim/") {
		checkErrorDoc(c.t, method+" "+u, rep)
	}
}

// checkErrorDoc asserts that rep is a SCIM error document of RFC 7644 §3.12.
func checkErrorDoc(t *testing.T, what string, rep *reply) {
	t.Helper()
	if ct := rep.Header.Get("Content-Type"); !strings.HasPrefix(ct, scimContentType) {
		t.Errorf("%s: %d error has Content-Type %q, want %s", what, rep.Status, ct, scimContentType)
	}
	if rep.JSON == nil {
		t.Errorf("%s: %d error has no JSON body: %q", what, rep.Status, rep.Raw)
		return
	}
	if s := strSlice(rep.JSON["schemas"]); len(s) != 1 || s[0] != errorSchemaURN {
		t.Errorf("%s: error schemas = %v, want [%s]", what, rep.JSON["schemas"], errorSchemaURN)
	}
	if st, ok := rep.JSON["status"].(string); !ok || st != strconv.Itoa(rep.Status) {
		t.Errorf("%s: error status = %#v, want the string %q", what, rep.JSON["status"], strconv.Itoa(rep.Status))
	}
	if d, _ := rep.JSON["detail"].(string); d == "" {
		t.Errorf("%s: %d error has no detail: %s", what, rep.Status, rep.Raw)
	}
}

// must asserts the status of rep and returns it for chaining.
func (r *reply) must(t *testing.T, status int) *reply {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

// anyScimType makes scimError accept any scimType, where RFC 7644 leaves the choice
// open (a value of the wrong JSON type is both invalidSyntax and invalidValue).
const anyScimType = "*"

// scimError asserts an error reply's status and scimType ("" for none).
func (r *reply) scimError(t *testing.T, status int, scimType string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status %d, want %d: %s", r.Status, status, r.Raw)
		return
	}
	if got, _ := r.JSON["scimType"].(string); scimType != anyScimType && got != scimType {
		t.Errorf("scimType %q, want %q: %s", got, scimType, r.Raw)
	}
}

// create POSTs a user and returns its representation, failing unless it is 201.
func (c *scimClient) create(user map[string]any) map[string]any {
	c.t.Helper()
	if _, ok := user["schemas"]; !ok {
		user["schemas"] = []string{userSchemaURN}
	}
	return c.do("POST", "/Users", user).must(c.t, http.StatusCreated).JSON
}

// get reads a user, failing unless it is 200.
func (c *scimClient) get(id string) map[string]any {
	c.t.Helper()
	return c.do("GET", "/Users/"+id, nil).must(c.t, http.StatusOK).JSON
}

// patch sends a PatchOp with the operations.
func (c *scimClient) patch(id string, ops ...map[string]any) *reply {
	c.t.Helper()
	return c.do("PATCH", "/Users/"+id, patchBody(ops...))
}

func patchBody(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, op := range ops {
		list[i] = op
	}
	return map[string]any{"schemas": []string{patchOpURN}, "Operations": list}
}

// op builds one PATCH operation; an empty path is left out.
func op(kind, path string, value any) map[string]any {
	m := map[string]any{"op": kind}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

// list GETs /Users with the query parameters (name, value pairs).
func (c *scimClient) list(params ...string) *reply {
	c.t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	return c.do("GET", "/Users?"+q.Encode(), nil)
}

// resources returns the Resources of a list response.
func resources(t *testing.T, r *reply) []map[string]any {
	t.Helper()
	if s := strSlice(r.JSON["schemas"]); len(s) != 1 || s[0] != listResponseURN {
		t.Errorf("list schemas = %v", r.JSON["schemas"])
	}
	raw, _ := r.JSON["Resources"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, e := range raw {
		m, _ := e.(map[string]any)
		out = append(out, m)
	}
	return out
}

// userNames returns the userName of each resource, in order.
func userNames(res []map[string]any) []string {
	out := make([]string, len(res))
	for i, r := range res {
		out[i], _ = r["userName"].(string)
	}
	return out
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func num(t *testing.T, v any) int {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%#v is not a number", v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%v is not an integer", n)
	}
	return int(i)
}

func strSlice(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// at follows a path of object keys and array indexes ("emails", 0, "value") through a
// decoded document; nil when it leads nowhere.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// has reports whether the object at path has the key.
func has(v any, key string, path ...any) bool {
	m, ok := at(v, path...).(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[key]
	return ok
}

// elements returns the elements of the multi-valued attribute name of doc.
func elements(doc map[string]any, name string) []map[string]any {
	list, _ := doc[name].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		m, _ := e.(map[string]any)
		out = append(out, m)
	}
	return out
}

// primaries returns the values of the elements marked primary.
func primaries(doc map[string]any, name string) []string {
	var out []string
	for _, e := range elements(doc, name) {
		if p, _ := e["primary"].(bool); p {
			s, _ := e["value"].(string)
			out = append(out, s)
		}
	}
	return out
}

// elementOfType returns the first element whose type is typ.
func elementOfType(doc map[string]any, name, typ string) map[string]any {
	for _, e := range elements(doc, name) {
		if e["type"] == typ {
			return e
		}
	}
	return nil
}
