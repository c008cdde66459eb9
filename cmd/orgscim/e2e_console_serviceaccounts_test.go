package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestConsoleServiceAccounts: an org's service accounts in the console, with the admin
// API's rules and audit: created within the lifetime policy (bad input answered next to
// its field), granted a plain role, a privileged one only through an approved elevation,
// a token issued (its secret shown once) and revoked, an orphan highlighted and
// reassigned, retired for a reason. A delegate sees only their subtree's accounts. On
// both engines.
func TestConsoleServiceAccounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		defer func() {
			if t.Failed() {
				t.Log(f.env.logs.String())
			}
		}()
		f.oper.post("/roles", map[string]any{"key": "admin", "permissions": []string{"reports.*"}, "privileged": true,
			"max_duration_seconds": 8 * 3600}).must(t, http.StatusCreated)
		alice := f.operatorBrowser(t, "alice")
		alice.get("/console/orgs/acme").must(t, http.StatusOK, `id="org-service-accounts-link"`)
		list := alice.get("/console/orgs/acme/service-accounts").must(t, http.StatusOK, `id="service-account-form"`, `id="no-service-accounts"`, "90 days")
		create := func(b *browser, page consolePage, values url.Values) consolePage {
			values.Set("csrf", page.csrf(t))
			return b.do("POST", "/console/orgs/acme/service-accounts", values)
		}
		for _, c := range []struct {
			what   string
			values url.Values
			status int
			want   []string
		}{
			{"bad name", url.Values{"name": {"Billing Sync"}, "connection": {"acme"}, "user": {"sam@acme.example"}}, http.StatusBadRequest,
				[]string{`id="sa-name-problem"`, "must be lower-case letters"}},
			{"beyond the policy", url.Values{"name": {"billing-sync"}, "connection": {"acme"}, "user": {"sam@acme.example"}, "expires": {"2039-01-01"}},
				http.StatusBadRequest, []string{`id="sa-expires-problem"`, "lives at most"}},
			{"not a date", url.Values{"name": {"billing-sync"}, "connection": {"acme"}, "user": {"sam@acme.example"}, "expires": {"soon"}},
				http.StatusBadRequest, []string{`id="sa-expires-problem"`, "YYYY-MM-DD"}},
			{"unknown owner", url.Values{"name": {"billing-sync"}, "connection": {"acme"}, "user": {"nobody@acme.example"}}, http.StatusBadRequest,
				[]string{`id="sa-user-problem"`, "no person with user name"}},
			{"owner outside", url.Values{"name": {"billing-sync"}, "connection": {"globex"}, "user": {"gil@globex.example"}}, http.StatusBadRequest,
				[]string{`id="sa-connection-problem"`, "does not cover org acme"}},
		} {
			page := create(alice, list, c.values).must(t, c.status, c.want...)
			if !strings.Contains(page.body, `value="`+c.values.Get("name")+`"`) {
				t.Errorf("%s: the form is not filled in again", c.what)
			}
		}
		alice.do("POST", "/console/orgs/acme/service-accounts", url.Values{"name": {"x"}, "connection": {"acme"}, "user": {"sam@acme.example"}}).
			must(t, http.StatusForbidden, "did not come from the console")
		if got := at(f.oper.get("/service-accounts?org=acme").must(t, http.StatusOK).JSON, "service_accounts").([]any); len(got) != 0 {
			t.Fatalf("refused forms created %v", got)
		}
		sa := create(alice, list, url.Values{"name": {"billing-sync"}, "description": {"nightly billing export"}, "connection": {"acme"}, "user": {"sam@acme.example"}}).
			must(t, http.StatusOK, "Done: created", "billing-sync", "sam@acme.example", "status-active", `id="sa-grant-form"`, `id="token-form"`)
		saURL := strings.SplitN(sa.url[strings.Index(sa.url, "/console/"):], "?", 2)[0]
		if ev := f.lastEvent(t, "service_account.create"); !strings.HasPrefix(field(ev, "actor"), "console_session:") {
			t.Errorf("the creation's event: %v", ev)
		}

		// A plain role is granted; a privileged one is not offered, and refused if posted.
		if strings.Contains(sa.body[strings.Index(sa.body, `id="sa-grant-form"`):strings.Index(sa.body, `id="sa-elevation-form"`)], `value="admin"`) {
			t.Error("the grant form offers the privileged role")
		}
		grant := func(values url.Values) consolePage {
			values.Set("csrf", sa.csrf(t))
			return alice.do("POST", saURL+"/grants", values)
		}
		grant(url.Values{"role": {"viewer"}, "org": {"globex"}}).must(t, http.StatusForbidden, `id="grant-org-problem"`, "outside the subtree")
		grant(url.Values{"role": {"admin"}, "org": {"acme"}}).must(t, http.StatusForbidden, `id="grant-role-problem"`, "only through an approved elevation")
		grant(url.Values{"role": {"viewer"}, "org": {"emea"}, "reason": {"reads the reports"}}).must(t, http.StatusOK, "Done: granted", `id="service-account-grants"`)
		alice.do("POST", saURL+"/elevations", url.Values{"csrf": {sa.csrf(t)}, "role": {"admin"}, "org": {"acme"}, "hours": {"100"}, "reason": {"year end"}}).
			must(t, http.StatusBadRequest, `id="elevation-hours-problem"`, "at most 8h0m0s")
		alice.do("POST", saURL+"/elevations", url.Values{"csrf": {sa.csrf(t)}, "role": {"admin"}, "org": {"acme"}, "hours": {"2"}, "reason": {"year end"}}).
			must(t, http.StatusOK, "elevation requested")
		bob := f.operatorBrowser(t, "bob")
		queue := bob.get("/console/elevations").must(t, http.StatusOK, "year end", "billing-sync")
		bob.do("POST", queue.action(t, "/console/elevations/[^\"]+/approve"), url.Values{"csrf": {queue.csrf(t)}, "reason": {"checked"}}).
			must(t, http.StatusOK, "Done: approved")
		alice.get(saURL).must(t, http.StatusOK, ">admin<", ">elevation<", ">viewer<")
		alice.get(saURL+"/why?permission=reports.read&org=emea").must(t, http.StatusOK, `class="allowed"`, "role viewer on Emea", "alice (operator)")
		alice.get(saURL+"/why?permission=reports.read&org=globex").must(t, http.StatusOK, `class="denied"`)

		// A token's secret is shown on the answer that issues it, and never again.
		issued := alice.do("POST", saURL+"/tokens", url.Values{"csrf": {sa.csrf(t)}}).must(t, http.StatusCreated, `id="token-secret"`, "osint_")
		secret := issued.body[strings.Index(issued.body, "<code>osint_")+len("<code>"):]
		secret = secret[:strings.Index(secret, "<")]
		page := alice.get(saURL).must(t, http.StatusOK, "usable", "revoke-token")
		if strings.Contains(page.body, secret) || strings.Contains(page.body, `id="token-secret"`) {
			t.Fatal("the token's secret is shown again")
		}
		alice.do("POST", page.action(t, saURL+"/tokens/[^\"]+/revoke"), url.Values{"csrf": {page.csrf(t)}}).
			must(t, http.StatusOK, "Done: token revoked", "revoked ")

		// pat administers acme's members: sees the account; not globex's.
		gsa := f.oper.post("/service-accounts", map[string]any{"org": "globex", "name": "globex-sync",
			"owner": map[string]any{"connection": "globex", "user_id": f.people["gil"]}}).must(t, http.StatusCreated).JSON
		pat := f.browser(t)
		pat.signIn("pat-sub").must(t, http.StatusOK)
		pat.get("/console/orgs/acme/service-accounts").must(t, http.StatusOK, "billing-sync")
		pat.get("/console/orgs/globex/service-accounts").must(t, http.StatusNotFound)
		pat.get("/console/service-accounts/"+field(gsa, "id")).must(t, http.StatusNotFound)
		if p := pat.get(saURL).must(t, http.StatusOK); strings.Contains(p.body, `value="editor"`) {
			t.Error("pat is offered a role pat does not hold")
		}

		// sam leaves: the account is an orphan, highlighted, until pat takes it over.
		f.deactivate(t, "sam")
		alice.get(saURL+"/why?permission=reports.read&org=emea").must(t, http.StatusOK, `class="denied"`, "no longer")
		alice.get("/console/orgs/acme/service-accounts").must(t, http.StatusOK, `id="orphans-warning"`, "status-orphaned", `class="attention"`)
		orphan := alice.get(saURL).must(t, http.StatusOK, `id="orphan-warning"`, `id="reassign-form"`)
		if strings.Contains(orphan.body, `id="sa-grant-form"`) {
			t.Error("an orphan is offered a grant")
		}
		alice.do("POST", saURL+"/reassign", url.Values{"csrf": {orphan.csrf(t)}, "connection": {"acme"}, "user": {"sam@acme.example"}}).
			must(t, http.StatusBadRequest, `id="reassign-user-problem"`, "not active")
		alice.do("POST", saURL+"/reassign", url.Values{"csrf": {orphan.csrf(t)}, "connection": {"acme"}, "user": {"pat@acme.example"}, "reason": {"sam left"}}).
			must(t, http.StatusOK, "Done: reassigned", "status-active", "pat@acme.example")

		// Retiring needs a reason, and ends its grants and tokens.
		alice.do("POST", saURL+"/retire", url.Values{"csrf": {orphan.csrf(t)}}).
			must(t, http.StatusBadRequest, `id="retire-reason-problem"`, "a reason is required")
		retired := alice.do("POST", saURL+"/retire", url.Values{"csrf": {orphan.csrf(t)}, "reason": {"replaced by the new exporter"}}).
			must(t, http.StatusOK, "Done: retired", "status-retired", "replaced by the new exporter", `id="no-grants"`)
		for _, form := range []string{`id="retire-form"`, `id="reassign-form"`, `id="token-form"`} {
			if strings.Contains(retired.body, form) {
				t.Errorf("a retired account offers %s", form)
			}
		}
		alice.get("/console/orgs/acme/service-accounts").must(t, http.StatusOK, `id="no-service-accounts"`)
		alice.get("/console/orgs/acme/service-accounts?retired=1").must(t, http.StatusOK, "billing-sync")
	})
}
