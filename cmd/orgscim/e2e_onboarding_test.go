package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/onboarding"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
)

// onboardingFixture is a running server with a vendor root, a role and two operators.
type onboardingFixture struct {
	env       *e2eEnv
	doc       map[string]any
	op1, op2  *adminClient
	op1KeyID  string
	op2KeyID  string
	svc       *services
	proposal  func(name string) map[string]any
	auditRows func(t *testing.T, query string) []map[string]any
}

func newOnboardingFixture(t *testing.T, db *sqlstore.DB) *onboardingFixture {
	t.Helper()
	ctx := context.Background()
	env := newE2E(t, db)
	keys := &orgs.AdminKeys{Store: db.AdminKeys(), Now: env.clock.Now}
	k1, key1, err := keys.IssueOperatorKey(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, key2, err := keys.IssueOperatorKey(ctx, "bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := env.admin(t, "", nil).get("/openapi.json").must(t, http.StatusOK).JSON
	f := &onboardingFixture{env: env, doc: doc, op1: env.admin(t, key1, doc), op2: env.admin(t, key2, doc),
		op1KeyID: k1.ID, op2KeyID: k2.ID, svc: newServices(db, env.clock.Now)}
	f.op1.post("/orgs", map[string]any{"name": "Vendor", "slug": "vendor"}).must(t, http.StatusCreated)
	f.op1.post("/roles", map[string]any{"key": "billing.viewer", "permissions": []string{"billing.read"}}).must(t, http.StatusCreated)
	f.proposal = func(name string) map[string]any {
		slug := orgs.Slugify(name)
		return map[string]any{
			"parent": "vendor", "name": name, "idp": "entra", "owner": "owner@vendor.example",
			"contract_start": "2030-01-01T00:00:00Z", "contract_end": "2031-01-01T00:00:00Z",
			"admin_user_name": "it@" + slug + ".example", "admin_display_name": "IT of " + name,
			"mappings": []map[string]any{{"group": name + " Billing", "role": "billing.viewer"}},
			"reason":   "signed partner agreement",
		}
	}
	f.auditRows = func(t *testing.T, query string) []map[string]any {
		t.Helper()
		page := f.op1.get("/audit?limit=1000&"+query).must(t, http.StatusOK).JSON
		var out []map[string]any
		for _, e := range page["events"].([]any) {
			out = append(out, e.(map[string]any))
		}
		return out
	}
	return f
}

func actions(events []map[string]any) map[string]int {
	out := map[string]int{}
	for _, e := range events {
		out[e["action"].(string)]++
	}
	return out
}

// TestOnboardingWorkflow drives partner onboarding over the real server: a proposal
// creates nothing; its proposer cannot approve it; a second operator's approval creates
// the org, its pending connection, the first administrator's delegation and the draft
// mappings in one audited transaction; a rejected request creates nothing; and bad
// input is refused without a trace.
func TestOnboardingWorkflow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newOnboardingFixture(t, db)

		proposed := f.op1.post("/onboarding", f.proposal("Acme GmbH")).must(t, http.StatusCreated).JSON
		id := field(proposed, "id")
		if proposed["state"] != "proposed" || proposed["slug"] != "acme-gmbh" || proposed["connection_slug"] != "acme-gmbh" ||
			proposed["parent"] != "vendor" || !strings.HasPrefix(field(proposed, "proposed_by"), "operator:alice") {
			t.Fatalf("proposed %v", proposed)
		}
		if caps := strSlice(proposed["admin_capabilities"]); len(caps) != 4 {
			t.Fatalf("default capabilities %v", caps)
		}
		// A proposal creates nothing.
		refused(t, "org before approval", f.op1.get("/orgs/acme-gmbh"), http.StatusNotFound, "not_found")
		refused(t, "connection before approval", f.op1.get("/connections/acme-gmbh"), http.StatusNotFound, "not_found")

		// The proposer cannot approve its own request, and nothing changes.
		refused(t, "self-approval", f.op1.post("/onboarding/"+id+"/approve", nil), http.StatusForbidden, "forbidden")
		if got := f.op1.get("/onboarding/"+id).must(t, http.StatusOK).JSON; got["state"] != "proposed" {
			t.Fatalf("after self-approval: %v", got)
		}
		refused(t, "org after self-approval", f.op1.get("/orgs/acme-gmbh"), http.StatusNotFound, "not_found")

		// A second operator approves: everything exists, in one transaction.
		approved := f.op2.post("/onboarding/"+id+"/approve", map[string]any{"reason": "checked the contract"}).must(t, http.StatusOK).JSON
		if approved["state"] != "approved" || !strings.HasPrefix(field(approved, "decided_by"), "operator:bob") ||
			field(approved, "org_id") == "" || field(approved, "connection_id") == "" || field(approved, "delegation_id") == "" {
			t.Fatalf("approved %v", approved)
		}
		org := f.op1.get("/orgs/acme-gmbh").must(t, http.StatusOK).JSON
		if org["kind"] != "partner" || org["status"] != "active" || org["owner"] != "owner@vendor.example" ||
			field(org, "contract_end") == "" || org["parent"] != "vendor" {
			t.Fatalf("org %v", org)
		}
		conn := f.op1.get("/connections/acme-gmbh").must(t, http.StatusOK).JSON
		if conn["status"] != "pending" || conn["idp"] != "entra" || conn["org"] != "acme-gmbh" {
			t.Fatalf("connection %v", conn)
		}
		if toks := f.op1.get("/connections/acme-gmbh/tokens").must(t, http.StatusOK).JSON; len(toks["tokens"].([]any)) != 0 {
			t.Fatalf("onboarding issued a token: %v", toks)
		}
		maps := f.op1.get("/mappings?connection=acme-gmbh").must(t, http.StatusOK).JSON["items"].([]any)
		if len(maps) != 1 || field(maps[0], "state") != "draft" || field(maps[0], "role") != "billing.viewer" || field(maps[0], "org") != "acme-gmbh" {
			t.Fatalf("mappings %v", maps)
		}
		ctx := context.Background()
		group, err := f.svc.groups.Get(ctx, field(approved, "connection_id"), field(maps[0], "group_id"))
		if err != nil || group.DisplayName != "Acme GmbH Billing" {
			t.Fatalf("mapped group %v, %v", group, err)
		}
		del := f.op1.get("/delegations/"+field(approved, "delegation_id")).must(t, http.StatusOK).JSON
		if del["org"] != "acme-gmbh" || field(del, "holder", "connection") != "acme-gmbh" || len(strSlice(del["capabilities"])) != 4 ||
			field(del, "expires_at") != "2031-01-01T00:00:00Z" {
			t.Fatalf("delegation %v", del)
		}
		admin, err := f.svc.users.Get(ctx, field(approved, "connection_id"), field(del, "holder", "user_id"))
		if err != nil || admin.UserName != "it@acme-gmbh.example" || !admin.Active {
			t.Fatalf("first administrator %v, %v", admin, err)
		}

		// Audited: the proposal, the approval by bob's key, and every creation.
		evs := f.auditRows(t, "action=onboarding.")
		if a := actions(evs); a["onboarding.propose"] != 1 || a["onboarding.approve"] != 1 || len(evs) != 2 {
			t.Fatalf("onboarding events %v", a)
		}
		if evs[1]["actor"] != "admin_key:"+f.op2KeyID+" operator:bob" || evs[1]["target_id"] != id {
			t.Fatalf("approval event %v", evs[1])
		}
		approval := f.auditRows(t, "actor="+strings.ReplaceAll("admin_key:"+f.op2KeyID+" operator:bob", " ", "%20"))
		want := map[string]int{"org.create": 1, "connection.create": 1, "user.create": 1, "group.create": 1,
			"mapping.draft": 1, "delegation.create": 1, "onboarding.approve": 1}
		if got := actions(approval); !sameCounts(got, want) {
			t.Fatalf("events of the approval %v, want %v", got, want)
		}

		// Decided once.
		refused(t, "second approval", f.op1.post("/onboarding/"+id+"/approve", nil), http.StatusConflict, "conflict")
		refused(t, "reject after approval", f.op2.post("/onboarding/"+id+"/reject", nil), http.StatusConflict, "conflict")

		// Rejected: nothing is created.
		beta := field(f.op1.post("/onboarding", f.proposal("Beta Ltd")).must(t, http.StatusCreated).JSON, "id")
		rejected := f.op2.post("/onboarding/"+beta+"/reject", map[string]any{"reason": "no contract"}).must(t, http.StatusOK).JSON
		if rejected["state"] != "rejected" || rejected["decision_reason"] != "no contract" || rejected["org_id"] != "" {
			t.Fatalf("rejected %v", rejected)
		}
		refused(t, "approve after reject", f.op1.post("/onboarding/"+beta+"/approve", nil), http.StatusConflict, "conflict")
		refused(t, "rejected org", f.op1.get("/orgs/beta-ltd"), http.StatusNotFound, "not_found")

		list := f.op1.get("/onboarding").must(t, http.StatusOK).JSON["items"].([]any)
		if len(list) != 2 || field(list[0], "id") != beta {
			t.Fatalf("list %v", list)
		}
		if l := f.op1.get("/onboarding?state=proposed").must(t, http.StatusOK).JSON["items"].([]any); len(l) != 0 {
			t.Fatalf("proposed list %v", l)
		}
	})
}

func sameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestOnboardingRefusesBadInput: every bad proposal is refused with its status and
// leaves no request and no event; an approval that fails halfway leaves nothing of
// what it had created.
func TestOnboardingRefusesBadInput(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newOnboardingFixture(t, db)
		with := func(changes map[string]any) map[string]any {
			p := f.proposal("Gamma")
			for k, v := range changes {
				if v == nil {
					delete(p, k)
				} else {
					p[k] = v
				}
			}
			return p
		}
		for _, tc := range []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"no name", with(map[string]any{"name": nil}), 400, "invalid"},
			{"no owner", with(map[string]any{"owner": " "}), 400, "invalid"},
			{"no admin", with(map[string]any{"admin_user_name": nil}), 400, "invalid"},
			{"admin with spaces", with(map[string]any{"admin_user_name": "it admin"}), 400, "invalid"},
			{"bad idp", with(map[string]any{"idp": "ldap"}), 400, "invalid"},
			{"bad slug", with(map[string]any{"slug": "Gamma!"}), 400, "invalid"},
			{"contract ends before it starts", with(map[string]any{"contract_end": "2029-01-01T00:00:00Z"}), 400, "invalid"},
			{"unknown role", with(map[string]any{"mappings": []map[string]any{{"group": "G", "role": "nope"}}}), 400, "invalid"},
			{"empty group", with(map[string]any{"mappings": []map[string]any{{"group": "", "role": "billing.viewer"}}}), 400, "invalid"},
			{"repeated mapping", with(map[string]any{"mappings": []map[string]any{{"group": "G", "role": "billing.viewer"},
				{"group": "g", "role": "billing.viewer"}}}), 400, "invalid"},
			{"unknown capability", with(map[string]any{"admin_capabilities": []string{"root"}}), 400, "invalid"},
			{"unknown field", with(map[string]any{"colour": "red"}), 400, "invalid_syntax"},
			{"not JSON", `{"name":`, 400, "invalid_syntax"},
			{"unknown parent", with(map[string]any{"parent": "nobody"}), 404, "not_found"},
			{"slug taken", with(map[string]any{"slug": "vendor"}), 409, "conflict"},
		} {
			refused(t, tc.name, f.op1.call("POST", "/onboarding", tc.body), tc.status, tc.code)
		}
		if l := f.op1.get("/onboarding").must(t, http.StatusOK).JSON["items"].([]any); len(l) != 0 {
			t.Fatalf("refused proposals were stored: %v", l)
		}
		if evs := f.auditRows(t, "action=onboarding."); len(evs) != 0 {
			t.Fatalf("refused proposals were audited: %v", evs)
		}

		// The connection slug is taken between proposal and approval: the approval fails
		// after it created the org, and nothing of it remains.
		id := field(f.op1.post("/onboarding", with(map[string]any{"connection_slug": "gamma-idp"})).must(t, http.StatusCreated).JSON, "id")
		f.op1.post("/orgs", map[string]any{"name": "Other", "slug": "other", "parent": "vendor"}).must(t, http.StatusCreated)
		f.op1.post("/connections", map[string]any{"org": "other", "slug": "gamma-idp"}).must(t, http.StatusCreated)
		before := len(f.auditRows(t, ""))
		refused(t, "approval that fails halfway", f.op2.post("/onboarding/"+id+"/approve", nil), http.StatusConflict, "conflict")
		refused(t, "org of a failed approval", f.op1.get("/orgs/gamma"), http.StatusNotFound, "not_found")
		if got := f.op1.get("/onboarding/"+id).must(t, http.StatusOK).JSON; got["state"] != "proposed" || got["org_id"] != "" {
			t.Fatalf("after a failed approval: %v", got)
		}
		if after := len(f.auditRows(t, "")); after != before {
			t.Fatalf("a failed approval left %d audit events", after-before)
		}
		// Nothing is onboarded under a parent whose relationship has ended.
		f.op1.post("/orgs", map[string]any{"name": "Reseller", "slug": "reseller", "parent": "vendor"}).must(t, http.StatusCreated)
		under := with(map[string]any{"parent": "reseller", "slug": "gamma-sub", "connection_slug": "gamma-sub"})
		sub := field(f.op1.post("/onboarding", under).must(t, http.StatusCreated).JSON, "id")
		f.op1.call("PATCH", "/orgs/reseller", map[string]any{"status": "ended"}).must(t, http.StatusOK)
		refused(t, "approval under an ended parent", f.op2.post("/onboarding/"+sub+"/approve", nil), http.StatusConflict, "conflict")
		refused(t, "org under an ended parent", f.op1.get("/orgs/gamma-sub"), http.StatusNotFound, "not_found")
		// Nor under an active parent when an org above it is suspended.
		f.op1.post("/orgs", map[string]any{"name": "Distributor", "slug": "distributor", "parent": "vendor"}).must(t, http.StatusCreated)
		f.op1.post("/orgs", map[string]any{"name": "Shop", "slug": "shop", "parent": "distributor"}).must(t, http.StatusCreated)
		deep := with(map[string]any{"parent": "shop", "slug": "gamma-shop", "connection_slug": "gamma-shop"})
		deepID := field(f.op1.post("/onboarding", deep).must(t, http.StatusCreated).JSON, "id")
		f.op1.call("PATCH", "/orgs/distributor", map[string]any{"status": "suspended"}).must(t, http.StatusOK)
		refused(t, "approval under a suspended grandparent", f.op2.post("/onboarding/"+deepID+"/approve", nil), http.StatusConflict, "conflict")
		refused(t, "org under a suspended grandparent", f.op1.get("/orgs/gamma-shop"), http.StatusNotFound, "not_found")

		// Rejection and approval are operators' decisions on requests that exist.
		refused(t, "approve unknown", f.op2.post("/onboarding/nope/approve", nil), http.StatusNotFound, "not_found")
		refused(t, "list bad state", f.op1.get("/onboarding?state=maybe"), http.StatusBadRequest, "invalid")
		refused(t, "anonymous", f.env.admin(t, "", nil).post("/onboarding", f.proposal("Delta")), http.StatusUnauthorized, "unauthorized")
	})
}

