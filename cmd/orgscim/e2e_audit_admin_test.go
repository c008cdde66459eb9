package main

// End-to-end tests of the audit trail of the control plane: admin API calls and CLI
// commands leave one event per change, attributed to the key (or OS user) and request
// that made it, and GET /api/v1/audit lists them, confined to a delegate's subtree.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/adminapi"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// auditPages lists the events the query selects through GET /audit, following
// next_cursor with pages of limit events; it fails on an event seen twice.
func (a *adminClient) auditPages(query url.Values, limit int) []map[string]any {
	a.t.Helper()
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("limit", strconv.Itoa(limit))
	var out []map[string]any
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 10000 {
			a.t.Fatal("paging does not end")
		}
		r := a.get("/audit?"+q.Encode()).must(a.t, http.StatusOK)
		list, _ := r.JSON["events"].([]any)
		if len(list) > limit {
			a.t.Fatalf("a page of %d events with limit %d", len(list), limit)
		}
		for _, e := range list {
			m := e.(map[string]any)
			if seen[field(m, "id")] {
				a.t.Fatalf("event %s listed twice", field(m, "id"))
			}
			seen[field(m, "id")] = true
			out = append(out, m)
		}
		next, _ := r.JSON["next_cursor"].(string)
		if next == "" {
			return out
		}
		q.Set("cursor", next)
	}
}

// auditExport reads the NDJSON export of the query; accept selects it by the Accept
// header rather than format=ndjson.
func (a *adminClient) auditExport(query url.Values, accept bool) []map[string]any {
	a.t.Helper()
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	if !accept {
		q.Set("format", "ndjson")
	}
	req, err := http.NewRequest("GET", a.env.srv.URL+adminapi.Prefix+"/audit?"+q.Encode(), nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", a.auth)
	if accept {
		req.Header.Set("Accept", "application/x-ndjson")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/x-ndjson" {
		a.t.Fatalf("export: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var out []map[string]any
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			a.t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		a.t.Fatalf("export: %v", err)
	}
	return out
}

func ids(events []map[string]any) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = field(e, "id")
	}
	return out
}

// byRequest returns the events of one request by action, and their actions sorted:
// events of one transaction share its time, and the listing orders those by id.
func byRequest(events []map[string]any, requestID string) (actions []string, found map[string]map[string]any) {
	found = map[string]map[string]any{}
	for _, e := range events {
		if field(e, "request_id") == requestID {
			actions = append(actions, field(e, "action"))
			found[field(e, "action")] = e
		}
	}
	slices.Sort(actions)
	return actions, found
}

