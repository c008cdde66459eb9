package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/domains"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
)

// mspFixture is a vendor with three partners, each with a connection: an MSP (ann its
// administrator, tim and tess its people), a customer (cara its administrator, who
// holds viewer there; cody one of its people) and another partner (ole).
type mspFixture struct {
	env                       *e2eEnv
	doc                       map[string]any
	op                        *adminClient
	ann, cara, ole            *adminClient
	msp, cust, other          string // slugs
	tim, tess, cody, caraUser string // SCIM user ids
	annDelegation             string
	mspToken                  string // the MSP connection's SCIM token
}

func newMSPFixture(t *testing.T, env *e2eEnv, doc map[string]any, op *adminClient, suffix string) *mspFixture {
	t.Helper()
	f := &mspFixture{env: env, doc: doc, op: op, msp: "msp" + suffix, cust: "cust" + suffix, other: "other" + suffix}
	users := map[string]map[string]string{}
	for _, slug := range []string{f.msp, f.cust, f.other} {
		op.post("/orgs", map[string]any{"name": slug, "slug": slug, "parent": "vendor"}).must(t, http.StatusCreated)
		created := op.post("/connections", map[string]any{"org": slug, "slug": slug, "idp": "okta"}).must(t, http.StatusCreated).JSON
		scim := &scimClient{t: t, env: env, slug: slug, token: field(created, "token")}
		if slug == f.msp {
			f.mspToken = scim.token
		}
		users[slug] = map[string]string{}
		for _, name := range map[string][]string{f.msp: {"ann", "tim", "tess"}, f.cust: {"cara", "cody"}, f.other: {"ole"}}[slug] {
			users[slug][name] = scim.create(map[string]any{"userName": name + "@" + slug + ".example"})["id"].(string)
		}
	}
	f.tim, f.tess, f.cody, f.caraUser = users[f.msp]["tim"], users[f.msp]["tess"], users[f.cust]["cody"], users[f.cust]["cara"]
	admin := func(org, user string, caps ...string) (*adminClient, string) {
		d := op.post("/delegations", map[string]any{"org": org, "connection": org, "user_id": user, "capabilities": caps, "depth": 1}).
			must(t, http.StatusCreated).JSON
		k := op.post("/delegations/"+field(d, "id")+"/keys", nil).must(t, http.StatusCreated).JSON
		return env.admin(t, field(k, "key"), doc), field(d, "id")
	}
	f.ann, f.annDelegation = admin(f.msp, users[f.msp]["ann"], "manage_members", "approve", "delegate")
	f.cara, _ = admin(f.cust, f.caraUser, "manage_members", "manage_mappings", "approve", "delegate")
	f.ole, _ = admin(f.other, users[f.other]["ole"], "manage_members", "delegate")
	op.post("/grants", map[string]any{"org": f.cust, "connection": f.cust, "user_id": f.caraUser, "role": "viewer"}).must(t, http.StatusCreated)
	return f
}

// engage proposes (as the MSP's administrator), names tim a technician with a key, and
// consents on both sides; it returns the engagement's id, tim's delegation and tim.
func (f *mspFixture) engage(t *testing.T) (string, string, *adminClient) {
	t.Helper()
	e := f.ann.post("/msp-engagements", map[string]any{"msp": f.msp, "customer": f.cust, "capabilities": []string{"manage_members"},
		"reason": "managed IT"}).must(t, http.StatusCreated).JSON
	id := field(e, "id")
	d := f.ann.post("/msp-engagements/"+id+"/technicians", map[string]any{"connection": f.msp, "user_id": f.tim,
		"capabilities": []string{"manage_members"}}).must(t, http.StatusCreated).JSON
	k := f.ann.post("/delegations/"+field(d, "id")+"/keys", nil).must(t, http.StatusCreated).JSON
	f.cara.post("/msp-engagements/"+id+"/consent-customer", nil).must(t, http.StatusOK)
	f.op.post("/msp-engagements/"+id+"/consent-vendor", nil).must(t, http.StatusOK)
	return id, field(d, "id"), f.env.admin(t, field(k, "key"), f.doc)
}

func (f *mspFixture) grantCody(a *adminClient) *reply {
	return a.post("/grants", map[string]any{"org": f.cust, "connection": f.cust, "user_id": f.cody, "role": "viewer"})
}