// TestSetupLink drives a setup link over HTTP: the page shows the SCIM base URL and the
// IdP's instructions without using the link; the reveal issues a working token once;
// every later visit, an expired link and two reveals at once are refused; and the
// pending connection turns active on its first change, audited with its token.
func TestSetupLink(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		f := newOnboardingFixture(t, db)
		id := field(f.op1.post("/onboarding", f.proposal("Acme")).must(t, http.StatusCreated).JSON, "id")
		f.op2.post("/onboarding/"+id+"/approve", nil).must(t, http.StatusOK)

		refused(t, "link for unknown connection", f.op1.post("/connections/nope/setup-links", nil), http.StatusNotFound, "not_found")
		refused(t, "ttl too long", f.op1.post("/connections/acme/setup-links", map[string]any{"ttl_seconds": 90 * 24 * 3600}), http.StatusBadRequest, "invalid")
		link := f.op1.post("/connections/acme/setup-links", nil).must(t, http.StatusCreated).JSON
		url := field(link, "url")
		if !strings.HasPrefix(url, f.env.srv.URL+"/setup/oscset_") {
			t.Fatalf("link %v", link)
		}

		page := getPage(t, "GET", url)
		if page.status != http.StatusOK || !strings.Contains(page.body, f.env.srv.URL+"/scim/v2/acme") ||
			!strings.Contains(page.body, `id="instructions-entra"`) || !strings.Contains(page.body, `id="reveal"`) ||
			strings.Contains(page.body, orgs.TokenPrefix) {
			t.Fatalf("page %d:\n%s", page.status, page.body)
		}
		checkPageHeaders(t, page)
		if again := getPage(t, "GET", url); again.status != http.StatusOK {
			t.Fatalf("a second look before the reveal: %d", again.status)
		}

		revealed := getPage(t, "POST", url)
		token := between(revealed.body, `<code id="token" class="secret">`, `</code>`)
		if revealed.status != http.StatusOK || !strings.HasPrefix(token, orgs.TokenPrefix) {
			t.Fatalf("reveal %d:\n%s", revealed.status, revealed.body)
		}
		checkPageHeaders(t, revealed)
		for _, method := range []string{"GET", "POST"} {
			if p := getPage(t, method, url); p.status != http.StatusGone || strings.Contains(p.body, "acme") || strings.Contains(p.body, orgs.TokenPrefix) {
				t.Fatalf("%s after the reveal: %d\n%s", method, p.status, p.body)
			}
		}

		// The token works, and the connection is pending until its first change.
		c := &scimClient{t: t, env: f.env, slug: "acme", token: token}
		c.list().must(t, http.StatusOK)
		if st := f.op1.get("/connections/acme").must(t, http.StatusOK).JSON["status"]; st != "pending" {
			t.Fatalf("after a read the connection is %v", st)
		}
		// An onboarded partner provisions once it has proved an e-mail domain.
		if p := f.op1.get("/connections/acme/policy").must(t, http.StatusOK).JSON; p["require_verified_domain"] != true {
			t.Errorf("onboarded connection's policy: %v", p)
		}
		c.do("POST", "/Users", map[string]any{"schemas": []any{userSchemaURN}, "userName": "someone@acme.example"}).scimError(t, http.StatusForbidden, anyScimType)
		if st := f.op1.get("/connections/acme").must(t, http.StatusOK).JSON["status"]; st != "pending" {
			t.Fatalf("after a refused write the connection is %v", st)
		}
		// A group holds no one the gate refuses, but its push does not activate the
		// connection either: it stays pending until a domain verifies.
		c.do("POST", "/Groups", map[string]any{"schemas": []any{groupSchemaURN}, "displayName": "Staff"}).must(t, http.StatusCreated)
		if st := f.op1.get("/connections/acme").must(t, http.StatusOK).JSON["status"]; st != "pending" {
			t.Fatalf("after a group push before a domain verified, the connection is %v", st)
		}
		holdVerified(t, f.env.db, "acme", "acme.example")
		c.create(map[string]any{"schemas": []any{userSchemaURN}, "userName": "someone@acme.example"})
		if st := f.op1.get("/connections/acme").must(t, http.StatusOK).JSON["status"]; st != "active" {
			t.Fatalf("after the first change the connection is %v", st)
		}
		evs := f.auditRows(t, "action=connection.activate")
		if len(evs) != 1 || !strings.HasPrefix(field(evs[0], "actor"), "token:") {
			t.Fatalf("activation events %v", evs)
		}
		c.create(map[string]any{"schemas": []any{userSchemaURN}, "userName": "other@acme.example"})
		if evs := f.auditRows(t, "action=connection.activate"); len(evs) != 1 {
			t.Fatalf("activated twice: %v", evs)
		}
		reveal := f.auditRows(t, "action=setup_link.")
		if a := actions(reveal); a["setup_link.create"] != 1 || a["setup_link.reveal"] != 1 {
			t.Fatalf("setup link events %v", a)
		}

		// The store uses a link once: the second of two uses finds it used, whatever the
		// caller checked before.
		tokenID := field(f.auditRows(t, "action=setup_link.reveal")[0], "diff", "token_id")
		now := f.env.clock.Now()
		direct := &onboarding.SetupLink{ID: "direct", ConnectionID: field(approvedConn(t, f), "id"), Hash: "direct-hash",
			CreatedBy: "test", Created: now, Expires: now.Add(time.Hour)}
		store := db.Onboarding()
		if err := store.CreateSetupLink(ctx, direct); err != nil {
			t.Fatal(err)
		}
		if l, err := store.ConsumeSetupLink(ctx, "direct-hash", now, tokenID); err != nil || l.Used == nil || l.TokenID != tokenID {
			t.Fatalf("first use: %v, %v", l, err)
		}
		if _, err := store.ConsumeSetupLink(ctx, "direct-hash", now, tokenID); orgscim.ErrorCode(err) != orgscim.NotFound {
			t.Fatalf("second use: %v", err)
		}

		// Reveals at once: one token.
		url2 := field(f.op1.post("/connections/acme/setup-links", nil).must(t, http.StatusCreated).JSON, "url")
		f.op1.call("DELETE", "/connections/acme/tokens/"+tokenID, nil).must(t, http.StatusNoContent)
		var wg sync.WaitGroup
		start := make(chan struct{})
		statuses := make([]int, 8)
		for i := range statuses {
			wg.Add(1)
			go func() { defer wg.Done(); <-start; statuses[i] = getPage(t, "POST", url2).status }()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusGone:
			default:
				t.Errorf("concurrent reveal answered %d", s)
			}
		}
		if ok != 1 {
			t.Fatalf("concurrent reveals: %v", statuses)
		}

		// An expired link is refused like a used one.
		url3 := field(f.op1.post("/connections/acme/setup-links", map[string]any{"ttl_seconds": 3600}).must(t, http.StatusCreated).JSON, "url")
		f.env.clock.mu.Lock()
		f.env.clock.t = f.env.clock.t.Add(time.Hour)
		f.env.clock.mu.Unlock()
		for _, method := range []string{"GET", "POST"} {
			if p := getPage(t, method, url3); p.status != http.StatusGone {
				t.Fatalf("%s of an expired link: %d", method, p.status)
			}
		}
		if p := getPage(t, "GET", f.env.srv.URL+"/setup/oscset_garbage"); p.status != http.StatusGone {
			t.Fatalf("unknown link: %d", p.status)
		}
	})
}

