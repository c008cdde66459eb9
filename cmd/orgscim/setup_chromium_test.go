package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// chromiumPath is Debian's chromium package.
const chromiumPath = "/usr/bin/chromium"

// TestSetupPageInChromium is what the partner's IT administrator does, in a real
// browser against the real server: open the setup link, press the button, copy the
// token; the token works against the connection's SCIM endpoint; opening the link again
// shows the refusal. Without chromium it skips, unless ORGSCIM_REQUIRE_CHROMIUM=1 (CI).
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
		url := field(f.op1.post("/connections/acme/setup-links", nil).must(t, http.StatusCreated).JSON, "url")

		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
			chromedp.ExecPath(chromiumPath),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.UserDataDir(t.TempDir()),
		)
		defer cancelAlloc()
		browser, cancelBrowser := chromedp.NewContext(alloc)
		defer cancelBrowser()

		run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
			t.Helper()
			if err := chromedp.Do(browser, steps...); err != nil {
				t.Fatalf("chromium, %s: %v", what, err)
			}
		}
		text := func(sel string) string {
			t.Helper()
			v, err := chromedp.Run(browser, chromedp.Text(sel))
			if err != nil {
				t.Fatalf("chromium, text of %s: %v", sel, err)
			}
			return strings.TrimSpace(v)
		}

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

		// The button reveals the token.
		run("reveal", chromedp.Click("#reveal"), chromedp.WaitVisible("#token"))
		token := text("#token")
		if !strings.HasPrefix(token, orgs.TokenPrefix) {
			t.Fatalf("revealed %q", token)
		}
		if n, err := chromedp.Run(browser, chromedp.Evaluate[int](`document.querySelectorAll("#reveal").length`)); err != nil || n != 0 {
			t.Fatalf("after the reveal %d reveal buttons (%v)", n, err)
		}

		// The token the browser showed works against the connection.
		c := &scimClient{t: t, env: f.env, slug: "acme", token: token}
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