// TestE2EAuditAdmin drives the admin API and SCIM through the real server and reads the
// trail back through GET /api/v1/audit.
func TestE2EAuditAdmin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env := newE2E(t, db)
		svc := newServices(db, env.clock.Now)
		opKey, opSecret, err := svc.keys.IssueOperatorKey(audit.WithSource(ctx, audit.Source{Actor: "operator:cli:test"}), "ops", nil)
		if err != nil {
			t.Fatal(err)
		}
		doc := env.admin(t, "", nil).get("/openapi.json").must(t, http.StatusOK).JSON
		oper := env.admin(t, opSecret, doc)
		opActor := "admin_key:" + opKey.ID + " operator:ops"
		if opActor != adminapi.Actor(orgs.Principal{Operator: "ops", KeyID: opKey.ID}) {
			t.Fatalf("actor format: %q", opActor)
		}

		// want is what one admin request must have recorded: exactly these actions, by
		// the operator's key, under the request id the response carried, from the peer.
		type step struct {
			what    string
			rep     *reply
			actions []string
			target  string
			actor   string // "" for opActor
		}
		var steps []step
		do := func(what string, rep *reply, status int, target string, actions ...string) *reply {
			t.Helper()
			rep.must(t, status)
			steps = append(steps, step{what: what, rep: rep, actions: actions, target: target})
			return rep
		}

		// The tree: vendor → acme → emea, and globex beside acme.
		for _, o := range [][3]string{{"Vendor", "vendor", ""}, {"Acme", "acme", "vendor"}, {"Acme EMEA", "emea", "acme"}, {"Globex", "globex", "vendor"}} {
			body := map[string]any{"name": o[0], "slug": o[1]}
			if o[2] != "" {
				body["parent"] = o[2]
			}
			r := oper.post("/orgs", body)
			do("create org "+o[1], r, http.StatusCreated, field(r.JSON, "id"), "org.create")
		}
		orgID := func(slug string) string {
			return field(oper.get("/orgs/"+slug).must(t, http.StatusOK).JSON, "id")
		}
		acmeID, emeaID, globexID := orgID("acme"), orgID("emea"), orgID("globex")
		updAcme := do("update org", oper.call("PATCH", "/orgs/acme", map[string]any{"owner": "it@acme.example"}), http.StatusOK, acmeID, "org.update", "review.start") // a new owner revalidates the subtree
		do("update sibling", oper.call("PATCH", "/orgs/globex", map[string]any{"owner": "it@globex.example"}), http.StatusOK, globexID, "org.update", "review.start")
		created := oper.post("/connections", map[string]any{"org": "acme", "slug": "acme", "idp": "entra"})
		do("create connection", created, http.StatusCreated, field(created.JSON, "id"), "connection.create", "token.create")
		acmeConn := field(created.JSON, "id")
		scimToken := field(created.JSON, "token")
		globexConn := oper.post("/connections", map[string]any{"org": "globex", "idp": "okta"}).must(t, http.StatusCreated)

		scim := &scimClient{t: t, env: env, slug: "acme", token: scimToken}
		ann := scim.create(map[string]any{"userName": "ann@acme.example"})["id"].(string)
		carol := scim.create(map[string]any{"userName": "carol@acme.example"})["id"].(string)
		dave := scim.create(map[string]any{"userName": "dave@acme.example"})["id"].(string)
		erin := scim.create(map[string]any{"userName": "erin@acme.example"})["id"].(string)
		ben := scim.create(map[string]any{"userName": "ben@acme.example"})["id"].(string)
		finance := scim.createGroup("Finance", ann, ben)["id"].(string)

		role := oper.post("/roles", map[string]any{"key": "billing.viewer", "permissions": []string{"billing.read"}, "inherits": true})
		do("create role", role, http.StatusCreated, field(role.JSON, "id"), "role.create")
		draft := oper.post("/mappings", map[string]any{"connection": "acme", "group_id": finance, "role": "billing.viewer", "org": "emea"})
		mapping := field(draft.JSON, "id")
		do("draft mapping", draft, http.StatusCreated, mapping, "mapping.draft")
		// Four eyes: a second operator approves what the first drafted.
		op2Key, op2Secret, err := svc.keys.IssueOperatorKey(ctx, "ops2", nil)
		if err != nil {
			t.Fatal(err)
		}
		approved := do("approve mapping", env.admin(t, op2Secret, doc).post("/mappings/"+mapping+"/approve", nil), http.StatusOK, mapping, "mapping.approve", "grants.sync")
		steps[len(steps)-1].actor = adminapi.Actor(orgs.Principal{Operator: "ops2", KeyID: op2Key.ID})
		grant := oper.post("/grants", map[string]any{"connection": "acme", "user_id": carol, "role": "billing.viewer", "org": "acme", "reason": "audit test"})
		do("assign role", grant, http.StatusCreated, field(grant.JSON, "id"), "grant.create")
		grantOf := func(user string) string {
			hs := oper.get("/connections/acme/users/"+user+"/access").must(t, http.StatusOK).JSON["holdings"].([]any)
			if len(hs) != 1 {
				t.Fatalf("holdings of %s: %v", user, hs)
			}
			return field(hs[0], "grant", "id")
		}
		annGrant, benGrant := grantOf(ann), grantOf(ben)
		issued := oper.post("/connections/acme/tokens", nil)
		do("issue a token", issued, http.StatusCreated, field(issued.JSON, "id"), "token.create")
		do("revoke a token", oper.call("DELETE", "/connections/acme/tokens/"+field(issued.JSON, "id"), nil), http.StatusNoContent,
			field(issued.JSON, "id"), "token.revoke")
		oper.post("/orgs", map[string]any{"name": "Acme Lab", "slug": "lab", "parent": "acme"}).must(t, http.StatusCreated)
		do("move org", oper.post("/orgs/lab/move", map[string]any{"parent": "emea"}), http.StatusOK, orgID("lab"), "org.move", "review.start")

		allCaps := []string{"manage_members", "manage_mappings", "approve", "delegate"}
		carolDel := oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": carol, "capabilities": allCaps, "depth": 1})
		do("delegate", carolDel, http.StatusCreated, field(carolDel.JSON, "id"), "delegation.create")
		carolKey := oper.post("/delegations/"+field(carolDel.JSON, "id")+"/keys", nil)
		do("issue a delegate key", carolKey, http.StatusCreated, field(carolKey.JSON, "id"), "admin_key.create")
		carolAPI := env.admin(t, field(carolKey.JSON, "key"), doc)
		spare := oper.post("/delegations/"+field(carolDel.JSON, "id")+"/keys", nil).must(t, http.StatusCreated).JSON
		do("revoke a key", oper.call("DELETE", "/keys/"+field(spare, "id"), nil), http.StatusNoContent, field(spare, "id"), "admin_key.revoke")
		daveDel := oper.post("/delegations", map[string]any{"org": "emea", "connection": "acme", "user_id": dave,
			"capabilities": []string{"manage_members", "delegate"}, "depth": 1}).must(t, http.StatusCreated).JSON
		daveAPI := env.admin(t, field(oper.post("/delegations/"+field(daveDel, "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key"), doc)
		erinDel := daveAPI.post("/delegations", map[string]any{"org": "emea", "connection": "acme", "user_id": erin,
			"capabilities": []string{"manage_members"}}).must(t, http.StatusCreated).JSON
		revoked := do("revoke delegation", oper.call("DELETE", "/delegations/"+field(daveDel, "id"), map[string]any{"reason": "left the team"}),
			http.StatusOK, field(daveDel, "id"), "delegation.revoke")

		// A SCIM membership change that takes ann's grant away.
		removed := scim.do("PATCH", "/Groups/"+finance, patchBody(op("Remove", "members", []any{map[string]any{"value": ann}}))).must(t, http.StatusNoContent)
		erinGrant := field(oper.post("/grants", map[string]any{"connection": "acme", "user_id": erin, "role": "billing.viewer", "org": "acme"}).
			must(t, http.StatusCreated).JSON, "id")
		deactivated := scim.patch(erin, op("Replace", "active", false)).must(t, http.StatusNoContent)
		retired := do("retire mapping", oper.post("/mappings/"+mapping+"/retire", map[string]any{"reason": "finance moved"}), http.StatusOK,
			mapping, "mapping.retire", "grants.sync")

		all := oper.auditPages(nil, 1000)

		t.Run("each admin change is one event per kind, by the key, under the request id", func(t *testing.T) {
			for _, s := range steps {
				rid := s.rep.Header.Get("X-Request-Id")
				if rid == "" {
					t.Fatalf("%s: no X-Request-Id", s.what)
				}
				actions, events := byRequest(all, rid)
				if want := slices.Sorted(slices.Values(s.actions)); !slices.Equal(actions, want) {
					t.Errorf("%s: recorded %v, want %v", s.what, actions, want)
					continue
				}
				if e := events[s.actions[0]]; field(e, "target_id") != s.target {
					t.Errorf("%s: target %s, want %s", s.what, field(e, "target_id"), s.target)
				}
				actor := opActor
				if s.actor != "" {
					actor = s.actor
				}
				for _, e := range events {
					if field(e, "actor") != actor || field(e, "client_addr") != "127.0.0.1" {
						t.Errorf("%s: %s by %q from %q, want %q from 127.0.0.1", s.what, field(e, "action"), field(e, "actor"), field(e, "client_addr"), actor)
					}
				}
			}
		})

		t.Run("the events say what changed", func(t *testing.T) {
			_, upd := byRequest(all, updAcme.Header.Get("X-Request-Id"))
			if e := upd["org.update"]; at(e, "diff", "owner", "after") != "it@acme.example" || len(at(e, "diff").(map[string]any)) != 1 ||
				field(e, "org_id") != acmeID || field(e, "chain") != audit.Control {
				t.Errorf("org.update: %v", e)
			}
			_, appr := byRequest(all, approved.Header.Get("X-Request-Id"))
			if e := appr["mapping.approve"]; at(e, "diff", "state", "before") != "draft" || at(e, "diff", "state", "after") != "active" ||
				field(e, "chain") != acmeConn || field(e, "org_id") != emeaID {
				t.Errorf("mapping.approve: %v", e)
			}
			sync := appr["grants.sync"]
			if at(sync, "diff", "added") != json.Number("2") || at(sync, "diff", "revoked") != json.Number("0") ||
				!slices.Equal(slices.Sorted(slices.Values(strSlice(at(sync, "diff", "added_grant_ids")))), slices.Sorted(slices.Values([]string{annGrant, benGrant}))) ||
				field(sync, "target_type") != "mapping" || field(sync, "chain") != acmeConn {
				t.Errorf("grants.sync of the approval: %v", sync)
			}
			_, rev := byRequest(all, revoked.Header.Get("X-Request-Id"))
			if e := rev["delegation.revoke"]; at(e, "diff", "revoked") != json.Number("2") || !slices.Equal(strSlice(at(e, "diff", "cascade")), []string{field(erinDel, "id")}) ||
				at(e, "diff", "reason") != "left the team" || field(e, "org_id") != emeaID {
				t.Errorf("delegation.revoke: %v", e)
			}
			_, ret := byRequest(all, retired.Header.Get("X-Request-Id"))
			if e := ret["mapping.retire"]; at(e, "diff", "state", "after") != "retired" || at(e, "diff", "retire_reason", "after") != "finance moved" {
				t.Errorf("mapping.retire: %v", e)
			}
			if e := ret["grants.sync"]; at(e, "diff", "revoked") != json.Number("1") || !slices.Equal(strSlice(at(e, "diff", "revoked_grant_ids")), []string{benGrant}) ||
				field(e, "chain") != acmeConn || field(e, "org_id") != emeaID {
				t.Errorf("grants.sync of the retirement: %v", e)
			}
			var moved map[string]any
			for _, e := range all {
				if field(e, "action") == "org.move" {
					moved = e
				}
			}
			if before, after := field(moved, "diff", "path", "before"), field(moved, "diff", "path", "after"); before == "" ||
				!strings.HasSuffix(after, emeaID+"/"+field(moved, "target_id")+"/") || field(moved, "diff", "parent_id", "after") != emeaID {
				t.Errorf("org.move: %v", moved)
			}
		})

		t.Run("a SCIM membership change records the grants it revokes in the connection's chain", func(t *testing.T) {
			actions, events := byRequest(all, removed.Header.Get("X-Request-Id"))
			if n := len(slices.DeleteFunc(slices.Clone(actions), func(a string) bool { return a != "grants.sync" })); n != 1 {
				t.Fatalf("the PATCH recorded %v, want exactly one grants.sync", actions)
			}
			e := events["grants.sync"]
			if field(e, "chain") != acmeConn || field(e, "connection_id") != acmeConn || field(e, "target_id") != mapping ||
				!strings.HasPrefix(field(e, "actor"), "token:") || at(e, "diff", "revoked") != json.Number("1") ||
				!slices.Equal(strSlice(at(e, "diff", "revoked_grant_ids")), []string{annGrant}) {
				t.Errorf("grants.sync: %v", e)
			}
			// A user the IdP deactivates loses its grants, recorded on the user.
			actions, events = byRequest(all, deactivated.Header.Get("X-Request-Id"))
			if !slices.Equal(actions, []string{"grants.sync", "user.update"}) {
				t.Fatalf("the deactivation recorded %v", actions)
			}
			if e := events["grants.sync"]; field(e, "chain") != acmeConn || field(e, "target_type") != "user" || field(e, "target_id") != erin ||
				!slices.Equal(strSlice(at(e, "diff", "revoked_grant_ids")), []string{erinGrant}) || field(e, "org_id") != acmeID {
				t.Errorf("grants.sync of the deactivation: %v", e)
			}
		})

		t.Run("a delegate sees its subtree and nothing else", func(t *testing.T) {
			var acmePath string
			for _, e := range all {
				if field(e, "action") == "org.create" && field(e, "target_id") == acmeID {
					acmePath = field(e, "org_path")
				}
			}
			if acmePath == "" {
				t.Fatal("no org.create of acme")
			}
			mine := carolAPI.in(t).auditPages(nil, 1000)
			var want []string
			for _, e := range all {
				if strings.HasPrefix(field(e, "org_path"), acmePath) {
					want = append(want, field(e, "id"))
				}
			}
			if got := ids(mine); !slices.Equal(got, want) || len(got) == 0 {
				t.Errorf("carol sees %d events, want the %d of acme's subtree", len(got), len(want))
			}
			for _, e := range mine {
				if field(e, "org_id") == globexID || field(e, "chain") == field(globexConn.JSON, "id") || field(e, "action") == "role.create" {
					t.Errorf("carol sees %s on %s", field(e, "action"), field(e, "org_id"))
				}
			}
			if got := carolAPI.in(t).auditPages(url.Values{"org": {"emea"}}, 1000); len(got) == 0 || len(got) >= len(mine) {
				t.Errorf("carol's view of emea: %d of %d events", len(got), len(mine))
			}
			if got := ids(carolAPI.in(t).auditExport(nil, false)); !slices.Equal(got, ids(mine)) {
				t.Errorf("carol's export has %d events, her pages %d", len(got), len(mine))
			}
			refused(t, "a sibling", carolAPI.in(t).get("/audit?org=globex"), http.StatusForbidden, "forbidden")
			refused(t, "the parent", carolAPI.in(t).get("/audit?org=vendor"), http.StatusForbidden, "forbidden")
			refused(t, "an unknown org", carolAPI.in(t).get("/audit?org=nope"), http.StatusNotFound, "not_found")
		})

		t.Run("cursor paging and the export return every event once, in order", func(t *testing.T) {
			paged := oper.in(t).auditPages(nil, 3)
			if !slices.Equal(ids(paged), ids(all)) {
				t.Errorf("pages of 3: %d events; one page: %d", len(paged), len(all))
			}
			for _, accept := range []bool{true, false} {
				if got := ids(oper.in(t).auditExport(nil, accept)); !slices.Equal(got, ids(all)) {
					t.Errorf("export (Accept %v): %d events, pages: %d", accept, len(got), len(all))
				}
			}
			// Oldest first: a cursor is the time in milliseconds (of one width for
			// decades) and the id, so the listing's order is the cursors' order.
			for i := 1; i < len(all); i++ {
				if field(all[i-1], "cursor") >= field(all[i], "cursor") {
					t.Errorf("events %d and %d out of order: %s, %s", i-1, i, field(all[i-1], "cursor"), field(all[i], "cursor"))
				}
			}
			// Filters combine with paging.
			maps := oper.in(t).auditPages(url.Values{"action": {"mapping."}}, 1)
			if got := strings.Join(func() []string {
				var a []string
				for _, e := range maps {
					a = append(a, field(e, "action"))
				}
				return a
			}(), ","); got != "mapping.draft,mapping.approve,mapping.retire" {
				t.Errorf("action=mapping.: %s", got)
			}
			if got := oper.in(t).auditPages(url.Values{"actor": {opActor}, "target": {acmeID}}, 1000); len(got) != 2 {
				t.Errorf("by actor and target: %d events, want org.create and org.update", len(got))
			}
		})

		t.Run("no secret reaches the trail", func(t *testing.T) {
			raw, _ := json.Marshal(all)
			for name, secret := range map[string]string{"SCIM token": scimToken, "operator key": opSecret, "delegate key": field(carolKey.JSON, "key")} {
				for _, s := range []string{secret, orgs.HashToken(secret), secret[:len(secret)-8]} {
					if bytes.Contains(raw, []byte(s)) {
						t.Errorf("the trail contains the %s (or its hash)", name)
					}
				}
			}
		})

		t.Run("bad parameters are refused", func(t *testing.T) {
			for _, q := range []string{"since=yesterday", "until=2030-13-01T00:00:00Z", "since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z",
				"limit=0", "limit=1001", "limit=ten", "cursor=nope", "format=xml"} {
				refused(t, q, oper.in(t).get("/audit?"+q), http.StatusBadRequest, "invalid")
			}
			refused(t, "no key", env.admin(t, "", doc).get("/audit"), http.StatusUnauthorized, "unauthorized")
		})

		t.Run("the chains verify", func(t *testing.T) {
			var rep audit.Report
			err := db.Snapshot(ctx, func(ctx context.Context) error {
				var err error
				rep, err = audit.VerifyAll(ctx, db.Audit())
				return err
			})
			if err != nil || !rep.OK() {
				t.Errorf("verify: %v %v", err, rep.Breaks)
			}
		})

		if strings.Contains(env.logs.String(), `"level":"ERROR"`) {
			t.Errorf("the server logged errors:\n%s", env.logs.String())
		}
	})
}

