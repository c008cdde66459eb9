package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/adminapi"
	"github.com/orgscim/orgscim/authzen"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
)

// adminClient speaks to the admin API with one key, and checks every response against
// what must always hold: no leaked internals, the JSON error shape for every error, and
// every success body matching the OpenAPI document's schema for its route and status.
type adminClient struct {
	t    *testing.T
	env  *e2eEnv
	auth string // the Authorization header; empty for none
	doc  map[string]any
	// header is sent with every request besides Authorization (a support session's id).
	header http.Header
}

func (e *e2eEnv) admin(t *testing.T, key string, doc map[string]any) *adminClient {
	a := &adminClient{t: t, env: e, doc: doc}
	if key != "" {
		a.auth = "Bearer " + key
	}
	return a
}

// call sends method to the path under /api/v1. body is nil, a string sent verbatim, or
// a value sent as JSON.
func (a *adminClient) call(method, path string, body any) *reply {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			a.t.Fatalf("encode body: %v", err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.env.srv.URL+adminapi.Prefix+path, r)
	if err != nil {
		a.t.Fatalf("request: %v", err)
	}
	if a.auth != "" {
		req.Header.Set("Authorization", a.auth)
	}
	for k, vs := range a.header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	rep := &reply{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&rep.JSON); err != nil {
			a.t.Errorf("%s %s: %d body is not a JSON object: %v\n%s", method, path, res.StatusCode, err, raw)
		}
	}
	a.check(method, path, rep)
	return rep
}

func (a *adminClient) get(path string) *reply { a.t.Helper(); return a.call("GET", path, nil) }

func (a *adminClient) post(path string, body any) *reply {
	a.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	return a.call("POST", path, body)
}

func (a *adminClient) check(method, path string, rep *reply) {
	a.t.Helper()
	what := method + " " + path
	body := string(rep.Raw)
	for _, m := range leaksIn(body) {
		a.t.Errorf("%s: response body leaks %q:\n%s", what, m, body)
	}
	if rep.Status >= 400 {
		if ct := rep.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			a.t.Errorf("%s: %d error has Content-Type %q", what, rep.Status, ct)
		}
		e, _ := rep.JSON["error"].(map[string]any)
		code, _ := e["code"].(string)
		msg, _ := e["message"].(string)
		if len(rep.JSON) != 1 || code == "" || msg == "" {
			a.t.Errorf("%s: %d error is not {\"error\":{\"code\",\"message\"}}: %s", what, rep.Status, body)
		}
		if id, _ := e["id"].(string); (rep.Status == http.StatusInternalServerError) != (id != "") {
			a.t.Errorf("%s: %d error with id %q: only internal errors carry one", what, rep.Status, id)
		}
	}
	if a.doc == nil || path == "/openapi.json" {
		return
	}
	oper := a.operation(method, path)
	if oper == nil {
		if rep.Status != http.StatusNotFound && rep.Status != http.StatusMethodNotAllowed {
			a.t.Errorf("%s: answered %d but is not in the OpenAPI document", what, rep.Status)
		}
		return
	}
	resp, ok := at(oper, "responses", strconv.Itoa(rep.Status)).(map[string]any)
	if !ok {
		if !slices.Contains([]int{http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusServiceUnavailable}, rep.Status) {
			a.t.Errorf("%s: status %d is not documented: %s", what, rep.Status, body)
		}
		return
	}
	if schema := at(resp, "content", "application/json", "schema"); schema != nil {
		var v any
		if rep.JSON != nil {
			v = rep.JSON
		}
		a.validate(schema, v, what)
	} else if len(bytes.TrimSpace(rep.Raw)) > 0 {
		a.t.Errorf("%s: %d has a body the document does not describe: %s", what, rep.Status, body)
	}
}

// operation finds the OpenAPI operation of a concrete request path.
func (a *adminClient) operation(method, path string) map[string]any {
	path, _, _ = strings.Cut(path, "?")
	got := strings.Split(strings.Trim(path, "/"), "/")
	paths, _ := a.doc["paths"].(map[string]any)
	for tmpl, item := range paths {
		want := strings.Split(strings.Trim(strings.TrimPrefix(tmpl, adminapi.Prefix), "/"), "/")
		if len(want) != len(got) {
			continue
		}
		match := true
		for i := range want {
			if !strings.HasPrefix(want[i], "{") && want[i] != got[i] {
				match = false
				break
			}
		}
		if match {
			oper, _ := at(item, strings.ToLower(method)).(map[string]any)
			if oper != nil {
				return oper
			}
		}
	}
	return nil
}

// validate checks v against an OpenAPI 3.0 schema of the document.
func (a *adminClient) validate(schema, v any, where string) {
	a.t.Helper()
	s, _ := schema.(map[string]any)
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		target, ok := at(a.doc, "components", "schemas", name).(map[string]any)
		if !ok {
			a.t.Errorf("%s: unresolved $ref %s", where, ref)
			return
		}
		a.validate(target, v, where)
		return
	}
	if v == nil {
		if s["nullable"] != true {
			a.t.Errorf("%s: null where the schema does not allow it", where)
		}
		return
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			a.validate(sub, v, where)
		}
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			a.t.Errorf("%s: %v is not an object", where, v)
			return
		}
		props, _ := s["properties"].(map[string]any)
		for k, x := range m {
			if ps, ok := props[k]; ok {
				a.validate(ps, x, where+"."+k)
			} else if s["additionalProperties"] == false {
				a.t.Errorf("%s: property %q is not in the schema", where, k)
			}
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := m[r.(string)]; !ok {
				a.t.Errorf("%s: required property %q missing", where, r)
			}
		}
	case "array":
		l, ok := v.([]any)
		if !ok {
			a.t.Errorf("%s: %v is not an array", where, v)
			return
		}
		for i, x := range l {
			a.validate(s["items"], x, where+"["+strconv.Itoa(i)+"]")
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			a.t.Errorf("%s: %v is not a string", where, v)
			return
		}
		if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, any(str)) {
			a.t.Errorf("%s: %q is not one of %v", where, str, enum)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				a.t.Errorf("%s: %q is not a date-time", where, str)
			}
		}
	case "integer":
		if n, ok := v.(json.Number); !ok {
			a.t.Errorf("%s: %v is not an integer", where, v)
		} else if _, err := n.Int64(); err != nil {
			a.t.Errorf("%s: %v is not an integer", where, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			a.t.Errorf("%s: %v is not a boolean", where, v)
		}
	}
}