func approvedConn(t *testing.T, f *onboardingFixture) map[string]any {
	t.Helper()
	return f.op1.get("/connections/acme").must(t, http.StatusOK).JSON
}

type page struct {
	status int
	header http.Header
	body   string
}

func getPage(t *testing.T, method, url string) page {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Error(err)
		return page{}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return page{}
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return page{status: res.StatusCode, header: res.Header, body: b.String()}
}

func checkPageHeaders(t *testing.T, p page) {
	t.Helper()
	for name, want := range map[string]string{
		"Cache-Control":   "no-store",
		"Referrer-Policy": "no-referrer",
		"Content-Type":    "text/html; charset=UTF-8",
	} {
		if got := p.header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	checkPageScripts(t, p)
}

// checkPageScripts: the policy allows one script, by its hash, and every script of the
// page is that one; no inline handler or javascript: URL.
func checkPageScripts(t *testing.T, p page) {
	t.Helper()
	csp := p.header.Get("Content-Security-Policy")
	var scriptSrc string
	for _, d := range strings.Split(csp, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), "script-src "); ok {
			scriptSrc = v
		}
	}
	if !strings.Contains(csp, "default-src 'none'") || !regexp.MustCompile(`^'sha256-[A-Za-z0-9+/]{43}='$`).MatchString(scriptSrc) {
		t.Errorf("Content-Security-Policy %q; want default-src 'none' and script-src one hash", csp)
	}
	for _, m := range regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(p.body, -1) {
		sum := sha256.Sum256([]byte(m[1]))
		if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; h != scriptSrc {
			t.Errorf("a script hashing to %s runs under script-src %s", h, scriptSrc)
		}
	}
	if strings.Contains(p.body, "<script ") || regexp.MustCompile(`(?i)\son[a-z]+=|javascript:`).MatchString(p.body) {
		t.Errorf("the page has a script tag with attributes, an inline handler or a javascript: URL:\n%s", p.body)
	}
}

