package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestConsoleReviewServiceAccountInChromium: in a real browser, a service account's line
// reads as the account with its owner, passes axe-core, and its confirm button works;
// photographed into docs/console (review-service-account-*.png).
func TestConsoleReviewServiceAccountInChromium(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		sa := field(f.oper.post("/service-accounts", map[string]any{"org": "acme", "name": "billing-sync",
			"owner": map[string]any{"connection": "acme", "user_id": f.people["sam"]}}).must(t, http.StatusCreated).JSON, "id")
		f.oper.post("/service-accounts/"+sa+"/grants", map[string]any{"role": "viewer", "org": "emea", "reason": "reads reports"}).
			must(t, http.StatusCreated)
		f.reviewFixture(t)
		b := f.tab(t)
		b.delegate("pat-sub")
		b.run("open the reviews", chromedp.Click("#nav-reviews"), chromedp.WaitVisible("#review-queue"))
		b.run("open the review", chromedp.Click(`//a[.="Acme quarterly review"]`), chromedp.WaitVisible("#review-items"))
		if items := b.text("#review-items"); !strings.Contains(items, "Service account billing-sync") || !strings.Contains(items, "owner: sam@acme.example") {
			t.Fatalf("the review's lines:\n%s", items)
		}
		b.check("review-service-account")
		b.run("confirm billing-sync's viewer on emea", chromedp.Click(`//button[@aria-label="Confirm viewer of billing-sync on Emea"]`),
			chromedp.WaitVisible("#notice"))
		if p := b.text("#progress"); p != "1 of 5 decided" {
			t.Errorf("progress reads %q", p)
		}
	})
}