// TestAuditCLIActor: a change made with the CLI is recorded as made by the OS user who
// ran it, and an operator key's event holds neither its secret nor its hash.
func TestAuditCLIActor(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			dbURL := dbtest.URL(t, engine)
			var stdout, stderr strings.Builder
			if err := run(ctx, []string{"org", "create", "--name", "Vendor", "--json", "--database", dbURL}, &stdout, &stderr); err != nil {
				t.Fatalf("org create: %v\n%s", err, stderr.String())
			}
			var o map[string]any
			if err := json.Unmarshal([]byte(stdout.String()), &o); err != nil {
				t.Fatal(err)
			}
			stdout.Reset()
			if err := run(ctx, []string{"apikey", "create", "--operator", "alice", "--json", "--database", dbURL}, &stdout, &stderr); err != nil {
				t.Fatalf("apikey create: %v\n%s", err, stderr.String())
			}
			var k map[string]any
			if err := json.Unmarshal([]byte(stdout.String()), &k); err != nil {
				t.Fatal(err)
			}
			db, err := sqlstore.Open(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			events, err := db.Audit().Events(ctx, audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			actor := "operator:cli:" + osUser()
			if len(events) != 2 || events[0].Action != "org.create" || events[0].TargetID != o["id"] ||
				events[1].Action != "admin_key.create" || events[1].TargetID != k["id"] {
				t.Fatalf("events: %+v", events)
			}
			for _, e := range events {
				if e.Actor != actor || !strings.HasPrefix(e.Actor, "operator:cli:") || len(e.Actor) == len("operator:cli:") {
					t.Errorf("%s by %q, want %q", e.Action, e.Actor, actor)
				}
			}
			if d := string(events[1].Diff); strings.Contains(d, k["key"].(string)) || strings.Contains(d, orgs.HashToken(k["key"].(string))) ||
				strings.Contains(d, k["hint"].(string)) || !strings.Contains(d, `"operator":{"after":"alice"}`) {
				t.Errorf("admin_key.create diff: %s", d)
			}
		})
	}
}

