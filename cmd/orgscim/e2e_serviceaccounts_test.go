package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/webhooks"
)

// saWorld is a vendor with the partner acme (and its unit emea), acme's SCIM connection
// with two people, and the roles a service account is given.
type saWorld struct {
	env        *e2eEnv
	oper, ops2 *adminClient
	doc        map[string]any
	acme       *scimClient
	pat, sam   string
}

func newSAWorld(t *testing.T, db *sqlstore.DB) *saWorld {
	t.Helper()
	return newSAWorldOn(t, newE2E(t, db))
}

// newSAWorldOn builds the world on a server already started (one serving the Shared
// Signals transmitter, for instance).
func newSAWorldOn(t *testing.T, env *e2eEnv) *saWorld {
	t.Helper()
	doc, ops := env.operators(t, "ops", "ops2")
	w := &saWorld{env: env, oper: ops[0], ops2: ops[1], doc: doc}
	for _, o := range [][2]string{{"vendor", ""}, {"acme", "vendor"}, {"emea", "acme"}, {"globex", "vendor"}} {
		body := map[string]any{"name": o[0], "slug": o[0]}
		if o[1] != "" {
			body["parent"] = o[1]
		}
		w.oper.post("/orgs", body).must(t, http.StatusCreated)
	}
	for _, c := range []string{"acme", "globex"} {
		created := w.oper.post("/connections", map[string]any{"org": c, "slug": c, "idp": "okta"}).must(t, http.StatusCreated).JSON
		if c == "acme" {
			w.acme = &scimClient{t: t, env: env, slug: c, token: field(created, "token")}
		}
	}
	w.pat = w.acme.create(map[string]any{"userName": "pat@acme.example"})["id"].(string)
	w.sam = w.acme.create(map[string]any{"userName": "sam@acme.example"})["id"].(string)
	w.oper.post("/roles", map[string]any{"key": "reports.viewer", "permissions": []string{"reports.read"}, "inherits": true}).must(t, http.StatusCreated)
	w.oper.post("/roles", map[string]any{"key": "billing.admin", "permissions": []string{"billing.write"}, "privileged": true,
		"max_duration_seconds": 8 * 3600}).must(t, http.StatusCreated)
	return w
}

// grantSA gives the service account sa a role on org (until expires, when not nil) and
// returns the grant's id.
func (w *saWorld) grantSA(t *testing.T, sa, role, org string, expires *time.Time) string {
	t.Helper()
	body := map[string]any{"role": role, "org": org, "reason": "integration"}
	if expires != nil {
		body["expires_at"] = expires.Format(time.RFC3339)
	}
	return field(w.oper.post("/service-accounts/"+sa+"/grants", body).must(t, http.StatusCreated).JSON, "id")
}

// createSA creates a service account of acme owned by pat and gives it reports.viewer.
func (w *saWorld) createSA(t *testing.T, name string) map[string]any {
	t.Helper()
	sa := w.oper.post("/service-accounts", map[string]any{"org": "acme", "name": name, "description": "nightly billing export",
		"owner": map[string]any{"connection": "acme", "user_id": w.pat}}).must(t, http.StatusCreated).JSON
	w.oper.post("/service-accounts/"+field(sa, "id")+"/grants", map[string]any{"role": "reports.viewer", "org": "acme",
		"reason": "reads the reports it exports"}).must(t, http.StatusCreated)
	return sa
}

// integrationCheck asks, as the integration holding token, whether it may do perm on org.
func (w *saWorld) integrationCheck(t *testing.T, token, perm, org string) *reply {
	t.Helper()
	return w.env.admin(t, token, w.doc).post("/integration/access/check", map[string]any{"permission": perm, "org": org})
}

func allowedNow(t *testing.T, r *reply) (bool, string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("check: status %d: %s", r.Status, r.Raw)
	}
	return r.JSON["allowed"] == true, field(r.JSON, "reason")
}

