package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// lastEvent is the newest audit event of action.
func (f *consoleFixture) lastEvent(t *testing.T, action string) map[string]any {
	t.Helper()
	events, _ := f.oper.get("/audit?action="+action).must(t, http.StatusOK).JSON["events"].([]any)
	if len(events) == 0 {
		t.Fatalf("no %s event", action)
	}
	return events[len(events)-1].(map[string]any)
}

// authenticatedAt is the step-up time an event records ("" when none).
func authenticatedAt(e map[string]any) string { return field(e, "diff", "authenticated_at", "after") }

// reauthenticate follows a step-up page's link back through the IdP as subject, and
// returns the page it lands on: the form it was sent away from.
func (b *browser) reauthenticate(stepUp consolePage, subject string) consolePage {
	b.t.Helper()
	m := strings.Index(stepUp.body, `id="step-up-sign-in" href="`)
	if m < 0 {
		b.t.Fatalf("the step-up page has no sign-in link:\n%s", stepUp.body)
	}
	href := stepUp.body[m+len(`id="step-up-sign-in" href="`):]
	href = strings.ReplaceAll(href[:strings.Index(href, `"`)], "&amp;", "&")
	b.f.idp.FastForward(b.f.env.clock.Now().Sub(b.f.idp.Now()))
	b.f.idp.QueueUser(&mockoidc.MockUser{Subject: subject, Email: subject + "@idp.example", EmailVerified: true})
	return b.get(href)
}

// freshLink signs operator name in again in b with a new one-time link.
func (b *browser) freshLink(name string) consolePage {
	b.t.Helper()
	secret, _, err := newServices(b.f.env.db, b.f.env.clock.Now).sessions.IssueLink(context.Background(), name)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do("POST", "/console/link/"+secret, url.Values{})
}