func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, end)
	return v
}

// TestOnboardingByDelegate follows a partner from proposal to running its own subtree:
// once its IdP has pushed, the first administrator's key proposes a subsidiary under
// the partner (never beside it), sees only its subtree's requests, and cannot decide
// them; an operator approves.
func TestOnboardingByDelegate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newOnboardingFixture(t, db)
		top := field(f.op1.post("/onboarding", f.proposal("Vendor Side Project")).must(t, http.StatusCreated).JSON, "id")
		id := field(f.op1.post("/onboarding", f.proposal("Acme")).must(t, http.StatusCreated).JSON, "id")
		approved := f.op2.post("/onboarding/"+id+"/approve", nil).must(t, http.StatusOK).JSON
		delegation := field(approved, "delegation_id")

		// The first administrator's key works once the connection is active: after the
		// IdP's first push.
		key := field(f.op1.post("/delegations/"+delegation+"/keys", nil).must(t, http.StatusCreated).JSON, "key")
		partner := f.env.admin(t, key, f.doc)
		refused(t, "key of a pending connection", partner.get("/me"), http.StatusUnauthorized, "unauthorized")
		url := field(f.op1.post("/connections/acme/setup-links", nil).must(t, http.StatusCreated).JSON, "url")
		token := between(getPage(t, "POST", url).body, `<code id="token" class="secret">`, `</code>`)
		c := &scimClient{t: t, env: f.env, slug: "acme", token: token}
		holdVerified(t, f.env.db, "acme", "acme.example")
		c.create(map[string]any{"schemas": []any{userSchemaURN}, "userName": "someone@acme.example"})
		partner.get("/me").must(t, http.StatusOK)
		// The connection is active now: a fresh token for it is the operators' to issue.
		refused(t, "delegate's setup link for an active connection", partner.post("/connections/acme/setup-links", nil), http.StatusForbidden, "forbidden")

		sub := f.proposal("Acme Paris")
		sub["parent"] = "acme"
		sub["mappings"] = []map[string]any{}
		refused(t, "delegate proposes beside its subtree", partner.post("/onboarding", f.proposal("Globex")), http.StatusForbidden, "forbidden")
		mine := partner.post("/onboarding", sub).must(t, http.StatusCreated).JSON
		if !strings.HasPrefix(field(mine, "proposed_by"), "user:") {
			t.Fatalf("proposed by %v", mine["proposed_by"])
		}
		list := partner.get("/onboarding").must(t, http.StatusOK).JSON["items"].([]any)
		if len(list) != 1 || field(list[0], "id") != field(mine, "id") {
			t.Fatalf("the delegate lists %v", list)
		}
		refused(t, "delegate reads a request outside its subtree", partner.get("/onboarding/"+top), http.StatusNotFound, "not_found")
		refused(t, "delegate approves", partner.post("/onboarding/"+field(mine, "id")+"/approve", nil), http.StatusForbidden, "forbidden")
		refused(t, "delegate rejects", partner.post("/onboarding/"+field(mine, "id")+"/reject", nil), http.StatusForbidden, "forbidden")

		f.op1.post("/onboarding/"+field(mine, "id")+"/approve", nil).must(t, http.StatusOK)
		paris := partner.get("/orgs/acme-paris").must(t, http.StatusOK).JSON
		if paris["kind"] != "subsidiary" || paris["parent"] != "acme" {
			t.Fatalf("subsidiary %v", paris)
		}
		// The partner's administrator may hand its new subsidiary a setup link.
		partner.post("/connections/acme-paris/setup-links", nil).must(t, http.StatusCreated)
		f.op1.post("/connections", map[string]any{"org": "vendor", "slug": "vendor-idp"}).must(t, http.StatusCreated)
		refused(t, "setup link outside the subtree", partner.post("/connections/vendor-idp/setup-links", nil), http.StatusForbidden, "forbidden")
	})
}

