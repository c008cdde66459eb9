package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestConsoleActorsInChromium drives the pages of the actors beside people in a real
// browser on each engine: an operator creates a service account (bad input first),
// issues a token whose secret is shown once, and finds it orphaned when its owner
// leaves; acme's administrator proposes an MSP engagement for globex and the vendor's
// operator consents to it. Every page is checked by axe-core and photographed.
func TestConsoleActorsInChromium(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		f.oper.call("PATCH", "/orgs/acme", map[string]any{"brand": map[string]any{"display_name": "Acme Partners",
			"primary_color": "#0b5394", "accent_color": "#e69138"}}).must(t, http.StatusOK)
		f.oper.post("/roles", map[string]any{"key": "admin", "permissions": []string{"reports.*"}, "privileged": true,
			"max_duration_seconds": 8 * 3600}).must(t, http.StatusCreated)
		f.oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": f.people["pat"],
			"capabilities": []string{"manage_members", "approve", "delegate"}, "depth": 1}).must(t, http.StatusCreated)
		b := f.tab(t)

		b.operator("alice")
		b.run("open acme", chromedp.Navigate(f.env.srv.URL+"/console/orgs/acme"), chromedp.WaitVisible("#org-service-accounts-link"))
		b.run("open its service accounts", chromedp.Click("#org-service-accounts-link"), chromedp.WaitVisible("#service-account-form"))
		b.run("create with a bad name", chromedp.SetValue("#sa-name", "Billing Sync"), chromedp.SetValue("#sa-connection", "acme"),
			chromedp.SetValue("#sa-user", "sam@acme.example"),
			chromedp.Click("#create-service-account"), chromedp.WaitVisible("#sa-name-problem"))
		if p := b.text("#sa-name-problem"); !strings.Contains(p, "lower-case") {
			t.Errorf("the name's problem reads %q", p)
		}
		b.check("service-accounts-invalid")
		b.run("create", chromedp.SetValue("#sa-name", "billing-sync"), chromedp.SetValue("#sa-description", "nightly billing export"),
			chromedp.Click("#create-service-account"), chromedp.WaitVisible("#sa-grant-form"))
		b.run("grant viewer on emea", chromedp.SetValue("#grant-role", "viewer"), chromedp.SetValue("#grant-org", "emea"),
			chromedp.SetValue("#grant-reason", "reads the reports it exports"), chromedp.Click("#grant-role-button"), chromedp.WaitVisible("#service-account-grants"))
		b.run("ask why", chromedp.SetValue("#why-permission", "reports.read"), chromedp.SetValue("#why-org", "emea"),
			chromedp.Click("#why"), chromedp.WaitVisible("#verdict"))
		if v := b.text("#verdict"); !strings.HasPrefix(v, "Allowed") {
			t.Errorf("why reads %q", v)
		}
		b.check("service-account-why")
		b.run("back", chromedp.Click(`//a[.="Back to billing-sync"]`), chromedp.WaitVisible("#token-form"))
		b.run("issue a token", chromedp.Click("#issue-token"), chromedp.WaitVisible("#token-secret"))
		if s := b.text("#token-secret"); !strings.Contains(s, "osint_") {
			t.Fatalf("the new token reads %q", s)
		}
		b.check("service-account-token")
		f.deactivate(t, "sam")
		b.run("back to the list", chromedp.Click(`//a[starts-with(., "Service accounts of")]`), chromedp.WaitVisible("#orphans-warning"))
		b.check("service-accounts")
		b.run("open the orphan", chromedp.Click(`//a[.="billing-sync"]`), chromedp.WaitVisible("#orphan-warning"))
		b.check("service-account-orphan")
		b.run("sign alice out", chromedp.Click("#sign-out"), chromedp.WaitVisible("#signed-out"))

		// pat proposes that acme administer globex.
		b.delegate("pat-sub")
		b.run("open acme", chromedp.Navigate(f.env.srv.URL+"/console/orgs/acme"), chromedp.WaitVisible("#org-engagements-link"))
		b.run("open its engagements", chromedp.Click("#org-engagements-link"), chromedp.WaitVisible("#engagement-form"))
		b.run("propose without a capability", chromedp.SetValue("#engagement-customer", "globex"), chromedp.Click("#propose-engagement"),
			chromedp.WaitVisible("#engagement-capability-problem"))
		b.check("engagements-invalid")
		b.run("propose", chromedp.Click("#engagement-cap-manage_members"), chromedp.SetValue("#engagement-reason", "outsourced helpdesk"),
			chromedp.Click("#propose-engagement"), chromedp.WaitVisible("#technician-form"))
		b.run("name sam's colleague pat", chromedp.SetValue("#technician-connection", "acme"), chromedp.SetValue("#technician-user", "pat@acme.example"),
			chromedp.Click("#technician-cap-manage_members"), chromedp.Click("#name-technician"), chromedp.WaitVisible("#technicians"))
		b.check("engagement-proposed")
		where := b.location()
		b.run("sign pat out", chromedp.Click("#sign-out"), chromedp.WaitVisible("#signed-out"))

		// The vendor consents (alice signed in just now: no step-up).
		b.operator("alice")
		b.run("open the engagement", chromedp.Navigate(strings.SplitN(where, "?", 2)[0]), chromedp.WaitVisible("#consent-vendor"))
		b.run("consent", chromedp.Click("#consent-vendor"), chromedp.WaitVisible("#notice"))
		if s := b.text("#engagement-facts"); !strings.Contains(s, "alice") {
			t.Errorf("after the vendor's consent: %q", s)
		}
		b.check("engagement")
		b.run("the list", chromedp.Navigate(f.env.srv.URL+"/console/orgs/acme/engagements"), chromedp.WaitVisible("#engagement-list"))
		b.check("engagements")
	})
}
