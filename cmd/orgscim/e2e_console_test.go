package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// consoleFixture is a vendor with two partners over the real server, and a real OpenID
// Connect provider on 127.0.0.1 that signs acme's people in:
//
//	vendor → acme → emea, acme → lyon;  vendor → globex
//
// pat (acme) holds viewer on acme and a delegation with manage_members over acme; sam
// (acme) holds nothing; gil (globex) is a foreign partner's person.
type consoleFixture struct {
	env    *e2eEnv
	oper   *adminClient
	idp    *mockoidc.MockOIDC
	acme   *scimClient
	people map[string]string // name → SCIM id
}

func newConsoleFixture(t *testing.T, db *sqlstore.DB) *consoleFixture {
	t.Helper()
	return consoleFixtureOn(t, newE2E(t, db))
}

// consoleFixtureOn builds the fixture on a server already started (one whose domain
// claims a test proves, for instance).
func consoleFixtureOn(t *testing.T, env *e2eEnv) *consoleFixture {
	t.Helper()
	_, ops := env.operators(t, "ops")
	f := &consoleFixture{env: env, oper: ops[0], people: map[string]string{}}
	for _, o := range [][2]string{{"vendor", ""}, {"acme", "vendor"}, {"emea", "acme"}, {"lyon", "acme"}, {"globex", "vendor"}} {
		body := map[string]any{"name": strings.ToUpper(o[0][:1]) + o[0][1:], "slug": o[0]}
		if o[1] != "" {
			body["parent"] = o[1]
		}
		f.oper.post("/orgs", body).must(t, http.StatusCreated)
	}
	for conn, names := range map[string][]string{"acme": {"pat", "sam"}, "globex": {"gil"}} {
		created := f.oper.post("/connections", map[string]any{"org": conn, "slug": conn, "idp": "okta"}).must(t, http.StatusCreated).JSON
		c := &scimClient{t: t, env: env, slug: conn, token: field(created, "token")}
		if conn == "acme" {
			f.acme = c
		}
		for _, n := range names {
			f.people[n] = c.create(map[string]any{"userName": n + "@" + conn + ".example", "externalId": n + "-sub",
				"displayName": strings.ToUpper(n[:1]) + n[1:] + " Example"})["id"].(string)
		}
	}
	f.oper.post("/roles", map[string]any{"key": "viewer", "permissions": []string{"reports.read"}, "inherits": true}).must(t, http.StatusCreated)
	f.oper.post("/roles", map[string]any{"key": "editor", "permissions": []string{"reports.write"}}).must(t, http.StatusCreated)
	f.oper.post("/grants", map[string]any{"connection": "acme", "user_id": f.people["pat"], "role": "viewer", "org": "acme",
		"reason": "partner administrator"}).must(t, http.StatusCreated)
	f.oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": f.people["pat"],
		"capabilities": []string{"manage_members"}, "depth": 0}).must(t, http.StatusCreated)

	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatalf("OIDC provider: %v", err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	// The provider's clock runs with the server's, which starts in 2030.
	idp.FastForward(env.clock.Now().Sub(time.Now()))
	f.idp = idp
	cfg := idp.Config()
	f.oper.call("PUT", "/connections/acme/console-sign-in", map[string]any{"issuer": cfg.Issuer, "client_id": cfg.ClientID,
		"client_secret": cfg.ClientSecret, "claim": "sub"}).must(t, http.StatusOK)
	return f
}

// browser is a cookie-keeping HTTP client of the console.
type browser struct {
	t      *testing.T
	f      *consoleFixture
	client *http.Client
}

func (f *consoleFixture) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, f: f, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

type consolePage struct {
	status int
	url    string
	body   string
}

func (b *browser) do(method, path string, form url.Values) consolePage {
	b.t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = b.f.env.srv.URL + path
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if csp := res.Header.Get("Content-Security-Policy"); strings.HasPrefix(res.Request.URL.Path, "/console") && !strings.Contains(csp, "default-src 'none'") {
		b.t.Errorf("%s %s: Content-Security-Policy %q", method, path, csp)
	}
	for _, m := range leaksIn(string(raw)) {
		b.t.Errorf("%s %s leaks %q:\n%s", method, path, m, raw)
	}
	return consolePage{status: res.StatusCode, url: res.Request.URL.String(), body: string(raw)}
}

func (b *browser) get(path string) consolePage { b.t.Helper(); return b.do("GET", path, nil) }