// TestOnboardingCLI: the CLI proposes from a file, refuses the proposer's own approval,
// lists and shows, and prints a setup link once that the page accepts.
func TestOnboardingCLI(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			dbURL := dbtest.URL(t, engine)
			cli := func(args ...string) (string, error) {
				var stdout, stderr strings.Builder
				err := run(ctx, append(args, "--database", dbURL), &stdout, &stderr)
				return stdout.String() + stderr.String(), err
			}
			must := func(args ...string) string {
				t.Helper()
				out, err := cli(args...)
				if err != nil {
					t.Fatalf("%v: %v\n%s", args, err, out)
				}
				return out
			}
			must("org", "create", "--name", "Vendor", "--slug", "vendor")
			must("role", "create", "--key", "billing.viewer", "--permission", "billing.read")
			file := t.TempDir() + "/proposal.json"
			if err := os.WriteFile(file, []byte(`{"parent":"vendor","name":"Acme","idp":"generic","owner":"o@vendor.example",
				"admin_user_name":"it@acme.example","mappings":[{"group":"Acme Billing","role":"billing.viewer"}]}`), 0o600); err != nil {
				t.Fatal(err)
			}
			var proposed map[string]any
			if err := json.Unmarshal([]byte(must("onboarding", "propose", "--file", file, "--json")), &proposed); err != nil {
				t.Fatal(err)
			}
			id := field(proposed, "id")
			if proposed["state"] != "proposed" {
				t.Fatalf("proposed %v", proposed)
			}
			if out, err := cli("onboarding", "approve", "--id", id); err == nil || !strings.Contains(err.Error(), "other than its proposer") {
				t.Fatalf("the proposer approved from the CLI: %v\n%s", err, out)
			}
			if out := must("onboarding", "list", "--state", "proposed"); !strings.Contains(out, id) || !strings.Contains(out, "acme") {
				t.Fatalf("list: %s", out)
			}
			if out, err := cli("onboarding", "propose", "--file", t.TempDir()+"/missing.json"); err == nil {
				t.Fatalf("a missing file was accepted: %s", out)
			}

			// A second person approves (an operator key over the API, here the domain as it).
			db, err := sqlstore.Open(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := newServices(db, nil).onboarding.Approve(ctx, orgs.Principal{Operator: "bob"}, id, "ok"); err != nil {
				t.Fatal(err)
			}
			if out := must("onboarding", "show", "--id", id); !strings.Contains(out, "approved") || !strings.Contains(out, "setup-link create --connection acme") {
				t.Fatalf("show: %s", out)
			}
			out := must("setup-link", "create", "--connection", "acme", "--ttl", "1h", "--base-url", "http://partner.invalid/")
			if !strings.Contains(out, "URL (shown once): http://partner.invalid/setup/oscset_") {
				t.Fatalf("setup-link create: %s", out)
			}
			secret := out[strings.Index(out, "/setup/")+len("/setup/"):]
			secret = strings.TrimSpace(secret)
			svc := newServices(db, nil).onboarding
			conn, token, err := svc.RevealSetupLink(ctx, secret)
			if err != nil || conn.Slug != "acme" || !strings.HasPrefix(token, orgs.TokenPrefix) {
				t.Fatalf("reveal of the CLI's link: %v, %v", conn, err)
			}
			if _, _, err := svc.RevealSetupLink(ctx, secret); orgscim.ErrorCode(err) != orgscim.NotFound {
				t.Fatalf("second reveal: %v", err)
			}
			if _, err := cli("setup-link", "create", "--connection", "nope"); err == nil {
				t.Fatal("a link for an unknown connection")
			}
		})
	}
}