// TestServiceAccounts drives issue #18's non-human identities through the real server:
// a service account owned by a person of the partner holds grants like a person; its
// integration token asks what it may do, answered by the authority rule at that moment:
// no as soon as its owner is deactivated over SCIM, yes again once reassigned, no when
// the partner's relationship ends, and a token past its expiry no longer works.
func TestServiceAccounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newSAWorld(t, db)
		oper := w.oper

		// A delegate of emea manages service accounts inside emea only.
		d := oper.post("/delegations", map[string]any{"org": "emea", "connection": "acme", "user_id": w.sam,
			"capabilities": []string{"manage_members"}, "depth": 0}).must(t, http.StatusCreated).JSON
		samKey := w.env.admin(t, field(oper.post("/delegations/"+field(d, "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key"), w.doc)
		refused(t, "delegate creates above its subtree", samKey.post("/service-accounts", map[string]any{"org": "acme", "name": "x",
			"owner": map[string]any{"connection": "acme", "user_id": w.sam}}), http.StatusForbidden, "forbidden")
		own := samKey.post("/service-accounts", map[string]any{"org": "emea", "name": "emea-sync",
			"owner": map[string]any{"connection": "acme", "user_id": w.sam}}).must(t, http.StatusCreated).JSON
		refused(t, "delegate lists above its subtree", samKey.get("/service-accounts?org=acme"), http.StatusForbidden, "forbidden")

		// Bad input changes nothing and says why.
		owner := map[string]any{"connection": "acme", "user_id": w.pat}
		for _, c := range []struct {
			what   string
			body   map[string]any
			status int
			code   string
		}{
			{"no owner", map[string]any{"org": "acme", "name": "x"}, http.StatusBadRequest, "invalid"},
			{"unknown owner", map[string]any{"org": "acme", "name": "x", "owner": map[string]any{"connection": "acme", "user_id": "nobody"}}, http.StatusBadRequest, "invalid"},
			{"owner of another partner", map[string]any{"org": "acme", "name": "x", "owner": map[string]any{"connection": "globex", "user_id": w.pat}}, http.StatusBadRequest, "invalid"},
			{"bad name", map[string]any{"org": "acme", "name": "Not A Name", "owner": owner}, http.StatusBadRequest, "invalid"},
			{"beyond the maximum lifetime", map[string]any{"org": "acme", "name": "x", "owner": owner, "expires_at": "2031-01-01T00:00:00Z"}, http.StatusBadRequest, "invalid"},
			{"unknown org", map[string]any{"org": "nowhere", "name": "x", "owner": owner}, http.StatusNotFound, "not_found"},
		} {
			refused(t, c.what, oper.post("/service-accounts", c.body), c.status, c.code)
		}
		if got := at(oper.get("/service-accounts?org=acme").must(t, http.StatusOK).JSON, "service_accounts").([]any); len(got) != 1 ||
			field(got[0], "id") != field(own, "id") {
			t.Fatalf("refused creations left accounts: %v", got)
		}

		sa := w.createSA(t, "billing-sync")
		id := field(sa, "id")
		refused(t, "delegate reads an account above its subtree", samKey.get("/service-accounts/"+id), http.StatusNotFound, "not_found")
		if field(sa, "state") != "active" || field(sa, "owner", "user_id") != w.pat || field(sa, "org") != "acme" {
			t.Fatalf("created: %v", sa)
		}
		created, _ := time.Parse(time.RFC3339Nano, field(sa, "created_at"))
		expires, _ := time.Parse(time.RFC3339Nano, field(sa, "expires_at"))
		if got := expires.Sub(created); got != 90*24*time.Hour {
			t.Errorf("default lifetime %s, want the policy's 90 days", got)
		}
		refused(t, "same name twice", oper.post("/service-accounts", map[string]any{"org": "acme", "name": "billing-sync", "owner": owner}),
			http.StatusConflict, "conflict")
		refused(t, "privileged role directly", oper.post("/service-accounts/"+id+"/grants", map[string]any{"role": "billing.admin", "org": "acme"}),
			http.StatusForbidden, "forbidden")
		refused(t, "grant outside its subtree", oper.post("/service-accounts/"+id+"/grants", map[string]any{"role": "reports.viewer", "org": "globex"}),
			http.StatusForbidden, "forbidden")

		// Its token: shown once, asks about itself.
		issued := oper.post("/service-accounts/"+id+"/tokens", nil).must(t, http.StatusCreated).JSON
		token := field(issued, "token")
		if !strings.HasPrefix(token, "osint_") {
			t.Fatalf("token %q", token)
		}
		listed := oper.get("/service-accounts/"+id+"/tokens").must(t, http.StatusOK)
		if strings.Contains(string(listed.Raw), token) {
			t.Error("the token list shows the secret")
		}
		if ok, why := allowedNow(t, w.integrationCheck(t, token, "reports.read", "emea")); !ok {
			t.Fatalf("granted account denied (inheriting role, unit emea): %s", why)
		}
		if ok, _ := allowedNow(t, w.integrationCheck(t, token, "billing.write", "acme")); ok {
			t.Fatal("an ungranted permission allowed")
		}
		refused(t, "wrong token", w.integrationCheck(t, "osint_nothing", "reports.read", "acme"), http.StatusUnauthorized, "unauthorized")
		refused(t, "admin key as integration token", oper.post("/integration/access/check", map[string]any{"permission": "reports.read", "org": "acme"}),
			http.StatusUnauthorized, "unauthorized")
		q := url.Values{"permission": {"reports.read"}, "org": {"acme"}}
		if got := oper.get("/service-accounts/"+id+"/access/check?"+q.Encode()).must(t, http.StatusOK).JSON; got["allowed"] != true ||
			len(at(got, "because").([]any)) != 1 {
			t.Errorf("admin check: %v", got)
		}

		// A privileged role only through an approved elevation, by a second person.
		el := oper.post("/service-accounts/"+id+"/elevations", map[string]any{"role": "billing.admin", "org": "acme",
			"reason": "quarter close", "duration_seconds": 3600}).must(t, http.StatusCreated).JSON
		if field(el, "service_account_id") != id || field(el, "state") != "requested" {
			t.Fatalf("elevation: %v", el)
		}
		if ok, _ := allowedNow(t, w.integrationCheck(t, token, "billing.write", "acme")); ok {
			t.Fatal("a requested elevation allows before approval")
		}
		refused(t, "requester approves", oper.post("/elevations/"+field(el, "id")+"/approve", nil), http.StatusForbidden, "forbidden")
		w.ops2.post("/elevations/"+field(el, "id")+"/approve", map[string]any{"reason": "ok"}).must(t, http.StatusOK)
		if ok, why := allowedNow(t, w.integrationCheck(t, token, "billing.write", "acme")); !ok {
			t.Fatalf("approved elevation denied: %s", why)
		}

		// The owner deactivated over SCIM: no at once, no reconciler involved.
		w.acme.patch(w.pat, op("replace", "active", false)).must(t, http.StatusOK)
		ok, why := allowedNow(t, w.integrationCheck(t, token, "reports.read", "acme"))
		if ok || !strings.Contains(why, "owner") {
			t.Fatalf("owner deactivated: allowed=%v reason %q", ok, why)
		}
		if s := field(oper.get("/service-accounts/"+id).must(t, http.StatusOK).JSON, "state"); s != "orphaned" {
			t.Errorf("state with its owner gone: %s", s)
		}
		refused(t, "reassign to an inactive owner", oper.post("/service-accounts/"+id+"/owner", map[string]any{"owner": owner}),
			http.StatusBadRequest, "invalid")

		// Reassigned to sam: yes again.
		re := oper.post("/service-accounts/"+id+"/owner", map[string]any{"owner": map[string]any{"connection": "acme", "user_id": w.sam},
			"reason": "pat left"}).must(t, http.StatusOK).JSON
		if field(re, "state") != "active" || field(re, "owner", "user_id") != w.sam {
			t.Fatalf("reassigned: %v", re)
		}
		if ok, why := allowedNow(t, w.integrationCheck(t, token, "reports.read", "acme")); !ok {
			t.Fatalf("reassigned account denied: %s", why)
		}

		// A token past its expiry no longer works; another one does.
		short := field(oper.post("/service-accounts/"+id+"/tokens", map[string]any{
			"expires_at": w.env.clock.Now().Add(time.Hour).Format(time.RFC3339)}).must(t, http.StatusCreated).JSON, "token")
		allowedNow(t, w.integrationCheck(t, short, "reports.read", "acme"))
		w.env.clock.advance(2 * time.Hour)
		refused(t, "expired token", w.integrationCheck(t, short, "reports.read", "acme"), http.StatusUnauthorized, "unauthorized")
		if ok, why := allowedNow(t, w.integrationCheck(t, token, "reports.read", "acme")); !ok {
			t.Fatalf("unexpired token denied: %s", why)
		}
		// A revoked token stops at once.
		tid := field(issued, "id")
		oper.call("DELETE", "/service-accounts/"+id+"/tokens/"+tid, nil).must(t, http.StatusNoContent)
		refused(t, "revoked token", w.integrationCheck(t, token, "reports.read", "acme"), http.StatusUnauthorized, "unauthorized")
		token = field(oper.post("/service-accounts/"+id+"/tokens", nil).must(t, http.StatusCreated).JSON, "token")

		// The partner's relationship ends: no at once.
		oper.call("PATCH", "/orgs/acme", map[string]any{"status": "ended"}).must(t, http.StatusOK)
		ok, why = allowedNow(t, w.integrationCheck(t, token, "reports.read", "acme"))
		if ok || !strings.Contains(why, "relationship") {
			t.Fatalf("org ended: allowed=%v reason %q", ok, why)
		}
		oper.call("PATCH", "/orgs/acme", map[string]any{"status": "active"}).must(t, http.StatusOK)
		if ok, why := allowedNow(t, w.integrationCheck(t, token, "reports.read", "acme")); !ok {
			t.Fatalf("relationship active again: %s", why)
		}
		// The contract ends (its grace passed): no at once.
		past := w.env.clock.Now().Add(-time.Hour).Format(time.RFC3339)
		oper.call("PATCH", "/orgs/acme", map[string]any{"contract_end": past}).must(t, http.StatusOK)
		if ok, _ := allowedNow(t, w.integrationCheck(t, token, "reports.read", "acme")); ok {
			t.Fatal("an account of an org past its contract allowed")
		}

		// An access review of acme reviews the account's live grants with the people's
		// (the hour-long elevation has expired by now).
		review := oper.post("/reviews", map[string]any{"org": "acme", "name": "service accounts",
			"deadline": w.env.clock.Now().Add(24 * time.Hour)}).must(t, http.StatusCreated).JSON
		var reviewed []string
		for _, it := range at(oper.get("/reviews/"+field(review, "id")+"/items").must(t, http.StatusOK).JSON, "items").([]any) {
			if field(it, "user_id") == id {
				reviewed = append(reviewed, field(it, "role"))
			}
		}
		if strings.Join(sortedCopy(reviewed), " ") != "reports.viewer" {
			t.Errorf("the review's items of the service account: %v", reviewed)
		}

		// Every change is audited on the account's org.
		for _, a := range []string{"service_account.create", "service_account.reassign", "integration_token.create", "integration_token.revoke", "elevation.approve"} {
			if n := len(at(oper.get("/audit?action="+a).must(t, http.StatusOK).JSON, "events").([]any)); n == 0 {
				t.Errorf("no %s event", a)
			}
		}

		// Retired by hand: its grants and tokens go with it.
		oper.call("PATCH", "/orgs/acme", map[string]any{"contract_end": nil}).must(t, http.StatusOK)
		refused(t, "retire without a reason", oper.post("/service-accounts/"+id+"/retire", map[string]any{}), http.StatusBadRequest, "invalid")
		ret := oper.post("/service-accounts/"+id+"/retire", map[string]any{"reason": "integration replaced"}).must(t, http.StatusOK).JSON
		if field(ret, "state") != "retired" {
			t.Errorf("retired: %v", ret)
		}
		refused(t, "retired account's token", w.integrationCheck(t, token, "reports.read", "acme"), http.StatusUnauthorized, "unauthorized")
		if n := len(at(oper.get("/service-accounts/"+id+"/grants").must(t, http.StatusOK).JSON, "grants").([]any)); n != 0 {
			t.Errorf("a retired account keeps %d grants", n)
		}
	})
}

