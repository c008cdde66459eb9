package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestConsoleQuarantineInChromium: acme's administrator, in a real browser on each
// engine, finds the two users held outside acme's verified domain on the domains page,
// releases one and rejects the other with their buttons. Each page is checked by axe-core
// and photographed at 1280×900 and 390×844.
func TestConsoleQuarantineInChromium(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f, x, y := quarantineFixture(t, db)
		base := f.env.srv.URL + "/console"
		p := f.tab(t)
		p.delegate("pat-sub")
		p.run("open acme's domains", chromedp.Navigate(base+"/orgs/acme/domains"), chromedp.WaitVisible("#held-acme-"+x))
		p.check("quarantine-held")
		p.run("release x", chromedp.Click("#held-acme-"+x+" .release-held"), chromedp.WaitVisible("#notice"))
		if n := p.text("#notice"); !strings.Contains(n, "released x@gmail.example into acme") {
			t.Errorf("after releasing, the notice reads %q", n)
		}
		p.check("quarantine-released")
		p.run("reject y", chromedp.Click("#held-acme-"+y+" .reject-held"), chromedp.WaitVisible(`//p[@id="notice"][contains(., "rejected")]`))
		if n := p.text("#notice"); !strings.Contains(n, "rejected y@gmail.example") {
			t.Errorf("after rejecting, the notice reads %q", n)
		}
		p.check("quarantine-rejected")
		if got := heldIDs(t, f); len(got) != 0 {
			t.Errorf("held after the decisions in the browser: %v", got)
		}
	})
}