func (p consolePage) must(t *testing.T, status int, contains ...string) consolePage {
	t.Helper()
	if p.status != status {
		t.Fatalf("%s: status %d, want %d:\n%s", p.url, p.status, status, p.body)
	}
	for _, c := range contains {
		if !strings.Contains(p.body, c) {
			t.Fatalf("%s lacks %q:\n%s", p.url, c, p.body)
		}
	}
	return p
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (p consolePage) csrf(t *testing.T) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("%s has no CSRF token:\n%s", p.url, p.body)
	}
	return m[1]
}

// signIn signs the person with this subject in through the OIDC provider.
func (b *browser) signIn(subject string) consolePage {
	b.t.Helper()
	// The provider's clock follows the server's, which tests move forward.
	b.f.idp.FastForward(b.f.env.clock.Now().Sub(b.f.idp.Now()))
	b.f.idp.QueueUser(&mockoidc.MockUser{Subject: subject, Email: subject + "@idp.example", EmailVerified: true})
	return b.get("/console/sign-in/acme")
}

func (f *consoleFixture) deactivate(t *testing.T, name string) {
	t.Helper()
	f.acme.patch(f.people[name], op("replace", "active", false)).must(t, http.StatusOK)
}

// TestConsolePartnerJourney is journey (1) over plain HTTP on each engine: a partner
// administrator signs in through the IdP, sees only their subtree, grants a role, opens
// "why", and is signed out on the next click after their IdP deactivates them.
func TestConsolePartnerJourney(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		b := f.browser(t)
		home := b.signIn("pat-sub").must(t, http.StatusOK, "Pat Example (acme)", "People of acme", "manage members")
		if strings.Contains(home.body, "globex") || strings.Contains(home.body, "Vendor") {
			t.Fatalf("pat's home shows orgs outside acme:\n%s", home.body)
		}
		people := b.get("/console/connections/acme/people").must(t, http.StatusOK, "Sam Example", "viewer on acme")
		_ = people
		sam := b.get("/console/connections/acme/people/"+f.people["sam"]).must(t, http.StatusOK, `id="grant-form"`)
		if strings.Contains(sam.body, `value="editor"`) {
			t.Errorf("pat is offered editor, which pat does not hold:\n%s", sam.body)
		}
		b.do("POST", "/console/connections/acme/people/"+f.people["sam"]+"/grants", url.Values{"csrf": {sam.csrf(t)},
			"role": {"viewer"}, "org": {"emea"}, "reason": {"quarterly reports"}}).must(t, http.StatusOK, "viewer", "Emea")
		// The grant is the admin API's: the same record, made under pat's delegation, audited
		// with the console session as the actor.
		access := f.oper.get("/connections/acme/users/"+f.people["sam"]+"/access").must(t, http.StatusOK).JSON
		if hs, _ := access["holdings"].([]any); len(hs) != 1 {
			t.Fatalf("sam's access after the grant: %v", access)
		}
		events := f.oper.get("/audit?action=grant.create").must(t, http.StatusOK).JSON["events"].([]any)
		if last := field(events[len(events)-1], "actor"); !strings.HasPrefix(last, "console_session:") || !strings.Contains(last, f.people["pat"]) {
			t.Errorf("the grant's audit actor is %q", last)
		}
		why := b.get("/console/connections/acme/people/"+f.people["sam"]+"/why?org=emea&permission=reports.read").
			must(t, http.StatusOK, "Allowed", "Grant", "viewer", "quarterly reports", "Connection")
		_ = why

		// Bad input is answered next to its field, and changes nothing.
		bad := b.do("POST", "/console/connections/acme/people/"+f.people["sam"]+"/grants", url.Values{"csrf": {sam.csrf(t)},
			"role": {"viewer"}, "org": {"emea"}, "expires": {"tomorrow"}}).must(t, http.StatusBadRequest, `id="expires-problem"`, "YYYY-MM-DD")
		_ = bad

		// Revoking through the console is DELETE /grants/{id}: a reason, the same record.
		granted := b.get("/console/connections/acme/people/"+f.people["sam"]).must(t, http.StatusOK)
		action := regexp.MustCompile(`action="(/console/grants/[^"]+/revoke)"`).FindStringSubmatch(granted.body)
		if action == nil {
			t.Fatalf("no revoke control for the direct grant pat made:\n%s", granted.body)
		}
		b.do("POST", action[1], url.Values{"csrf": {granted.csrf(t)}}).must(t, http.StatusBadRequest, "a reason is required")
		b.do("POST", action[1], url.Values{"csrf": {granted.csrf(t)}, "reason": {"moved teams"}}).must(t, http.StatusOK, "No access that you can see")
		if hs, _ := f.oper.get("/connections/acme/users/"+f.people["sam"]+"/access").must(t, http.StatusOK).JSON["holdings"].([]any); len(hs) != 0 {
			t.Fatalf("sam's access after the revocation: %v", hs)
		}

		base, _ := url.Parse(f.env.srv.URL + "/console/")
		cookies := b.client.Jar.Cookies(base)
		f.deactivate(t, "pat")
		b.get("/console/connections/acme/people").must(t, http.StatusUnauthorized, "You have been signed out", "deactivated")
		b.get("/console/").must(t, http.StatusOK, "Sign in to the orgscim console")
		outs := f.oper.get("/audit?action=console.sign_out").must(t, http.StatusOK)
		if !strings.Contains(string(outs.Raw), "system:console") || !strings.Contains(string(outs.Raw), "deactivated") {
			t.Errorf("the sign-out's audit event: %s", outs.Raw)
		}
		// The session was revoked server-side: its cookie stays dead even once the IdP
		// reactivates pat.
		f.acme.patch(f.people["pat"], op("replace", "active", true)).must(t, http.StatusOK)
		replay := f.browser(t)
		replay.client.Jar.SetCookies(base, cookies)
		replay.get("/console/").must(t, http.StatusUnauthorized, "deactivated")
	})
}

