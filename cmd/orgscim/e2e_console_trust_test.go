package main

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/domaincheck"
	"github.com/orgscim/orgscim/domains"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// trustFixture is the console fixture on a server whose domain claims are proved by a
// real DNS server on 127.0.0.1, with pat (acme) also holding the delegate capability over
// acme: one of acme's administrators, who keeps its domains and decides its support
// sessions.
type trustFixture struct {
	*consoleFixture
	zone *zone
}

func newTrustFixture(t *testing.T, db *sqlstore.DB) *trustFixture {
	t.Helper()
	z, resolver := startZone(t)
	wk := startWellKnown(t)
	env := newE2EProving(t, db, []domains.Proof{domaincheck.DNS{Resolver: resolver, Timeout: 2 * time.Second}, wk.proof()})
	return &trustFixture{consoleFixture: consoleFixtureOn(t, env), zone: z}
}

func (f *trustFixture) makeAdministrator(t *testing.T) {
	t.Helper()
	f.oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": f.people["pat"],
		"capabilities": []string{"manage_members", "delegate"}, "depth": 1}).must(t, http.StatusCreated)
}

// apiMessage is the admin API's message for a refused request.
func apiMessage(t *testing.T, r *reply, status int) string {
	t.Helper()
	if r.Status != status {
		t.Fatalf("the API answered %d, want %d: %s", r.Status, status, r.Raw)
	}
	m, _ := at(r.JSON, "error", "message").(string)
	if m == "" {
		t.Fatalf("no message in %s", r.Raw)
	}
	return m
}

func (p consolePage) lacks(t *testing.T, words ...string) consolePage {
	t.Helper()
	for _, w := range words {
		if strings.Contains(p.body, w) {
			t.Errorf("%s shows %q, which it must not:\n%s", p.url, w, p.body)
		}
	}
	return p
}

