package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// axePath is where `make axe` installs axe-core.
const axePath = "../../bin/axe/node_modules/axe-core/axe.min.js"

// consoleScreens is where the test writes each page's screenshots (git-ignored);
// ORGSCIM_CONSOLE_SCREENS names another folder.
func consoleScreens() string {
	if d := os.Getenv("ORGSCIM_CONSOLE_SCREENS"); d != "" {
		return d
	}
	return "../../bin/console-screens"
}

// TestConsoleJourneyInChromium is journey (1) in a real browser against the real server
// and a real OpenID Connect provider: a partner administrator signs in at their IdP,
// sees only their subtree, grants a role through the form, opens "why", and after their
// IdP deactivates them over SCIM is signed out on the next click, with a page that says
// why. Every page is checked with axe-core (no serious or critical violation) and
// photographed at 1280×900 and 390×844. Without chromium or axe-core (make axe) it
// skips, unless ORGSCIM_REQUIRE_CHROMIUM=1.
func TestConsoleJourneyInChromium(t *testing.T) {
	axe, screens := consoleBrowserTools(t)
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		browser := headlessChromium(t)

		run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
			t.Helper()
			chromiumDo(t, browser, what, steps...)
		}
		text := func(sel string) string { t.Helper(); return chromiumText(t, browser, sel) }
		check := func(name string) { t.Helper(); checkConsolePage(t, browser, axe, screens, name) }

		run("open the sign-in page", chromedp.Navigate(f.env.srv.URL+"/console/sign-in"), chromedp.WaitVisible("#connection"))
		check("sign-in")

		// pat signs in at acme's IdP, by the connection's name.
		f.idp.FastForward(f.env.clock.Now().Sub(f.idp.Now()))
		f.idp.QueueUser(&mockoidc.MockUser{Subject: "pat-sub", Email: "pat@idp.example", EmailVerified: true})
		run("sign in", chromedp.SetValue("#connection", "acme"), chromedp.Submit("#connection"), chromedp.WaitVisible("#delegations"))
		if who := text("#who"); who != "Pat Example (acme)" {
			t.Fatalf("signed in as %q", who)
		}
		orgsShown := text("#orgs")
		if !strings.Contains(orgsShown, "Emea") || strings.Contains(orgsShown, "Globex") || strings.Contains(orgsShown, "Vendor") {
			t.Fatalf("pat's subtree shows:\n%s", orgsShown)
		}
		check("home")

		run("open the people", chromedp.Click(`//a[.="People of acme"]`), chromedp.WaitVisible("#people"))
		check("people")
		run("open sam", chromedp.Click(`//a[.="Sam Example"]`), chromedp.WaitVisible("#grant-form"))
		check("person")

		run("grant viewer on emea",
			chromedp.SetValue("#role", "viewer"), chromedp.SetValue("#org", "emea"), chromedp.SetValue("#reason", "quarterly reports"),
			chromedp.Click("#grant"), chromedp.WaitVisible("#access"))
		if access := text("#access"); !strings.Contains(access, "viewer") || !strings.Contains(access, "Emea") {
			t.Fatalf("after the grant sam's access reads:\n%s", access)
		}
		// Bad input: the API's message next to the field.
		run("grant with a bad expiry", chromedp.SetValue("#expires", "next week"), chromedp.Click("#grant"),
			chromedp.WaitVisible("#expires-problem"))
		if p := text("#expires-problem"); !strings.Contains(p, "YYYY-MM-DD") {
			t.Errorf("the expiry's problem reads %q", p)
		}
		check("person-invalid")

		run("open why", chromedp.Click(`//a[contains(@class,"why")]`), chromedp.WaitVisible("#verdict"))
		if v := text("#verdict"); !strings.HasPrefix(v, "Allowed") {
			t.Fatalf("why says %q", v)
		}
		if chain := text("ol.chain"); !strings.Contains(chain, "viewer") || !strings.Contains(chain, "Connection acme") {
			t.Errorf("the chain reads:\n%s", chain)
		}
		check("why")

		// The IdP deactivates pat; the next click signs pat out, saying why.
		f.deactivate(t, "pat")
		run("the next click", chromedp.Click(`//a[starts-with(., "Back to")]`), chromedp.WaitVisible("#signed-out"))
		if m := text("#message"); !strings.Contains(m, "deactivated") {
			t.Fatalf("the signed-out page says %q", m)
		}
		check("signed-out")
		resp, err := chromedp.Run(browser, chromedp.NavigateResponse(f.env.srv.URL+"/console/"))
		if err != nil || resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/console/sign-in") {
			t.Fatalf("after the sign-out /console/ answers %v (%v)", resp, err)
		}
	})
}

// consoleBrowserTools finds what the console's browser tests need: chromium and
// axe-core (make axe), skipping without them unless ORGSCIM_REQUIRE_CHROMIUM=1, and the
// folder for the screenshots, created.
func consoleBrowserTools(t *testing.T) (axe []byte, screens string) {
	t.Helper()
	require := os.Getenv("ORGSCIM_REQUIRE_CHROMIUM") == "1"
	if _, err := os.Stat(chromiumPath); err != nil {
		if require {
			t.Fatalf("ORGSCIM_REQUIRE_CHROMIUM=1 but %s is missing (apt-get install -y chromium)", chromiumPath)
		}
		t.Skipf("%s is not installed (apt-get install -y chromium); set ORGSCIM_REQUIRE_CHROMIUM=1 to fail instead", chromiumPath)
	}
	axe, err := os.ReadFile(axePath)
	if err != nil {
		if require {
			t.Fatalf("ORGSCIM_REQUIRE_CHROMIUM=1 but axe-core is missing: run make axe (%v)", err)
		}
		t.Skipf("axe-core is not installed (make axe): %v", err)
	}
	screens = consoleScreens()
	if err := os.MkdirAll(screens, 0o755); err != nil {
		t.Fatal(err)
	}
	return axe, screens
}

// checkConsolePage runs axe-core on the browser's page (no serious or critical
// violation) and photographs it at 1280×900 and 390×844 into screens as NAME-SIZE.png.
func checkConsolePage(t *testing.T, browser context.Context, axe []byte, screens, name string) {
	t.Helper()
	if _, err := chromedp.Run(browser, chromedp.Evaluate[bool](string(axe)+";true")); err != nil {
		t.Fatalf("chromium, inject axe-core on %s: %v", name, err)
	}
	raw, err := chromedp.Run(browser, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
		JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v =>
			v.impact + " " + v.id + ": " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", "))))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("chromium, axe-core on %s: %v", name, err)
	}
	var violations []string
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		t.Fatalf("axe-core on %s answered %q", name, raw)
	}
	for _, v := range violations {
		t.Errorf("axe-core, page %s: %s", name, v)
	}
	for _, size := range [][2]int64{{1280, 900}, {390, 844}} {
		png, err := chromedp.Run(browser, chromedp.Action[[]byte](func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
			if _, err := chromedp.EmulateViewport(size[0], size[1])(ctx, tg); err != nil {
				return nil, err
			}
			return chromedp.FullScreenshot(100)(ctx, tg)
		}))
		if err != nil {
			t.Fatalf("chromium, screenshot of %s: %v", name, err)
		}
		file := filepath.Join(screens, name+"-"+map[int64]string{1280: "1280x900", 390: "390x844"}[size[0]]+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	chromiumDo(t, browser, "desktop size again", chromedp.EmulateViewport(1280, 900))
}
