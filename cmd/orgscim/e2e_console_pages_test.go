package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/reviews"
	"github.com/orgscim/orgscim/sqlstore"
)

// operatorBrowser is a browser signed in as operator name with a one-time link.
func (f *consoleFixture) operatorBrowser(t *testing.T, name string) *browser {
	t.Helper()
	secret, _, err := newServices(f.env.db, f.env.clock.Now).sessions.IssueLink(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.do("POST", "/console/link/"+secret, url.Values{}).must(t, http.StatusOK, name+" (operator)")
	return b
}

// action is the first form action of the page matching the pattern's group.
func (p consolePage) action(t *testing.T, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(`action="(` + pattern + `)"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("%s has no form posting to %s:\n%s", p.url, pattern, p.body)
	}
	return m[1]
}

// TestConsoleOrgPages: the org tree and an org's page, with the same records, authority
// and audit as the admin API; grants granted and revoked, mappings drafted and approved
// by a second person, the groups of a connection; a delegate sees only its subtree and
// is offered only what it may do. On both engines.
func TestConsoleOrgPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		f.oper.call("PATCH", "/orgs/acme", map[string]any{"owner": "owner@acme.example", "contract_end": "2031-06-30T00:00:00Z",
			"brand": map[string]any{"display_name": "Acme Partners", "logo_url": "https://logo.acme.example/acme.png",
				"primary_color": "#0b5394", "accent_color": "#e69138"}}).must(t, http.StatusOK)
		billing := f.acme.createGroup("Acme Billing", f.people["sam"])["id"].(string)

		alice := f.operatorBrowser(t, "alice")
		home := alice.get("/console/").must(t, http.StatusOK, `href="/console/orgs/acme"`, "owner@acme.example", "until 30 Jun 2031", "Acme Partners")
		_ = home
		org := alice.get("/console/orgs/acme").must(t, http.StatusOK, `id="brand-name">Acme Partners`, `href="/console/orgs/acme/brand.css"`,
			"pat@acme.example", "manage members", `id="org-grant-form"`, `id="mapping-form"`, "Acme Billing (acme)")
		css := alice.get("/console/orgs/acme/brand.css").must(t, http.StatusOK, "#0b5394", "#ffffff", "#e69138")
		_ = css
		// An org without a brand of its own wears its partner's.
		alice.get("/console/orgs/emea").must(t, http.StatusOK, `id="brand-name">Acme Partners`, "Up to Acme")

		// The groups of a connection, read-only, with their members.
		groups := alice.get("/console/connections/acme/groups").must(t, http.StatusOK, "Acme Billing", "Sam Example")
		if strings.Contains(groups.body, "<form method=\"post\"") && strings.Contains(groups.body, "/groups/") {
			t.Errorf("the groups page offers a change:\n%s", groups.body)
		}

		// alice drafts a mapping: billing → editor on acme; as its drafter she is not offered the approval.
		alice.do("POST", "/console/orgs/acme/mappings", url.Values{"csrf": {org.csrf(t)}, "group": {"acme/" + billing},
			"role": {"editor"}, "reason": {"billing team"}}).must(t, http.StatusOK, "Done: drafted", "awaiting a second person")
		drafted := alice.get("/console/orgs/acme").must(t, http.StatusOK)
		if strings.Contains(drafted.body, "/approve") {
			t.Fatalf("the drafter is offered the approval:\n%s", drafted.body)
		}
		// Bad input next to its field, nothing drafted.
		alice.do("POST", "/console/orgs/acme/mappings", url.Values{"csrf": {org.csrf(t)}, "group": {"acme/" + billing},
			"role": {"no-such-role"}}).must(t, http.StatusNotFound, `id="mapping-role-problem"`)
		alice.do("POST", "/console/orgs/acme/mappings", url.Values{"csrf": {org.csrf(t)}, "group": {"acme/nope"},
			"role": {"editor"}}).must(t, http.StatusBadRequest, `id="mapping-group-problem"`, "has no group")
		maps := f.oper.get("/mappings?connection=acme").must(t, http.StatusOK).JSON["items"].([]any)
		if len(maps) != 1 || field(maps[0], "state") != "draft" {
			t.Fatalf("mappings after the drafts: %v", maps)
		}
		// The drafter's approval, posted anyway, is refused by the domain's rule.
		approve := "/console/mappings/" + field(maps[0], "id") + "/approve"
		alice.do("POST", approve, url.Values{"csrf": {org.csrf(t)}}).must(t, http.StatusForbidden, "other than its drafter")

		// bob, a second operator, approves it: sam gets editor through the mapping.
		bob := f.operatorBrowser(t, "bob")
		bobOrg := bob.get("/console/orgs/acme").must(t, http.StatusOK, "approve-mapping")
		if got := bobOrg.action(t, "/console/mappings/[^\"]+/approve"); got != approve {
			t.Fatalf("bob approves %s, want %s", got, approve)
		}
		bob.do("POST", approve, url.Values{"csrf": {bobOrg.csrf(t)}}).must(t, http.StatusOK, "Done: approved", "through a mapping")
		access := f.oper.get("/connections/acme/users/"+f.people["sam"]+"/access").must(t, http.StatusOK)
		if !strings.Contains(string(access.Raw), "editor") {
			t.Fatalf("sam's access after the approval: %s", access.Raw)
		}
		events := f.oper.get("/audit?action=mapping.approve").must(t, http.StatusOK).JSON["events"].([]any)
		if len(events) != 1 || !strings.Contains(field(events[0], "actor"), "operator:bob") {
			t.Fatalf("the approval's audit: %v", events)
		}

		// pat, a delegate with manage_members over acme: only the subtree, no mapping controls.
		pat := f.browser(t)
		pat.signIn("pat-sub").must(t, http.StatusOK, `href="/console/orgs/emea"`)
		pat.get("/console/orgs/globex").must(t, http.StatusNotFound)
		pat.get("/console/orgs/vendor").must(t, http.StatusNotFound)
		pat.get("/console/orgs/globex/brand.css").must(t, http.StatusNotFound)
		lyon := pat.get("/console/orgs/lyon").must(t, http.StatusOK, `id="org-grant-form"`)
		for _, control := range []string{`id="mapping-form"`, "/approve", `value="editor"`} {
			if strings.Contains(lyon.body, control) {
				t.Errorf("pat is shown %q:\n%s", control, lyon.body)
			}
		}
		// A grant on lyon by user name, and bad input next to its field.
		pat.do("POST", "/console/orgs/lyon/grants", url.Values{"csrf": {lyon.csrf(t)}, "connection": {"acme"},
			"user": {"nobody@acme.example"}, "role": {"viewer"}}).must(t, http.StatusNotFound, `id="grant-user-problem"`, "no person")
		pat.do("POST", "/console/orgs/lyon/grants", url.Values{"csrf": {lyon.csrf(t)}, "connection": {"acme"},
			"user": {"sam@acme.example"}, "role": {"viewer"}, "expires": {"soon"}}).must(t, http.StatusBadRequest, `id="grant-expires-problem"`)
		granted := pat.do("POST", "/console/orgs/lyon/grants", url.Values{"csrf": {lyon.csrf(t)}, "connection": {"acme"},
			"user": {"sam@acme.example"}, "role": {"viewer"}, "reason": {"lyon reports"}}).must(t, http.StatusOK, "Done: granted", "sam@acme.example")
		grants := f.oper.get("/grants?org=lyon").must(t, http.StatusOK).JSON["items"].([]any)
		if len(grants) != 1 || !strings.HasPrefix(field(grants[0], "granted_by"), "user:") {
			t.Fatalf("lyon's grants: %v", grants)
		}
		revoke := granted.action(t, "/console/orgs/lyon/grants/[^\"]+/revoke")
		pat.do("POST", revoke, url.Values{"csrf": {lyon.csrf(t)}, "reason": {"done"}}).must(t, http.StatusOK, "Done: revoked", "No live grant")
		// pat cannot draft or approve mappings, even by posting.
		pat.do("POST", "/console/orgs/lyon/mappings", url.Values{"csrf": {lyon.csrf(t)}, "group": {"acme/" + billing},
			"role": {"viewer"}}).must(t, http.StatusForbidden)
	})
}

// reviewFixture adds grants to review under acme and a campaign over acme's subtree:
// sam holds viewer on emea, editor on lyon and viewer on lyon; pat holds viewer on acme.
func (f *consoleFixture) reviewFixture(t *testing.T) (reviewID string, deadline time.Time, grants map[string]string) {
	t.Helper()
	grants = map[string]string{}
	for _, g := range [][2]string{{"viewer", "emea"}, {"editor", "lyon"}, {"viewer", "lyon"}} {
		grants[g[0]+"@"+g[1]] = field(f.oper.post("/grants", map[string]any{"connection": "acme", "user_id": f.people["sam"],
			"role": g[0], "org": g[1], "reason": "project"}).must(t, http.StatusCreated).JSON, "id")
	}
	deadline = f.env.clock.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)
	reviewID = field(f.oper.post("/reviews", map[string]any{"org": "acme", "name": "Acme quarterly review",
		"deadline": deadline}).must(t, http.StatusCreated).JSON, "id")
	return reviewID, deadline, grants
}

// TestConsoleReview: a reviewer's queue, confirm and revoke per line with the same
// authority and audit as the admin API, never their own line; what nobody confirmed is
// revoked at the deadline by the reconciler. On both engines.
func TestConsoleReview(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		id, deadline, grants := f.reviewFixture(t)
		pat := f.browser(t)
		pat.signIn("pat-sub").must(t, http.StatusOK)
		pat.get("/console/reviews").must(t, http.StatusOK, "Acme quarterly review", "0 of 4 decided", "7 days left")
		page := pat.get("/console/reviews/"+id).must(t, http.StatusOK, "0 of 4 decided")
		// pat's own viewer grant on acme is no line pat may decide.
		if n := strings.Count(page.body, `class="confirm"`); n != 3 {
			t.Fatalf("pat may decide %d lines, want 3 (not pat's own):\n%s", n, page.body)
		}
		base := "/console/reviews/" + id + "/items/"
		pat.do("POST", base+grants["viewer@emea"]+"/confirm", url.Values{"csrf": {page.csrf(t)}}).
			must(t, http.StatusOK, "Done: confirmed", "1 of 4 decided")
		pat.do("POST", base+grants["viewer@lyon"]+"/revoke", url.Values{"csrf": {page.csrf(t)}, "note": {"left the project"}}).
			must(t, http.StatusOK, "Done: revoked", "2 of 4 decided")
		// Twice, or pat's own line posted anyway: refused by the domain, shown on the page.
		pat.do("POST", base+grants["viewer@emea"]+"/confirm", url.Values{"csrf": {page.csrf(t)}}).
			must(t, http.StatusConflict, `id="problem"`, "already")
		own := field(f.oper.get("/grants?org=acme").must(t, http.StatusOK).JSON["items"].([]any)[0], "id")
		pat.do("POST", base+own+"/confirm", url.Values{"csrf": {page.csrf(t)}}).must(t, http.StatusForbidden, "their own grant")
		lyon := f.oper.get("/grants/"+grants["viewer@lyon"]).must(t, http.StatusOK).JSON
		if field(lyon, "revoked_at") == "" || !strings.Contains(field(lyon, "revoke_reason"), "left the project") {
			t.Fatalf("the revoked line's grant: %v", lyon)
		}
		events := f.oper.get("/audit?action=review.confirm").must(t, http.StatusOK).JSON["events"].([]any)
		if len(events) != 1 || !strings.HasPrefix(field(events[0], "actor"), "console_session:") {
			t.Fatalf("the confirmation's audit: %v", events)
		}

		// At the deadline the reconciler revokes what nobody confirmed.
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
	})
}

var (
	setupURLField = regexp.MustCompile(`<code id="setup-url">([^<]+)</code>`)
	tokenField    = regexp.MustCompile(`<code id="token"[^>]*>([^<]+)</code>`)
)

// TestConsoleOnboarding: an operator proposes a partner in the console, a second
// operator approves it (the proposer is offered no approval, and is refused one posted
// anyway), the connection's page creates a setup link that reveals a token, and the
// IdP's first push with it activates the connection. On both engines.
func TestConsoleOnboarding(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		alice := f.operatorBrowser(t, "alice")
		list := alice.get("/console/onboarding").must(t, http.StatusOK, `id="propose-form"`, `value="vendor"`)
		form := url.Values{"csrf": {list.csrf(t)}, "parent": {"vendor"}, "name": {"Initech"}, "idp": {"okta"},
			"admin_user_name": {"it@initech.example"}, "group": {"Initech Billing"}, "role": {"viewer"}, "reason": {"signed"}}
		alice.do("POST", "/console/onboarding", form).must(t, http.StatusBadRequest, `id="owner-problem"`, "missing owner")
		form.Set("owner", "owner@vendor.example")
		form.Set("contract_end", "2020-01-01")
		alice.do("POST", "/console/onboarding", form).must(t, http.StatusBadRequest, `id="contract_end-problem"`, "future")
		form.Del("contract_end")
		proposed := alice.do("POST", "/console/onboarding", form).must(t, http.StatusOK, "Done: proposed", "Waiting for an operator other than its proposer")
		if strings.Contains(proposed.body, `id="approve"`) {
			t.Fatalf("the proposer is offered the approval:\n%s", proposed.body)
		}
		approve := strings.TrimSuffix(strings.SplitN(proposed.url, "?", 2)[0], "/") + "/approve"
		alice.do("POST", approve, url.Values{"csrf": {list.csrf(t)}}).must(t, http.StatusForbidden, "other than its proposer")

		bob := f.operatorBrowser(t, "bob")
		bob.get("/console/onboarding").must(t, http.StatusOK, "Initech", "proposed")
		req := bob.get(strings.TrimPrefix(proposed.url, f.env.srv.URL)).must(t, http.StatusOK, `id="approve"`)
		bob.do("POST", approve, url.Values{"csrf": {req.csrf(t)}, "reason": {"checked"}}).
			must(t, http.StatusOK, "Done: approved", `id="partner-connection"`, "initech (pending)")
		conn := bob.get("/console/connections/initech").must(t, http.StatusOK, `id="steps-okta"`, `id="steps-entra"`, `id="steps-generic"`,
			"pending", f.env.srv.URL+"/scim/v2/initech")
		linked := bob.do("POST", "/console/connections/initech/setup-links", url.Values{"csrf": {conn.csrf(t)}}).must(t, http.StatusOK, `id="setup-url"`)
		setup := setupURLField.FindStringSubmatch(linked.body)
		if setup == nil || !strings.HasPrefix(setup[1], f.env.srv.URL+"/setup/") {
			t.Fatalf("no setup link on:\n%s", linked.body)
		}
		revealed := f.browser(t).do("POST", setup[1], url.Values{}).must(t, http.StatusOK, `id="token"`)
		token := tokenField.FindStringSubmatch(revealed.body)
		if token == nil {
			t.Fatalf("no token revealed:\n%s", revealed.body)
		}
		idp := &scimClient{t: t, env: f.env, slug: "initech", token: token[1]}
		// An onboarded partner provisions once it holds its e-mail domain verified.
		holdVerified(t, f.env.db, "initech", "initech.example")
		idp.create(map[string]any{"userName": "dev@initech.example", "externalId": "dev-1"})
		bob.get("/console/connections/initech").must(t, http.StatusOK, `id="connection-status">active`)
		bob.get("/console/orgs/initech").must(t, http.StatusOK, "it@initech.example", "Initech Billing", "draft")

		// A proposal bob rejects creates nothing.
		form.Set("name", "Hooli")
		form.Set("admin_user_name", "it@hooli.example")
		hooli := alice.do("POST", "/console/onboarding", form).must(t, http.StatusOK, "Done: proposed")
		reject := strings.TrimSuffix(strings.SplitN(hooli.url, "?", 2)[0], "/") + "/reject"
		bob.do("POST", reject, url.Values{"csrf": {req.csrf(t)}}).must(t, http.StatusOK, "Done: rejected", `id="request-state"`)
		bob.get("/console/orgs/hooli").must(t, http.StatusNotFound)
		// A delegate without the delegate capability is not offered onboarding at all.
		pat := f.browser(t)
		if home := pat.signIn("pat-sub").must(t, http.StatusOK); strings.Contains(home.body, "/console/onboarding") {
			t.Errorf("pat, who may not delegate, is offered onboarding:\n%s", home.body)
		}
		pat.get("/console/onboarding").must(t, http.StatusForbidden)
	})
}
