package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// A batch of AuthZEN evaluations is decided together (one batched check), yet each of
// its answers is exactly the answer the same question gets alone: through the real
// server, on each engine, a mixed batch of over a hundred questions — allowed directly
// and through nested groups, denied for an expired grant, an inactive user, a suspended
// connection, an ended org, a missing grant or an unknown user, refused for an unknown
// org or connection and, for a delegate, outside its subtree — with a fixed number of
// statements, and the evaluation semantics cut that same batch where they say.
func TestAuthZENBatchEqualsSingles(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		_, ops := env.operators(t, "ops", "ops2")
		oper, oper2 := ops[0], ops[1]
		opKey := strings.TrimPrefix(oper.auth, "Bearer ")
		for _, o := range [][2]string{{"vendor", ""}, {"acme", "vendor"}, {"emea", "acme"}, {"apac", "acme"}, {"lyon", "emea"},
			{"globex", "vendor"}, {"initech", "vendor"}} {
			body := map[string]any{"name": o[0], "slug": o[0]}
			if o[1] != "" {
				body["parent"] = o[1]
			}
			oper.post("/orgs", body).must(t, http.StatusCreated)
		}
		acme := &scimClient{t: t, env: env, slug: "acme", token: field(oper.post("/connections",
			map[string]any{"org": "acme", "slug": "acme", "idp": "okta"}).must(t, http.StatusCreated).JSON, "token")}
		initech := &scimClient{t: t, env: env, slug: "initech", token: field(oper.post("/connections",
			map[string]any{"org": "initech", "slug": "initech", "idp": "entra"}).must(t, http.StatusCreated).JSON, "token")}
		oper.post("/connections", map[string]any{"org": "globex", "slug": "globex", "idp": "okta"}).must(t, http.StatusCreated)
		for _, r := range []map[string]any{
			{"key": "viewer", "permissions": []string{"reports.read"}, "inherits": true},
			{"key": "editor", "permissions": []string{"reports.write"}},
			{"key": "admin", "permissions": []string{"reports.*"}, "inherits": true},
		} {
			oper.post("/roles", r).must(t, http.StatusCreated)
		}
		users := map[string]string{}
		for _, n := range []string{"ann", "bob", "carol", "dave", "erin", "frank", "gina"} {
			users[n] = acme.create(map[string]any{"userName": n + "@acme.example"})["id"].(string)
		}
		ivan := initech.create(map[string]any{"userName": "ivan@initech.example"})["id"].(string)
		grant := func(conn, user, role, org string, expires *time.Time) {
			body := map[string]any{"connection": conn, "user_id": user, "role": role, "org": org, "reason": "batch"}
			if expires != nil {
				body["expires_at"] = expires
			}
			oper.post("/grants", body).must(t, http.StatusCreated)
		}
		grant("acme", users["ann"], "viewer", "acme", nil)
		soon := env.clock.Now().Add(time.Hour)
		grant("acme", users["bob"], "editor", "emea", &soon) // expires before the questions
		grant("acme", users["bob"], "viewer", "emea", nil)
		grant("acme", users["dave"], "admin", "acme", nil) // dave is deactivated below
		grant("acme", users["erin"], "admin", "lyon", nil) // lyon's relationship ends below
		grant("acme", users["erin"], "editor", "apac", nil)
		grant("initech", ivan, "viewer", "initech", nil) // initech is suspended below
		// gina and carol read apac through Finance ⊂ Staff, mapped to viewer on apac.
		finance := acme.createGroup("Finance", users["carol"], users["dave"])["id"].(string)
		staff := acme.createGroup("Staff", finance, users["gina"])["id"].(string)
		m := oper.post("/mappings", map[string]any{"connection": "acme", "group_id": staff, "role": "viewer", "org": "apac",
			"reason": "staff read apac"}).must(t, http.StatusCreated).JSON
		oper2.post("/mappings/"+field(m, "id")+"/approve", nil).must(t, http.StatusOK)
		d := oper.post("/delegations", map[string]any{"org": "emea", "connection": "acme", "user_id": users["carol"],
			"capabilities": []string{"manage_members"}, "depth": 0}).must(t, http.StatusCreated).JSON
		carolKey := field(oper.post("/delegations/"+field(d, "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key")

		acme.patch(users["dave"], op("replace", "active", false)).must(t, http.StatusOK)
		oper.call("PATCH", "/connections/initech", map[string]any{"status": "suspended"}).must(t, http.StatusOK)
		oper.call("PATCH", "/orgs/lyon", map[string]any{"status": "ended"}).must(t, http.StatusOK)
		env.clock.advance(2 * time.Hour)

		var qs []map[string]any
		for _, u := range []string{"ann", "bob", "carol", "dave", "erin", "frank", "gina", "nobody"} {
			id := users[u]
			if id == "" {
				id = "no-such-user"
			}
			for _, perm := range []string{"reports.read", "reports.write"} {
				for _, org := range []string{"acme", "emea", "apac", "lyon", "globex", "nope"} {
					qs = append(qs, question("acme", id, perm, org))
				}
			}
		}
		for _, perm := range []string{"reports.read", "reports.write"} {
			qs = append(qs, question("initech", ivan, perm, "initech"), question("initech", ivan, perm, "acme"))
		}
		qs = append(qs, question("nope", users["ann"], "reports.read", "acme"))
		rand.New(rand.NewPCG(19, 1)).Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })

		// single is the answer to q alone, in the form a batch gives it.
		single := func(key string, q map[string]any) map[string]any {
			rep := pdp(t, env, key, "/access/v1/evaluation", q)
			switch rep.Status {
			case http.StatusOK:
				return rep.JSON
			case http.StatusForbidden, http.StatusNotFound:
				return map[string]any{"decision": false, "context": map[string]any{"error": map[string]any{
					"status": float64(rep.Status), "message": field(rep.JSON, "error", "message")}}}
			}
			t.Fatalf("%v: %d %s", q, rep.Status, rep.Raw)
			return nil
		}
		for _, asker := range []struct{ name, key string }{{"operator", opKey}, {"delegate", carolKey}} {
			t.Run(asker.name, func(t *testing.T) {
				before := db.Statements()
				rep := pdp(t, env, asker.key, "/access/v1/evaluations", map[string]any{"evaluations": qs}).must(t, http.StatusOK)
				spent := db.Statements() - before
				before = db.Statements()
				pdp(t, env, asker.key, "/access/v1/evaluation", question("acme", users["bob"], "reports.read", "emea")).must(t, http.StatusOK)
				// Decided together, the batch costs a fixed number of statements: what one
				// question alone costs, plus one read of each fact only some of its
				// questions need — the mappings and the memberships behind mapping grants,
				// the groups' names — and the key's touch (its first use since the clock
				// moved), not a hundred times that.
				if one := db.Statements() - before; spent > one+4 {
					t.Errorf("a batch of %d questions sent %d statements; one question alone sends %d", len(qs), spent, one)
				}
				batch, _ := rep.JSON["evaluations"].([]any)
				if len(batch) != len(qs) {
					t.Fatalf("%d answers to %d questions: %s", len(batch), len(qs), rep.Raw)
				}
				seen := map[string]int{}
				for i, q := range qs {
					want := single(asker.key, q)
					if got := jsonOf(t, batch[i]); !reflect.DeepEqual(got, jsonOf(t, want)) {
						t.Errorf("evaluation %d %v:\nbatch  %v\nsingle %v", i, q, got, want)
					}
					seen[outcome(want)]++
				}
				// The batch covers every way of being answered, so that equality means something.
				wants := []string{"allowed", "through groups", "not in force now", "is inactive", "connection initech is suspended",
					"relationship with org lyon is not active", "no live grant", "does not exist", "404"}
				if asker.name == "delegate" {
					wants = []string{"allowed", "not in force now", "is inactive", "no live grant", "does not exist", "403", "404"}
				}
				for _, w := range wants {
					if seen[w] == 0 {
						t.Errorf("no answer %q among %v", w, seen)
					}
				}

				// The semantics cut the same answers where they say.
				first := func(decision bool) int {
					for i, a := range batch {
						if at(a, "decision") == decision {
							return i
						}
					}
					return len(batch) - 1
				}
				for _, tt := range []struct {
					semantic string
					n        int
				}{{"execute_all", len(batch)}, {"deny_on_first_deny", first(false) + 1}, {"permit_on_first_permit", first(true) + 1}} {
					rep := pdp(t, env, asker.key, "/access/v1/evaluations", map[string]any{"evaluations": qs,
						"options": map[string]any{"evaluations_semantic": tt.semantic}}).must(t, http.StatusOK)
					got, _ := rep.JSON["evaluations"].([]any)
					if !reflect.DeepEqual(jsonOf(t, got), jsonOf(t, batch[:tt.n])) {
						t.Errorf("%s: %d answers, want the first %d of execute_all's", tt.semantic, len(got), tt.n)
					}
				}
			})
		}
	})
}

