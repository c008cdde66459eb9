package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
)

// supportFixture is a vendor with two partners: acme, whose administrator pat holds a
// delegation with a key, and globex; two operators, alice (support staff) and bob.
type supportFixture struct {
	env          *e2eEnv
	doc          map[string]any
	alice, bob   *adminClient
	pat          *adminClient
	sam          string // a user of acme's connection
	patUser      string
	policyRecord func(required bool)
}

func newSupportFixture(t *testing.T, db *sqlstore.DB) *supportFixture {
	t.Helper()
	env := newE2E(t, db)
	doc, ops := env.operators(t, "alice", "bob")
	f := &supportFixture{env: env, doc: doc, alice: ops[0], bob: ops[1]}
	for _, o := range [][2]string{{"vendor", ""}, {"acme", "vendor"}, {"globex", "vendor"}} {
		body := map[string]any{"name": o[0], "slug": o[0]}
		if o[1] != "" {
			body["parent"] = o[1]
		}
		f.bob.post("/orgs", body).must(t, http.StatusCreated)
	}
	created := f.bob.post("/connections", map[string]any{"org": "acme", "slug": "acme", "idp": "okta"}).must(t, http.StatusCreated).JSON
	scim := &scimClient{t: t, env: env, slug: "acme", token: field(created, "token")}
	f.patUser = scim.create(map[string]any{"userName": "pat@acme.example"})["id"].(string)
	f.sam = scim.create(map[string]any{"userName": "sam@acme.example"})["id"].(string)
	f.bob.post("/roles", map[string]any{"key": "viewer", "permissions": []string{"reports.read"}}).must(t, http.StatusCreated)
	d := f.bob.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": f.patUser,
		"capabilities": []string{"manage_members", "manage_mappings", "approve", "delegate"}, "depth": 1}).must(t, http.StatusCreated).JSON
	k := f.bob.post("/delegations/"+field(d, "id")+"/keys", nil).must(t, http.StatusCreated).JSON
	f.pat = env.admin(t, field(k, "key"), doc)
	// The deployment turns the policy on, as `orgscim support policy --required=true` does.
	f.policyRecord = func(required bool) {
		t.Helper()
		if _, err := newServices(db, env.clock.Now).support.SetPolicy(context.Background(), "operator:test", &required, nil); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// inSession returns a copy of a that acts in the support session id.
func (a *adminClient) inSession(id string) *adminClient {
	c := *a
	c.header = http.Header{orgs.SupportSessionHeader: {id}}
	return &c
}

func refusedSaying(t *testing.T, what string, r *reply, status int, words string) {
	t.Helper()
	if r.Status != status || !strings.Contains(string(r.Raw), words) {
		t.Errorf("%s: %d %s; want %d saying %q", what, r.Status, r.Raw, status, words)
	}
}

func auditOf(t *testing.T, a *adminClient, query string) []map[string]any {
	t.Helper()
	page := a.get("/audit?limit=1000&"+query).must(t, http.StatusOK).JSON
	var out []map[string]any
	for _, e := range page["events"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

// A session is asked for, approved by the partner's administrator, reads, is refused a
// write while read-only, writes when it may (audited as the staff member in support of
// the org), stops authorising at its expiry before any sweep, and the reconciler then
// records its end.
func TestSupportSessions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newSupportFixture(t, db)
		alice, bob, pat := f.alice, f.bob, f.pat
		f.policyRecord(true)

		// Under the policy, no session: a partner's data is out of reach, the vendor's is not.
		refusedSaying(t, "grants of acme without a session", alice.get("/grants?org=acme"), http.StatusForbidden, "support session")
		refusedSaying(t, "a grant on acme without a session", alice.post("/grants",
			map[string]any{"org": "acme", "connection": "acme", "user_id": f.sam, "role": "viewer"}), http.StatusForbidden, "support session")
		alice.get("/orgs/vendor").must(t, http.StatusOK)

		// Asking: validation, then a request that waits.
		for _, tc := range []struct {
			name string
			body map[string]any
			code int
		}{
			{"no ticket", map[string]any{"org": "acme", "reason": "r", "duration_seconds": 3600}, 400},
			{"beyond the maximum", map[string]any{"org": "acme", "ticket": "SUP-1", "reason": "r", "duration_seconds": 9 * 3600}, 400},
			{"the vendor's own org", map[string]any{"org": "vendor", "ticket": "SUP-1", "reason": "r", "duration_seconds": 60}, 400},
			{"unknown org", map[string]any{"org": "nope", "ticket": "SUP-1", "reason": "r", "duration_seconds": 60}, 404},
		} {
			if r := alice.post("/support-sessions", tc.body); r.Status != tc.code {
				t.Errorf("%s: %d %s", tc.name, r.Status, r.Raw)
			}
		}
		refused(t, "a delegate opens a session", pat.post("/support-sessions",
			map[string]any{"org": "acme", "ticket": "SUP-1", "reason": "r", "duration_seconds": 60}), http.StatusForbidden, "forbidden")
		s1 := alice.post("/support-sessions", map[string]any{"org": "acme", "ticket": "SUP-1", "reason": "SSO users missing",
			"duration_seconds": 3600}).must(t, http.StatusCreated).JSON
		id := field(s1, "id")
		if s1["state"] != "requested" || s1["write"] != false || s1["staff"] != "alice" || s1["org"] != "acme" {
			t.Fatalf("requested %v", s1)
		}
		refusedSaying(t, "a requested session", alice.inSession(id).get("/grants?org=acme"), http.StatusForbidden, "not active")

		// The partner decides; the vendor never approves its own access.
		refused(t, "an operator approves", bob.post("/support-sessions/"+id+"/approve", nil), http.StatusForbidden, "forbidden")
		approved := pat.post("/support-sessions/"+id+"/approve", map[string]any{"note": "go ahead"}).must(t, http.StatusOK).JSON
		if approved["state"] != "active" || !strings.HasSuffix(field(approved, "decided_by"), "/"+f.patUser) || approved["expires_at"] == nil {
			t.Fatalf("approved %v", approved)
		}
		refused(t, "approve twice", pat.post("/support-sessions/"+id+"/approve", nil), http.StatusConflict, "conflict")

		// In the session: acme's subtree reads, nothing else of a partner's, no write.
		alice.inSession(id).get("/orgs/acme").must(t, http.StatusOK)
		alice.inSession(id).get("/grants?org=acme").must(t, http.StatusOK)
		refusedSaying(t, "another partner", alice.inSession(id).get("/orgs/globex"), http.StatusForbidden, "outside the scope")
		refusedSaying(t, "a write in a read-only session", alice.inSession(id).post("/grants",
			map[string]any{"org": "acme", "connection": "acme", "user_id": f.sam, "role": "viewer"}), http.StatusForbidden, "read-only")
		refusedSaying(t, "another operator's session", bob.inSession(id).get("/orgs/acme"), http.StatusForbidden, "not one of yours")
		refusedSaying(t, "a delegate names a session", pat.inSession(id).get("/orgs/acme"), http.StatusForbidden, "vendor's staff")

		// The partner's administrators see the sessions and what happened to them.
		list := pat.get("/support-sessions?org=acme").must(t, http.StatusOK).JSON["items"].([]any)
		if len(list) != 1 || field(list[0], "id") != id {
			t.Fatalf("pat's list %v", list)
		}
		if evs := auditOf(t, pat, "org=acme&action=support.approve"); len(evs) != 1 {
			t.Fatalf("support.approve events seen by the partner: %v", evs)
		}

		// A write session: the change is audited as alice acting in support of acme.
		s2 := field(alice.post("/support-sessions", map[string]any{"org": "acme", "ticket": "SUP-2", "reason": "grant fix",
			"duration_seconds": 600, "write": true}).must(t, http.StatusCreated).JSON, "id")
		pat.post("/support-sessions/"+s2+"/approve", nil).must(t, http.StatusOK)
		alice.inSession(s2).post("/grants", map[string]any{"org": "acme", "connection": "acme", "user_id": f.sam, "role": "viewer"}).
			must(t, http.StatusCreated)
		evs := auditOf(t, pat, "org=acme&action=grant.create")
		if len(evs) != 1 || !strings.Contains(field(evs[0], "actor"), "operator:alice support:"+s2+" ticket:SUP-2 org:acme") {
			t.Fatalf("grant.create in support: %v", evs)
		}

		// The partner ends s2 at once.
		pat.post("/support-sessions/"+s2+"/end", map[string]any{"note": "done, thanks"}).must(t, http.StatusOK)
		refusedSaying(t, "a session the partner ended", alice.inSession(s2).get("/orgs/acme"), http.StatusForbidden, "not active")

		// Expiry: the clock passes it; the session authorises nothing before any sweep.
		f.env.clock.advance(time.Hour + time.Second)
		refusedSaying(t, "an expired session", alice.inSession(id).get("/orgs/acme"), http.StatusForbidden, "not active")
		if got := alice.get("/support-sessions/"+id).must(t, http.StatusOK).JSON; got["state"] != "active" {
			t.Fatalf("before the sweep the record still says %v", got["state"])
		}
		run, err := newReconciler(db, f.env.clock.Now).Once(context.Background(), reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		swept := 0
		for _, r := range run.Report.Rules {
			if r.Rule == reconcile.RuleSupportExpired {
				swept = r.Count
			}
		}
		if swept != 1 {
			raw, _ := json.Marshal(run.Report.Rules)
			t.Fatalf("support-expired ended %d sessions: %s", swept, raw)
		}
		got := pat.get("/support-sessions/"+id).must(t, http.StatusOK).JSON
		if got["state"] != "ended" || got["end_reason"] != "expired" {
			t.Fatalf("after the sweep %v", got)
		}
		if evs := auditOf(t, pat, "org=acme&action=support.expire"); len(evs) != 1 {
			t.Fatalf("support.expire events: %v", evs)
		}
		refused(t, "end an ended session", alice.post("/support-sessions/"+id+"/end", nil), http.StatusConflict, "conflict")

		// A refused request never opens.
		s3 := field(alice.post("/support-sessions", map[string]any{"org": "acme", "ticket": "SUP-3", "reason": "r",
			"duration_seconds": 60}).must(t, http.StatusCreated).JSON, "id")
		if r := pat.post("/support-sessions/"+s3+"/refuse", map[string]any{"note": "call us first"}).must(t, http.StatusOK).JSON; r["state"] != "refused" {
			t.Fatalf("refused %v", r)
		}
		refusedSaying(t, "a refused session", alice.inSession(s3).get("/orgs/acme"), http.StatusForbidden, "not active")
	})
}

// Break-glass: active at once, the partner is told (an event its webhooks deliver), and
// once over it owes a review by someone other than who opened it.
func TestSupportBreakGlass(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newSupportFixture(t, db)
		alice, bob, pat := f.alice, f.bob, f.pat
		f.policyRecord(true)
		hook := field(bob.post("/webhooks", map[string]any{"url": "https://partner.example/hooks", "actions": []string{"support."}}).
			must(t, http.StatusCreated).JSON, "id")
		pending := func() int {
			for _, w := range bob.get("/webhooks").must(t, http.StatusOK).JSON["webhooks"].([]any) {
				if field(w, "id") == hook {
					return num(t, w.(map[string]any)["pending"])
				}
			}
			t.Fatal("subscription gone")
			return 0
		}

		bg := alice.post("/support-sessions", map[string]any{"org": "acme", "ticket": "INC-9", "reason": "outage: SCIM pushes failing",
			"duration_seconds": 900, "break_glass": true}).must(t, http.StatusCreated).JSON
		id := field(bg, "id")
		if bg["state"] != "active" || bg["break_glass"] != true || bg["review_required"] != true || bg["decided_by"] != nil {
			t.Fatalf("break-glass %v", bg)
		}
		if n := pending(); n != 1 {
			t.Fatalf("the notice is not queued for the webhook: %d pending", n)
		}
		if evs := auditOf(t, pat, "org=acme&action=support.break_glass"); len(evs) != 1 || !strings.Contains(mustJSON(evs[0]), "INC-9") {
			t.Fatalf("the partner's notice: %v", evs)
		}
		alice.inSession(id).get("/grants?org=acme").must(t, http.StatusOK)

		refused(t, "review while active", bob.post("/support-sessions/"+id+"/review", map[string]any{"note": "ok"}), http.StatusConflict, "conflict")
		alice.post("/support-sessions/"+id+"/end", map[string]any{"note": "fixed"}).must(t, http.StatusOK)
		refused(t, "reviewed by who opened it", alice.post("/support-sessions/"+id+"/review", map[string]any{"note": "fine"}), http.StatusForbidden, "forbidden")
		refused(t, "review without a note", pat.post("/support-sessions/"+id+"/review", nil), http.StatusBadRequest, "invalid")
		if l := pat.get("/support-sessions?org=acme").must(t, http.StatusOK).JSON["items"].([]any); len(l) != 1 || at(l[0], "review_required") != true {
			t.Fatalf("the partner sees the review owed: %v", l)
		}
		rev := pat.post("/support-sessions/"+id+"/review", map[string]any{"note": "justified: outage INC-9"}).must(t, http.StatusOK).JSON
		if rev["review_required"] != false || rev["review_note"] != "justified: outage INC-9" || !strings.HasPrefix(field(rev, "reviewed_by"), "user:") {
			t.Fatalf("reviewed %v", rev)
		}
		refused(t, "review twice", bob.post("/support-sessions/"+id+"/review", map[string]any{"note": "again"}), http.StatusConflict, "conflict")

		// An approved session owes no review.
		s2 := field(alice.post("/support-sessions", map[string]any{"org": "acme", "ticket": "SUP-5", "reason": "r",
			"duration_seconds": 60}).must(t, http.StatusCreated).JSON, "id")
		pat.post("/support-sessions/"+s2+"/approve", nil).must(t, http.StatusOK)
		alice.post("/support-sessions/"+s2+"/end", nil).must(t, http.StatusOK)
		refused(t, "review an approved session", bob.post("/support-sessions/"+s2+"/review", map[string]any{"note": "x"}), http.StatusConflict, "conflict")
	})
}