// TestConsoleStepUpAndAdministration: elevations (request, approve, deny), delegations
// (grant with their chains, revoke with a successor) and mappings (reject; approve a
// privileged one) in the console, with the admin API's rules and audit events. The
// actions that hand out authority need an authentication at most five minutes old:
// past that the console sends the person back through their IdP (prompt=login,
// max_age) or a fresh operator link, returns them to the form, and the action's audit
// event records when they authenticated. On both engines.
func TestConsoleStepUpAndAdministration(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		f.oper.post("/roles", map[string]any{"key": "admin", "permissions": []string{"reports.*"}, "privileged": true,
			"max_duration_seconds": 8 * 3600}).must(t, http.StatusCreated)
		f.oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": f.people["pat"],
			"capabilities": []string{"manage_members", "approve", "delegate"}, "depth": 1}).must(t, http.StatusCreated)

		// alice, an operator, asks for admin on emea for sam; bad input is answered by field.
		alice := f.operatorBrowser(t, "alice")
		page := alice.get("/console/elevations").must(t, http.StatusOK, `id="elevation-form"`, `value="admin"`, "No request awaits")
		alice.do("POST", "/console/elevations", url.Values{"csrf": {page.csrf(t)}, "connection": {"acme"}, "user": {"sam@acme.example"},
			"role": {"admin"}, "org": {"emea"}, "hours": {"100"}, "reason": {"incident 42"}}).
			must(t, http.StatusBadRequest, `id="elevation-hours-problem"`, "at most 8h0m0s")
		alice.do("POST", "/console/elevations", url.Values{"csrf": {page.csrf(t)}, "connection": {"acme"}, "user": {"sam@acme.example"},
			"role": {"viewer"}, "org": {"emea"}, "hours": {"2"}, "reason": {"incident 42"}}).
			must(t, http.StatusBadRequest, `id="elevation-role-problem"`, "not privileged")
		queue := alice.do("POST", "/console/elevations", url.Values{"csrf": {page.csrf(t)}, "connection": {"acme"}, "user": {"sam@acme.example"},
			"role": {"admin"}, "org": {"emea"}, "hours": {"2"}, "reason": {"incident 42"}}).
			must(t, http.StatusOK, "Done: requested", "incident 42", "another person approves")
		if strings.Contains(queue.body, "approve-elevation") {
			t.Fatalf("alice is offered to approve her own request:\n%s", queue.body)
		}

		// pat signs in; six minutes later the approval asks for a fresh sign-in first.
		pat := f.browser(t)
		pat.signIn("pat-sub").must(t, http.StatusOK)
		f.env.clock.advance(6 * time.Minute)
		queue = pat.get("/console/elevations").must(t, http.StatusOK, "incident 42", "approve-elevation")
		approve := queue.action(t, "/console/elevations/[^\"]+/approve")
		stale := pat.do("POST", approve, url.Values{"csrf": {queue.csrf(t)}, "reason": {"checked"}}).
			must(t, http.StatusUnauthorized, `id="step-up"`, "last 5 minutes", "/console/sign-in/acme?step_up=1")
		if g := f.oper.get("/grants?org=emea").must(t, http.StatusOK).JSON["items"].([]any); len(g) != 0 {
			t.Fatalf("a stale approval granted %v", g)
		}
		// The IdP is asked to authenticate the person now.
		noFollow := *pat.client
		noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := noFollow.Get(f.env.srv.URL + "/console/sign-in/acme?step_up=1")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if loc := res.Header.Get("Location"); !strings.Contains(loc, "prompt=login") || !strings.Contains(loc, "max_age=300") {
			t.Fatalf("the step-up's authorization request: %s", loc)
		}
		back := pat.reauthenticate(stale, "pat-sub").must(t, http.StatusOK, "incident 42")
		if !strings.HasSuffix(strings.SplitN(back.url, "#", 2)[0], "/console/elevations") {
			t.Fatalf("after re-authenticating pat lands on %s", back.url)
		}
		pat.do("POST", back.action(t, "/console/elevations/[^\"]+/approve"), url.Values{"csrf": {back.csrf(t)}, "reason": {"checked"}}).
			must(t, http.StatusOK, "Done: approved", "No request awaits")
		ev := f.lastEvent(t, "elevation.approve")
		if want := f.env.clock.Now().UTC().Format(time.RFC3339); authenticatedAt(ev) != want {
			t.Fatalf("the approval's event records the authentication at %q, want %q: %v", authenticatedAt(ev), want, ev)
		}
		if a := field(ev, "actor"); !strings.HasPrefix(a, "console_session:") {
			t.Errorf("the approval's actor: %q", a)
		}
		if g := f.oper.get("/grants?org=emea").must(t, http.StatusOK).JSON["items"].([]any); len(g) != 1 || field(g[0], "source") != "elevation" {
			t.Fatalf("after the approval emea's grants: %v", g)
		}
		// The session the step-up replaced is over.
		if ev := f.lastEvent(t, "console.sign_out"); !strings.Contains(field(ev, "actor"), "console") {
			t.Errorf("the replaced session's end: %v", ev)
		}

		// Denying needs no step-up, but a reason.
		page = alice.get("/console/elevations").must(t, http.StatusOK)
		alice.do("POST", "/console/elevations", url.Values{"csrf": {page.csrf(t)}, "connection": {"acme"}, "user": {"sam@acme.example"},
			"role": {"admin"}, "org": {"lyon"}, "hours": {"1"}, "reason": {"curiosity"}}).must(t, http.StatusOK, "curiosity")
		f.env.clock.advance(6 * time.Minute)
		queue = pat.get("/console/elevations").must(t, http.StatusOK, "curiosity")
		deny := strings.Replace(queue.action(t, "/console/elevations/[^\"]+/approve"), "/approve", "/deny", 1)
		pat.do("POST", deny, url.Values{"csrf": {queue.csrf(t)}}).must(t, http.StatusBadRequest, "a reason is required")
		pat.do("POST", deny, url.Values{"csrf": {queue.csrf(t)}, "reason": {"not needed"}}).must(t, http.StatusOK, "Done: denied")
		if ev := f.lastEvent(t, "elevation.reject"); authenticatedAt(ev) != "" || field(ev, "diff", "reason") != "not needed" {
			t.Errorf("the denial's event: %v", ev)
		}

		// A delegation: stale, then fresh; the new one's chain runs through pat's.
		// pat, who may delegate one more level, is offered depth 0 and the capabilities pat
		// holds through the delegation that confers delegate.
		dels := pat.get("/console/orgs/emea/delegations").must(t, http.StatusOK, `id="delegation-form"`, "No delegation on this organisation",
			"(0 to 0)", `value="approve"`)
		if strings.Contains(dels.body, `value="manage_mappings"`) {
			t.Fatalf("pat is offered manage_mappings, which pat does not hold:\n%s", dels.body)
		}
		form := url.Values{"csrf": {dels.csrf(t)}, "connection": {"acme"}, "user": {"sam@acme.example"},
			"capability": {"manage_members", "approve"}, "depth": {"0"}}
		pat.do("POST", "/console/orgs/emea/delegations", url.Values{"csrf": {dels.csrf(t)}, "connection": {"acme"},
			"user": {"nobody@acme.example"}, "capability": {"approve"}}).must(t, http.StatusBadRequest, `id="delegation-user-problem"`)
		stale = pat.do("POST", "/console/orgs/emea/delegations", form).must(t, http.StatusUnauthorized, `id="step-up"`)
		// Back at the form, filled in as it was sent.
		back = pat.reauthenticate(stale, "pat-sub").must(t, http.StatusOK, `id="delegation-form"`, `value="sam@acme.example"`,
			`value="approve" id="delegation-cap-approve" checked`, `value="manage_members" id="delegation-cap-manage_members" checked`)
		form.Set("csrf", back.csrf(t))
		pat.do("POST", "/console/orgs/emea/delegations", url.Values{"csrf": {back.csrf(t)}, "connection": {"acme"},
			"user": {"sam@acme.example"}, "capability": {"approve"}, "depth": {"1"}}).must(t, http.StatusForbidden, `id="delegation-depth-problem"`)
		made := pat.do("POST", "/console/orgs/emea/delegations", form).must(t, http.StatusOK, "Done: delegated", `id="delegation-chain"`,
			"sam@acme.example", "pat@acme.example", "manage members, approve")
		ev = f.lastEvent(t, "delegation.create")
		if authenticatedAt(ev) == "" {
			t.Fatalf("the delegation's event records no authentication: %v", ev)
		}
		samDelegation := strings.TrimPrefix(strings.SplitN(made.url, "?", 2)[0], f.env.srv.URL+"/console/delegations/")

		// Revoked with a successor (gil may not be one: globex is not asked about; lyon's
		// successor is pat here) — a successor is a new delegation, so a step-up again.
		f.env.clock.advance(6 * time.Minute)
		del := pat.get("/console/delegations/"+samDelegation).must(t, http.StatusOK, `id="revoke-form"`)
		revoke := url.Values{"csrf": {del.csrf(t)}, "reason": {"moved teams"}, "successor-connection": {"acme"},
			"successor-user": {"pat@acme.example"}, "successor-capability": {"manage_members"}, "successor-depth": {"0"}}
		pat.do("POST", "/console/delegations/"+samDelegation+"/revoke", url.Values{"csrf": {del.csrf(t)}}).
			must(t, http.StatusBadRequest, `id="revoke-reason-problem"`)
		stale = pat.do("POST", "/console/delegations/"+samDelegation+"/revoke", revoke).must(t, http.StatusUnauthorized, `id="step-up"`)
		back = pat.reauthenticate(stale, "pat-sub").must(t, http.StatusOK, `id="revoke-form"`, `value="moved teams"`, `value="pat@acme.example"`,
			`value="manage_members" id="successor-cap-manage_members" checked`)
		revoke.Set("csrf", back.csrf(t))
		pat.do("POST", "/console/delegations/"+samDelegation+"/revoke", revoke).must(t, http.StatusOK, "Done: revoked", "moved teams")
		ev = f.lastEvent(t, "delegation.revoke")
		if field(ev, "target_id") != samDelegation && field(ev, "targetId") != samDelegation {
			t.Errorf("the revocation's event: %v", ev)
		}
		if authenticatedAt(ev) == "" {
			t.Errorf("the revocation with a successor records no authentication: %v", ev)
		}

		// Mappings: a privileged draft needs a step-up to approve; a draft can be rejected.
		billing := f.acme.createGroup("Acme Billing", f.people["sam"])["id"].(string)
		f.oper.post("/mappings", map[string]any{"connection": "acme", "group_id": billing, "role": "admin", "org": "emea"}).must(t, http.StatusCreated)
		viewer := field(f.oper.post("/mappings", map[string]any{"connection": "acme", "group_id": billing, "role": "viewer", "org": "emea"}).
			must(t, http.StatusCreated).JSON, "id")
		f.env.clock.advance(6 * time.Minute)
		org := pat.get("/console/orgs/emea").must(t, http.StatusOK, "reject-mapping", "Approve the mapping of Acme Billing to admin")
		admin := regexp.MustCompile(`action="(/console/mappings/([^"]+)/approve)" class="inline">\s*<input[^>]*>\s*<button[^>]*aria-label="Approve the mapping of Acme Billing to admin"`).
			FindStringSubmatch(org.body)
		if admin == nil {
			t.Fatalf("no approval of the admin mapping:\n%s", org.body)
		}
		approveAdmin := admin[1]
		pat.do("POST", approveAdmin, url.Values{"csrf": {org.csrf(t)}}).must(t, http.StatusUnauthorized, `id="step-up"`)
		reject := "/console/mappings/" + admin[2] + "/reject"
		pat.do("POST", reject, url.Values{"csrf": {org.csrf(t)}}).must(t, http.StatusBadRequest, "a reason is required")
		pat.do("POST", reject, url.Values{"csrf": {org.csrf(t)}, "reason": {"wrong group"}}).must(t, http.StatusOK, "Done: rejected")
		pat.do("POST", reject, url.Values{"csrf": {org.csrf(t)}, "reason": {"again"}}).must(t, http.StatusConflict, "not a draft")
		if ev := f.lastEvent(t, "mapping.reject"); field(ev, "diff", "reject_reason", "after") != "wrong group" || field(ev, "diff", "state", "after") != "retired" {
			t.Errorf("the rejection's event: %v", ev)
		}
		if g := f.oper.get("/grants?org=emea").must(t, http.StatusOK).JSON["items"].([]any); len(g) != 1 {
			t.Fatalf("a rejected or stale-approved mapping granted: %v", g)
		}

		// An operator's stale session steps up with a fresh one-time link, back to the form.
		queue = pat.get("/console/elevations").must(t, http.StatusOK)
		pat.do("POST", "/console/elevations", url.Values{"csrf": {queue.csrf(t)}, "connection": {"acme"}, "user": {"sam@acme.example"},
			"role": {"admin"}, "org": {"lyon"}, "hours": {"1"}, "reason": {"month end"}}).must(t, http.StatusOK, "month end")
		queue = alice.get("/console/elevations").must(t, http.StatusOK, "month end", "approve-elevation")
		alice.do("POST", queue.action(t, "/console/elevations/[^\"]+/approve"), url.Values{"csrf": {queue.csrf(t)}}).
			must(t, http.StatusUnauthorized, `id="step-up-command"`, "orgscim console link --operator alice")
		back = alice.freshLink("alice").must(t, http.StatusOK, "month end")
		if !strings.HasSuffix(strings.SplitN(back.url, "#", 2)[0], "/console/elevations") {
			t.Fatalf("after the fresh link alice lands on %s", back.url)
		}
		alice.do("POST", back.action(t, "/console/elevations/[^\"]+/approve"), url.Values{"csrf": {back.csrf(t)}}).must(t, http.StatusOK, "Done: approved")
		if ev := f.lastEvent(t, "elevation.approve"); authenticatedAt(ev) != f.env.clock.Now().UTC().Format(time.RFC3339) ||
			!strings.Contains(field(ev, "actor"), "operator:alice") {
			t.Errorf("the operator's approval: %v", ev)
		}

		// The admin API rejects with the same rule.
		refused(t, "a rejection without a reason", f.oper.post("/mappings/"+viewer+"/reject", map[string]any{}), http.StatusBadRequest, "invalid")
		if m := f.oper.post("/mappings/"+viewer+"/reject", map[string]any{"reason": "not needed"}).must(t, http.StatusOK).JSON; field(m, "state") != "retired" {
			t.Errorf("the API's rejection: %v", m)
		}

		// pat asks for admin on lyon for pat: pat sees it and may not approve it; sam, who
		// only drafts mappings on lyon, is not shown it, as the admin API would not.
		queue = pat.get("/console/elevations").must(t, http.StatusOK)
		queue = pat.do("POST", "/console/elevations", url.Values{"csrf": {queue.csrf(t)}, "connection": {"acme"}, "user": {"pat@acme.example"},
			"role": {"admin"}, "org": {"lyon"}, "hours": {"1"}, "reason": {"quarter close"}}).must(t, http.StatusOK, "quarter close", "another person approves")
		if strings.Contains(queue.body, "approve-elevation") {
			t.Fatalf("pat is offered to approve pat's own elevation:\n%s", queue.body)
		}
		f.oper.post("/delegations", map[string]any{"org": "lyon", "connection": "acme", "user_id": f.people["sam"],
			"capabilities": []string{"manage_mappings"}, "depth": 0}).must(t, http.StatusCreated)
		sam := f.browser(t)
		sam.signIn("sam-sub").must(t, http.StatusOK)
		if q := sam.get("/console/elevations").must(t, http.StatusOK, "No request awaits"); strings.Contains(q.body, "quarter close") {
			t.Fatalf("sam is shown a request sam may neither decide nor see through the API:\n%s", q.body)
		}

		// Another partner's person and an outsider's subtree are refused.
		pat.get("/console/orgs/globex/delegations").must(t, http.StatusNotFound)
	})
}
