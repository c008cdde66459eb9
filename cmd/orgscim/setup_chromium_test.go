package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// chromiumPath is Debian's chromium package.
const chromiumPath = "/usr/bin/chromium"

// TestSetupPageInChromium is what the partner's IT administrator does, in a real
// browser against the real server: open the setup link, which wears the org's brand and
// says when it expires, copy the SCIM URL with its button, press the button that
// reveals the token, copy the token with its button; the token from the clipboard works
// against the connection's SCIM endpoint; opening the link again shows the refusal.
// Without chromium it skips, unless ORGSCIM_REQUIRE_CHROMIUM=1 (CI). With
// ORGSCIM_SETUP_SCREENSHOT=FILE.png it saves a screenshot of the revealed page.
func TestSetupPageInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("ORGSCIM_REQUIRE_CHROMIUM") == "1" {
			t.Fatalf("ORGSCIM_REQUIRE_CHROMIUM=1 but %s is missing (apt-get install -y chromium)", chromiumPath)
		}
		t.Skipf("%s is not installed (apt-get install -y chromium); set ORGSCIM_REQUIRE_CHROMIUM=1 to fail instead", chromiumPath)
	}
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newOnboardingFixture(t, db)
		p := f.proposal("Acme")
		p["idp"] = "okta"
		id := field(f.op1.post("/onboarding", p).must(t, http.StatusCreated).JSON, "id")
		f.op2.post("/onboarding/"+id+"/approve", nil).must(t, http.StatusOK)
		const logo = "https://logo.acme.example/acme.png"
		f.op1.call("PATCH", "/orgs/acme", map[string]any{"brand": map[string]any{"display_name": "Acme Partners",
			"logo_url": logo, "primary_color": "#0b5394", "accent_color": "#e69138"}}).must(t, http.StatusOK)
		link := f.op1.post("/connections/acme/setup-links", nil).must(t, http.StatusCreated).JSON
		url := field(link, "url")
		expires, err := time.Parse(time.RFC3339, field(link, "expires_at"))
		if err != nil {
			t.Fatalf("setup link %v: %v", link, err)
		}

		browser := headlessChromium(t)
		// The administrator's browser lets the page write the clipboard, and the test
		// read it back.
		for _, perm := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(browser, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: perm}, Setting: cdpbrowser.PermissionSettingGranted,
				Origin: f.env.srv.URL}); err != nil {
				t.Fatalf("chromium, grant %s: %v", perm, err)
			}
		}

		run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
			t.Helper()
			chromiumDo(t, browser, what, steps...)
		}
		text := func(sel string) string { t.Helper(); return chromiumText(t, browser, sel) }

		// Opening the link shows the base URL and Okta's steps, and uses nothing.
		first, err := chromedp.Run(browser, chromedp.NavigateResponse(url))
		if err != nil || first.Status != http.StatusOK {
			t.Fatalf("chromium, first visit: %v, %v", first, err)
		}
		if base := text("#base-url"); base != f.env.srv.URL+"/scim/v2/acme" {
			t.Fatalf("page shows base URL %q", base)
		}
		if steps := text("#instructions-okta"); !strings.Contains(steps, "SCIM connector base URL") {
			t.Fatalf("page shows instructions %q", steps)
		}
		if note := text("#status-note"); !strings.Contains(note, "stays pending") {
			t.Errorf("a pending connection's page says %q", note)
		}

		// The org's brand: its display name, logo and colours.
		if name := text("#brand-name"); name != "Acme Partners" {
			t.Errorf("brand name %q", name)
		}
		if src, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.querySelector("#brand-logo").src`)); err != nil || src != logo {
			t.Errorf("brand logo %q (%v)", src, err)
		}
		style := func(sel, prop string) string {
			t.Helper()
			v, err := chromedp.Run(browser, chromedp.Evaluate[string](
				`getComputedStyle(document.querySelector("`+sel+`")).getPropertyValue("`+prop+`")`))
			if err != nil {
				t.Fatalf("chromium, style of %s: %v", sel, err)
			}
			return v
		}
		if bg, ink := style("#brand", "background-color"), style("#brand", "color"); bg != "rgb(11, 83, 148)" || ink != "rgb(255, 255, 255)" {
			t.Errorf("brand band in %s on %s; want white on the primary colour rgb(11, 83, 148)", ink, bg)
		}
		// The link's expiry, as the admin API reported it.
		if when, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.querySelector("#expiry time").getAttribute("datetime")`)); err != nil || when != expires.UTC().Format(time.RFC3339) {
			t.Errorf("expiry shown as %q (%v); the link expires at %s", when, err, expires.UTC().Format(time.RFC3339))
		}
		if e := text("#expiry"); !strings.Contains(e, expires.UTC().Format("2 January 2006, 15:04 UTC")) {
			t.Errorf("expiry reads %q", e)
		}

		// The copy buttons, shown by the page's script, put the text on the clipboard.
		clipboard := func() string {
			t.Helper()
			v, err := chromedp.Run(browser, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("chromium, read the clipboard: %v", err)
			}
			return v
		}
		copyWith := func(button, label string) string {
			t.Helper()
			run("copy with "+button, chromedp.WaitVisible(button), chromedp.Click(button),
				chromedp.WaitVisible(`//p[@id="copy-status"][contains(., "Copied the `+label+` to the clipboard")]`))
			return clipboard()
		}
		if got := copyWith("#copy-base-url", "SCIM base URL"); got != f.env.srv.URL+"/scim/v2/acme" {
			t.Errorf("the base URL's copy button copied %q", got)
		}

		// The button reveals the token.
		run("reveal", chromedp.Click("#reveal"), chromedp.WaitVisible("#token"))
		token := text("#token")
		if !strings.HasPrefix(token, orgs.TokenPrefix) {
			t.Fatalf("revealed %q", token)
		}
		if n, err := chromedp.Run(browser, chromedp.Evaluate[int](`document.querySelectorAll("#reveal").length`)); err != nil || n != 0 {
			t.Fatalf("after the reveal %d reveal buttons (%v)", n, err)
		}
		if name := text("#brand-name"); name != "Acme Partners" {
			t.Errorf("after the reveal the brand name is %q", name)
		}
		copied := copyWith("#copy-token", "token")
		if copied != token {
			t.Errorf("the token's copy button copied %q; the page shows %q", copied, token)
		}
		if path := os.Getenv("ORGSCIM_SETUP_SCREENSHOT"); path != "" {
			png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("chromium, screenshot: %v", err)
			}
			if err := os.WriteFile(path, png, 0o644); err != nil {
				t.Fatal(err)
			}
		}

		// The token from the clipboard works against the connection.
		c := &scimClient{t: t, env: f.env, slug: "acme", token: copied}
		c.list().must(t, http.StatusOK)

		// The same link a second time: refused, with nothing of the connection or token.
		second, err := chromedp.Run(browser, chromedp.NavigateResponse(url))
		if err != nil || second.Status != http.StatusGone {
			t.Fatalf("chromium, second visit: %v, %v", second, err)
		}
		if refusal := text("#refused"); !strings.Contains(refusal, "cannot be used") {
			t.Fatalf("second visit shows %q", refusal)
		}
		body, err := chromedp.Run(browser, chromedp.OuterHTML("html"))
		if err != nil || strings.Contains(body, orgs.TokenPrefix) || strings.Contains(body, "/scim/v2/") {
			t.Fatalf("second visit page (%v):\n%s", err, body)
		}
	})
}

// headlessChromium starts a headless Chromium for one test, with the flags a machine
// whose network is closed needs (no QUIC, no background fetches, no component updates),
// and a fresh profile; it stops when the test ends, and after 90 s at the latest.
func headlessChromium(t *testing.T) context.Context {
	t.Helper()
	return headlessChromiumFor(t, 90*time.Second)
}

// headlessChromiumFor is headlessChromium stopping after limit: the console's longer
// journeys, each page checked by axe-core and photographed twice, need more on a busy
// machine.
func headlessChromiumFor(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	return browser
}

// chromiumDo runs steps in the browser, failing the test with what they were for.
func chromiumDo(t *testing.T, browser context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(browser, steps...); err != nil {
		t.Fatalf("chromium, %s: %v", what, err)
	}
}

// chromiumText is the text of the element sel selects, trimmed.
func chromiumText(t *testing.T, browser context.Context, sel string) string {
	t.Helper()
	v, err := chromedp.Run(browser, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("chromium, text of %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}