// TestServiceAccountOrphans: an account whose owner the IdP deletes is orphaned by the
// reconciler's pass, listed for acme's administrators with a deadline, and retired by
// the first pass after it; an orphan reassigned in time is not.
func TestServiceAccountOrphans(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newSAWorld(t, db)
		oper := w.oper
		// acme's downstream application subscribes to its service accounts' events.
		var (
			mu    sync.Mutex
			types []string
		)
		recv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			var ev struct{ Type string }
			_ = json.NewDecoder(r.Body).Decode(&ev)
			mu.Lock()
			types = append(types, ev.Type)
			mu.Unlock()
		}))
		defer recv.Close()
		oper.post("/webhooks", map[string]any{"connection": "acme", "url": recv.URL, "actions": []string{"service_account."}}).must(t, http.StatusCreated)
		left := field(w.createSA(t, "left-behind"), "id")
		saved := field(w.createSA(t, "saved"), "id")
		lee := w.acme.create(map[string]any{"userName": "lee@acme.example"})["id"].(string)
		comeback := field(oper.post("/service-accounts", map[string]any{"org": "acme", "name": "comeback",
			"owner": map[string]any{"connection": "acme", "user_id": lee}}).must(t, http.StatusCreated).JSON, "id")
		tok := field(oper.post("/service-accounts/"+left+"/tokens", nil).must(t, http.StatusCreated).JSON, "token")
		rec := newReconciler(db, w.env.clock.Now)
		pass := func() map[string]int {
			t.Helper()
			run, err := rec.Once(context.Background(), reconcile.Options{})
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]int{}
			for _, r := range run.Report.Rules {
				out[r.Rule] = r.Count
			}
			return out
		}
		if got := pass(); got[reconcile.RuleServiceAccountOrphaned] != 0 {
			t.Fatalf("owner present, yet orphaned: %v", got)
		}

		w.acme.do("DELETE", "/Users/"+w.pat, nil).must(t, http.StatusNoContent)
		w.acme.patch(lee, op("replace", "active", false)).must(t, http.StatusOK)
		if got := pass(); got[reconcile.RuleServiceAccountOrphaned] != 3 || got[reconcile.RuleServiceAccountRetired] != 0 {
			t.Fatalf("first pass after the owner left: %v", got)
		}
		orphans := at(oper.get("/service-accounts?org=acme&state=orphaned").must(t, http.StatusOK).JSON, "service_accounts").([]any)
		if len(orphans) != 3 || field(orphans[0], "orphan_deadline") == "" {
			t.Fatalf("orphans listed: %v", orphans)
		}
		// lee comes back before the deadline: comeback is no longer an orphan, so that
		// leaving again would start a fresh deadline.
		w.acme.patch(lee, op("replace", "active", true)).must(t, http.StatusOK)
		if got := pass(); got[reconcile.RuleServiceAccountOrphaned] != 0 || got[reconcile.RuleServiceAccountRetired] != 0 {
			t.Fatalf("second pass before the deadline: %v", got)
		}
		if n := len(at(oper.get("/audit?action=service_account.orphan").must(t, http.StatusOK).JSON, "events").([]any)); n != 3 {
			t.Errorf("%d service_account.orphan events, want 3", n)
		}
		if back := oper.get("/service-accounts/"+comeback).must(t, http.StatusOK).JSON; field(back, "state") != "active" || back["orphan_deadline"] != nil {
			t.Errorf("an orphan whose owner came back: %v", back)
		}

		oper.post("/service-accounts/"+saved+"/owner", map[string]any{"owner": map[string]any{"connection": "acme", "user_id": w.sam}}).must(t, http.StatusOK)
		w.env.clock.advance(15 * 24 * time.Hour)
		if got := pass(); got[reconcile.RuleServiceAccountRetired] != 1 {
			t.Fatalf("pass after the deadline: %v", got)
		}
		gone := oper.get("/service-accounts/"+left).must(t, http.StatusOK).JSON
		if field(gone, "state") != "retired" || field(gone, "retired_by") != "reconciler" || !strings.Contains(field(gone, "retire_reason"), "orphaned") {
			t.Errorf("orphan past its deadline: %v", gone)
		}
		if s := field(oper.get("/service-accounts/"+saved).must(t, http.StatusOK).JSON, "state"); s != "active" {
			t.Errorf("reassigned account: %s", s)
		}
		if n := len(at(oper.get("/service-accounts/"+left+"/grants").must(t, http.StatusOK).JSON, "grants").([]any)); n != 0 {
			t.Errorf("retired orphan keeps %d grants", n)
		}
		refused(t, "retired orphan's token", w.integrationCheck(t, tok, "reports.read", "acme"), http.StatusUnauthorized, "unauthorized")
		evs := at(oper.get("/audit?action=service_account.retire").must(t, http.StatusOK).JSON, "events").([]any)
		if len(evs) != 1 || !strings.Contains(field(evs[0], "actor"), "reconciler") {
			t.Errorf("retire events: %v", evs)
		}
		if got := pass(); got[reconcile.RuleServiceAccountRetired] != 0 {
			t.Errorf("a pass retired again: %v", got)
		}

		// Created, orphaned, reassigned and retired reached the subscriber (the deliverer
		// sends in parallel: compared as a multiset).
		d := &webhooks.Deliverer{Outbox: db.Webhooks(), Now: w.env.clock.Now}
		if _, err := d.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		want := sortedCopy([]string{"service_account.create", "service_account.create", "service_account.create",
			"service_account.orphan", "service_account.orphan", "service_account.orphan", "service_account.adopt",
			"service_account.reassign", "service_account.retire"})
		if strings.Join(sortedCopy(types), " ") != strings.Join(want, " ") {
			t.Errorf("webhook deliveries %v, want %v", types, want)
		}
	})
}