var scimOp = op

func mspSetup(t *testing.T, db *sqlstore.DB) (*e2eEnv, map[string]any, *adminClient) {
	env := newE2E(t, db)
	doc, ops := env.operators(t, "olga")
	op := ops[0]
	op.post("/orgs", map[string]any{"name": "vendor", "slug": "vendor"}).must(t, http.StatusCreated)
	op.post("/roles", map[string]any{"key": "viewer", "permissions": []string{"reports.read"}, "inherits": true}).must(t, http.StatusCreated)
	return env, doc, op
}

// An engagement through the real server: proposed by the MSP's administrator, a
// technician named before the consents acts only once both are given, acts as
// themselves (the audit names the person, the MSP and the customer), reaches nothing
// outside the customer, and stops at the next request once the customer revokes.
func TestMSPEngagement(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env, doc, op := mspSetup(t, db)
		f := newMSPFixture(t, env, doc, op, "")

		// Bad proposals: a clear error each, and nothing stored.
		for _, tc := range []struct {
			name   string
			by     *adminClient
			body   any
			status int
			words  string
		}{
			{"no customer", f.ann, map[string]any{"msp": f.msp, "capabilities": []string{"manage_members"}}, 400, "missing customer"},
			{"no capability", f.ann, map[string]any{"msp": f.msp, "customer": f.cust}, 400, "at least one capability"},
			{"delegate", f.ann, map[string]any{"msp": f.msp, "customer": f.cust, "capabilities": []string{"delegate"}}, 400, "cannot confer delegate"},
			{"unknown capability", f.ann, map[string]any{"msp": f.msp, "customer": f.cust, "capabilities": []string{"root"}}, 400, "unknown capability"},
			{"unknown customer", f.ann, map[string]any{"msp": f.msp, "customer": "nope", "capabilities": []string{"approve"}}, 404, "nope"},
			{"its own subtree", f.ann, map[string]any{"msp": f.msp, "customer": f.msp, "capabilities": []string{"approve"}}, 400, "inside the subtree"},
			{"the vendor", op, map[string]any{"msp": f.msp, "customer": "vendor", "capabilities": []string{"approve"}}, 400, "two partner orgs"},
			{"unknown field", f.ann, map[string]any{"msp": f.msp, "customer": f.cust, "capabilities": []string{"approve"}, "scope": "all"}, 400, "unknown field"},
			{"not JSON", f.ann, "{", 400, "not the JSON"},
			{"the customer proposes", f.cara, map[string]any{"msp": f.msp, "customer": f.cust, "capabilities": []string{"approve"}}, 403, "outside the delegated subtree"},
			{"another partner proposes", f.ole, map[string]any{"msp": f.msp, "customer": f.cust, "capabilities": []string{"approve"}}, 403, "outside the delegated subtree"},
		} {
			refusedSaying(t, tc.name, tc.by.post("/msp-engagements", tc.body), tc.status, tc.words)
		}
		if items := op.get("/msp-engagements?org="+f.cust).must(t, http.StatusOK).JSON["items"].([]any); len(items) != 0 {
			t.Fatalf("refused proposals stored: %v", items)
		}

		e := f.ann.post("/msp-engagements", map[string]any{"msp": f.msp, "customer": f.cust, "capabilities": []string{"manage_members"},
			"reason": "managed IT"}).must(t, http.StatusCreated).JSON
		id := field(e, "id")
		if e["state"] != "proposed" || e["in_force"] != false || !strings.Contains(field(e, "standing"), "awaits the consent of the customer's administrator and of the vendor") {
			t.Fatalf("proposed %v", e)
		}
		refusedSaying(t, "a second proposal for the pair", op.post("/msp-engagements", map[string]any{"msp": f.msp, "customer": f.cust,
			"capabilities": []string{"approve"}}), http.StatusConflict, "revoke it first")

		// Naming technicians: within the engagement, the MSP's own people, the customer's subtree.
		techs := "/msp-engagements/" + id + "/technicians"
		for _, tc := range []struct {
			name   string
			by     *adminClient
			body   map[string]any
			status int
			words  string
		}{
			{"beyond the engagement", f.ann, map[string]any{"connection": f.msp, "user_id": f.tim, "capabilities": []string{"approve"}}, 403, "does not confer approve"},
			{"the customer's person", f.ann, map[string]any{"connection": f.cust, "user_id": f.cody, "capabilities": []string{"manage_members"}}, 403, "the MSP's own people"},
			{"outside the customer", f.ann, map[string]any{"org": f.other, "connection": f.msp, "user_id": f.tim, "capabilities": []string{"manage_members"}}, 403, "outside customer"},
			{"no such user", f.ann, map[string]any{"connection": f.msp, "user_id": "nobody", "capabilities": []string{"manage_members"}}, 404, "nobody"},
			{"no user", f.ann, map[string]any{"connection": f.msp, "capabilities": []string{"manage_members"}}, 400, "missing user_id"},
			{"the customer names", f.cara, map[string]any{"connection": f.msp, "user_id": f.tim, "capabilities": []string{"manage_members"}}, 403, "outside the delegated subtree"},
			{"an operator names", op, map[string]any{"connection": f.msp, "user_id": f.tim, "capabilities": []string{"manage_members"}}, 403, "names its technicians"},
		} {
			refusedSaying(t, tc.name, tc.by.post(techs, tc.body), tc.status, tc.words)
		}
		if items := f.ann.get(techs).must(t, http.StatusOK).JSON["items"].([]any); len(items) != 0 {
			t.Fatalf("refused technicians stored: %v", items)
		}
		d := f.ann.post(techs, map[string]any{"connection": f.msp, "user_id": f.tim, "capabilities": []string{"manage_members"}}).
			must(t, http.StatusCreated).JSON
		if d["engagement"] != id || d["org"] != f.cust || d["parent_id"] != f.annDelegation {
			t.Fatalf("technician delegation %v", d)
		}
		k := f.ann.post("/delegations/"+field(d, "id")+"/keys", nil).must(t, http.StatusCreated).JSON
		tim := env.admin(t, field(k, "key"), doc)

		// Before both consents the technician's key opens nothing.
		refused(t, "tim before any consent", f.grantCody(tim), http.StatusUnauthorized, "unauthorized")

		// The customer's administrator consents, and no one else for the customer.
		refusedSaying(t, "the vendor consents for the customer", op.post("/msp-engagements/"+id+"/consent-customer", nil), http.StatusForbidden, "customer's administrator consents")
		refusedSaying(t, "the MSP consents for the customer", f.ann.post("/msp-engagements/"+id+"/consent-customer", nil), http.StatusForbidden, "outside the delegated subtree")
		refusedSaying(t, "the customer consents for the vendor", f.cara.post("/msp-engagements/"+id+"/consent-vendor", nil), http.StatusForbidden, "operators")
		refusedSaying(t, "a body where none is taken", f.cara.post("/msp-engagements/"+id+"/consent-customer", map[string]any{"yes": true}), http.StatusBadRequest, "unknown field")
		c := f.cara.post("/msp-engagements/"+id+"/consent-customer", nil).must(t, http.StatusOK).JSON
		if c["in_force"] != false || !strings.Contains(field(c, "standing"), "awaits the consent of the vendor") || !strings.HasSuffix(field(c, "customer_consent_by"), "/"+f.caraUser) {
			t.Fatalf("after the customer's consent %v", c)
		}
		refused(t, "consent twice", f.cara.post("/msp-engagements/"+id+"/consent-customer", nil), http.StatusConflict, "conflict")
		refused(t, "tim after one consent", f.grantCody(tim), http.StatusUnauthorized, "unauthorized")

		v := op.post("/msp-engagements/"+id+"/consent-vendor", nil).must(t, http.StatusOK).JSON
		if v["state"] != "active" || v["in_force"] != true || v["vendor_consent_by"] != "operator:olga" {
			t.Fatalf("after both consents %v", v)
		}

		// Now tim acts on the customer, as himself.
		g := f.grantCody(tim).must(t, http.StatusCreated).JSON
		evs := auditOf(t, f.cara, "org="+f.cust+"&action=grant.create&target="+field(g, "id"))
		if len(evs) != 1 {
			t.Fatalf("grant.create events %v", evs)
		}
		actor := field(evs[0], "actor")
		for _, want := range []string{"/" + f.tim, "msp:" + f.msp, "customer:" + f.cust, "engagement:" + id} {
			if !strings.Contains(actor, want) {
				t.Errorf("actor %q does not name %q", actor, want)
			}
		}
		tim.get("/orgs/"+f.cust).must(t, http.StatusOK)

		// Nowhere else: not another partner, not the MSP itself, not more than consented.
		refusedSaying(t, "tim on another partner", tim.get("/orgs/"+f.other), http.StatusForbidden, "outside the delegated subtree")
		refusedSaying(t, "tim on the MSP", tim.get("/orgs/"+f.msp), http.StatusForbidden, "outside the delegated subtree")
		refusedSaying(t, "tim reads another partner's grants", tim.get("/grants?org="+f.other), http.StatusForbidden, "outside the delegated subtree")
		refusedSaying(t, "tim creates a sub-org (not consented)", tim.post("/orgs", map[string]any{"name": "x", "slug": "x-" + f.cust, "parent": f.cust}),
			http.StatusForbidden, "does not confer delegate")
		refusedSaying(t, "ann on the customer", f.ann.get("/orgs/"+f.cust), http.StatusForbidden, "outside the delegated subtree")
		refusedSaying(t, "tim consents for the customer", tim.post("/msp-engagements/"+id+"/consent-customer", nil), http.StatusForbidden, "never as its administrator")

		// Both sides see the engagement; a stranger does not.
		for _, a := range []*adminClient{f.ann, f.cara, op} {
			a.get("/msp-engagements/"+id).must(t, http.StatusOK)
		}
		refused(t, "another partner reads it", f.ole.get("/msp-engagements/"+id), http.StatusNotFound, "not_found")
		if items := f.ann.get("/msp-engagements?org="+f.msp).must(t, http.StatusOK).JSON["items"].([]any); len(items) != 1 {
			t.Fatalf("the MSP's list %v", items)
		}
		for _, action := range []string{"msp.propose", "msp.consent_customer", "msp.consent_vendor"} {
			if evs := auditOf(t, f.cara, "org="+f.cust+"&action="+action); len(evs) != 1 {
				t.Errorf("%s events seen by the customer: %v", action, evs)
			}
		}

		// The customer revokes: tim's next request is refused; his delegation is revoked
		// with the engagement, and his grant goes back to cara for re-attestation.
		rv := f.cara.post("/msp-engagements/"+id+"/revoke", map[string]any{"reason": "contract over"}).must(t, http.StatusOK).JSON
		if got := strSlice(rv["technicians_revoked"]); len(got) != 1 || got[0] != field(d, "id") || num(t, rv["grants_handed_over"]) != 1 {
			t.Fatalf("revoked %v", rv)
		}
		refused(t, "tim after the revocation", tim.get("/orgs/"+f.cust), http.StatusUnauthorized, "unauthorized")
		if got := op.get("/msp-engagements/"+id).must(t, http.StatusOK).JSON; got["state"] != "revoked" || got["in_force"] != false {
			t.Fatalf("after the revocation %v", got)
		}
		refused(t, "revoke twice", f.ann.post("/msp-engagements/"+id+"/revoke", nil), http.StatusConflict, "conflict")
		refused(t, "consent after revocation", op.post("/msp-engagements/"+id+"/consent-vendor", nil), http.StatusConflict, "conflict")
	})
}