// TestOnboardedPartnerOffboarded: a partner whose relationship ends before its IdP ever
// pushed has its pending connection suspended by the reconciler like an active one, and
// a setup link for it reveals nothing that works.
func TestOnboardedPartnerOffboarded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		f := newOnboardingFixture(t, db)
		id := field(f.op1.post("/onboarding", f.proposal("Acme")).must(t, http.StatusCreated).JSON, "id")
		f.op2.post("/onboarding/"+id+"/approve", nil).must(t, http.StatusOK)
		url := field(f.op1.post("/connections/acme/setup-links", nil).must(t, http.StatusCreated).JSON, "url")
		token := between(getPage(t, "POST", url).body, `<code id="token" class="secret">`, `</code>`)

		f.op1.call("PATCH", "/orgs/acme", map[string]any{"status": "ended"}).must(t, http.StatusOK)
		c := &scimClient{t: t, env: f.env, slug: "acme", token: token}
		c.list().scimError(t, http.StatusUnauthorized, "")
		// The reconciler's PostgreSQL lock is one per database: another package's test may
		// hold it for as long as its pass takes on a busy machine, so a pass that finds it
		// taken is tried again. The deadline bounds a hang, not the other pass.
		for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			_, err := newReconciler(db, f.env.clock.Now).Once(actor{}.ctx(ctx), reconcile.Options{})
			if err == nil {
				break
			}
			if orgscim.ErrorCode(err) != orgscim.Conflict || time.Now().After(deadline) {
				t.Fatal(err)
			}
		}
		if st := f.op1.get("/connections/acme").must(t, http.StatusOK).JSON["status"]; st != "suspended" {
			t.Fatalf("after offboarding the connection is %v", st)
		}
		evs := f.auditRows(t, "action=connection.update")
		if len(evs) != 1 || field(evs[0], "diff", "status", "before") != "pending" {
			t.Fatalf("offboarding events %v", evs)
		}
		refused(t, "setup link for a suspended connection", f.op1.post("/connections/acme/setup-links", nil), http.StatusConflict, "conflict")
	})
}