// secretPattern matches the secrets a response may carry: SCIM tokens, setup links and
// admin API keys.
var secretPattern = regexp.MustCompile(`(oscim_|oscset_|oscadm_|osint_)[a-z2-7]+`)

// refused asserts an error reply's status and code.
func refused(t *testing.T, what string, r *reply, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %d, want %d: %s", what, r.Status, status, r.Raw)
		return
	}
	if got, _ := at(r.JSON, "error", "code").(string); got != code {
		t.Errorf("%s: code %q, want %q: %s", what, got, code, r.Raw)
	}
}

func field(v any, path ...any) string {
	s, _ := at(v, path...).(string)
	return s
}

// TestAdminAPI drives the admin API through the real server: the org tree, a partner's
// connection and its people pushed over SCIM, delegated administrators acting inside
// and outside their subtree, the chain behind an access decision, a contract that ends,
// and keys that stop working.
func TestAdminAPI(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env := newE2E(t, db)
		keys := &orgs.AdminKeys{Store: db.AdminKeys(), Now: env.clock.Now}
		_, opKey, err := keys.IssueOperatorKey(ctx, "ops", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, op2Key, err := keys.IssueOperatorKey(ctx, "ops2", nil)
		if err != nil {
			t.Fatal(err)
		}
		tmp, tmpKey, err := keys.IssueOperatorKey(ctx, "tmp", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.Revoke(ctx, tmp.ID); err != nil {
			t.Fatal(err)
		}
		doc := env.admin(t, "", nil).get("/openapi.json").must(t, http.StatusOK).JSON
		oper := env.admin(t, opKey, doc)
		oper2 := env.admin(t, op2Key, doc)

		// The tree: vendor → acme (partner) → emea → paris, and globex beside acme.
		for _, o := range [][3]string{{"Vendor", "vendor", ""}, {"Acme", "acme", "vendor"}, {"Acme EMEA", "emea", "acme"},
			{"Acme Paris", "paris", "emea"}, {"Globex", "globex", "vendor"}} {
			body := map[string]any{"name": o[0], "slug": o[1]}
			if o[2] != "" {
				body["parent"] = o[2]
			}
			got := oper.post("/orgs", body).must(t, http.StatusCreated).JSON
			if got["slug"] != o[1] || (o[2] != "" && got["parent"] != o[2]) || got["status"] != "active" {
				t.Fatalf("created org %v", got)
			}
		}
		if k := oper.get("/orgs/acme").must(t, http.StatusOK).JSON["kind"]; k != "partner" {
			t.Fatalf("acme is a %v", k)
		}
		if k := oper.call("PATCH", "/orgs/paris", map[string]any{"kind": "business_unit"}).must(t, http.StatusOK).JSON["kind"]; k != "business_unit" {
			t.Fatalf("paris is a %v", k)
		}

		// A connection for acme; its token is shown once, and SCIM works with it.
		created := oper.post("/connections", map[string]any{"org": "acme", "slug": "acme", "idp": "entra"}).must(t, http.StatusCreated).JSON
		acmeToken := field(created, "token")
		if !strings.HasPrefix(acmeToken, orgs.TokenPrefix) || created["scim_path"] != "/scim/v2/acme" || created["org"] != "acme" {
			t.Fatalf("created connection %v", created)
		}
		oper.post("/connections", map[string]any{"org": "globex", "idp": "okta"}).must(t, http.StatusCreated)
		rotated := oper.post("/connections/acme/tokens", nil).must(t, http.StatusCreated).JSON
		if toks := oper.get("/connections/acme/tokens").must(t, http.StatusOK).JSON["tokens"].([]any); len(toks) != 2 {
			t.Fatalf("tokens: %v", toks)
		}
		oper.call("DELETE", "/connections/acme/tokens/"+field(rotated, "id"), nil).must(t, http.StatusNoContent)
		scim := &scimClient{t: t, env: env, slug: "acme", token: acmeToken}
		person := map[string]string{}
		for _, n := range []string{"ann", "ben", "carol", "dave", "erin"} {
			person[n] = scim.create(map[string]any{"userName": n + "@acme.example"})["id"].(string)
		}
		finance := scim.createGroup("Finance", person["ann"])["id"].(string)
		all := scim.createGroup("All staff", finance, person["ben"])["id"].(string)

		// The catalogue.
		oper.post("/roles", map[string]any{"key": "billing.viewer", "permissions": []string{"billing.read"}, "inherits": true}).must(t, http.StatusCreated)
		oper.post("/roles", map[string]any{"key": "billing.admin", "permissions": []string{"billing.*"}, "privileged": true,
			"max_duration_seconds": 8 * 3600}).must(t, http.StatusCreated)
		oper.post("/roles", map[string]any{"key": "reports.viewer", "permissions": []string{"reports.read"}, "inherits": true}).must(t, http.StatusCreated)
		if r := oper.get("/roles/billing.admin").must(t, http.StatusOK).JSON; r["privileged"] != true || r["max_duration_seconds"] != json.Number("28800") {
			t.Fatalf("role %v", r)
		}

		t.Run("authentication", func(t *testing.T) {
			var first []byte
			for name, auth := range map[string]string{"none": "", "basic": "Basic b3BzOm9wcw==", "garbage": "Bearer nope",
				"scim token": "Bearer " + acmeToken, "revoked key": "Bearer " + tmpKey, "bare key": opKey} {
				c := env.admin(t, "", doc)
				c.auth = auth
				r := c.get("/me")
				refused(t, name, r, http.StatusUnauthorized, "unauthorized")
				if first == nil {
					first = r.Raw
				} else if !bytes.Equal(first, r.Raw) {
					t.Errorf("%s: 401 body %s differs from %s", name, r.Raw, first)
				}
				if r.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: 401 without WWW-Authenticate", name)
				}
			}
			if me := oper.get("/me").must(t, http.StatusOK).JSON; me["principal"] != "operator:ops" || me["delegation"] != nil {
				t.Errorf("me: %v", me)
			}
		})

		t.Run("errors", func(t *testing.T) {
			refused(t, "unknown org", oper.get("/orgs/nope"), http.StatusNotFound, "not_found")
			refused(t, "unknown endpoint", oper.get("/nope"), http.StatusNotFound, "not_found")
			refused(t, "wrong method", oper.call("PUT", "/orgs/acme", map[string]any{}), http.StatusMethodNotAllowed, "method_not_allowed")
			refused(t, "bad status", oper.call("PATCH", "/orgs/acme", map[string]any{"status": "bogus"}), http.StatusBadRequest, "invalid")
			refused(t, "unknown field", oper.call("PATCH", "/orgs/acme", map[string]any{"statuss": "active"}), http.StatusBadRequest, "invalid_syntax")
			refused(t, "null name", oper.call("PATCH", "/orgs/acme", `{"name":null}`), http.StatusBadRequest, "invalid")
			refused(t, "unknown brand field", oper.call("PATCH", "/orgs/acme", map[string]any{"brand": map[string]any{"colour": "red"}}), http.StatusBadRequest, "invalid_syntax")
			refused(t, "negative grace", oper.call("PATCH", "/orgs/acme", map[string]any{"grace_seconds": -1}), http.StatusBadRequest, "invalid")
			refused(t, "text body", oper.call("POST", "/orgs", "name=x"), http.StatusBadRequest, "invalid_syntax")
			refused(t, "malformed", oper.call("POST", "/orgs", `{"name":`), http.StatusBadRequest, "invalid_syntax")
			refused(t, "no body", oper.call("POST", "/orgs", nil), http.StatusBadRequest, "invalid_syntax")
			refused(t, "missing name", oper.post("/orgs", map[string]any{"parent": "acme"}), http.StatusBadRequest, "invalid")
			refused(t, "taken slug", oper.post("/orgs", map[string]any{"name": "Acme again", "slug": "acme", "parent": "vendor"}), http.StatusConflict, "conflict")
			refused(t, "move into own subtree", oper.post("/orgs/acme/move", map[string]any{"parent": "paris"}), http.StatusBadRequest, "invalid")
			refused(t, "check without params", oper.get("/access/check?org=acme"), http.StatusBadRequest, "invalid")
			refused(t, "mapping of no group", oper.post("/mappings", map[string]any{"connection": "acme", "group_id": "nope",
				"role": "billing.viewer", "org": "acme"}), http.StatusBadRequest, "invalid")
		})

		// carol administers acme's subtree with every capability, one level deep.
		allCaps := []string{"manage_members", "manage_mappings", "approve", "delegate"}
		carolDel := oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": person["carol"],
			"capabilities": allCaps, "depth": 1}).must(t, http.StatusCreated).JSON
		if carolDel["org"] != "acme" || field(carolDel, "holder", "user_id") != person["carol"] || carolDel["granted_by"] != "operator:ops" {
			t.Fatalf("delegation %v", carolDel)
		}
		carolKey := oper.post("/delegations/"+field(carolDel, "id")+"/keys", nil).must(t, http.StatusCreated).JSON
		if !strings.HasPrefix(field(carolKey, "key"), orgs.AdminKeyPrefix) {
			t.Fatalf("key %v", carolKey)
		}
		carol := env.admin(t, field(carolKey, "key"), doc)
		carolName := field(carol.get("/me").must(t, http.StatusOK).JSON, "principal")
		if !strings.HasPrefix(carolName, "user:") {
			t.Fatalf("carol is %q", carolName)
		}

		t.Run("a delegate stays inside its subtree", func(t *testing.T) {
			carol := carol.in(t)
			forbidden := func(what string, r *reply) { t.Helper(); refused(t, what, r, http.StatusForbidden, "forbidden") }
			// A sibling.
			forbidden("read a sibling", carol.get("/orgs/globex"))
			forbidden("change a sibling", carol.call("PATCH", "/orgs/globex", map[string]any{"owner": "x@acme.example"}))
			forbidden("create under a sibling", carol.post("/orgs", map[string]any{"name": "Globex Labs", "parent": "globex"}))
			forbidden("who has access to a sibling", carol.get("/orgs/globex/access"))
			forbidden("delegate on a sibling", carol.post("/delegations", map[string]any{"org": "globex", "connection": "acme",
				"user_id": person["dave"], "capabilities": []string{"manage_members"}}))
			forbidden("check on a sibling", carol.get("/access/check?"+url.Values{"connection": {"globex"}, "user": {"x"},
				"permission": {"billing.read"}, "org": {"globex"}}.Encode()))
			forbidden("move into a sibling", carol.post("/orgs/emea/move", map[string]any{"parent": "globex"}))
			// A parent.
			forbidden("read the parent", carol.get("/orgs/vendor"))
			forbidden("create a root", carol.post("/orgs", map[string]any{"name": "Rogue"}))
			forbidden("reopen its own contract", carol.call("PATCH", "/orgs/acme", map[string]any{"contract_end": nil}))
			forbidden("change its own status", carol.call("PATCH", "/orgs/acme", map[string]any{"status": "active"}))
			forbidden("move its own org", carol.post("/orgs/acme/move", map[string]any{"parent": "globex"}))
			// The vendor's business.
			forbidden("create a connection", carol.post("/connections", map[string]any{"org": "acme", "slug": "acme2"}))
			forbidden("issue a SCIM token", carol.post("/connections/acme/tokens", nil))
			forbidden("create a role", carol.post("/roles", map[string]any{"key": "rogue", "permissions": []string{"x.read"}}))
			// Inside: allowed.
			carol.call("PATCH", "/orgs/acme", map[string]any{"brand": map[string]any{"display_name": "ACME Corp"},
				"owner": "it@acme.example"}).must(t, http.StatusOK)
			carol.post("/orgs", map[string]any{"name": "Acme Lyon", "slug": "lyon", "parent": "emea"}).must(t, http.StatusCreated)
			carol.call("PATCH", "/orgs/lyon", map[string]any{"status": "suspended"}).must(t, http.StatusOK)
			carol.get("/orgs/paris").must(t, http.StatusOK)
		})

		// dave administers emea's members, and may not delegate further.
		refused(t, "delegating deeper than allowed", carol.post("/delegations", map[string]any{"org": "emea", "connection": "acme",
			"user_id": person["dave"], "capabilities": []string{"manage_members", "delegate"}, "depth": 1}), http.StatusForbidden, "forbidden")
		daveDel := carol.post("/delegations", map[string]any{"org": "emea", "connection": "acme", "user_id": person["dave"],
			"capabilities": []string{"manage_members", "delegate"}}).must(t, http.StatusCreated).JSON
		if daveDel["parent_id"] != carolDel["id"] || daveDel["granted_by"] != carolName {
			t.Fatalf("dave's chain: %v", daveDel)
		}
		dave := env.admin(t, field(carol.post("/delegations/"+field(daveDel, "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key"), doc)

		t.Run("a sub-delegate stays inside its delegation", func(t *testing.T) {
			dave := dave.in(t)
			forbidden := func(what string, r *reply) { t.Helper(); refused(t, what, r, http.StatusForbidden, "forbidden") }
			forbidden("read the parent", dave.get("/orgs/acme"))
			forbidden("change the parent", dave.call("PATCH", "/orgs/acme", map[string]any{"owner": "dave@acme.example"}))
			forbidden("read a sibling of the parent", dave.get("/orgs/globex"))
			forbidden("revoke the delegation it came through", dave.call("DELETE", "/delegations/"+field(carolDel, "id"), nil))
			forbidden("revoke itself", dave.call("DELETE", "/delegations/"+field(daveDel, "id"), nil))
			// A descendant, but beyond what the delegation gives.
			dave.get("/orgs/paris").must(t, http.StatusOK)
			forbidden("draft a mapping on a descendant without manage_mappings", dave.post("/mappings", map[string]any{
				"connection": "acme", "group_id": finance, "role": "billing.viewer", "org": "paris"}))
			forbidden("delegate on a descendant deeper than allowed", dave.post("/delegations", map[string]any{"org": "paris",
				"connection": "acme", "user_id": person["erin"], "capabilities": []string{"manage_members"}}))
		})

		t.Run("escalation is refused", func(t *testing.T) {
			dave, carol := dave.in(t), carol.in(t)
			grant := func(c *adminClient, user, role, org string) *reply {
				return c.post("/grants", map[string]any{"connection": "acme", "user_id": person[user], "role": role, "org": org, "reason": "reports"})
			}
			r := grant(dave, "erin", "reports.viewer", "paris")
			refused(t, "grant a role one does not hold", r, http.StatusForbidden, "forbidden")
			if !strings.Contains(field(r.JSON, "error", "message"), "does not hold") {
				t.Errorf("refusal does not say why: %s", r.Raw)
			}
			g := grant(oper, "dave", "reports.viewer", "emea").must(t, http.StatusCreated).JSON
			if g["source"] != "direct" || g["granted_by"] != "operator:ops" || g["org"] != "emea" || g["role"] != "reports.viewer" {
				t.Errorf("grant %v", g)
			}
			grant(dave, "erin", "reports.viewer", "paris").must(t, http.StatusCreated) // now dave holds it there
			refused(t, "grant on the parent", grant(dave, "erin", "reports.viewer", "acme"), http.StatusForbidden, "forbidden")
			refused(t, "grant a privileged role directly", grant(oper, "erin", "billing.admin", "paris"), http.StatusForbidden, "forbidden")

			// Approving one's own privileged mapping: refused for a delegate and an operator.
			m := carol.post("/mappings", map[string]any{"connection": "acme", "group_id": finance, "role": "billing.admin",
				"org": "emea", "reason": "finance admins"}).must(t, http.StatusCreated).JSON
			if m["state"] != "draft" || m["drafted_by"] != carolName {
				t.Fatalf("draft %v", m)
			}
			refused(t, "approve one's own privileged mapping", carol.post("/mappings/"+field(m, "id")+"/approve", nil), http.StatusForbidden, "forbidden")
			refused(t, "approve without the approve capability", dave.post("/mappings/"+field(m, "id")+"/approve", nil), http.StatusForbidden, "forbidden")
			if a := oper.post("/mappings/"+field(m, "id")+"/approve", nil).must(t, http.StatusOK).JSON; a["state"] != "active" || a["approved_by"] != "operator:ops" {
				t.Fatalf("approved %v", a)
			}
			m2 := oper.post("/mappings", map[string]any{"connection": "acme", "group_id": all, "role": "billing.admin", "org": "paris"}).must(t, http.StatusCreated).JSON
			refused(t, "an operator approving its own privileged mapping", oper.post("/mappings/"+field(m2, "id")+"/approve", nil), http.StatusForbidden, "forbidden")
			oper.post("/mappings/"+field(m2, "id")+"/retire", map[string]any{"reason": "not needed"}).must(t, http.StatusBadRequest) // a draft is not active
		})

		check := func(c *adminClient, user, perm, org string) map[string]any {
			c.t.Helper()
			q := url.Values{"connection": {"acme"}, "user": {person[user]}, "permission": {perm}, "org": {org}}
			return c.get("/access/check?"+q.Encode()).must(c.t, http.StatusOK).JSON
		}
		allowed := func(c *adminClient, user, perm, org string) map[string]any {
			c.t.Helper()
			d := check(c, user, perm, org)
			if d["allowed"] != true {
				c.t.Fatalf("%s %s on %s: denied: %v", user, perm, org, d["reason"])
			}
			return d
		}
		denied := func(c *adminClient, user, perm, org, why string) {
			c.t.Helper()
			if d := check(c, user, perm, org); d["allowed"] != false || !strings.Contains(field(d, "reason"), why) {
				c.t.Fatalf("%s %s on %s: %v, want a denial naming %q", user, perm, org, d, why)
			}
		}

		t.Run("the explanation names the whole chain", func(t *testing.T) {
			oper, carol, dave := oper.in(t), carol.in(t), dave.in(t)
			m := oper.post("/mappings", map[string]any{"connection": "acme", "group_id": all, "role": "billing.viewer", "org": "acme",
				"reason": "all staff read billing"}).must(t, http.StatusCreated).JSON
			denied(oper, "ann", "billing.read", "paris", "no live grant") // a draft grants nothing
			oper2.in(t).post("/mappings/"+field(m, "id")+"/approve", nil).must(t, http.StatusOK)

			d := allowed(oper, "ann", "billing.read", "paris")
			ex := at(d, "because", 0)
			if field(ex, "grant", "source") != "mapping" || field(ex, "grant", "source_id") != field(m, "id") ||
				field(ex, "grant", "approved_by") != "operator:ops2" || field(ex, "grant", "role") != "billing.viewer" ||
				field(ex, "grant", "org") != "acme" || at(ex, "grant", "expires_at") != nil {
				t.Errorf("grant: %v", at(ex, "grant"))
			}
			if field(ex, "mapping", "id") != field(m, "id") || field(ex, "mapping", "drafted_by") != "operator:ops" ||
				field(ex, "mapping", "approved_by") != "operator:ops2" || field(ex, "mapping", "reason") != "all staff read billing" {
				t.Errorf("mapping: %v", at(ex, "mapping"))
			}
			if field(ex, "groups", 0, "id") != finance || field(ex, "groups", 0, "display_name") != "Finance" ||
				field(ex, "groups", 1, "id") != all || field(ex, "groups", 1, "display_name") != "All staff" || at(ex, "groups", 2) != nil {
				t.Errorf("membership path: %v", at(ex, "groups"))
			}
			if field(ex, "connection", "slug") != "acme" || field(ex, "connection", "idp") != "entra" ||
				field(ex, "org", "slug") != "acme" || field(ex, "role", "key") != "billing.viewer" || at(ex, "role", "inherits") != true {
				t.Errorf("connection, org, role: %v", ex)
			}

			// The privileged grant names its approver and its expiry.
			d = allowed(carol, "ann", "billing.write", "emea")
			ex = at(d, "because", 0)
			if field(ex, "grant", "approved_by") != "operator:ops" || at(ex, "grant", "expires_at") == nil ||
				field(ex, "mapping", "drafted_by") != carolName || field(ex, "groups", 0, "id") != finance || at(ex, "groups", 1) != nil {
				t.Errorf("privileged chain: %v", ex)
			}
			denied(oper, "ben", "billing.write", "emea", "no live grant")
			refused(t, "a sub-delegate asking about the parent", dave.get("/access/check?"+url.Values{"connection": {"acme"},
				"user": {person["ann"]}, "permission": {"billing.read"}, "org": {"acme"}}.Encode()), http.StatusForbidden, "forbidden")

			// What ann can do; a sub-delegate sees only its subtree.
			if hs := oper.get("/connections/acme/users/"+person["ann"]+"/access").must(t, http.StatusOK).JSON["holdings"].([]any); len(hs) != 2 {
				t.Errorf("ann's holdings: %v", hs)
			}
			hs := dave.get("/connections/acme/users/"+person["ann"]+"/access").must(t, http.StatusOK).JSON["holdings"].([]any)
			if len(hs) != 1 || field(hs[0], "role", "key") != "billing.admin" || field(hs[0], "org", "slug") != "emea" {
				t.Errorf("ann's holdings seen by dave: %v", hs)
			}
			refused(t, "user access in an unrelated connection", carol.get("/connections/globex/users/x/access"), http.StatusForbidden, "forbidden")
			// Who has access to emea, and why.
			who := map[string]bool{}
			for _, h := range oper.get("/orgs/emea/access").must(t, http.StatusOK).JSON["holders"].([]any) {
				who[field(h, "grant", "user_id")+" "+field(h, "role", "key")+"@"+field(h, "org", "slug")] = true
			}
			for _, want := range []string{person["ann"] + " billing.viewer@acme", person["ben"] + " billing.viewer@acme",
				person["ann"] + " billing.admin@emea", person["dave"] + " reports.viewer@emea"} {
				if !who[want] {
					t.Errorf("who has access to emea lacks %q: %v", want, who)
				}
			}

			// A SCIM membership change moves the answer at once.
			scim.in(t).do("PATCH", "/Groups/"+finance, patchBody(op("Remove", "members", []any{map[string]any{"value": person["ann"]}}))).must(t, http.StatusNoContent)
			denied(oper, "ann", "billing.read", "paris", "no live grant")
			scim.in(t).do("PATCH", "/Groups/"+finance, patchBody(op("Add", "members", []any{map[string]any{"value": person["ann"]}}))).must(t, http.StatusNoContent)
			allowed(oper, "ann", "billing.read", "paris")
		})

		t.Run("a direct grant is revoked by hand and kept", func(t *testing.T) {
			oper, carol, dave := oper.in(t), carol.in(t), dave.in(t)
			g := oper.post("/grants", map[string]any{"connection": "acme", "user_id": person["erin"], "role": "reports.viewer",
				"org": "acme", "reason": "quarterly close"}).must(t, http.StatusCreated).JSON
			id := field(g, "id")
			allowed(oper, "erin", "reports.read", "acme")
			refused(t, "a revocation without a reason", oper.call("DELETE", "/grants/"+id, map[string]any{}), http.StatusBadRequest, "invalid")
			refused(t, "a delegate revoking on its parent", dave.call("DELETE", "/grants/"+id, map[string]any{"reason": "x"}),
				http.StatusNotFound, "not_found")
			refused(t, "a delegate reading a grant on its parent", dave.get("/grants/"+id), http.StatusForbidden, "forbidden")
			r := carol.call("DELETE", "/grants/"+id, map[string]any{"reason": "close is over"}).must(t, http.StatusOK).JSON
			if r["revoked_at"] == nil || r["revoke_reason"] != "close is over" || r["revoked_by"] != carolName {
				t.Fatalf("revoked %v", r)
			}
			denied(oper, "erin", "reports.read", "acme", "no live grant")
			if kept := oper.get("/grants/"+id).must(t, http.StatusOK).JSON; kept["revoked_at"] == nil || kept["granted_by"] != "operator:ops" {
				t.Errorf("the revoked grant as kept: %v", kept)
			}
			refused(t, "revoking twice", oper.call("DELETE", "/grants/"+id, map[string]any{"reason": "again"}), http.StatusConflict, "conflict")
			refused(t, "an unknown grant", oper.get("/grants/no-such-grant"), http.StatusNotFound, "not_found")
		})

		t.Run("listings page by cursor and stay inside the subtree", func(t *testing.T) {
			oper, carol, dave := oper.in(t), carol.in(t), dave.in(t)
			// every role exactly once, two a page
			seen := map[string]bool{}
			for cursor, pages := "", 0; ; pages++ {
				q := url.Values{"limit": {"2"}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				pg := oper.get("/roles?"+q.Encode()).must(t, http.StatusOK).JSON
				items, _ := pg["items"].([]any)
				for _, it := range items {
					k := field(it.(map[string]any), "key")
					if seen[k] {
						t.Fatalf("role %s listed twice", k)
					}
					seen[k] = true
				}
				cursor, _ = pg["next_cursor"].(string)
				if cursor == "" || pages > 20 {
					break
				}
			}
			for _, k := range []string{"reports.viewer", "billing.admin"} {
				if !seen[k] {
					t.Errorf("role %s not listed; listed %v", k, seen)
				}
			}
			slugs := func(r *reply) []string {
				var out []string
				items, _ := r.JSON["items"].([]any)
				for _, it := range items {
					m := it.(map[string]any)
					if s, ok := m["slug"].(string); ok {
						out = append(out, s)
					} else {
						out = append(out, field(m, "id"))
					}
				}
				sort.Strings(out)
				return out
			}
			if got := slugs(oper.get("/orgs").must(t, http.StatusOK)); strings.Join(got, ",") != "vendor" {
				t.Errorf("roots %v", got)
			}
			if got := slugs(carol.get("/orgs?parent=acme").must(t, http.StatusOK)); strings.Join(got, ",") != "emea" {
				t.Errorf("acme's children for carol %v", got)
			}
			refused(t, "a delegate listing the roots", carol.get("/orgs"), http.StatusForbidden, "forbidden")
			refused(t, "a delegate listing its parent's children", carol.get("/orgs?parent=vendor"), http.StatusForbidden, "forbidden")
			refused(t, "a sub-delegate listing grants on its parent", dave.get("/grants?org=acme"), http.StatusForbidden, "forbidden")
			dave.get("/grants?org=emea").must(t, http.StatusOK)
			if got := slugs(oper.get("/connections?org=acme").must(t, http.StatusOK)); strings.Join(got, ",") != "acme" {
				t.Errorf("acme's connections %v", got)
			}
			if got := slugs(oper.get("/delegations?org=emea").must(t, http.StatusOK)); len(got) == 0 {
				t.Error("no delegation listed on emea")
			}
			if r := oper.get("/mappings?connection=acme").must(t, http.StatusOK).JSON; len(r["items"].([]any)) == 0 {
				t.Errorf("no mapping listed: %v", r)
			}
			refused(t, "a page of none", oper.get("/roles?limit=0"), http.StatusBadRequest, "invalid")
			refused(t, "a listing of grants without an org", oper.get("/grants"), http.StatusBadRequest, "invalid")
		})

		t.Run("a privileged role comes only by an approved elevation, and goes on its own", func(t *testing.T) {
			oper, carol, dave := oper.in(t), carol.in(t), dave.in(t)
			ask := func(c *adminClient, user, role, org string, seconds int) *reply {
				return c.post("/elevations", map[string]any{"connection": "acme", "user_id": person[user], "role": role, "org": org,
					"reason": "month-end close", "duration_seconds": seconds})
			}
			refused(t, "longer than the role's maximum", ask(dave, "erin", "billing.admin", "emea", 8*3600+1), http.StatusBadRequest, "invalid")
			refused(t, "a role that is not privileged", ask(dave, "erin", "reports.viewer", "emea", 3600), http.StatusBadRequest, "invalid")
			refused(t, "on the requester's parent", ask(dave, "erin", "billing.admin", "acme", 3600), http.StatusForbidden, "forbidden")
			el := ask(dave, "erin", "billing.admin", "emea", 3600).must(t, http.StatusCreated).JSON
			id := field(el, "id")
			if el["state"] != "requested" || el["grant_id"] != "" {
				t.Fatalf("request %v", el)
			}
			denied(oper, "erin", "billing.write", "emea", "")
			refused(t, "the requester approving", dave.post("/elevations/"+id+"/approve", nil), http.StatusForbidden, "forbidden")

			// carol asks for herself: she may, but neither approves her own.
			own := ask(carol, "carol", "billing.admin", "acme", 600).must(t, http.StatusCreated).JSON
			refused(t, "the beneficiary approving", carol.post("/elevations/"+field(own, "id")+"/approve", nil), http.StatusForbidden, "forbidden")
			oper.post("/elevations/"+field(own, "id")+"/reject", map[string]any{"reason": "not this month"}).must(t, http.StatusOK)
			refused(t, "approving a rejected request", oper.post("/elevations/"+field(own, "id")+"/approve", nil), http.StatusConflict, "conflict")

			ok := carol.post("/elevations/"+id+"/approve", map[string]any{"reason": "close is on"}).must(t, http.StatusOK).JSON
			if ok["state"] != "approved" || ok["grant_id"] == "" || ok["decided_by"] != carolName {
				t.Fatalf("approved %v", ok)
			}
			g := oper.get("/grants/"+field(ok, "grant_id")).must(t, http.StatusOK).JSON
			if g["source"] != "elevation" || g["source_id"] != id || g["approved_by"] != carolName || g["expires_at"] == nil {
				t.Errorf("the elevation's grant %v", g)
			}
			allowed(oper, "erin", "billing.write", "emea")
			// An hour and a minute later the grant has lapsed by itself, at query time.
			env.clock.mu.Lock()
			env.clock.t = env.clock.t.Add(61 * time.Minute)
			env.clock.mu.Unlock()
			denied(oper, "erin", "billing.write", "emea", "")
			if got := dave.get("/elevations/"+id).must(t, http.StatusOK).JSON; got["state"] != "approved" {
				t.Errorf("the requester reading its request: %v", got)
			}
		})

		t.Run("suspending a connection stops its tokens at once", func(t *testing.T) {
			oper, carol, sc := oper.in(t), carol.in(t), scim.in(t)
			sc.do("GET", "/Users/"+person["ann"], nil).must(t, http.StatusOK)
			refused(t, "a delegate suspending a connection", carol.call("PATCH", "/connections/acme", map[string]any{"status": "suspended"}),
				http.StatusForbidden, "forbidden")
			refused(t, "an unknown status", oper.call("PATCH", "/connections/acme", map[string]any{"status": "paused"}), http.StatusBadRequest, "invalid")
			if c := oper.call("PATCH", "/connections/acme", map[string]any{"status": "suspended"}).must(t, http.StatusOK).JSON; c["status"] != "suspended" {
				t.Fatalf("suspended %v", c)
			}
			sc.do("GET", "/Users/"+person["ann"], nil).must(t, http.StatusUnauthorized)
			oper.call("PATCH", "/connections/acme", map[string]any{"status": "active"}).must(t, http.StatusOK)
			sc.do("GET", "/Users/"+person["ann"], nil).must(t, http.StatusOK)
		})

		t.Run("ending a parent's contract removes the subtree's access at once", func(t *testing.T) {
			oper := oper.in(t)
			allowed(oper, "ann", "billing.read", "paris")
			allowed(oper, "erin", "reports.read", "paris")
			// The e2e clock stands at 2030-01-02: a contract that ended the day before, with
			// two days' grace, still gives access; without grace it does not.
			o := oper.call("PATCH", "/orgs/acme", map[string]any{"contract_end": "2030-01-01T00:00:00Z", "grace_seconds": 2 * 86400}).must(t, http.StatusOK).JSON
			if o["contract_end"] != "2030-01-01T00:00:00Z" || o["grace_seconds"] != json.Number("172800") {
				t.Fatalf("patched %v", o)
			}
			allowed(oper, "ann", "billing.read", "paris")
			oper.call("PATCH", "/orgs/acme", map[string]any{"grace_seconds": 0}).must(t, http.StatusOK)
			for _, c := range [][3]string{{"ann", "billing.read", "paris"}, {"ben", "billing.read", "emea"},
				{"erin", "reports.read", "paris"}, {"ann", "billing.write", "emea"}, {"dave", "reports.read", "acme"}} {
				denied(oper, c[0], c[1], c[2], "not active")
			}
			if hs := oper.get("/orgs/emea/access").must(t, http.StatusOK).JSON["holders"].([]any); len(hs) != 0 {
				t.Errorf("an ended contract still lists holders: %v", hs)
			}
			if hs := oper.get("/connections/acme/users/"+person["ann"]+"/access").must(t, http.StatusOK).JSON["holdings"].([]any); len(hs) != 0 {
				t.Errorf("an ended contract still gives ann: %v", hs)
			}
			// Reopened, the grants (never revoked) give access again; "ended" ends it too.
			oper.call("PATCH", "/orgs/acme", map[string]any{"contract_end": nil}).must(t, http.StatusOK)
			allowed(oper, "ann", "billing.read", "paris")
			oper.call("PATCH", "/orgs/acme", map[string]any{"status": "ended"}).must(t, http.StatusOK)
			denied(oper, "erin", "reports.read", "paris", "not active")
			oper.call("PATCH", "/orgs/acme", map[string]any{"status": "active"}).must(t, http.StatusOK)
			allowed(oper, "erin", "reports.read", "paris")
		})

		t.Run("delegate keys stop working", func(t *testing.T) {
			carol, dave := carol.in(t), dave.in(t)
			dave.get("/me").must(t, http.StatusOK)
			r := carol.call("DELETE", "/delegations/"+field(daveDel, "id"), map[string]any{"reason": "moved to another team"}).must(t, http.StatusOK).JSON
			if at(r, "revoked", "revoked_at") == nil || field(r, "revoked", "revoked_by") != carolName || at(r, "successor") != nil {
				t.Errorf("revoked %v", r)
			}
			refused(t, "a revoked delegation's key", dave.get("/me"), http.StatusUnauthorized, "unauthorized")

			// The partner's last administrator goes only with a successor.
			refused(t, "revoke the last administrator", oper.call("DELETE", "/delegations/"+field(carolDel, "id"), nil), http.StatusConflict, "conflict")
			carol.get("/me").must(t, http.StatusOK)
			r = oper.call("DELETE", "/delegations/"+field(carolDel, "id"), map[string]any{"reason": "left the company",
				"successor": map[string]any{"connection": "acme", "user_id": person["ben"], "capabilities": allCaps, "depth": 1}}).must(t, http.StatusOK).JSON
			if field(r, "successor", "holder", "user_id") != person["ben"] || field(r, "successor", "org") != "acme" {
				t.Fatalf("successor %v", r)
			}
			refused(t, "a revoked delegation's key", carol.get("/me"), http.StatusUnauthorized, "unauthorized")
			ben := env.admin(t, field(oper.post("/delegations/"+field(r, "successor", "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key"), doc)
			if me := ben.get("/me").must(t, http.StatusOK).JSON; field(me, "delegation", "id") != field(r, "successor", "id") {
				t.Errorf("ben: %v", me)
			}
			ben.get("/orgs/paris").must(t, http.StatusOK)

			// Offboarding: the IdP deactivates ben, and his delegation ends in the
			// transaction of the SCIM request, his key with it. Coming back does not
			// bring authority back: that takes a new delegation.
			benDel := field(r, "successor", "id")
			scim.in(t).patch(person["ben"], op("Replace", "active", "False")).must(t, http.StatusNoContent)
			refused(t, "a deactivated holder's key", ben.get("/me"), http.StatusUnauthorized, "unauthorized")
			d := oper.get("/delegations/"+benDel).must(t, http.StatusOK).JSON
			if d["revoked_at"] == nil || d["revoke_reason"] != "user deactivated by the IdP" {
				t.Errorf("after the IdP deactivated its holder, delegation %v", d)
			}
			scim.in(t).patch(person["ben"], op("Replace", "active", "True")).must(t, http.StatusNoContent)
			refused(t, "a reactivated holder's key", ben.get("/me"), http.StatusUnauthorized, "unauthorized")
		})

		t.Run("the OpenAPI document lists every route", func(t *testing.T) {
			e := newHandler(db, slog.New(slog.NewTextHandler(io.Discard, nil)), httpConfig{})
			paths, _ := doc["paths"].(map[string]any)
			n := 0
			registered := map[string]bool{}
			for _, r := range e.Routes() {
				if !strings.HasPrefix(r.Path, adminapi.Prefix+"/") && !authzen.Owns(r.Path) {
					continue
				}
				p := r.Path
				for _, seg := range strings.Split(p, "/") {
					if strings.HasPrefix(seg, ":") {
						p = strings.Replace(p, seg, "{"+seg[1:]+"}", 1)
					}
				}
				registered[strings.ToLower(r.Method)+" "+p] = true
				n++
				if at(paths, p, strings.ToLower(r.Method)) == nil {
					t.Errorf("%s %s is not in the OpenAPI document", r.Method, p)
				}
			}
			if n < 20 {
				t.Errorf("only %d admin routes registered", n)
			}
			for p, item := range paths {
				for method := range item.(map[string]any) {
					if !registered[method+" "+p] {
						t.Errorf("the document lists %s %s, which is not registered", method, p)
					}
				}
			}
			if doc["openapi"] != "3.0.3" || at(doc, "components", "securitySchemes", "adminKey", "scheme") != "bearer" {
				t.Errorf("document header: %v %v", doc["openapi"], at(doc, "components", "securitySchemes"))
			}
			// Every $ref resolves.
			var walk func(v any)
			walk = func(v any) {
				switch x := v.(type) {
				case map[string]any:
					if ref, ok := x["$ref"].(string); ok && at(doc, "components", "schemas", strings.TrimPrefix(ref, "#/components/schemas/")) == nil {
						t.Errorf("unresolved %s", ref)
					}
					for _, y := range x {
						walk(y)
					}
				case []any:
					for _, y := range x {
						walk(y)
					}
				}
			}
			walk(doc)
		})

		if strings.Contains(env.logs.String(), `"level":"ERROR"`) {
			t.Errorf("the server logged errors:\n%s", env.logs.String())
		}
	})
}

// in returns a copy of a that reports to t.
func (a *adminClient) in(t *testing.T) *adminClient {
	cp := *a
	cp.t = t
	return &cp
}

// TestAdminCLI runs the operator commands against a database of each engine.
func TestAdminCLI(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			dbURL := dbtest.URL(t, engine)
			cli := func(args ...string) string {
				t.Helper()
				var stdout, stderr strings.Builder
				if err := run(ctx, append(args, "--database", dbURL), &stdout, &stderr); err != nil {
					t.Fatalf("%v: %v\n%s", args, err, stderr.String())
				}
				return stdout.String()
			}
			cliJSON := func(args ...string) map[string]any {
				t.Helper()
				var m map[string]any
				out := cli(append(args, "--json")...)
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					t.Fatalf("%v: %v\n%s", args, err, out)
				}
				return m
			}
			cliFails := func(args ...string) {
				t.Helper()
				var stdout, stderr strings.Builder
				if err := run(ctx, append(args, "--database", dbURL), &stdout, &stderr); err == nil {
					t.Errorf("%v succeeded: %s", args, stdout.String())
				}
			}
			key := cliJSON("apikey", "create", "--operator", "alice", "--expires", "24h")
			for _, o := range [][2]string{{"vendor", ""}, {"acme", "vendor"}, {"emea", "acme"}, {"paris", "emea"}, {"globex", "vendor"}} {
				args := []string{"org", "create", "--name", o[0], "--slug", o[0]}
				if o[1] != "" {
					args = append(args, "--parent", o[1])
				}
				cli(args...)
			}
			cliJSON("connection", "create", "--org", "acme", "--idp", "okta")
			cliJSON("role", "create", "--key", "reports.viewer", "--permission", "reports.read", "--permission", "reports.export", "--inherits")
			cliFails("role", "create", "--key", "admin", "--permission", "x.*", "--privileged")
			if r := cliJSON("role", "create", "--key", "admin", "--permission", "x.*", "--privileged", "--max-duration", "8h"); r["max_duration_seconds"] != float64(28800) {
				t.Errorf("privileged role %v", r)
			}

			db, err := sqlstore.Open(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			keys := &orgs.AdminKeys{Store: db.AdminKeys()}
			if p, err := keys.Authenticate(ctx, key["key"].(string)); err != nil || p.Operator != "alice" || key["expires_at"] == nil {
				t.Fatalf("the CLI's key: %+v %v %v", p, err, key)
			}
			// A user with a grant on emea, through the domain, then asked about by the CLI.
			users := &provisioning.Users{Store: db.Users()}
			conn, err := (&orgs.Directory{Store: db.Orgs()}).Connection(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			u, err := users.Create(ctx, conn.ID, map[string]any{"userName": "ann"}, "")
			if err != nil {
				t.Fatal(err)
			}
			emea, _ := db.Orgs().OrgBySlug(ctx, "emea")
			access := &orgs.Access{Store: db.Access(), Users: users}
			if _, err := access.AssignRole(ctx, orgs.Principal{Operator: "alice"}, conn, u.ID, "reports.viewer", emea.ID, "quarterly", nil); err != nil {
				t.Fatal(err)
			}
			checkArgs := []string{"access", "check", "--connection", "acme", "--user", u.ID, "--permission", "reports.read", "--org", "paris"}
			d := cliJSON(checkArgs...)
			if d["allowed"] != true || field(d, "because", 0, "grant", "granted_by") != "operator:alice" || field(d, "because", 0, "org", "slug") != "emea" {
				t.Fatalf("check: %v", d)
			}
			if out := cli(checkArgs...); !strings.HasPrefix(out, "allow") || !strings.Contains(out, "reports.viewer on emea") {
				t.Errorf("check text: %s", out)
			}

			// Relationship changes: a past contract end on acme denies paris.
			o := cliJSON("org", "update", "--slug", "acme", "--contract-end", "2020-01-01T00:00:00Z", "--grace", "48h", "--owner", "bob@acme.example")
			if o["owner"] != "bob@acme.example" || o["grace_seconds"] != float64(172800) || o["contract_end"] == nil {
				t.Errorf("updated %v", o)
			}
			if d := cliJSON(checkArgs...); d["allowed"] != false || !strings.Contains(d["reason"].(string), "not active") {
				t.Errorf("after the contract ended: %v", d)
			}
			if out := cli(checkArgs...); !strings.HasPrefix(out, "deny") {
				t.Errorf("check text: %s", out)
			}
			cli("org", "update", "--slug", "acme", "--contract-end", "none")
			cli("org", "update", "--slug", "emea", "--status", "suspended")
			if d := cliJSON(checkArgs...); d["allowed"] != false {
				t.Errorf("suspended emea: %v", d)
			}
			cliFails("org", "update", "--slug", "emea", "--status", "bogus")
			cliFails("org", "update", "--slug", "emea")
			cliFails("org", "update", "--slug", "emea", "--contract-end", "tomorrow")

			cli("org", "move", "--slug", "paris", "--parent", "globex")
			paris, _ := db.Orgs().OrgBySlug(ctx, "paris")
			globex, _ := db.Orgs().OrgBySlug(ctx, "globex")
			if paris.ParentID != globex.ID {
				t.Errorf("paris under %s", paris.ParentID)
			}
			cliFails("org", "move", "--slug", "acme", "--parent", "emea")

			cli("apikey", "revoke", "--id", key["id"].(string))
			if _, err := keys.Authenticate(ctx, key["key"].(string)); err == nil {
				t.Error("a revoked key still authenticates")
			}
		})
	}
}