// TestNamedOperatorKeys: an operator key made a named service identity of the vendor
// org works only while its owner, a user of the vendor's own connection, is active; it
// expires within the policy's maximum; a partner's user cannot own one.
func TestNamedOperatorKeys(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		w := newSAWorld(t, db)
		vendor := &scimClient{t: t, env: w.env, slug: "vendor",
			token: field(w.oper.post("/connections", map[string]any{"org": "vendor", "slug": "vendor", "idp": "okta"}).must(t, http.StatusCreated).JSON, "token")}
		alice := vendor.create(map[string]any{"userName": "alice@vendor.example"})["id"].(string)
		svc := newServices(db, w.env.clock.Now)
		vconn, err := svc.dir.Connection(ctx, "vendor")
		if err != nil {
			t.Fatal(err)
		}
		aconn, err := svc.dir.Connection(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		far := w.env.clock.Now().Add(365 * 24 * time.Hour)
		for _, c := range []struct {
			what string
			req  orgs.NamedKeyRequest
		}{
			{"a partner's user as owner", orgs.NamedKeyRequest{Operator: "ci", Name: "deploy-bot", OwnerConnectionID: aconn.ID, OwnerUserID: w.pat}},
			{"an unknown owner", orgs.NamedKeyRequest{Operator: "ci", Name: "deploy-bot", OwnerConnectionID: vconn.ID, OwnerUserID: "nobody"}},
			{"beyond the maximum lifetime", orgs.NamedKeyRequest{Operator: "ci", Name: "deploy-bot", OwnerConnectionID: vconn.ID, OwnerUserID: alice, Expires: &far}},
			{"a bad name", orgs.NamedKeyRequest{Operator: "ci", Name: "Deploy Bot", OwnerConnectionID: vconn.ID, OwnerUserID: alice}},
		} {
			if _, _, err := svc.keys.IssueNamedOperatorKey(ctx, c.req); err == nil {
				t.Errorf("%s: issued", c.what)
			}
		}
		k, secret, err := svc.keys.IssueNamedOperatorKey(ctx, orgs.NamedKeyRequest{Operator: "ci", Name: "deploy-bot",
			OwnerConnectionID: vconn.ID, OwnerUserID: alice})
		if err != nil {
			t.Fatal(err)
		}
		if k.Expires == nil || (k.Expires.Sub(k.Created)-orgs.DefaultServiceAccountLifetime).Abs() > time.Second {
			t.Errorf("default expiry %v after %v", k.Expires, k.Created)
		}
		bot := w.env.admin(t, secret, w.doc)
		bot.get("/me").must(t, http.StatusOK)
		state := func() string {
			t.Helper()
			keys, err := svc.keys.OperatorKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, ks := range keys {
				if ks.Key.ID == k.ID {
					return ks.State
				}
			}
			return "missing"
		}
		vendor.patch(alice, op("replace", "active", false)).must(t, http.StatusOK)
		refused(t, "named key of a deactivated owner", bot.get("/me"), http.StatusUnauthorized, "unauthorized")
		if s := state(); s != "owner-gone" {
			t.Errorf("listed as %s with its owner deactivated", s)
		}
		vendor.patch(alice, op("replace", "active", true)).must(t, http.StatusOK)
		bot.get("/me").must(t, http.StatusOK)
		w.oper.get("/me").must(t, http.StatusOK) // plain operator keys are as before
		w.env.clock.advance(91 * 24 * time.Hour)
		refused(t, "named key past its expiry", bot.get("/me"), http.StatusUnauthorized, "unauthorized")
		if s := state(); s != "expired" {
			t.Errorf("listed as %s past its expiry", s)
		}
		evs := at(w.oper.get("/audit?action=admin_key.create&target="+k.ID).must(t, http.StatusOK).JSON, "events").([]any)
		if len(evs) != 1 || !strings.Contains(mustJSON(evs[0]), "deploy-bot") {
			t.Errorf("admin_key.create of the named key: %v", evs)
		}
	})
}