// TestConsoleRefusals: the session's guards, each on both engines.
func TestConsoleRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)

		t.Run("a form without the session's CSRF token is refused and changes nothing", func(t *testing.T) {
			b := f.browser(t)
			b.signIn("pat-sub").must(t, http.StatusOK)
			b.do("POST", "/console/connections/acme/people/"+f.people["sam"]+"/grants", url.Values{"role": {"viewer"}, "org": {"lyon"}}).
				must(t, http.StatusForbidden, "did not come from the console")
			b.do("POST", "/console/connections/acme/people/"+f.people["sam"]+"/grants", url.Values{"csrf": {"forged"}, "role": {"viewer"}, "org": {"lyon"}}).
				must(t, http.StatusForbidden)
			// The right token from another site's page: refused by its Origin.
			person := b.get("/console/connections/acme/people/"+f.people["sam"]).must(t, http.StatusOK)
			form := url.Values{"csrf": {person.csrf(t)}, "role": {"viewer"}, "org": {"lyon"}}
			req, err := http.NewRequest("POST", f.env.srv.URL+"/console/connections/acme/people/"+f.people["sam"]+"/grants",
				strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://evil.example")
			res, err := b.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Fatalf("a post from another origin: %d", res.StatusCode)
			}
			grants := f.oper.get("/grants?org=lyon").must(t, http.StatusOK).JSON["items"].([]any)
			if len(grants) != 0 {
				t.Fatalf("a refused form granted %v", grants)
			}
		})

		t.Run("another partner's subtree is refused", func(t *testing.T) {
			b := f.browser(t)
			home := b.signIn("pat-sub").must(t, http.StatusOK)
			b.get("/console/connections/globex/people").must(t, http.StatusNotFound)
			b.get("/console/connections/globex/people/"+f.people["gil"]).must(t, http.StatusNotFound)
			b.get("/console/connections/acme/people/"+f.people["sam"]+"/why?org=globex&permission=reports.read").must(t, http.StatusNotFound)
			b.do("POST", "/console/connections/acme/people/"+f.people["sam"]+"/grants", url.Values{"csrf": {home.csrf(t)},
				"role": {"viewer"}, "org": {"globex"}}).must(t, http.StatusForbidden)
			b.do("POST", "/console/connections/acme/people/"+f.people["sam"]+"/grants", url.Values{"csrf": {home.csrf(t)},
				"role": {"viewer"}, "org": {"vendor"}}).must(t, http.StatusForbidden)
		})

		t.Run("ending the partner signs its administrator out on the next click", func(t *testing.T) {
			b := f.browser(t)
			b.signIn("pat-sub").must(t, http.StatusOK)
			f.oper.call("PATCH", "/orgs/acme", map[string]any{"status": "suspended"}).must(t, http.StatusOK)
			b.get("/console/connections/acme/people").must(t, http.StatusUnauthorized, "no longer holds", "acme")
			f.oper.call("PATCH", "/orgs/acme", map[string]any{"status": "active"}).must(t, http.StatusOK)
		})

		t.Run("a person without a delegation is told so and gets no session", func(t *testing.T) {
			b := f.browser(t)
			b.signIn("sam-sub").must(t, http.StatusForbidden, "no delegated administration")
			b.get("/console/").must(t, http.StatusOK, "Sign in to the orgscim console")
		})

		t.Run("an idle session ends, and so does one past its absolute limit", func(t *testing.T) {
			b := f.browser(t)
			b.signIn("pat-sub").must(t, http.StatusOK)
			f.env.clock.advance(31 * time.Minute)
			b.get("/console/").must(t, http.StatusUnauthorized, "without activity")

			b = f.browser(t)
			b.signIn("pat-sub").must(t, http.StatusOK)
			for i := 0; i < 25; i++ { // active every 29 minutes, for over 12 hours
				f.env.clock.advance(29 * time.Minute)
				if p := b.get("/console/"); p.status != http.StatusOK {
					if i < 24 {
						t.Fatalf("after %d active half-hours: %d\n%s", i+1, p.status, p.body)
					}
					p.must(t, http.StatusUnauthorized, "maximum length")
					return
				}
			}
			t.Fatal("a session outlived its absolute limit")
		})

		t.Run("a one-time link works once", func(t *testing.T) {
			secret, _, err := newServices(db, f.env.clock.Now).sessions.IssueLink(context.Background(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			// Posted from another site's page: refused, and the link is not used up.
			req, err := http.NewRequest("POST", f.env.srv.URL+"/console/link/"+secret, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", "https://evil.example")
			res, err := f.browser(t).client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Fatalf("a sign-in link posted from another origin: %d", res.StatusCode)
			}
			b := f.browser(t)
			b.get("/console/link/"+secret).must(t, http.StatusOK, `id="use-link"`)
			b.do("POST", "/console/link/"+secret, url.Values{}).must(t, http.StatusOK, "alice (operator)", "Globex", "Vendor")
			f.browser(t).do("POST", "/console/link/"+secret, url.Values{}).must(t, http.StatusGone, "cannot be used")

			// Signing out ends the session server-side.
			home := b.get("/console/").must(t, http.StatusOK)
			b.do("POST", "/console/sign-out", url.Values{"csrf": {home.csrf(t)}}).must(t, http.StatusOK, "You have signed out")
			b.get("/console/").must(t, http.StatusOK, "Sign in to the orgscim console")
		})

		t.Run("a delegate is shown no control the domain would refuse", func(t *testing.T) {
			f.oper.post("/delegations", map[string]any{"org": "lyon", "connection": "acme", "user_id": f.people["sam"],
				"capabilities": []string{"manage_mappings"}, "depth": 0}).must(t, http.StatusCreated)
			b := f.browser(t)
			home := b.signIn("sam-sub").must(t, http.StatusOK, "Sam Example (acme)", "Lyon")
			if strings.Contains(home.body, "Emea") {
				t.Errorf("sam's home shows emea, outside sam's subtree lyon:\n%s", home.body)
			}
			pat := b.get("/console/connections/acme/people/"+f.people["pat"]).must(t, http.StatusOK)
			for _, control := range []string{`id="grant-form"`, "/revoke", "viewer"} {
				if strings.Contains(pat.body, control) {
					t.Errorf("sam, without manage_members and outside acme, is shown %q:\n%s", control, pat.body)
				}
			}
		})

		t.Run("the client secret is write-only", func(t *testing.T) {
			secret := f.idp.Config().ClientSecret
			got := f.oper.get("/connections/acme/console-sign-in").must(t, http.StatusOK)
			if strings.Contains(string(got.Raw), secret) || got.JSON["client_secret_set"] != true {
				t.Fatalf("GET console-sign-in: %s", got.Raw)
			}
			put := f.oper.call("PUT", "/connections/acme/console-sign-in", map[string]any{"issuer": f.idp.Issuer(), "client_id": "x",
				"client_secret": "s3cret-value", "claim": "email"}).must(t, http.StatusOK)
			if strings.Contains(string(put.Raw), "s3cret-value") {
				t.Fatalf("PUT answered the secret: %s", put.Raw)
			}
			audit := f.oper.get("/audit?action=console_sign_in.update").must(t, http.StatusOK)
			if strings.Contains(string(audit.Raw), secret) || strings.Contains(string(audit.Raw), "s3cret-value") {
				t.Fatalf("the audit trail holds the secret: %s", audit.Raw)
			}
			if strings.Contains(f.env.logs.String(), secret) || strings.Contains(f.env.logs.String(), "s3cret-value") {
				t.Fatal("the logs hold the secret")
			}
			refused(t, "a claim orgscim cannot match", f.oper.call("PUT", "/connections/acme/console-sign-in", map[string]any{
				"issuer": f.idp.Issuer(), "client_id": "x", "client_secret": "y", "claim": "groups"}), http.StatusBadRequest, "invalid_value")
			refused(t, "an http issuer", f.oper.call("PUT", "/connections/acme/console-sign-in", map[string]any{
				"issuer": "http://idp.example", "client_id": "x", "client_secret": "y", "claim": "sub"}), http.StatusBadRequest, "invalid_value")
		})
	})
}
