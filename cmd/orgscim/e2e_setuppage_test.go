package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// The setup page for an Entra connection, end to end on each engine: Entra's steps give
// the tenant URL with Microsoft's compliance flag (and a server reached with it
// answers), the brand is shown only where its values are safe, and the note about the
// connection's state follows the state: pending before the IdP's first change, active
// after it.
func TestSetupPageBrandFlagAndState(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newOnboardingFixture(t, db)
		id := field(f.op1.post("/onboarding", f.proposal("Acme")).must(t, http.StatusCreated).JSON, "id")
		f.op2.post("/onboarding/"+id+"/approve", nil).must(t, http.StatusOK)
		// Brand values are stored as given; the page must not carry unsafe ones.
		f.op1.call("PATCH", "/orgs/acme", map[string]any{"brand": map[string]any{"display_name": "Acme <b>Partners</b>",
			"logo_url": "javascript:alert(1)", "primary_color": "red;}</style><script>alert(2)</script>",
			"accent_color": "#E69138"}}).must(t, http.StatusOK)

		url := field(f.op1.post("/connections/acme/setup-links", nil).must(t, http.StatusCreated).JSON, "url")
		first := getPage(t, "GET", url)
		if first.status != http.StatusOK {
			t.Fatalf("setup page: %d\n%s", first.status, first.body)
		}
		checkPageHeaders(t, first)
		base := f.env.srv.URL + "/scim/v2/acme"
		for _, want := range []string{
			`<span id="brand-name">Acme &lt;b&gt;Partners&lt;/b&gt;</span>`,
			`<code id="tenant-url-entra">` + base + `?aadOptscim062020</code>`,
			"a, h2 { color: #E69138; }",
			"stays pending",
			`id="expiry"`,
		} {
			if !strings.Contains(first.body, want) {
				t.Errorf("the page lacks %q:\n%s", want, first.body)
			}
		}
		for _, bad := range []string{"alert(", "brand-logo", "red;", "<b>"} {
			if strings.Contains(first.body, bad) {
				t.Errorf("the page carries %q of an unsafe brand:\n%s", bad, first.body)
			}
		}

		revealed := getPage(t, "POST", url)
		checkPageHeaders(t, revealed)
		token := between(revealed.body, `<code id="token" class="secret">`, `</code>`)
		if !strings.Contains(revealed.body, `id="copy-token"`) || !strings.Contains(revealed.body, "Acme &lt;b&gt;Partners") {
			t.Errorf("the revealed page has no copy button for the token or no brand:\n%s", revealed.body)
		}
		// Entra reaches the server on the tenant URL with the flag; the first change
		// makes the connection active.
		c := &scimClient{t: t, env: f.env, slug: "acme", token: token}
		c.list("aadOptscim062020", "").must(t, http.StatusOK)
		holdVerified(t, f.env.db, "acme", "acme.example")
		c.create(map[string]any{"userName": "ada@acme.example"})
		if st := f.op1.get("/connections/acme").must(t, http.StatusOK).JSON["status"]; st != "active" {
			t.Fatalf("after the IdP's first change the connection is %v", st)
		}

		// A new link for the running connection no longer says it stays pending.
		url = field(f.op1.post("/connections/acme/setup-links", nil).must(t, http.StatusCreated).JSON, "url")
		active := getPage(t, "GET", url)
		if active.status != http.StatusOK || strings.Contains(active.body, "pending") || !strings.Contains(active.body, "active already") {
			t.Errorf("setup page of an active connection (%d):\n%s", active.status, active.body)
		}
	})
}
