package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// quarantineFixture: acme holds acme.example verified, its connection quarantines users
// outside it, and two such users are held: x and y of gmail.example.
func quarantineFixture(t *testing.T, db *sqlstore.DB) (f *trustFixture, x, y string) {
	t.Helper()
	f = newTrustFixture(t, db)
	f.makeAdministrator(t)
	claim := f.oper.post("/orgs/acme/domains", map[string]any{"domain": "acme.example"}).must(t, http.StatusCreated).JSON
	f.zone.set("_orgscim-challenge.acme.example", field(claim, "dns_value"))
	f.oper.post("/orgs/acme/domains/"+field(claim, "id")+"/verify", nil).must(t, http.StatusOK)
	f.oper.call("PATCH", "/connections/acme/policy", map[string]any{"domain_policy": "quarantine"}).must(t, http.StatusOK)
	x = f.acme.create(map[string]any{"userName": "x@gmail.example", "active": true})["id"].(string)
	y = f.acme.create(map[string]any{"userName": "y@gmail.example"})["id"].(string)
	return f, x, y
}

// heldIDs are the ids the admin API lists as held in acme's connection.
func heldIDs(t *testing.T, f *trustFixture) []string {
	t.Helper()
	var out []string
	for _, u := range at(f.oper.get("/connections/acme/quarantine").must(t, http.StatusOK).JSON, "users").([]any) {
		out = append(out, field(u, "user_id"))
	}
	return out
}

// TestConsoleQuarantineDecisions: acme's administrator releases one held user and rejects
// another from the domains page, with the admin API's calls: the released user is admitted
// (active over SCIM), the rejected one deleted, each audited as the console session; a
// form without the session's token, a person who may not manage acme's members and an org
// that is not the connection's change nothing. On both engines.
func TestConsoleQuarantineDecisions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f, x, y := quarantineFixture(t, db)
		if got := heldIDs(t, f); len(got) != 2 {
			t.Fatalf("held before: %v", got)
		}
		pat := f.browser(t)
		pat.signIn("pat-sub").must(t, http.StatusOK)
		page := pat.get("/console/orgs/acme/domains").must(t, http.StatusOK, `id="held-acme-`+x+`"`, `id="held-acme-`+y+`"`,
			"Release x@gmail.example into acme", "Reject y@gmail.example")
		release := page.action(t, `/console/orgs/acme/domains/held/acme/`+x+`/release`)
		reject := page.action(t, `/console/orgs/acme/domains/held/acme/`+y+`/reject`)

		// Refused, changing nothing: no CSRF token; another org's page; a delegate of acme
		// who may delegate but not manage its members.
		pat.do("POST", release, nil).must(t, http.StatusForbidden)
		alice := f.operatorBrowser(t, "alice")
		ap := alice.get("/console/orgs/globex").must(t, http.StatusOK)
		alice.do("POST", "/console/orgs/globex/domains/held/acme/"+x+"/release", url.Values{"csrf": {ap.csrf(t)}}).must(t, http.StatusNotFound)
		f.oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": f.people["sam"],
			"capabilities": []string{"delegate"}, "depth": 1}).must(t, http.StatusCreated)
		sam := f.browser(t)
		sam.signIn("sam-sub").must(t, http.StatusOK)
		sp := sam.get("/console/orgs/acme/domains").must(t, http.StatusOK).lacks(t, "x@gmail.example", `id="held-acme"`)
		sam.do("POST", release, url.Values{"csrf": {sp.csrf(t)}}).must(t, http.StatusForbidden)
		if got := heldIDs(t, f); len(got) != 2 {
			t.Fatalf("refused decisions changed the quarantine: %v", got)
		}

		// Released: admitted and active over SCIM, audited as pat's console session.
		pat.do("POST", release, url.Values{"csrf": {page.csrf(t)}}).
			must(t, http.StatusOK, "released x@gmail.example into acme").lacks(t, `id="held-acme-`+x+`"`)
		if u := f.acme.get(x); u["active"] != true {
			t.Errorf("released user: %v", u)
		}
		if actor := field(f.lastEvent(t, "user.release"), "actor"); !strings.HasPrefix(actor, "console_session:") || !strings.Contains(actor, f.people["pat"]) {
			t.Errorf("the release's actor is %q", actor)
		}
		// Rejected: deleted, as its IdP's DELETE would.
		pat.do("POST", reject, url.Values{"csrf": {page.csrf(t)}}).
			must(t, http.StatusOK, "rejected y@gmail.example").lacks(t, `id="held-acme-`+y+`"`, `id="held-acme"`)
		f.acme.do("GET", "/Users/"+y, nil).must(t, http.StatusNotFound)
		if actor := field(f.lastEvent(t, "user.delete"), "actor"); !strings.HasPrefix(actor, "console_session:") {
			t.Errorf("the rejection's actor is %q", actor)
		}
		if got := heldIDs(t, f); len(got) != 0 {
			t.Errorf("held after the decisions: %v", got)
		}
		// A decided user is not held any more: deciding again is a 404, as in the API.
		pat.do("POST", release, url.Values{"csrf": {page.csrf(t)}}).must(t, http.StatusNotFound)
	})
}
