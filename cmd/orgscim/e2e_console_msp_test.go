package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestConsoleMSPEngagements: an MSP engagement in the console, with the admin API's
// rules and audit: acme's administrator proposes to administer globex (bad input next
// to its field) and names a technician; globex's administrator consents after a fresh
// sign-in, the vendor's operator consents, and globex revokes it, ending the
// technician. Each side is offered only the actions the domain accepts from it. On
// both engines.
func TestConsoleMSPEngagements(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		defer func() {
			if t.Failed() {
				t.Log(f.env.logs.String())
			}
		}()
		f.oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": f.people["pat"],
			"capabilities": []string{"manage_members", "approve", "delegate"}, "depth": 1}).must(t, http.StatusCreated)
		f.oper.post("/delegations", map[string]any{"org": "globex", "connection": "globex", "user_id": f.people["gil"],
			"capabilities": []string{"manage_members", "delegate"}, "depth": 0}).must(t, http.StatusCreated)
		cfg := f.idp.Config()
		f.oper.call("PUT", "/connections/globex/console-sign-in", map[string]any{"issuer": cfg.Issuer, "client_id": cfg.ClientID,
			"client_secret": cfg.ClientSecret, "claim": "sub"}).must(t, http.StatusOK)

		pat := f.browser(t)
		pat.signIn("pat-sub").must(t, http.StatusOK)
		pat.get("/console/orgs/acme").must(t, http.StatusOK, `id="org-engagements-link"`)
		list := pat.get("/console/orgs/acme/engagements").must(t, http.StatusOK, `id="engagement-form"`, `id="no-engagements"`)
		if strings.Contains(list.body, `value="delegate"`) {
			t.Error("the proposal offers delegate")
		}
		propose := func(values url.Values) consolePage {
			values.Set("csrf", list.csrf(t))
			return pat.do("POST", "/console/orgs/acme/engagements", values)
		}
		for _, c := range []struct {
			values url.Values
			status int
			want   []string
		}{
			{url.Values{"capability": {"manage_members"}}, http.StatusBadRequest, []string{`id="engagement-customer-problem"`, "missing customer"}},
			{url.Values{"customer": {"globex"}}, http.StatusBadRequest, []string{`id="engagement-capability-problem"`, "at least one capability"}},
			{url.Values{"customer": {"emea"}, "capability": {"manage_members"}}, http.StatusBadRequest, []string{`id="engagement-customer-problem"`, "administers it already"}},
			{url.Values{"customer": {"globex"}, "capability": {"delegate"}}, http.StatusBadRequest, []string{`id="engagement-capability-problem"`, "cannot confer delegate"}},
			{url.Values{"customer": {"globex"}, "capability": {"manage_members"}, "expires": {"2001-01-01"}}, http.StatusBadRequest, []string{`id="engagement-expires-problem"`, "in the future"}},
		} {
			propose(c.values).must(t, c.status, c.want...)
		}
		page := propose(url.Values{"customer": {"globex"}, "capability": {"manage_members"}, "reason": {"outsourced helpdesk"}}).
			must(t, http.StatusOK, "Done: proposed", "status-proposed", "outsourced helpdesk", `id="technician-form"`, `id="revoke-engagement-form"`)
		for _, b := range []string{`id="consent-customer"`, `id="consent-vendor"`} {
			if strings.Contains(page.body, b) {
				t.Errorf("the MSP's administrator is offered %s", b)
			}
		}
		engURL := strings.SplitN(page.url[strings.Index(page.url, "/console/"):], "?", 2)[0]
		if ev := f.lastEvent(t, "msp.propose"); !strings.HasPrefix(field(ev, "actor"), "console_session:") {
			t.Errorf("the proposal's event: %v", ev)
		}

		// pat names sam; only what the engagement confers.
		name := func(values url.Values) consolePage {
			values.Set("csrf", page.csrf(t))
			return pat.do("POST", engURL+"/technicians", values)
		}
		name(url.Values{"connection": {"acme"}, "user": {"sam@acme.example"}, "capability": {"approve"}}).
			must(t, http.StatusForbidden, `id="technician-capability-problem"`, "does not confer approve")
		name(url.Values{"connection": {"acme"}, "user": {"nobody@acme.example"}, "capability": {"manage_members"}}).
			must(t, http.StatusBadRequest, `id="technician-user-problem"`)
		name(url.Values{"connection": {"acme"}, "user": {"sam@acme.example"}, "capability": {"manage_members"}}).
			must(t, http.StatusOK, "Done: technician named", "sam@acme.example", "remove-technician")
		named := pat.get(engURL).must(t, http.StatusOK)
		pat.do("POST", named.action(t, engURL+"/technicians/[^\"]+/revoke"), url.Values{"csrf": {named.csrf(t)}}).
			must(t, http.StatusOK, "Done: technician removed", "removed ")
		name(url.Values{"connection": {"acme"}, "user": {"sam@acme.example"}, "capability": {"manage_members"}}).
			must(t, http.StatusOK, "Done: technician named")

		// gil, globex's administrator, consents for the customer after a fresh sign-in.
		gil := f.browser(t)
		f.idp.FastForward(f.env.clock.Now().Sub(f.idp.Now()))
		f.idp.QueueUser(&mockoidc.MockUser{Subject: "gil-sub", Email: "gil-sub@idp.example", EmailVerified: true})
		gil.get("/console/sign-in/globex").must(t, http.StatusOK, "Gil Example (globex)")
		f.env.clock.advance(6 * time.Minute)
		mine := gil.get("/console/orgs/globex/engagements").must(t, http.StatusOK, "Acme", "status-proposed")
		if strings.Contains(mine.body, `id="engagement-form"`) && !strings.Contains(mine.body, "manage members") {
			t.Error("gil's proposal form offers nothing")
		}
		eng := gil.get(engURL).must(t, http.StatusOK, `id="consent-customer"`, "last 5 minutes")
		gil.do("POST", engURL+"/technicians", url.Values{"csrf": {eng.csrf(t)}, "connection": {"globex"}, "user": {"gil@globex.example"},
			"capability": {"manage_members"}}).must(t, http.StatusForbidden)
		if strings.Contains(eng.body, `id="consent-vendor"`) || strings.Contains(eng.body, `id="technician-form"`) {
			t.Error("the customer is offered the vendor's consent or naming technicians")
		}
		stale := gil.do("POST", engURL+"/consent-customer", url.Values{"csrf": {eng.csrf(t)}}).
			must(t, http.StatusUnauthorized, `id="step-up"`, "/console/sign-in/globex?step_up=1")
		if e := f.oper.get("/msp-engagements/"+strings.TrimPrefix(engURL, "/console/engagements/")).must(t, http.StatusOK).JSON; field(e, "customer_consent_at") != "" {
			t.Fatalf("a stale consent was recorded: %v", e)
		}
		back := gil.reauthenticate(stale, "gil-sub").must(t, http.StatusOK, `id="consent-customer"`)
		gil.do("POST", engURL+"/consent-customer", url.Values{"csrf": {back.csrf(t)}}).
			must(t, http.StatusOK, "Done: consented for the customer", "status-proposed")
		if ev := f.lastEvent(t, "msp.consent_customer"); authenticatedAt(ev) == "" {
			t.Errorf("the customer's consent records no authentication time: %v", ev)
		}

		// The vendor's operator consents: the engagement is active.
		alice := f.operatorBrowser(t, "alice")
		eng = alice.get(engURL).must(t, http.StatusOK, `id="consent-vendor"`)
		if strings.Contains(eng.body, `id="consent-customer"`) {
			t.Error("the vendor is offered the customer's consent")
		}
		alice.do("POST", engURL+"/consent-customer", url.Values{"csrf": {eng.csrf(t)}}).must(t, http.StatusForbidden)
		alice.do("POST", engURL+"/consent-vendor", url.Values{"csrf": {eng.csrf(t)}}).
			must(t, http.StatusOK, "Done: consented for the vendor", "status-active")
		alice.get("/console/orgs/acme/engagements").must(t, http.StatusOK, "Globex", "status-active")

		// Outsiders see nothing; the customer revokes, and the technician ends with it.
		pat.get("/console/orgs/globex/engagements").must(t, http.StatusNotFound)
		sam := f.browser(t)
		f.oper.post("/delegations", map[string]any{"org": "lyon", "connection": "acme", "user_id": f.people["sam"],
			"capabilities": []string{"manage_members"}, "depth": 0}).must(t, http.StatusCreated)
		sam.signIn("sam-sub").must(t, http.StatusOK)
		// sam manages lyon's members: its service accounts, not its engagements.
		lyon := sam.get("/console/orgs/lyon").must(t, http.StatusOK, `id="org-service-accounts-link"`)
		if strings.Contains(lyon.body, `id="org-engagements-link"`) {
			t.Error("sam, who may not delegate on lyon, is offered its engagements")
		}
		sam.get("/console/orgs/lyon/engagements").must(t, http.StatusNotFound)
		sam.get(engURL).must(t, http.StatusNotFound)
		gil.do("POST", engURL+"/revoke", url.Values{"csrf": {back.csrf(t)}, "reason": {"contract ended"}}).
			must(t, http.StatusOK, "Done: revoked", "status-revoked", "contract ended", "removed ")
		if p := gil.get(engURL); strings.Contains(p.body, `id="revoke-engagement-form"`) || strings.Contains(p.body, "remove-technician") {
			t.Error("a revoked engagement still offers changes")
		}
	})
}