// The policy: on for a new deployment, where onboarding a partner still works; off (as
// for a deployment that existed before it) operator keys act as they always did; the CLI
// switches it.
func TestSupportPolicy(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			url := dbtest.URL(t, engine)
			var pol struct {
				Required           bool  `json:"required"`
				MaxDurationSeconds int64 `json:"max_duration_seconds"`
			}
			policy := func(args ...string) {
				t.Helper()
				pol.Required = false
				if err := json.Unmarshal([]byte(mustCLI(t, append([]string{"support", "policy", "--json", "--database", url}, args...)...)), &pol); err != nil {
					t.Fatal(err)
				}
			}
			policy()
			if !pol.Required || pol.MaxDurationSeconds != 8*3600 {
				t.Fatalf("a new deployment's policy %+v", pol)
			}
			db, err := sqlstore.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			f := newOnboardingFixture(t, db)

			// Onboarding a partner is the vendor's own act: it works with the policy on.
			id := field(f.op1.post("/onboarding", f.proposal("Acme GmbH")).must(t, http.StatusCreated).JSON, "id")
			f.op2.post("/onboarding/"+id+"/approve", nil).must(t, http.StatusOK)
			f.op1.post("/connections/acme-gmbh/setup-links", nil).must(t, http.StatusCreated)
			refusedSaying(t, "the onboarded partner's grants", f.op1.get("/grants?org=acme-gmbh"), http.StatusForbidden, "support session")
			refusedSaying(t, "the whole export", f.op1.get("/access/export"), http.StatusForbidden, "support session")

			// Off: the old behaviour.
			policy("--required=false", "--max-duration", "2h")
			if pol.Required || pol.MaxDurationSeconds != 7200 {
				t.Fatalf("after the change %+v", pol)
			}
			f.op1.get("/grants?org=acme-gmbh").must(t, http.StatusOK)
			f.op1.get("/orgs/acme-gmbh").must(t, http.StatusOK)
			if r := f.op1.post("/support-sessions", map[string]any{"org": "acme-gmbh", "ticket": "T", "reason": "r",
				"duration_seconds": 3 * 3600}); r.Status != http.StatusBadRequest {
				t.Errorf("beyond the new maximum: %d %s", r.Status, r.Raw)
			}
			if evs := f.auditRows(t, "action=support.policy"); len(evs) != 1 {
				t.Fatalf("support.policy events %v", evs)
			}
			policy("--required=true")
			refusedSaying(t, "on again", f.op1.get("/grants?org=acme-gmbh"), http.StatusForbidden, "support session")
		})
	}
}
