package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestConsolePagingInChromium: in a real browser, an org with more grants than a page
// (people's and a service account's) says which of how many it shows and its Next page
// holds the rest; a review's filter by decision shows only those lines and keeps itself
// after a decision. Each page passes axe-core; the short ones are photographed into
// docs/console (org-grants-next-*.png, review-filtered-*.png).
func TestConsolePagingInChromium(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		for i := range 205 {
			id := f.acme.create(map[string]any{"userName": fmt.Sprintf("holder-%03d@acme.example", i)})["id"].(string)
			f.oper.post("/grants", map[string]any{"connection": "acme", "user_id": id, "role": "viewer", "org": "lyon",
				"reason": "paging"}).must(t, http.StatusCreated)
		}
		sa := field(f.oper.post("/service-accounts", map[string]any{"org": "acme", "name": "billing-sync",
			"owner": map[string]any{"connection": "acme", "user_id": f.people["sam"]}}).must(t, http.StatusCreated).JSON, "id")
		f.oper.post("/service-accounts/"+sa+"/grants", map[string]any{"role": "viewer", "org": "emea", "reason": "reads reports"}).
			must(t, http.StatusCreated)
		var emea []string
		for _, p := range []string{"pat", "sam"} {
			emea = append(emea, field(f.oper.post("/grants", map[string]any{"connection": "acme", "user_id": f.people[p], "role": "editor",
				"org": "emea", "reason": "project"}).must(t, http.StatusCreated).JSON, "id"))
		}
		review := field(f.oper.post("/reviews", map[string]any{"org": "emea", "name": "Emea review",
			"deadline": f.env.clock.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)}).must(t, http.StatusCreated).JSON, "id")
		f.oper.post("/reviews/"+review+"/items/"+emea[0]+"/confirm", map[string]any{}).must(t, http.StatusOK)

		b := f.tab(t)
		b.operator("alice")
		b.run("open lyon's grants", chromedp.Navigate(f.env.srv.URL+"/console/orgs/lyon#grants-h"), chromedp.WaitVisible("#grants-count"))
		if c := b.text("#grants-count"); !strings.HasPrefix(c, "1–200 of 205 in all") {
			t.Errorf("the first page of grants says %q", c)
		}
		b.run("the next page of grants", chromedp.Click("#grants-next"), chromedp.WaitVisible("#grants-first"))
		if c := b.text("#grants-count"); !strings.HasPrefix(c, "201–205 of 205 in all") {
			t.Errorf("the next page of grants says %q", c)
		}
		b.check("org-grants-next")
		b.run("back to the first page", chromedp.Click("#grants-first"), chromedp.WaitVisible("#grants-next"))

		b.run("open emea's review", chromedp.Navigate(f.env.srv.URL+"/console/reviews/"+review), chromedp.WaitVisible("#items-filter"))
		if c := b.text("#items-count"); c != "1–3 of 3 in all." {
			t.Errorf("the review's lines say %q", c)
		}
		b.run("show the lines waiting", chromedp.SetValue("#items-decision", "pending"), chromedp.Submit("#items-filter"),
			chromedp.WaitVisible(`//p[@id="items-count"][contains(., "waiting")]`))
		if c := b.text("#items-count"); c != "1–2 of 2 waiting for a decision." {
			t.Errorf("the waiting lines say %q", c)
		}
		if items := b.text("#review-items"); !strings.Contains(items, "Service account billing-sync") || strings.Contains(items, "confirmed") {
			t.Errorf("the waiting lines:\n%s", items)
		}
		b.check("review-filtered")
		b.run("confirm billing-sync's viewer", chromedp.Click(`//button[@aria-label="Confirm viewer of billing-sync on Emea"]`),
			chromedp.WaitVisible("#notice"))
		if c := b.text("#items-count"); c != "1–1 of 1 waiting for a decision." {
			t.Errorf("after the decision the page says %q", c)
		}
	})
}