// TestE2EAuditPlacement: changing a connection's placement rules is one event, and a SCIM
// change that moves a user to another org records the move in the connection's chain,
// one event for a user changed by attribute or for all the users a membership moved.
func TestE2EAuditPlacement(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := audit.WithSource(context.Background(), audit.Source{Actor: "operator:cli:test"})
		env := newE2E(t, db)
		c := env.connect("acme", "entra")
		dir := newServices(db, env.clock.Now).dir
		sales, err := dir.CreateOrg(ctx, "Sales", "acme-sales", "acme")
		if err != nil {
			t.Fatal(err)
		}
		ops, err := dir.CreateOrg(ctx, "Ops", "acme-ops", "acme")
		if err != nil {
			t.Fatal(err)
		}
		ann := c.create(map[string]any{"userName": "ann"})["id"].(string)
		ben := c.create(map[string]any{"userName": "ben"})["id"].(string)
		staff := c.createGroup("Ops staff")["id"].(string)
		rules := []orgs.PlacementRule{
			{Attribute: "title", Value: "seller", OrgID: sales.ID},
			{GroupID: staff, OrgID: ops.ID},
		}
		if err := dir.SetPlacement(ctx, "acme", rules); err != nil {
			t.Fatal(err)
		}
		moved := c.patch(ann, op("replace", "title", "Seller")).must(t, http.StatusNoContent)
		joined := c.do("PATCH", "/Groups/"+staff, patchBody(op("Add", "members", []any{map[string]any{"value": ben}}))).must(t, http.StatusNoContent)

		events, err := db.Audit().Events(ctx, audit.Query{Action: "placement."})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 3 {
			t.Fatalf("%d placement events: %+v", len(events), events)
		}
		byAction := map[string][]audit.Event{}
		for _, e := range events {
			byAction[e.Action] = append(byAction[e.Action], e)
			if e.Chain != c.conn.ID {
				t.Errorf("%s in chain %s, want the connection's", e.Action, e.Chain)
			}
		}
		if u := byAction["placement.update"]; len(u) != 1 || u[0].Actor != "operator:cli:test" || !strings.Contains(string(u[0].Diff), sales.ID) {
			t.Errorf("placement.update: %+v", u)
		}
		for _, e := range byAction["placement.move"] {
			switch e.RequestID {
			case moved.Header.Get("X-Request-Id"):
				if e.TargetID != ann || !strings.Contains(string(e.Diff), `"after":"`+sales.ID+`"`) {
					t.Errorf("ann's move: %s %s", e.TargetID, e.Diff)
				}
			case joined.Header.Get("X-Request-Id"):
				if e.TargetType != "connection" || !strings.Contains(string(e.Diff), `"moved":1`) || !strings.Contains(string(e.Diff), ben) {
					t.Errorf("ben's move: %s %s", e.TargetID, e.Diff)
				}
			default:
				t.Errorf("a move from another request: %+v", e)
			}
		}
	})
}
