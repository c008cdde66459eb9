package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// pdp posts an AuthZEN request with an admin key ("" for none).
func pdp(t *testing.T, env *e2eEnv, key, path string, body any) *reply {
	t.Helper()
	var r io.Reader
	if s, ok := body.(string); ok {
		r = strings.NewReader(s)
	} else {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(http.MethodPost, env.srv.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", "rq-1")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	rep := &reply{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if err := json.Unmarshal(raw, &rep.JSON); err != nil {
		t.Fatalf("%s: %d body is not JSON: %s", path, res.StatusCode, raw)
	}
	for _, m := range leaksIn(string(raw)) {
		t.Errorf("%s: leaks %q: %s", path, m, raw)
	}
	return rep
}

func subject(conn, id string) map[string]any {
	return map[string]any{"type": "user", "id": id, "properties": map[string]any{"connection": conn}}
}

func question(conn, user, perm, org string) map[string]any {
	return map[string]any{"subject": subject(conn, user), "action": map[string]any{"name": perm},
		"resource": map[string]any{"type": "org", "id": org}}
}

// The AuthZEN PDP through the real server, on each engine: its decisions are the access
// check's (same answer, same chain in context), a batch follows its evaluation
// semantics, a delegate is refused outside its subtree rather than told "false", and
// bad requests are 400s that change nothing.
func TestAuthZEN(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		_, ops := env.operators(t, "ops")
		oper := ops[0]
		opKey := strings.TrimPrefix(oper.auth, "Bearer ")
		for _, o := range [][2]string{{"vendor", ""}, {"acme", "vendor"}, {"emea", "acme"}, {"globex", "vendor"}} {
			body := map[string]any{"name": o[0], "slug": o[0]}
			if o[1] != "" {
				body["parent"] = o[1]
			}
			oper.post("/orgs", body).must(t, http.StatusCreated)
		}
		created := oper.post("/connections", map[string]any{"org": "acme", "slug": "acme", "idp": "okta"}).must(t, http.StatusCreated).JSON
		sc := &scimClient{t: t, env: env, slug: "acme", token: field(created, "token")}
		ann := sc.create(map[string]any{"userName": "ann@acme.example"})["id"].(string)
		bob := sc.create(map[string]any{"userName": "bob@acme.example"})["id"].(string)
		carol := sc.create(map[string]any{"userName": "carol@acme.example"})["id"].(string)
		oper.post("/connections", map[string]any{"org": "globex", "slug": "globex", "idp": "okta"}).must(t, http.StatusCreated)
		oper.post("/roles", map[string]any{"key": "viewer", "permissions": []string{"reports.read"}, "inherits": true}).must(t, http.StatusCreated)
		oper.post("/grants", map[string]any{"connection": "acme", "user_id": ann, "role": "viewer", "org": "acme", "reason": "reports"}).
			must(t, http.StatusCreated)
		d := oper.post("/delegations", map[string]any{"org": "emea", "connection": "acme", "user_id": carol,
			"capabilities": []string{"manage_members"}, "depth": 0}).must(t, http.StatusCreated).JSON
		carolKey := field(oper.post("/delegations/"+field(d, "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key")

		t.Run("configuration", func(t *testing.T) {
			res, err := http.Get(env.srv.URL + "/.well-known/authzen-configuration")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var cfg map[string]string
			if err := json.NewDecoder(res.Body).Decode(&cfg); err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("%d %v", res.StatusCode, err)
			}
			if cfg["policy_decision_point"] != env.srv.URL || cfg["access_evaluation_endpoint"] != env.srv.URL+"/access/v1/evaluation" ||
				cfg["access_evaluations_endpoint"] != env.srv.URL+"/access/v1/evaluations" {
				t.Errorf("configuration: %v", cfg)
			}
		})

		t.Run("the access check's decision and chain", func(t *testing.T) {
			for _, tt := range []struct {
				user, perm, org string
				want            bool
			}{
				{ann, "reports.read", "acme", true},
				{ann, "reports.read", "emea", true}, // the role inherits down
				{ann, "reports.write", "acme", false},
				{bob, "reports.read", "acme", false},
				{"no-such-user", "reports.read", "acme", false},
			} {
				rep := pdp(t, env, opKey, "/access/v1/evaluation", question("acme", tt.user, tt.perm, tt.org)).must(t, http.StatusOK)
				q := url.Values{"connection": {"acme"}, "user": {tt.user}, "permission": {tt.perm}, "org": {tt.org}}
				check := oper.get("/access/check?"+q.Encode()).must(t, http.StatusOK).JSON
				if rep.JSON["decision"] != tt.want || !reflect.DeepEqual(jsonOf(t, rep.JSON["context"]), jsonOf(t, check)) {
					t.Errorf("%s %s on %s: %s; access check says %v", tt.user, tt.perm, tt.org, rep.Raw, check)
				}
				if rep.Header.Get("X-Request-ID") != "rq-1" {
					t.Errorf("X-Request-ID not echoed: %q", rep.Header.Get("X-Request-ID"))
				}
			}
		})

		t.Run("batch semantics", func(t *testing.T) {
			items := []any{
				map[string]any{"action": map[string]any{"name": "reports.read"}},                                                          // permit
				map[string]any{"action": map[string]any{"name": "reports.write"}},                                                         // deny
				map[string]any{"subject": subject("acme", bob)},                                                                           // deny
				map[string]any{"resource": map[string]any{"type": "org", "id": "emea"}, "action": map[string]any{"name": "reports.read"}}, // permit
			}
			for _, tt := range []struct {
				semantic string
				want     []bool
			}{
				{"", []bool{true, false, false, true}},
				{"execute_all", []bool{true, false, false, true}},
				{"deny_on_first_deny", []bool{true, false}},
				{"permit_on_first_permit", []bool{true}},
			} {
				body := map[string]any{"subject": subject("acme", ann), "resource": map[string]any{"type": "org", "id": "acme"},
					"action": map[string]any{"name": "reports.read"}, "evaluations": items}
				if tt.semantic != "" {
					body["options"] = map[string]any{"evaluations_semantic": tt.semantic}
				}
				rep := pdp(t, env, opKey, "/access/v1/evaluations", body).must(t, http.StatusOK)
				var got []bool
				for _, e := range rep.JSON["evaluations"].([]any) {
					got = append(got, e.(map[string]any)["decision"].(bool))
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%q: %v, want %v", tt.semantic, got, tt.want)
				}
			}
			// Without an evaluations array, the batch endpoint answers one evaluation.
			if rep := pdp(t, env, opKey, "/access/v1/evaluations", question("acme", ann, "reports.read", "acme")).must(t, http.StatusOK); rep.JSON["decision"] != true {
				t.Errorf("single through evaluations: %s", rep.Raw)
			}
		})

		t.Run("a delegate asks only about its subtree", func(t *testing.T) {
			if rep := pdp(t, env, carolKey, "/access/v1/evaluation", question("acme", ann, "reports.read", "emea")).must(t, http.StatusOK); rep.JSON["decision"] != true {
				t.Errorf("inside: %s", rep.Raw)
			}
			for _, org := range []string{"acme", "globex"} {
				refused(t, "outside: "+org, pdp(t, env, carolKey, "/access/v1/evaluation", question("acme", ann, "reports.read", org)), http.StatusForbidden, "forbidden")
			}
			refused(t, "an unrelated connection", pdp(t, env, carolKey, "/access/v1/evaluation", question("globex", ann, "reports.read", "emea")), http.StatusForbidden, "forbidden")
			rep := pdp(t, env, carolKey, "/access/v1/evaluations", map[string]any{"subject": subject("acme", ann), "action": map[string]any{"name": "reports.read"},
				"evaluations": []any{map[string]any{"resource": map[string]any{"type": "org", "id": "emea"}},
					map[string]any{"resource": map[string]any{"type": "org", "id": "globex"}}}}).must(t, http.StatusOK)
			ev := rep.JSON["evaluations"].([]any)
			if len(ev) != 2 || at(ev[0], "decision") != true || at(ev[1], "decision") != false || at(ev[1], "context", "error", "status") != float64(403) {
				t.Errorf("batch with one question outside: %s", rep.Raw)
			}
		})

		t.Run("refusals", func(t *testing.T) {
			good := question("acme", ann, "reports.read", "acme")
			refused(t, "no key", pdp(t, env, "", "/access/v1/evaluation", good), http.StatusUnauthorized, "unauthorized")
			refused(t, "a wrong key", pdp(t, env, "oscadm_nope", "/access/v1/evaluation", good), http.StatusUnauthorized, "unauthorized")
			bad := map[string]any{
				"not JSON":             "{",
				"unknown field":        `{"subject":{"type":"user","id":"x","properties":{"connection":"acme"}},"action":{"name":"a"},"resource":{"type":"org","id":"acme"},"extra":1}`,
				"no connection":        map[string]any{"subject": map[string]any{"type": "user", "id": ann}, "action": map[string]any{"name": "a"}, "resource": map[string]any{"type": "org", "id": "acme"}},
				"subject not a user":   map[string]any{"subject": map[string]any{"type": "group", "id": ann, "properties": map[string]any{"connection": "acme"}}, "action": map[string]any{"name": "a"}, "resource": map[string]any{"type": "org", "id": "acme"}},
				"resource not an org":  map[string]any{"subject": subject("acme", ann), "action": map[string]any{"name": "a"}, "resource": map[string]any{"type": "doc", "id": "acme"}},
				"no action":            map[string]any{"subject": subject("acme", ann), "resource": map[string]any{"type": "org", "id": "acme"}},
				"id of the wrong type": `{"subject":{"type":"user","id":7,"properties":{"connection":"acme"}},"action":{"name":"a"},"resource":{"type":"org","id":"acme"}}`,
			}
			for name, b := range bad {
				refused(t, name, pdp(t, env, opKey, "/access/v1/evaluation", b), http.StatusBadRequest, "invalid")
			}
			refused(t, "an unknown semantic", pdp(t, env, opKey, "/access/v1/evaluations", map[string]any{"evaluations": []any{good},
				"options": map[string]any{"evaluations_semantic": "first"}}), http.StatusBadRequest, "invalid")
			refused(t, "a malformed item", pdp(t, env, opKey, "/access/v1/evaluations", map[string]any{"evaluations": []any{good, map[string]any{}}}),
				http.StatusBadRequest, "invalid")
			refused(t, "an unknown org", pdp(t, env, opKey, "/access/v1/evaluation", question("acme", ann, "reports.read", "nope")), http.StatusNotFound, "not_found")
			refused(t, "an unknown connection", pdp(t, env, opKey, "/access/v1/evaluation", question("nope", ann, "reports.read", "acme")), http.StatusNotFound, "not_found")
		})
		t.Run("deactivation denies at once", func(t *testing.T) {
			// The same rule, evaluated now: the IdP's deactivation is the next answer.
			sc.patch(ann, op("replace", "active", false)).must(t, http.StatusOK)
			if rep := pdp(t, env, opKey, "/access/v1/evaluation", question("acme", ann, "reports.read", "acme")); rep.JSON["decision"] != false ||
				field(rep.JSON, "context", "reason") == "" {
				t.Errorf("after deactivation: %s", rep.Raw)
			}
		})
	})
}

func jsonOf(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}
