package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestConsoleAdministrationInChromium drives elevations, step-up, delegations and
// mappings in a real browser on each engine: an operator asks for a privileged role
// for a person (bad input first), the partner's administrator — signed in six minutes
// earlier — is sent back through the IdP to approve it, delegates to a colleague,
// revokes that delegation with a successor, and rejects a draft mapping. Every page is
// checked by axe-core and photographed.
func TestConsoleAdministrationInChromium(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		f.oper.call("PATCH", "/orgs/acme", map[string]any{"brand": map[string]any{"display_name": "Acme Partners",
			"primary_color": "#0b5394", "accent_color": "#e69138"}}).must(t, http.StatusOK)
		f.oper.post("/roles", map[string]any{"key": "admin", "permissions": []string{"reports.*"}, "privileged": true,
			"max_duration_seconds": 8 * 3600}).must(t, http.StatusCreated)
		f.oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": f.people["pat"],
			"capabilities": []string{"manage_members", "approve", "delegate"}, "depth": 1}).must(t, http.StatusCreated)
		b := f.tab(t)

		// alice asks for admin on emea for sam.
		b.operator("alice")
		b.run("open elevations", chromedp.Click("#nav-elevations"), chromedp.WaitVisible("#elevation-form"))
		b.run("ask for too long", chromedp.SetValue("#elevation-connection", "acme"), chromedp.SetValue("#elevation-user", "sam@acme.example"),
			chromedp.SetValue("#elevation-role", "admin"), chromedp.SetValue("#elevation-org", "emea"), chromedp.SetValue("#elevation-hours", "100"),
			chromedp.SetValue("#elevation-reason", "incident 42"), chromedp.Click("#request-elevation"), chromedp.WaitVisible("#elevation-hours-problem"))
		if p := b.text("#elevation-hours-problem"); !strings.Contains(p, "at most 8h0m0s") {
			t.Errorf("the duration's problem reads %q", p)
		}
		b.check("elevations-invalid")
		b.run("ask for two hours", chromedp.SetValue("#elevation-hours", "2"), chromedp.Click("#request-elevation"), chromedp.WaitVisible("#pending-elevations"))
		if n, err := chromedp.Run(b.browser, chromedp.Evaluate[int](`document.querySelectorAll(".approve-elevation").length`)); err != nil || n != 0 {
			t.Fatalf("alice is offered %d approve buttons on her own request (%v)", n, err)
		}
		b.run("sign alice out", chromedp.Click("#sign-out"), chromedp.WaitVisible("#signed-out"))

		// pat signed in six minutes ago: approving sends pat back through the IdP first.
		b.delegate("pat-sub")
		f.env.clock.advance(6 * time.Minute)
		b.run("open elevations", chromedp.Click("#nav-elevations"), chromedp.WaitVisible(".approve-elevation"))
		b.check("elevations")
		b.run("approve", chromedp.SetValue(`#pending-elevations input[name="reason"]`, "checked with the on-call lead"),
			chromedp.Click(".approve-elevation"), chromedp.WaitVisible("#step-up"))
		b.check("step-up")
		f.idp.FastForward(f.env.clock.Now().Sub(f.idp.Now()))
		f.idp.QueueUser(&mockoidc.MockUser{Subject: "pat-sub", Email: "pat-sub@idp.example", EmailVerified: true})
		b.run("sign in again", chromedp.Click("#step-up-sign-in"), chromedp.WaitVisible(".approve-elevation"))
		b.run("approve again", chromedp.SetValue(`#pending-elevations input[name="reason"]`, "checked with the on-call lead"),
			chromedp.Click(".approve-elevation"), chromedp.WaitVisible("#no-elevations"))
		if n := b.text("#notice"); n != "Done: approved." {
			t.Fatalf("after approving: %q", n)
		}
		if ev := f.lastEvent(t, "elevation.approve"); authenticatedAt(ev) == "" {
			t.Fatalf("the approval records no authentication: %v", ev)
		}

		// pat delegates approve on emea to sam, then revokes it with pat as successor.
		b.run("open emea", chromedp.Navigate(f.env.srv.URL+"/console/orgs/emea"), chromedp.WaitVisible("#org-delegations-link"))
		b.run("open its delegations", chromedp.Click("#org-delegations-link"), chromedp.WaitVisible("#delegation-form"))
		b.run("delegate without a capability", chromedp.SetValue("#delegation-connection", "acme"), chromedp.SetValue("#delegation-user", "sam@acme.example"),
			chromedp.SetValue("#delegation-depth", "0"), chromedp.Click("#delegate"), chromedp.WaitVisible("#delegation-capability-problem"))
		b.check("delegations-invalid")
		b.run("delegate", chromedp.Click("#delegation-cap-approve"), chromedp.Click("#delegation-cap-manage_members"), chromedp.Click("#delegate"),
			chromedp.WaitVisible("#delegation-chain"))
		if chain := b.text("#delegation-chain"); !strings.Contains(chain, "sam@acme.example") || !strings.Contains(chain, "pat@acme.example") {
			t.Fatalf("the new delegation's chain reads:\n%s", chain)
		}
		b.check("delegation")
		b.run("the list with its chains", chromedp.Click(`//a[starts-with(., "Delegations on")]`), chromedp.WaitVisible("#delegation-list"))
		b.check("delegations")
		b.run("open sam's delegation", chromedp.Click(`//table[@id="delegation-list"]//a[.="sam@acme.example"]`), chromedp.WaitVisible("#revoke-form"))
		b.run("revoke with pat as successor", chromedp.SetValue("#revoke-reason", "moved teams"), chromedp.SetValue("#successor-connection", "acme"),
			chromedp.SetValue("#successor-user", "pat@acme.example"), chromedp.Click("#successor-cap-approve"), chromedp.SetValue("#successor-depth", "0"),
			chromedp.Click("#revoke-delegation"), chromedp.WaitVisible("#notice"))
		if s := b.text("#delegation-state"); !strings.Contains(s, "revoked") || !strings.Contains(s, "moved teams") {
			t.Fatalf("after the revocation the delegation is %q", s)
		}
		b.check("delegation-revoked")

		// A draft mapping to a privileged role: rejected, with a reason.
		billing := f.acme.createGroup("Acme Billing", f.people["sam"])["id"].(string)
		f.oper.post("/mappings", map[string]any{"connection": "acme", "group_id": billing, "role": "admin", "org": "emea",
			"reason": "billing leads administer reports"}).must(t, http.StatusCreated)
		b.run("open emea", chromedp.Navigate(f.env.srv.URL+"/console/orgs/emea"), chromedp.WaitVisible("#org-mappings"))
		b.check("org-mapping-draft")
		b.run("reject", chromedp.SetValue(`form.reject input[name="reason"]`, "admin is too much for billing"),
			chromedp.Click(".reject-mapping"), chromedp.WaitVisible("#no-mappings"))
		if n := b.text("#notice"); n != "Done: rejected." {
			t.Errorf("after the rejection: %q", n)
		}
		if ev := f.lastEvent(t, "mapping.reject"); field(ev, "diff", "reject_reason", "after") != "admin is too much for billing" {
			t.Errorf("the rejection's event: %v", ev)
		}
	})
}
