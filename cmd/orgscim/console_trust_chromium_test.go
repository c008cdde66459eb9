package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestConsoleTrustInChromium drives the domains and support pages in a real browser on
// each engine: an operator asks for a support session (a duration beyond the maximum
// shown next to its field) and breaks the glass; acme's administrator claims acme.example,
// is shown the record to publish, verifies it against a real DNS server, and approves the
// waiting support session from the queue. Every page is checked by axe-core and
// photographed at 1280×900 and 390×844.
func TestConsoleTrustInChromium(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newTrustFixture(t, db)
		f.oper.call("PATCH", "/orgs/acme", map[string]any{"brand": map[string]any{"display_name": "Acme Partners",
			"primary_color": "#0b5394", "accent_color": "#e69138"}}).must(t, http.StatusOK)
		f.makeAdministrator(t)
		base := f.env.srv.URL + "/console"

		b := f.tab(t)
		b.operator("alice")
		b.run("open acme", chromedp.Navigate(base+"/orgs/acme"), chromedp.WaitVisible("#org-support-link"))
		b.run("open its support sessions", chromedp.Click("#org-support-link"), chromedp.WaitVisible("#support-form"))
		b.run("ask for too long", chromedp.SetValue("#support-ticket", "SUP-7"), chromedp.SetValue("#support-reason", "SSO users missing"),
			chromedp.SetValue("#support-minutes", "900"), chromedp.Click("#request-support"), chromedp.WaitVisible("#support-minutes-problem"))
		if p := b.text("#support-minutes-problem"); !strings.Contains(p, "at most the policy's maximum, 28800 seconds") {
			t.Errorf("the duration's problem reads %q", p)
		}
		b.check("support-invalid")
		b.run("ask for an hour", chromedp.SetValue("#support-minutes", "60"), chromedp.Click("#request-support"), chromedp.WaitVisible("#support-requests"))
		b.run("break the glass", chromedp.SetValue("#support-ticket", "SUP-8"), chromedp.SetValue("#support-reason", "outage: nobody can sign in"),
			chromedp.SetValue("#support-minutes", "30"), chromedp.Click("#support-break-glass"), chromedp.Click("#request-support"),
			chromedp.WaitVisible("#support-open"))
		b.check("support-operator")

		p := f.tab(t)
		p.delegate("pat-sub")
		p.run("open acme", chromedp.Navigate(base+"/orgs/acme"), chromedp.WaitVisible("#org-domains-link"))
		p.run("open its domains", chromedp.Click("#org-domains-link"), chromedp.WaitVisible("#no-claims"))
		p.check("domains-empty")
		p.run("claim acme.example", chromedp.SetValue("#claim-domain", "acme.example"), chromedp.Click("#claim-domain-submit"),
			chromedp.WaitVisible("#domain-claims"))
		p.check("domains-pending")
		claims := f.oper.get("/orgs/acme/domains").must(t, http.StatusOK).JSON["claims"].([]any)
		f.zone.set("_orgscim-challenge.acme.example", field(claims[0], "dns_value"))
		p.run("verify it", chromedp.Click(".verify-domain"), chromedp.WaitVisible(`//p[@id="notice"][contains(., "is verified")]`))
		if n := p.text("#notice"); !strings.Contains(n, "acme.example is verified") {
			t.Errorf("after verifying, the notice reads %q", n)
		}
		p.check("domains-verified")

		// The test's server clock stands still while the IdP's runs on, however long the
		// test has taken so far: a minute passes, so that pat's sign-in is a recent one
		// rather than one further in the future than StepUp's allowance for skew.
		f.advance(time.Minute)
		p.run("open the support queue", chromedp.Navigate(base+"/orgs/acme/support"), chromedp.WaitVisible(".approve-support"))
		p.check("support-queue")
		p.run("approve SUP-7", chromedp.SetValue(`//input[starts-with(@id, "note-")]`, "go ahead"), chromedp.Click(".approve-support"),
			chromedp.WaitVisible("#notice"))
		if n := p.text("#notice"); !strings.Contains(n, "approved the session of alice") {
			t.Errorf("after approving, the notice reads %q", n)
		}
		p.check("support-approved")
	})
}
