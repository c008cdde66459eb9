package main

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestConsoleOrgPageServiceAccountGrant: a service account's grant on an org belongs to
// no connection; the org's console page still shows (it answered 404 when it took every
// grant holder for a person of a connection), listing the grant under the account's
// name, linked to its page, with its owner named. For an operator and for the partner's
// administrator alike. On both engines.
func TestConsoleOrgPageServiceAccountGrant(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		sa := field(f.oper.post("/service-accounts", map[string]any{"org": "acme", "name": "billing-sync",
			"owner": map[string]any{"connection": "acme", "user_id": f.people["sam"]}}).must(t, http.StatusCreated).JSON, "id")
		gid := field(f.oper.post("/service-accounts/"+sa+"/grants", map[string]any{"role": "editor", "org": "emea", "reason": "exports"}).
			must(t, http.StatusCreated).JSON, "id")

		alice := f.operatorBrowser(t, "alice")
		pat := f.browser(t)
		pat.signIn("pat-sub").must(t, http.StatusOK)
		var page consolePage
		for _, b := range []*browser{alice, pat} {
			page = b.get("/console/orgs/emea").must(t, http.StatusOK, `id="org-grants"`, `href="/console/service-accounts/`+sa+`"`,
				"billing-sync", "service account, owned by", "sam@acme.example", "editor", "/grants/"+gid+"/revoke")
		}
		// The partner's administrator revokes it there, as any direct grant.
		pat.do("POST", "/console/orgs/emea/grants/"+gid+"/revoke", url.Values{"csrf": {page.csrf(t)}, "reason": {"integration retired"}}).
			must(t, http.StatusOK, "Done").lacks(t, "billing-sync")
		if g := f.oper.get("/grants/"+gid).must(t, http.StatusOK).JSON; g["revoked_at"] == nil {
			t.Errorf("the service account's grant is live after its revocation: %v", g)
		}
	})
}
