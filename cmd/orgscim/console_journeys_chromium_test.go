package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/reviews"
	"github.com/orgscim/orgscim/sqlstore"
)

// consoleTab is one headless Chromium driving the console of a fixture.
type consoleTab struct {
	t       *testing.T
	f       *consoleFixture
	browser context.Context
	axe     []byte
	screens string
}

func (f *consoleFixture) tab(t *testing.T) *consoleTab {
	t.Helper()
	axe, screens := consoleBrowserTools(t)
	return &consoleTab{t: t, f: f, browser: headlessChromiumFor(t, 4*time.Minute), axe: axe, screens: screens}
}

func (b *consoleTab) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	chromiumDo(b.t, b.browser, what, steps...)
}

func (b *consoleTab) text(sel string) string { b.t.Helper(); return chromiumText(b.t, b.browser, sel) }

func (b *consoleTab) check(name string) {
	b.t.Helper()
	checkConsolePage(b.t, b.browser, b.axe, b.screens, name)
}

func (b *consoleTab) location() string {
	b.t.Helper()
	v, err := chromedp.Run(b.browser, chromedp.Location())
	if err != nil {
		b.t.Fatalf("chromium, location: %v", err)
	}
	return v
}

// operator signs operator name in with a one-time link, as `orgscim console link` prints.
func (b *consoleTab) operator(name string) {
	b.t.Helper()
	secret, _, err := newServices(b.f.env.db, b.f.env.clock.Now).sessions.IssueLink(context.Background(), name)
	if err != nil {
		b.t.Fatal(err)
	}
	b.run("open "+name+"'s link", chromedp.Navigate(b.f.env.srv.URL+"/console/link/"+secret), chromedp.WaitVisible("#use-link"))
	b.run("use "+name+"'s link", chromedp.Click("#use-link"), chromedp.WaitVisible("#orgs"))
	if who := b.text("#who"); who != name+" (operator)" {
		b.t.Fatalf("signed in as %q", who)
	}
}

// delegate signs the person with this subject in at acme's IdP.
func (b *consoleTab) delegate(subject string) {
	b.t.Helper()
	b.f.idp.FastForward(b.f.env.clock.Now().Sub(b.f.idp.Now()))
	b.f.idp.QueueUser(&mockoidc.MockUser{Subject: subject, Email: subject + "@idp.example", EmailVerified: true})
	b.run("sign in "+subject, chromedp.Navigate(b.f.env.srv.URL+"/console/sign-in"), chromedp.WaitVisible("#connection"),
		chromedp.SetValue("#connection", "acme"), chromedp.Submit("#connection"), chromedp.WaitVisible("#delegations"))
}

// TestConsoleOnboardingInChromium is journey (2) in a real browser on each engine: an
// operator proposes a partner, a second operator approves it, the connection's page
// makes a setup link, the link reveals the token, and the IdP's first SCIM push with it
// activates the connection. Every page is checked by axe-core and photographed.
func TestConsoleOnboardingInChromium(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		f.oper.call("PATCH", "/orgs/acme", map[string]any{"owner": "owner@acme.example",
			"brand": map[string]any{"display_name": "Acme Partners", "primary_color": "#0b5394", "accent_color": "#e69138"}}).must(t, http.StatusOK)
		b := f.tab(t)
		b.operator("alice")
		b.check("tree")

		b.run("open onboarding", chromedp.Click("#nav-onboarding"), chromedp.WaitVisible("#propose-form"))
		b.check("onboarding")
		b.run("propose without an owner",
			chromedp.SetValue("#parent", "vendor"), chromedp.SetValue("#name", "Initech"), chromedp.SetValue("#idp", "okta"),
			chromedp.SetValue("#admin_user_name", "it@initech.example"), chromedp.SetValue("#admin_display_name", "Initech IT"),
			chromedp.SetValue("#group", "Initech Billing"), chromedp.SetValue("#role", "viewer"), chromedp.SetValue("#reason", "signed agreement"),
			chromedp.Click("#propose"), chromedp.WaitVisible("#owner-problem"))
		if p := b.text("#owner-problem"); p != "missing owner" {
			t.Errorf("the owner's problem reads %q", p)
		}
		b.check("onboarding-invalid")
		b.run("propose", chromedp.SetValue("#owner", "partners@vendor.example"), chromedp.Click("#propose"), chromedp.WaitVisible("#notice"))
		if s := b.text("#request-state"); s != "proposed" {
			t.Fatalf("the request is %q", s)
		}
		if n, err := chromedp.Run(b.browser, chromedp.Evaluate[int](`document.querySelectorAll("#approve").length`)); err != nil || n != 0 {
			t.Fatalf("the proposer is offered %d approve buttons (%v)", n, err)
		}
		b.check("onboarding-request")
		request := b.location()

		// A second operator approves.
		b.run("sign alice out", chromedp.Click("#sign-out"), chromedp.WaitVisible("#signed-out"))
		b.operator("bob")
		b.run("open the request", chromedp.Navigate(strings.SplitN(request, "?", 2)[0]), chromedp.WaitVisible("#approve"))
		b.check("onboarding-decision")
		b.run("approve", chromedp.SetValue("#approve-reason", "contract checked"), chromedp.Click("#approve"),
			chromedp.WaitVisible("#partner-connection"))
		if s := b.text("#request-state"); s != "approved" {
			t.Fatalf("the request is %q", s)
		}
		f.oper.call("PATCH", "/orgs/initech", map[string]any{"brand": map[string]any{"display_name": "Initech",
			"primary_color": "#5b2a86", "accent_color": "#f2a541"}}).must(t, http.StatusOK)

		// The connection's page makes the setup link.
		b.run("open the connection", chromedp.Click("#partner-connection"), chromedp.WaitVisible("#steps-okta"))
		if s := b.text("#connection-status"); s != "pending" {
			t.Fatalf("the new connection is %q", s)
		}
		if name := b.text("#brand-name"); name != "Initech" {
			t.Errorf("the connection's page wears %q", name)
		}
		b.check("connection")
		b.run("create a setup link", chromedp.Click("#create-setup-link"), chromedp.WaitVisible("#setup-url"))
		setup := b.text("#setup-url")
		if !strings.HasPrefix(setup, f.env.srv.URL+"/setup/") {
			t.Fatalf("setup link %q", setup)
		}
		b.check("setup-link")

		// The partner's IT administrator opens it and reveals the token.
		b.run("open the setup link", chromedp.Navigate(setup), chromedp.WaitVisible("#reveal"))
		b.run("reveal", chromedp.Click("#reveal"), chromedp.WaitVisible("#token"))
		token := b.text("#token")
		if !strings.HasPrefix(token, orgs.TokenPrefix) {
			t.Fatalf("revealed %q", token)
		}

		// The IdP's first push activates the connection.
		holdVerified(t, f.env.db, "initech", "initech.example")
		idp := &scimClient{t: t, env: f.env, slug: "initech", token: token}
		idp.create(map[string]any{"userName": "dev@initech.example", "externalId": "dev-1", "displayName": "Dev Initech"})
		b.run("the connection again", chromedp.Navigate(f.env.srv.URL+"/console/connections/initech"), chromedp.WaitVisible("#connection-status"))
		if s := b.text("#connection-status"); s != "active" {
			t.Fatalf("after the first push the connection is %q", s)
		}
		b.run("the partner's org", chromedp.Navigate(f.env.srv.URL+"/console/orgs/initech"), chromedp.WaitVisible("#org-mappings"))
		if m := b.text("#org-mappings"); !strings.Contains(m, "Initech Billing") || !strings.Contains(m, "draft") {
			t.Errorf("the partner's mappings read:\n%s", m)
		}
		b.check("org")
		b.run("the groups", chromedp.Navigate(f.env.srv.URL+"/console/connections/initech/groups"), chromedp.WaitVisible("#groups"))
		b.check("groups")
	})
}

