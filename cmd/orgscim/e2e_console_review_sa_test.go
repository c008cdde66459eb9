package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestConsoleReviewServiceAccounts: a service account's line on the review page names
// the account and its owner; its owner is not offered the line (nor accepted when she
// posts it), another administrator confirms it with the same call as the admin API. On
// both engines.
func TestConsoleReviewServiceAccounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		saGrant := map[string]string{}
		for _, a := range [][2]string{{"sync-bot", "sam"}, {"nightly", "pat"}} {
			sa := field(f.oper.post("/service-accounts", map[string]any{"org": "acme", "name": a[0],
				"owner": map[string]any{"connection": "acme", "user_id": f.people[a[1]]}}).must(t, http.StatusCreated).JSON, "id")
			saGrant[a[0]] = field(f.oper.post("/service-accounts/"+sa+"/grants", map[string]any{"role": "viewer", "org": "emea",
				"reason": "reads reports"}).must(t, http.StatusCreated).JSON, "id")
		}
		id, _, _ := f.reviewFixture(t)
		pat := f.browser(t)
		pat.signIn("pat-sub").must(t, http.StatusOK)
		page := pat.get("/console/reviews/"+id).must(t, http.StatusOK, "0 of 6 decided",
			"Service account <strong>sync-bot</strong>", "Service account <strong>nightly</strong>", "owner: ",
			"sam@acme.example", "(your service account: someone else reviews it)")
		// Four lines are pat's to decide: sam's three and sync-bot's; not her own grant, not
		// the grant of the account she owns.
		if n := strings.Count(page.body, `class="confirm"`); n != 4 {
			t.Fatalf("pat may decide %d lines, want 4:\n%s", n, page.body)
		}
		if !strings.Contains(page.body, `aria-label="Confirm viewer of sync-bot on Emea"`) {
			t.Errorf("sync-bot's line offers no labelled confirmation:\n%s", page.body)
		}
		base := "/console/reviews/" + id + "/items/"
		pat.do("POST", base+saGrant["nightly"]+"/confirm", url.Values{"csrf": {page.csrf(t)}}).
			must(t, http.StatusForbidden, "service account they own")
		pat.do("POST", base+saGrant["sync-bot"]+"/confirm", url.Values{"csrf": {page.csrf(t)}}).
			must(t, http.StatusOK, "Done: confirmed", "1 of 6 decided")
		it := f.oper.get("/reviews/"+id+"/items?decision=confirmed").must(t, http.StatusOK).JSON["items"].([]any)
		if len(it) != 1 || field(it[0], "grant_id") != saGrant["sync-bot"] || field(it[0], "service_account", "name") != "sync-bot" ||
			!strings.HasSuffix(field(it[0], "decided_by"), "/"+f.people["pat"]) {
			t.Errorf("the confirmed line as the admin API reads it: %v", it)
		}
	})
}