// Either side ends it, and so does either relationship: the technician's next request
// is refused, whoever or whatever ended it.
func TestMSPEngagementEnds(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env, doc, op := mspSetup(t, db)
		for i, tc := range []struct {
			name     string
			end      func(f *mspFixture, id, tech string) *reply
			standing string // what the engagement says afterwards; "" when revoked
			// grantHolds: the grant tim made on the customer still holds afterwards.
			grantHolds bool
		}{
			{"the vendor revokes", func(f *mspFixture, id, _ string) *reply {
				return f.op.post("/msp-engagements/"+id+"/revoke", map[string]any{"reason": "vendor review"})
			}, "", true},
			{"the MSP revokes", func(f *mspFixture, id, _ string) *reply {
				return f.ann.post("/msp-engagements/"+id+"/revoke", nil)
			}, "", true},
			{"the customer's relationship ends", func(f *mspFixture, _, _ string) *reply {
				return f.op.call("PATCH", "/orgs/"+f.cust, map[string]any{"status": "ended"})
			}, "the customer's path", false},
			{"the MSP's relationship is suspended", func(f *mspFixture, _, _ string) *reply {
				return f.op.call("PATCH", "/orgs/"+f.msp, map[string]any{"status": "suspended"})
			}, "the MSP's path", false},
			{"the customer removes the technician", func(f *mspFixture, id, tech string) *reply {
				return f.cara.post("/msp-engagements/"+id+"/technicians/revoke", map[string]any{"delegation": tech, "reason": "left"})
			}, "in force", true},
			{"the MSP's administrator is replaced", func(f *mspFixture, _, _ string) *reply {
				return f.op.call("DELETE", "/delegations/"+f.annDelegation, map[string]any{"reason": "left", "successor": map[string]any{
					"connection": f.msp, "user_id": f.tess, "capabilities": []string{"manage_members", "delegate"}, "depth": 1}})
			}, "in force", true},
			{"the technician leaves the MSP", func(f *mspFixture, _, _ string) *reply {
				c := &scimClient{t: t, env: f.env, slug: f.msp, token: f.mspToken}
				return c.patch(f.tim, scimOp("replace", "active", false))
			}, "in force", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newMSPFixture(t, env, doc, op, "-"+string(rune('a'+i)))
				id, tech, tim := f.engage(t)
				f.grantCody(tim).must(t, http.StatusCreated)
				tc.end(f, id, tech).must(t, http.StatusOK)
				refused(t, "tim's next request", f.grantCody(tim), http.StatusUnauthorized, "unauthorized")
				// What tim made on the customer: revoked by hand, it went to cara, whose
				// authority covers it, and holds; when a relationship lapses, the rule
				// stops it with everything made under the engagement (the reconciler's
				// revocation of the lapsed delegations hands it over later).
				d := op.get("/access/check?connection="+f.cust+"&user="+f.cody+"&permission=reports.read&org="+f.cust).
					must(t, http.StatusOK).JSON
				if d["allowed"] != tc.grantHolds {
					t.Errorf("cody's grant, made by tim, after %s: %v", tc.name, d)
				}
				got := op.get("/msp-engagements/"+id).must(t, http.StatusOK).JSON
				switch tc.standing {
				case "":
					if got["state"] != "revoked" {
						t.Errorf("engagement %v", got)
					}
				case "in force":
					if got["in_force"] != true {
						t.Errorf("removing one technician ended the engagement: %v", got)
					}
				default:
					if got["state"] != "active" || got["in_force"] != false || !strings.Contains(field(got, "standing"), tc.standing) {
						t.Errorf("engagement %v; want its standing to name %q", got, tc.standing)
					}
				}
			})
		}
	})
}