// TestConsoleVerifiedDomains: an org's administrator claims a domain in the console, is
// shown the TXT record and the HTTPS file to publish, verifies it against a real DNS
// server, and releases it; a delegate without the delegate capability is offered none of
// it and refused; bad input is answered next to its field with the admin API's words; the
// audit records the console session. On both engines.
func TestConsoleVerifiedDomains(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newTrustFixture(t, db)
		pat := f.browser(t)
		pat.signIn("pat-sub").must(t, http.StatusOK)

		// manage_members is not enough: no link, and the page itself refuses.
		pat.get("/console/orgs/acme").must(t, http.StatusOK, "Delegations of Acme").lacks(t, "org-domains-link", "org-support-link")
		pat.get("/console/orgs/acme/domains").must(t, http.StatusForbidden, "delegate capability")

		f.makeAdministrator(t)
		pat.get("/console/orgs/acme").must(t, http.StatusOK, `id="org-domains-link"`, `id="org-support-link"`)
		page := pat.get("/console/orgs/acme/domains").must(t, http.StatusOK, `id="no-claims"`, `id="claim-form"`)
		// Another partner's org is not there at all.
		pat.get("/console/orgs/globex/domains").must(t, http.StatusNotFound)

		// Bad input: next to the field, in the admin API's words, nothing stored.
		want := apiMessage(t, f.oper.post("/orgs/acme/domains", map[string]any{"domain": "not a domain"}), http.StatusBadRequest)
		pat.do("POST", "/console/orgs/acme/domains", url.Values{"csrf": {page.csrf(t)}, "domain": {"not a domain"}}).
			must(t, http.StatusBadRequest, `id="claim-domain-problem"`, html.EscapeString(want), `aria-invalid="true"`)
		pat.do("POST", "/console/orgs/acme/domains", url.Values{"csrf": {page.csrf(t)}, "domain": {""}}).
			must(t, http.StatusBadRequest, `id="claim-domain-problem"`, "missing domain")
		// A form without the session's token changes nothing.
		pat.do("POST", "/console/orgs/acme/domains", url.Values{"domain": {"acme.example"}}).must(t, http.StatusForbidden)
		if cs := f.oper.get("/orgs/acme/domains").must(t, http.StatusOK).JSON["claims"].([]any); len(cs) != 0 {
			t.Fatalf("refused forms stored claims: %v", cs)
		}

		claimed := pat.do("POST", "/console/orgs/acme/domains", url.Values{"csrf": {page.csrf(t)}, "domain": {"ACME.Example"}}).
			must(t, http.StatusOK, "claimed acme.example", "_orgscim-challenge.acme.example", "https://acme.example/.well-known/orgscim-domain-verification",
				">pending<")
		claims := f.oper.get("/orgs/acme/domains").must(t, http.StatusOK).JSON["claims"].([]any)
		if len(claims) != 1 {
			t.Fatalf("claims after the console's claim: %v", claims)
		}
		id, value := field(claims[0], "id"), field(claims[0], "dns_value")
		if !strings.Contains(claimed.body, "<code>"+value+"</code>") {
			t.Fatalf("the page does not show the record's value %q:\n%s", value, claimed.body)
		}
		if actor := field(f.lastEvent(t, "domain.claim"), "actor"); !strings.HasPrefix(actor, "console_session:") || !strings.Contains(actor, f.people["pat"]) {
			t.Errorf("the claim's audit actor is %q", actor)
		}

		verify := claimed.action(t, `/console/orgs/acme/domains/`+id+`/verify`)
		pat.do("POST", verify, url.Values{"csrf": {page.csrf(t)}}).must(t, http.StatusOK, "the token was not found", ">pending<")
		f.zone.set("_orgscim-challenge.acme.example", value)
		pat.do("POST", verify, url.Values{"csrf": {page.csrf(t)}}).must(t, http.StatusOK, "acme.example is verified", ">verified<", "by dns")
		if s := field(f.oper.get("/orgs/acme/domains").must(t, http.StatusOK).JSON["claims"].([]any)[0], "status"); s != "verified" {
			t.Fatalf("after the console's verify, the API says %s", s)
		}

		// The operator keeps any org's domains; globex cannot take acme's verified domain:
		// the refusal is shown on the claim's row.
		alice := f.operatorBrowser(t, "alice")
		gp := alice.get("/console/orgs/globex").must(t, http.StatusOK, `id="org-domains-link"`)
		alice.get("/console/orgs/globex/domains").must(t, http.StatusOK, `id="no-claims"`)
		gc := alice.do("POST", "/console/orgs/globex/domains", url.Values{"csrf": {gp.csrf(t)}, "domain": {"acme.example"}}).must(t, http.StatusOK)
		gid := field(f.oper.get("/orgs/globex/domains").must(t, http.StatusOK).JSON["claims"].([]any)[0], "id")
		f.zone.set("_orgscim-challenge.acme.example", field(f.oper.get("/orgs/globex/domains").must(t, http.StatusOK).JSON["claims"].([]any)[0], "dns_value"))
		alice.do("POST", gc.action(t, `/console/orgs/globex/domains/`+gid+`/verify`), url.Values{"csrf": {gp.csrf(t)}}).
			must(t, http.StatusConflict, `id="claim-`+gid+`-problem"`)
		f.zone.set("_orgscim-challenge.acme.example", value)

		// The connection's domain policy: shown to acme's administrator, changed only by an
		// operator, with the API's call; a bad value is answered on its row in the API's words.
		pat.get("/console/orgs/acme/domains").must(t, http.StatusOK, `id="policy-acme"`, `data-label="Policy">refuse`).lacks(t, `class="set-domain-policy"`)
		pat.do("POST", "/console/orgs/acme/domains/policy/acme", url.Values{"csrf": {page.csrf(t)}, "domain_policy": {"quarantine"}}).
			must(t, http.StatusForbidden)
		ap := alice.get("/console/orgs/acme/domains").must(t, http.StatusOK, `class="set-domain-policy"`)
		badPolicy := apiMessage(t, f.oper.call("PATCH", "/connections/acme/policy", map[string]any{"domain_policy": "shrug"}), http.StatusBadRequest)
		alice.do("POST", "/console/orgs/acme/domains/policy/acme", url.Values{"csrf": {ap.csrf(t)}, "domain_policy": {"shrug"}}).
			must(t, http.StatusBadRequest, `id="policy-acme-problem"`, html.EscapeString(badPolicy))
		alice.do("POST", "/console/orgs/acme/domains/policy/acme", url.Values{"csrf": {ap.csrf(t)}, "domain_policy": {"quarantine"}}).
			must(t, http.StatusOK, "acme now answers a user outside the verified domains with quarantine")
		if pol := field(f.oper.get("/connections/acme/policy").must(t, http.StatusOK).JSON, "domain_policy"); pol != "quarantine" {
			t.Fatalf("after the console's change the policy is %q", pol)
		}
		// Now a user outside acme.example is held, and listed for review.
		f.acme.create(map[string]any{"userName": "x@gmail.example"})
		pat.get("/console/orgs/acme/domains").must(t, http.StatusOK, `id="held-acme"`, "x@gmail.example", "(gmail.example, since")
		alice.do("POST", "/console/orgs/globex/domains/policy/acme", url.Values{"csrf": {ap.csrf(t)}, "domain_policy": {"refuse"}}).
			must(t, http.StatusNotFound)

		// Release: the claim is gone from the API too, and audited.
		pat.do("POST", claimed.action(t, `/console/orgs/acme/domains/`+id+`/release`), url.Values{"csrf": {page.csrf(t)}}).
			must(t, http.StatusOK, "claim released", `id="no-claims"`)
		if cs := f.oper.get("/orgs/acme/domains").must(t, http.StatusOK).JSON["claims"].([]any); len(cs) != 0 {
			t.Fatalf("claims after the release: %v", cs)
		}
		f.lastEvent(t, "domain.remove")
	})
}

