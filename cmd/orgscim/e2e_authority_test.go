package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// operators issues an operator key for each name and returns the admin API's OpenAPI
// document and a client for each key.
func (e *e2eEnv) operators(t *testing.T, names ...string) (map[string]any, []*adminClient) {
	t.Helper()
	keys := newServices(e.db, e.clock.Now).keys
	doc := e.admin(t, "", nil).get("/openapi.json").must(t, http.StatusOK).JSON
	var out []*adminClient
	for _, n := range names {
		_, secret, err := keys.IssueOperatorKey(context.Background(), n, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.admin(t, secret, doc))
	}
	return doc, out
}

// advance moves the server's clock forward.
func (c *e2eClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestAuthorityFollowsTheRelationship replays, through the real server, the six ways
// authority used to outlive what it stood on (issue "Access follows the relationship at
// every instant"); each is now refused, denied or revoked at the commit of the change.
func TestAuthorityFollowsTheRelationship(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		doc, ops := env.operators(t, "ops", "ops2", "ops3")
		oper, oper2, oper3 := ops[0], ops[1], ops[2]

		// vendor → acme → emea, acme → lyon; vendor → initech; vendor → hooli; vendor → umbrella.
		for _, o := range [][2]string{{"vendor", ""}, {"acme", "vendor"}, {"emea", "acme"}, {"lyon", "acme"},
			{"initech", "vendor"}, {"hooli", "vendor"}, {"umbrella", "vendor"}} {
			body := map[string]any{"name": o[0], "slug": o[0]}
			if o[1] != "" {
				body["parent"] = o[1]
			}
			oper.post("/orgs", body).must(t, http.StatusCreated)
		}
		people := map[string]map[string]string{}
		scims := map[string]*scimClient{}
		for conn, names := range map[string][]string{"acme": {"pat", "sam", "dave", "erin", "ann"}, "hooli": {"hank"}, "umbrella": {"uma"}} {
			created := oper.post("/connections", map[string]any{"org": conn, "slug": conn, "idp": "okta"}).must(t, http.StatusCreated).JSON
			scims[conn] = &scimClient{t: t, env: env, slug: conn, token: field(created, "token")}
			people[conn] = map[string]string{}
			for _, n := range names {
				people[conn][n] = scims[conn].create(map[string]any{"userName": n + "@" + conn + ".example"})["id"].(string)
			}
		}
		acme := people["acme"]
		oper.post("/roles", map[string]any{"key": "viewer", "permissions": []string{"reports.read"}, "inherits": true}).must(t, http.StatusCreated)
		allCaps := []string{"manage_members", "manage_mappings", "approve", "delegate"}
		firstKey := map[string]string{} // the id of the first key of each delegation
		delegate := func(by *adminClient, org, conn, user string, caps []string, depth int) (id string, key *adminClient) {
			t.Helper()
			d := by.post("/delegations", map[string]any{"org": org, "connection": conn, "user_id": user,
				"capabilities": caps, "depth": depth}).must(t, http.StatusCreated).JSON
			k := by.post("/delegations/"+field(d, "id")+"/keys", nil).must(t, http.StatusCreated).JSON
			firstKey[field(d, "id")] = field(k, "id")
			return field(d, "id"), env.admin(t, field(k, "key"), doc)
		}
		check := func(conn, user, org string) map[string]any {
			t.Helper()
			q := url.Values{"connection": {conn}, "user": {user}, "permission": {"reports.read"}, "org": {org}}
			return oper.get("/access/check?"+q.Encode()).must(t, http.StatusOK).JSON
		}

		t.Run("ending a partner ends its administrators' power at once", func(t *testing.T) {
			_, hank := delegate(oper, "hooli", "hooli", people["hooli"]["hank"], allCaps, 1)
			hank.post("/orgs", map[string]any{"name": "Hooli XYZ", "slug": "hooli-xyz", "parent": "hooli"}).must(t, http.StatusCreated)
			oper.call("PATCH", "/orgs/hooli", map[string]any{"status": "ended"}).must(t, http.StatusOK)
			refused(t, "a child org under an ended partner", hank.post("/orgs", map[string]any{"name": "Hooli 2", "slug": "hooli-2", "parent": "hooli"}),
				http.StatusUnauthorized, "unauthorized")
			refused(t, "reading the ended partner", hank.get("/orgs/hooli"), http.StatusUnauthorized, "unauthorized")

			// A contract that runs out does the same, when its grace period ends.
			_, uma := delegate(oper, "umbrella", "umbrella", people["umbrella"]["uma"], allCaps, 1)
			end := env.clock.Now().Add(time.Hour)
			oper.call("PATCH", "/orgs/umbrella", map[string]any{"contract_end": end, "grace_seconds": 3600}).must(t, http.StatusOK)
			uma.post("/orgs", map[string]any{"name": "Umbrella 1", "slug": "umbrella-1", "parent": "umbrella"}).must(t, http.StatusCreated)
			// A changed contract is a business event: a revalidation of the subtree.
			revs, _ := oper.get("/reviews?org=umbrella").must(t, http.StatusOK).JSON["items"].([]any)
			if len(revs) != 1 || field(revs[0], "kind") != "revalidate" || !strings.Contains(field(revs[0], "name"), "contract") {
				t.Errorf("reviews after the contract changed: %v", revs)
			}
			env.clock.advance(3 * time.Hour)
			refused(t, "after the contract and its grace", uma.post("/orgs", map[string]any{"name": "Umbrella 2", "slug": "umbrella-2", "parent": "umbrella"}),
				http.StatusUnauthorized, "unauthorized")
		})

		t.Run("moving an org takes no foreign grant along", func(t *testing.T) {
			oper.post("/grants", map[string]any{"connection": "acme", "user_id": acme["ann"], "role": "viewer", "org": "lyon", "reason": "test"}).
				must(t, http.StatusCreated)
			if d := check("acme", acme["ann"], "lyon"); d["allowed"] != true {
				t.Fatalf("before the move: %v", d)
			}
			oper.post("/orgs/lyon/move", map[string]any{"parent": "initech"}).must(t, http.StatusOK)
			d := check("acme", acme["ann"], "lyon")
			if d["allowed"] != false || !strings.Contains(field(d, "reason"), "outside the subtree of connection acme") {
				t.Errorf("after the move: %v", d)
			}
			// The move opened a revalidation of lyon's subtree for initech's administrators.
			reviews := oper.get("/reviews?org=lyon").must(t, http.StatusOK).JSON
			items, _ := reviews["items"].([]any)
			if len(items) != 1 || !strings.Contains(field(items[0], "name"), "moved under initech") {
				t.Errorf("reviews after the move: %v", reviews)
			}
		})

		// operator → pat (acme) → sam (emea); sam grants dave viewer on emea. A delegate
		// grants only what it holds: sam and erin hold viewer on emea.
		for _, n := range []string{"sam", "erin"} {
			oper.post("/grants", map[string]any{"connection": "acme", "user_id": acme[n], "role": "viewer", "org": "emea", "reason": "team lead"}).
				must(t, http.StatusCreated)
		}
		patDel, pat := delegate(oper, "acme", "acme", acme["pat"], allCaps, 1)
		samDelJSON := pat.post("/delegations", map[string]any{"org": "emea", "connection": "acme", "user_id": acme["sam"],
			"capabilities": []string{"manage_members"}}).must(t, http.StatusCreated).JSON
		samDel := field(samDelJSON, "id")
		sam := env.admin(t, field(pat.post("/delegations/"+samDel+"/keys", nil).must(t, http.StatusCreated).JSON, "key"), doc)
		grant := sam.post("/grants", map[string]any{"connection": "acme", "user_id": acme["dave"], "role": "viewer", "org": "emea",
			"reason": "sam's team"}).must(t, http.StatusCreated).JSON
		if d := check("acme", acme["dave"], "emea"); d["allowed"] != true {
			t.Fatalf("dave before: %v", d)
		}
		made := oper.get("/delegations/"+samDel).must(t, http.StatusOK).JSON
		if field(made, "made_under", "grants", 0) != field(grant, "id") || made["in_force"] != true {
			t.Errorf("what sam made: %v", made)
		}

		t.Run("a leaked key cannot outlive the key it minted with", func(t *testing.T) {
			minted := pat.post("/delegations/"+patDel+"/keys", nil).must(t, http.StatusCreated).JSON
			patClone := env.admin(t, field(minted, "key"), doc)
			patClone.get("/me").must(t, http.StatusOK)
			// Both keys are listed under pat's delegation (with sam's, which pat issued).
			listed := strSlice(at(oper.get("/delegations/"+patDel).must(t, http.StatusOK).JSON, "made_under", "keys"))
			if !slices.Contains(listed, firstKey[patDel]) || !slices.Contains(listed, field(minted, "id")) || len(listed) != 3 {
				t.Errorf("keys under pat's delegation: %v", listed)
			}
			// The operator revokes the original key, which minted the other.
			oper.call("DELETE", "/keys/"+firstKey[patDel], nil).must(t, http.StatusNoContent)
			refused(t, "the minted key after its parent's revocation", patClone.get("/me"), http.StatusUnauthorized, "unauthorized")
			refused(t, "the revoked key", pat.get("/me"), http.StatusUnauthorized, "unauthorized")
			pat = env.admin(t, field(oper.post("/delegations/"+patDel+"/keys", nil).must(t, http.StatusCreated).JSON, "key"), doc)
		})

		var sales, salesMapping string
		t.Run("four eyes for every mapping", func(t *testing.T) {
			sales = scims["acme"].createGroup("Sales", acme["erin"])["id"].(string)
			g := sales
			m := oper.post("/mappings", map[string]any{"connection": "acme", "group_id": g, "role": "viewer", "org": "acme"}).
				must(t, http.StatusCreated).JSON
			refused(t, "approving one's own draft", oper.post("/mappings/"+field(m, "id")+"/approve", nil), http.StatusForbidden, "forbidden")
			if a := oper2.post("/mappings/"+field(m, "id")+"/approve", nil).must(t, http.StatusOK).JSON; a["drafted_by"] == a["approved_by"] {
				t.Errorf("approved %v", a)
			}
			salesMapping = field(m, "id")
		})

		t.Run("reviews cover mapping-derived access", func(t *testing.T) {
			r := oper.post("/reviews", map[string]any{"org": "acme", "name": "Q1", "deadline": env.clock.Now().Add(48 * time.Hour)}).
				must(t, http.StatusCreated).JSON
			items := oper.get("/reviews/"+field(r, "id")+"/items?limit=100").must(t, http.StatusOK).JSON["items"].([]any)
			var erinGrant string
			for _, it := range items {
				if field(it, "source") == "mapping" && field(it, "user_id") == acme["erin"] {
					erinGrant = field(it, "grant_id")
				}
			}
			if erinGrant == "" {
				t.Fatalf("erin's mapping grant is not in the review: %v", items)
			}
			oper.post("/reviews/"+field(r, "id")+"/items/"+erinGrant+"/revoke", map[string]any{"note": "moved to support"}).must(t, http.StatusOK)
			if d := check("acme", acme["erin"], "acme"); d["allowed"] != false {
				t.Errorf("erin after the review: %v", d)
			}
			// The IdP changes the group again: the exception holds.
			scims["acme"].do("PATCH", "/Groups/"+sales, patchBody(op("add", "members",
				[]map[string]any{{"value": acme["ann"]}}))).must(t, http.StatusOK)
			if d := check("acme", acme["erin"], "acme"); d["allowed"] != false {
				t.Errorf("erin after the group changed: %v", d)
			}
			if d := check("acme", acme["ann"], "acme"); d["allowed"] != true {
				t.Errorf("ann, added to Sales: %v", d)
			}
			// The mapping itself is an item: attested by neither its drafter nor its
			// approver.
			ms := oper.get("/reviews/"+field(r, "id")+"/mappings").must(t, http.StatusOK).JSON["items"].([]any)
			if len(ms) != 1 || field(ms[0], "mapping", "id") != salesMapping || field(ms[0], "decision") != "pending" {
				t.Fatalf("the review's mappings: %v", ms)
			}
			confirm := "/reviews/" + field(r, "id") + "/mappings/" + salesMapping + "/confirm"
			refused(t, "the drafter attests its mapping", oper.post(confirm, nil), http.StatusForbidden, "forbidden")
			refused(t, "the approver attests its mapping", oper2.post(confirm, nil), http.StatusForbidden, "forbidden")
			if got := oper3.post(confirm, map[string]any{"note": "sales still sells"}).must(t, http.StatusOK).JSON; field(got, "decision") != "confirmed" {
				t.Errorf("confirmed mapping %v", got)
			}
		})

		t.Run("revoking a delegation reaches what was granted under it", func(t *testing.T) {
			// Without a compromise: pat's authority goes to a successor, and dave's grant
			// made under sam's delegation is handed to her for re-attestation.
			rv := oper.call("DELETE", "/delegations/"+patDel, map[string]any{"reason": "pat left",
				"successor": map[string]any{"connection": "acme", "user_id": acme["erin"], "capabilities": allCaps, "depth": 1}}).
				must(t, http.StatusOK).JSON
			succ := field(rv, "successor", "id")
			if field(rv, "handover", "to") != succ || at(rv, "handover", "grants") == nil || field(rv, "handover", "reattestation") == "" {
				t.Fatalf("revocation %v", rv)
			}
			refused(t, "sam's key after pat's revocation", sam.get("/me"), http.StatusUnauthorized, "unauthorized")
			if d := check("acme", acme["dave"], "emea"); d["allowed"] != true {
				t.Errorf("dave's grant, handed over for re-attestation: %v", d)
			}
			items := oper.get("/reviews/"+field(rv, "handover", "reattestation")+"/items").must(t, http.StatusOK).JSON["items"].([]any)
			if len(items) != 1 || field(items[0], "grant_id") != field(grant, "id") {
				t.Errorf("re-attestation items: %v", items)
			}
			if g := oper.get("/grants/"+field(grant, "id")).must(t, http.StatusOK).JSON; g["revoked_at"] != nil {
				t.Errorf("handed-over grant %v", g)
			}

			// On a compromise everything made under the revoked chain goes at once.
			_, erin := delegate(oper, "emea", "acme", acme["erin"], []string{"manage_members"}, 0)
			g2 := erin.post("/grants", map[string]any{"connection": "acme", "user_id": acme["ann"], "role": "viewer", "org": "emea",
				"reason": "erin's grant"}).must(t, http.StatusCreated).JSON
			if d := check("acme", acme["ann"], "emea"); d["allowed"] != true {
				t.Fatalf("ann before: %v", d)
			}
			erinDel := field(erin.get("/me").must(t, http.StatusOK).JSON, "delegation", "id")
			rv = oper.call("DELETE", "/delegations/"+erinDel, map[string]any{"reason": "key leaked", "compromise": true}).
				must(t, http.StatusOK).JSON
			if n := num(t, at(rv, "handover", "revoked_grants")); n != 1 {
				t.Errorf("compromise revoked %d grants: %v", n, rv)
			}
			if g := oper.get("/grants/"+field(g2, "id")).must(t, http.StatusOK).JSON; g["revoked_at"] == nil {
				t.Errorf("grant made under a compromised delegation: %v", g)
			}
		})
	})
}