// outcome names how an AuthZEN answer came out: allowed (through groups when a
// mapping's membership allows), a refusal's status, or the phrase of a denial's reason.
func outcome(a map[string]any) string {
	if st, ok := at(a, "context", "error", "status").(float64); ok {
		return fmt.Sprint(st)
	}
	if a["decision"] == true {
		if g, _ := at(a, "context", "because", 0, "groups").([]any); len(g) == 2 {
			return "through groups"
		}
		return "allowed"
	}
	reason := field(a, "context", "reason")
	for _, p := range []string{"not in force now", "is inactive", "connection initech is suspended",
		"relationship with org lyon is not active", "no live grant", "does not exist"} {
		if strings.Contains(reason, p) {
			return p
		}
	}
	return reason
}

// A batch's service-account evaluations are decided together too: whether the caller
// sees an account and whether the account holds are judged once per account, and its
// questions decided in one pass, yet each answer is exactly the one the same question
// gets alone — allowed on its org and, through an inheriting role, below it; denied
// outside its subtree, for an ungranted permission, for an account whose owner has left;
// refused for an unknown account or org — with users' questions in the same batch.
func TestAuthZENServiceAccountBatchEqualsSingles(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newSAWorld(t, db)
		key := strings.TrimPrefix(w.oper.auth, "Bearer ")
		held := field(w.createSA(t, "billing-sync"), "id")
		orphan := field(w.oper.post("/service-accounts", map[string]any{"org": "acme", "name": "old-sync",
			"owner": map[string]any{"connection": "acme", "user_id": w.sam}}).must(t, http.StatusCreated).JSON, "id")
		w.oper.post("/service-accounts/"+orphan+"/grants", map[string]any{"role": "reports.viewer", "org": "acme",
			"reason": "reads reports"}).must(t, http.StatusCreated)
		w.acme.patch(w.sam, op("replace", "active", false)).must(t, http.StatusOK) // its owner leaves

		account := func(id, perm, org string) map[string]any {
			return map[string]any{"subject": map[string]any{"type": "service_account", "id": id},
				"action": map[string]any{"name": perm}, "resource": map[string]any{"type": "org", "id": org}}
		}
		var own, qs []map[string]any
		for _, perm := range []string{"reports.read", "billing.write"} {
			for _, org := range []string{"acme", "emea", "globex", "nope"} {
				for range 3 {
					own = append(own, account(held, perm, org))
				}
				qs = append(qs, account(held, perm, org), account(orphan, perm, org), account("nobody", perm, org),
					question("acme", w.pat, perm, org))
			}
		}
		rand.New(rand.NewPCG(19, 2)).Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })

		before := db.Statements()
		pdp(t, w.env, key, "/access/v1/evaluations", map[string]any{"evaluations": own}).must(t, http.StatusOK)
		spent := db.Statements() - before
		before = db.Statements()
		pdp(t, w.env, key, "/access/v1/evaluation", account(held, "reports.read", "emea")).must(t, http.StatusOK)
		if one := db.Statements() - before; spent > 2*one {
			t.Errorf("a batch of %d questions about one account sent %d statements; one question alone sends %d", len(own), spent, one)
		}

		rep := pdp(t, w.env, key, "/access/v1/evaluations", map[string]any{"evaluations": qs}).must(t, http.StatusOK)
		batch, _ := rep.JSON["evaluations"].([]any)
		if len(batch) != len(qs) {
			t.Fatalf("%d answers to %d questions: %s", len(batch), len(qs), rep.Raw)
		}
		seen := map[string]int{}
		for i, q := range qs {
			one := pdp(t, w.env, key, "/access/v1/evaluation", q)
			want := one.JSON
			if one.Status != http.StatusOK {
				want = map[string]any{"decision": false, "context": map[string]any{"error": map[string]any{
					"status": float64(one.Status), "message": field(one.JSON, "error", "message")}}}
			}
			if got := jsonOf(t, batch[i]); !reflect.DeepEqual(got, jsonOf(t, want)) {
				t.Errorf("evaluation %d %v:\nbatch  %v\nsingle %v", i, q, got, want)
			}
			kind := "user"
			if at(q, "subject", "type") == "service_account" {
				kind = "account"
			}
			reason, _ := at(want, "context", "reason").(string)
			switch {
			case at(want, "context", "error", "status") != nil:
				seen[kind+" "+fmt.Sprint(at(want, "context", "error", "status"))]++
			case want["decision"] == true:
				seen[kind+" allowed"]++
			case strings.Contains(reason, "outside the subtree"):
				seen[kind+" outside"]++
			case strings.Contains(reason, "no live grant"):
				seen[kind+" no grant"]++
			default:
				seen[kind+" denied: other"]++
			}
		}
		// Every way of being answered is in the batch, so that equality means something.
		for _, w := range []string{"account allowed", "account outside", "account no grant", "account denied: other", "account 404", "user 404"} {
			if seen[w] == 0 {
				t.Errorf("no answer %q among %v", w, seen)
			}
		}
	})
}