var supportRow = regexp.MustCompile(`<tr id="support-([^"]+)">`)

// TestConsoleSupportSessions: an operator asks for a support session in the console (bad
// input next to its field, in the support service's words) and breaks the glass; acme's
// administrator sees the queue, approves only after a recent sign-in (the approval's
// audit event records it), ends the break-glass session and reviews it (a note required);
// the operator is offered neither approval nor the review of their own session; a
// delegate without the delegate capability is refused the page. On both engines.
func TestConsoleSupportSessions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newTrustFixture(t, db)
		alice := f.operatorBrowser(t, "alice")
		page := alice.get("/console/orgs/acme/support").must(t, http.StatusOK, `id="support-form"`, `id="no-requests"`, "at most 480")
		alice.get("/console/orgs/vendor/support").must(t, http.StatusOK).lacks(t, `id="support-form"`)

		ask := func(fields map[string]string) url.Values {
			v := url.Values{"csrf": {page.csrf(t)}}
			for k, x := range fields {
				v.Set(k, x)
			}
			return v
		}
		want := apiMessage(t, f.oper.post("/support-sessions", map[string]any{"org": "acme", "ticket": "SUP-7", "reason": "r",
			"duration_seconds": 9 * 3600}), http.StatusBadRequest)
		for _, tc := range []struct {
			name   string
			fields map[string]string
			field  string
			words  string
		}{
			{"beyond the maximum", map[string]string{"ticket": "SUP-7", "reason": "r", "minutes": "540"}, "minutes", want},
			{"no ticket", map[string]string{"reason": "r", "minutes": "60"}, "ticket", "missing ticket"},
			{"no reason", map[string]string{"ticket": "SUP-7", "minutes": "60"}, "reason", "missing reason"},
			{"not a number", map[string]string{"ticket": "SUP-7", "reason": "r", "minutes": "an hour"}, "minutes", "whole number of minutes"},
		} {
			alice.do("POST", "/console/orgs/acme/support", ask(tc.fields)).
				must(t, http.StatusBadRequest, `id="support-`+tc.field+`-problem"`, html.EscapeString(tc.words))
		}
		if n := len(f.oper.get("/support-sessions?org=acme").must(t, http.StatusOK).JSON["items"].([]any)); n != 0 {
			t.Fatalf("refused forms stored %d sessions", n)
		}

		asked := alice.do("POST", "/console/orgs/acme/support", ask(map[string]string{"ticket": "SUP-7", "reason": "SSO users missing", "minutes": "60"})).
			must(t, http.StatusOK, "support session requested", `id="support-requests"`, "SUP-7", "read-only").
			lacks(t, `class="approve-support"`)
		req := supportRow.FindStringSubmatch(asked.body)[1]
		glass := alice.do("POST", "/console/orgs/acme/support", ask(map[string]string{"ticket": "SUP-8", "reason": "outage", "minutes": "30",
			"write": "1", "break_glass": "1"})).must(t, http.StatusOK, "break-glass session open", `id="support-open"`, "read and write")
		var glassID string
		for _, m := range supportRow.FindAllStringSubmatch(glass.body, -1) {
			if m[1] != req {
				glassID = m[1]
			}
		}
		f.lastEvent(t, "support.break_glass")

		// A delegate who does not administer acme is refused the page.
		pat := f.browser(t)
		pat.signIn("pat-sub").must(t, http.StatusOK)
		pat.get("/console/orgs/acme/support").must(t, http.StatusForbidden)
		f.makeAdministrator(t)
		queue := pat.get("/console/orgs/acme/support").must(t, http.StatusOK, `class="approve-support"`, `class="secondary refuse-support"`,
			"SUP-7", "SSO users missing", "alice", "break-glass").lacks(t, `id="support-form"`)

		// Approving hands the vendor the partner's data: a sign-in older than five
		// minutes is sent back through the IdP first, and returns to the queue.
		f.advance(StepUpTestAge)
		approve := "/console/support/" + req + "/approve"
		stale := pat.do("POST", approve, url.Values{"csrf": {queue.csrf(t)}, "note": {"go ahead"}}).must(t, http.StatusUnauthorized, "Confirm it is you")
		if st := field(f.oper.get("/support-sessions/"+req).must(t, http.StatusOK).JSON, "state"); st != "requested" {
			t.Fatalf("a stale approval changed the session: %s", st)
		}
		back := pat.reauthenticate(stale, "pat-sub").must(t, http.StatusOK, `id="support-requests"`)
		pat.do("POST", approve, url.Values{"csrf": {back.csrf(t)}, "note": {"go ahead"}}).
			must(t, http.StatusOK, "approved the session of alice", `id="support-open"`, "decided by pat@acme.example")
		got := f.oper.get("/support-sessions/"+req).must(t, http.StatusOK).JSON
		if field(got, "state") != "active" || field(got, "decision_note") != "go ahead" || !strings.Contains(field(got, "decided_by"), f.people["pat"]) {
			t.Fatalf("after the console's approval: %v", got)
		}
		if authenticatedAt(f.lastEvent(t, "support.approve")) == "" {
			t.Errorf("the approval's audit event does not record the step-up: %v", f.lastEvent(t, "support.approve"))
		}

		// The break-glass session: the partner ends it, then reviews it, with a note.
		pat.do("POST", "/console/support/"+glassID+"/end", url.Values{"csrf": {back.csrf(t)}, "note": {"done"}}).
			must(t, http.StatusOK, "ended the session of alice", `id="support-reviews"`)
		// alice broke the glass: she is not offered its review, and the service refuses it.
		mine := alice.get("/console/orgs/acme/support").must(t, http.StatusOK, `id="support-reviews"`)
		if strings.Contains(mine.body, `class="review-support"`) {
			t.Errorf("alice is offered the review of her own break-glass session:\n%s", mine.body)
		}
		alice.do("POST", "/console/support/"+glassID+"/review", url.Values{"csrf": {page.csrf(t)}, "note": {"fine"}}).must(t, http.StatusForbidden)
		review := pat.get("/console/orgs/acme/support").must(t, http.StatusOK, `class="review-support"`)
		pat.do("POST", "/console/support/"+glassID+"/review", url.Values{"csrf": {review.csrf(t)}}).
			must(t, http.StatusBadRequest, `id="note-`+glassID+`-problem"`, "a review needs a note")
		pat.do("POST", "/console/support/"+glassID+"/review", url.Values{"csrf": {review.csrf(t)}, "note": {"outage fixed, justified"}}).
			must(t, http.StatusOK, "reviewed the break-glass session", `id="no-reviews"`, `id="support-past"`)
		if g := f.oper.get("/support-sessions/"+glassID).must(t, http.StatusOK).JSON; field(g, "review_note") != "outage fixed, justified" {
			t.Fatalf("after the console's review: %v", g)
		}

		// The operator ends the approved session.
		alice.do("POST", "/console/support/"+req+"/end", url.Values{"csrf": {page.csrf(t)}}).must(t, http.StatusOK, "ended the session of alice", `id="no-open"`)
		if st := field(f.oper.get("/support-sessions/"+req).must(t, http.StatusOK).JSON, "state"); st != "ended" {
			t.Fatalf("after alice ended it: %s", st)
		}
	})
}

// StepUpTestAge is older than the step-up bound (console.StepUpMaxAge, five minutes).
const StepUpTestAge = 6 * time.Minute