// An MSP's delegated reach aside: the customer's verified domain is refused in the MSP's
// connection until the engagement is in force, admitted while it is, and refused again
// the moment it is revoked; another partner's connection never may.
func TestMSPDomainReach(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env, doc, op := mspSetup(t, db)
		f := newMSPFixture(t, env, doc, op, "")
		ctx := context.Background()
		svc := newServices(db, env.clock.Now)
		// The claim's proof (DNS or HTTPS) is the domains tests' concern: here it is
		// recorded as verified in the store.
		cl, err := svc.domains.ClaimDomain(ctx, orgs.Principal{Operator: "olga"}, f.cust, "cust.example")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Domains().UpdateClaim(ctx, cl.ID, func(c *domains.Claim) error {
			now := env.clock.Now()
			c.Status, c.Method, c.VerifiedAt = domains.Verified, "dns", &now
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		conns := map[string]string{}
		for _, slug := range []string{f.msp, f.other} {
			tok := op.post("/connections/"+slug+"/tokens", nil).must(t, http.StatusCreated).JSON
			conns[slug] = field(tok, "token")
		}
		push := func(slug, user string) *reply {
			c := &scimClient{t: t, env: env, slug: slug, token: conns[slug]}
			return c.do("POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": user})
		}
		refusedDomain := func(what string, r *reply) {
			t.Helper()
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Raw), "cust.example is verified by another organisation") {
				t.Errorf("%s: %d %s", what, r.Status, r.Raw)
			}
		}
		refusedDomain("the MSP before the engagement", push(f.msp, "helpdesk1@cust.example"))
		id, _, _ := f.engage(t)
		push(f.msp, "helpdesk2@cust.example").must(t, http.StatusCreated)
		refusedDomain("another partner", push(f.other, "helpdesk3@cust.example"))
		f.cara.post("/msp-engagements/"+id+"/revoke", nil).must(t, http.StatusOK)
		refusedDomain("the MSP after the revocation", push(f.msp, "helpdesk4@cust.example"))
	})
}