// TestConsoleReviewInChromium is journey (3) in a real browser on each engine: a
// partner administrator works through an access review in the console — confirms one
// line, revokes another — and at the deadline the reconciler revokes the grant nobody
// confirmed. Every page is checked by axe-core and photographed.
func TestConsoleReviewInChromium(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		id, deadline, grants := f.reviewFixture(t)
		b := f.tab(t)
		b.delegate("pat-sub")
		b.run("open the reviews", chromedp.Click("#nav-reviews"), chromedp.WaitVisible("#review-queue"))
		if q := b.text("#review-queue"); !strings.Contains(q, "Acme quarterly review") || !strings.Contains(q, "0 of 4 decided") {
			t.Fatalf("pat's queue reads:\n%s", q)
		}
		b.check("reviews")
		b.run("open the review", chromedp.Click(`//a[.="Acme quarterly review"]`), chromedp.WaitVisible("#review-items"))
		b.check("review")
		b.run("confirm viewer on emea", chromedp.Click(`//button[@aria-label="Confirm viewer of sam@acme.example on Emea"]`),
			chromedp.WaitVisible("#notice"))
		b.run("revoke viewer on lyon", chromedp.SetValue(`#note-`+grants["viewer@lyon"], "left the project"),
			chromedp.Click(`//button[@aria-label="Revoke viewer of sam@acme.example on Lyon"]`),
			chromedp.WaitVisible(`//p[@id="notice"][contains(., "revoked")]`))
		if p := b.text("#progress"); p != "2 of 4 decided" {
			t.Errorf("progress reads %q", p)
		}
		b.check("review-decided")

		// The deadline passes; the reconciler revokes editor on lyon, which nobody confirmed.
		f.env.setClock(deadline.Add(time.Hour))
		if _, err := newReconciler(db, f.env.clock.Now).Once(context.Background(), reconcile.Options{}); err != nil {
			t.Fatal(err)
		}
		editor := f.oper.get("/grants/"+grants["editor@lyon"]).must(t, http.StatusOK).JSON
		if field(editor, "revoke_reason") != reviews.UnconfirmedReason(id) {
			t.Fatalf("the unconfirmed grant after the deadline: %v", editor)
		}
		if field(f.oper.get("/grants/"+grants["viewer@emea"]).must(t, http.StatusOK).JSON, "revoked_at") != "" {
			t.Fatal("the confirmed grant was revoked")
		}
		// A week later pat's session has ended; pat signs in again and finds it closed.
		b.delegate("pat-sub")
		b.run("the review after its deadline", chromedp.Navigate(f.env.srv.URL+"/console/reviews/"+id), chromedp.WaitVisible("#review-state"))
		if s := b.text("#review-state"); s != "closed" {
			t.Fatalf("after the deadline the review is %q", s)
		}
		if items := b.text("#review-items"); !strings.Contains(items, "at the deadline: nobody confirmed it") {
			t.Errorf("the closed review's lines:\n%s", items)
		}
		b.check("review-closed")
	})
}