// TestOnboardedAdministratorAdoptedByIdP: approval creates the first administrator ahead
// of the partner's IdP; once the partner holds its domain verified, Okta's first push of
// that person (a POST, without looking it up) adopts it, keeping its id and delegation, rather than failing on the taken userName
// or creating a second identity.
func TestOnboardedAdministratorAdoptedByIdP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newOnboardingFixture(t, db)
		p := f.proposal("Acme")
		p["idp"] = "okta"
		id := field(f.op1.post("/onboarding", p).must(t, http.StatusCreated).JSON, "id")
		f.op2.post("/onboarding/"+id+"/approve", nil).must(t, http.StatusOK)
		url := field(f.op1.post("/connections/acme/setup-links", nil).must(t, http.StatusCreated).JSON, "url")
		token := between(getPage(t, "POST", url).body, `<code id="token" class="secret">`, `</code>`)
		c := &scimClient{t: t, env: f.env, slug: "acme", token: token}
		before := resources(t, c.list("filter", `userName eq "it@acme.example"`).must(t, http.StatusOK))
		if len(before) != 1 {
			t.Fatalf("the first administrator before the push: %v", before)
		}
		push := func() *reply {
			return c.do("POST", "/Users", map[string]any{"schemas": []any{userSchemaURN}, "userName": "it@acme.example",
				"externalId": "00u1okta", "name": map[string]any{"givenName": "Ida", "familyName": "Tech"},
				"emails": []any{map[string]any{"value": "it@acme.example", "type": "work", "primary": true}}, "active": true})
		}
		// Until acme holds acme.example verified, an address in it proves nothing: the
		// push links nothing by e-mail, and the taken userName refuses it.
		f.op1.call("PATCH", "/connections/acme/policy", map[string]any{"require_verified_domain": false}).must(t, http.StatusOK)
		push().scimError(t, http.StatusConflict, "uniqueness")
		holdVerified(t, db, "acme", "acme.example")
		pushed := push()
		pushed.must(t, http.StatusCreated)
		if pushed.JSON["id"] != before[0]["id"] || pushed.JSON["externalId"] != "00u1okta" {
			t.Errorf("the push made %v; want the onboarded administrator %v, now the IdP's", pushed.JSON["id"], before[0]["id"])
		}
		if all := resources(t, c.list().must(t, http.StatusOK)); len(all) != 1 {
			t.Errorf("%d users after the push; want the one administrator", len(all))
		}
		// Adopted once: another person with that e-mail is the IdP's own new user.
		c.do("POST", "/Users", map[string]any{"schemas": []any{userSchemaURN}, "userName": "it2@acme.example",
			"emails": []any{map[string]any{"value": "it@acme.example", "primary": true}}}).must(t, http.StatusCreated)
	})
}

// TestOnboardingListPages: the list is newest first and paged by cursor like every
// other listing; a cursor it did not give is refused.
func TestOnboardingListPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newOnboardingFixture(t, db)
		var ids []string
		for _, name := range []string{"Acme", "Globex", "Initech"} {
			ids = append(ids, field(f.op1.post("/onboarding", f.proposal(name)).must(t, http.StatusCreated).JSON, "id"))
		}
		first := f.op1.get("/onboarding?limit=2").must(t, http.StatusOK).JSON
		items := first["items"].([]any)
		cursor, _ := first["next_cursor"].(string)
		if len(items) != 2 || field(items[0], "id") != ids[2] || field(items[1], "id") != ids[1] || cursor == "" {
			t.Fatalf("first page %v", first)
		}
		second := f.op1.get("/onboarding?limit=2&cursor="+cursor).must(t, http.StatusOK).JSON
		items = second["items"].([]any)
		if len(items) != 1 || field(items[0], "id") != ids[0] || second["next_cursor"] != nil {
			t.Fatalf("second page %v", second)
		}
		refused(t, "a forged cursor", f.op1.get("/onboarding?cursor=x'--"), http.StatusBadRequest, "invalid")
		if none := f.op1.get("/onboarding?state=approved").must(t, http.StatusOK).JSON["items"].([]any); len(none) != 0 {
			t.Errorf("approved requests: %v", none)
		}
	})
}