// The reconciler records what the rule already decided: an engagement whose customer's
// relationship ended is revoked by rule msp-ended (msp.revoke on the customer, by
// system:reconcile); one whose MSP is only suspended stays, to resume when lifted.
func TestMSPReconcilerRecordsTheEnd(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env, doc, op := mspSetup(t, db)
		ended, suspended := newMSPFixture(t, env, doc, op, "-e"), newMSPFixture(t, env, doc, op, "-s")
		mspEnded := newMSPFixture(t, env, doc, op, "-m")
		endedID, _, _ := ended.engage(t)
		suspendedID, _, _ := suspended.engage(t)
		mspEndedID, _, tim := mspEnded.engage(t)
		mspEnded.grantCody(tim).must(t, http.StatusCreated)
		op.call("PATCH", "/orgs/"+ended.cust, map[string]any{"status": "ended"}).must(t, http.StatusOK)
		op.call("PATCH", "/orgs/"+suspended.msp, map[string]any{"status": "suspended"}).must(t, http.StatusOK)
		op.call("PATCH", "/orgs/"+mspEnded.msp, map[string]any{"status": "ended"}).must(t, http.StatusOK)
		codyAllowed := func() any {
			t.Helper()
			return op.get("/access/check?connection="+mspEnded.cust+"&user="+mspEnded.cody+"&permission=reports.read&org="+mspEnded.cust).
				must(t, http.StatusOK).JSON["allowed"]
		}
		if codyAllowed() != false {
			t.Fatal("a grant made under an engagement whose MSP ended still holds")
		}

		count := func(dry bool) int {
			t.Helper()
			run, err := newReconciler(db, env.clock.Now).Once(context.Background(), reconcile.Options{DryRun: dry})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range run.Report.Rules {
				if r.Rule == reconcile.RuleMSPEnded {
					return r.Count
				}
			}
			t.Fatalf("no rule %s in %v", reconcile.RuleMSPEnded, run.Report.Rules)
			return 0
		}
		if n := count(true); n != 2 {
			t.Fatalf("dry run: %d engagements to end", n)
		}
		if got := op.get("/msp-engagements/"+endedID).must(t, http.StatusOK).JSON; got["state"] != "active" {
			t.Fatalf("a dry run changed %v", got)
		}
		if n := count(false); n != 2 {
			t.Fatalf("the pass ended %d engagements", n)
		}
		// What tim made on the customer, whose relationship goes on, went back to its
		// administrator: it holds again, and the MSP's engagement says why it ended.
		if codyAllowed() != true {
			t.Error("the grant tim made was not handed back to the customer")
		}
		if got := op.get("/msp-engagements/"+mspEndedID).must(t, http.StatusOK).JSON; !strings.Contains(field(got, "revoke_reason"), "MSP's relationship ended") {
			t.Errorf("the MSP's engagement after the pass %v", got)
		}
		got := op.get("/msp-engagements/"+endedID).must(t, http.StatusOK).JSON
		if got["state"] != "revoked" || got["revoked_by"] != "system:reconcile" || !strings.Contains(field(got, "revoke_reason"), "customer's relationship ended") {
			t.Fatalf("after the pass %v", got)
		}
		if evs := auditOf(t, op, "org="+ended.cust+"&action=msp.revoke"); len(evs) != 1 || field(evs[0], "actor") != "system:reconcile" {
			t.Errorf("msp.revoke events %v", evs)
		}
		if got := op.get("/msp-engagements/"+suspendedID).must(t, http.StatusOK).JSON; got["state"] != "active" || got["in_force"] != false {
			t.Errorf("a suspended MSP's engagement %v", got)
		}
		if n := count(false); n != 0 {
			t.Errorf("a second pass ended %d more", n)
		}
	})
}
