package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/webhooks"
)

// TestAccessReviewCoversServiceAccounts: a review of acme holds a person's grant and a
// service account's, the account's line naming it and its owner. The reviewer confirms
// the person's and leaves the account's; the account's owner may not decide it. At the
// deadline the reconciler revokes the account's grant on the same path as a person's: its
// next access check is denied, the audit names the reviewer and the deadline, and acme's
// webhook subscriber hears of the revocation.
func TestAccessReviewCoversServiceAccounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		w := newSAWorld(t, db)
		oper, env := w.oper, w.env
		recv := newWebhookInbox(t)
		oper.post("/webhooks", map[string]any{"connection": "acme", "url": recv.URL, "actions": []string{"grants.", "review."}}).
			must(t, http.StatusCreated)

		sa := w.createSA(t, "billing-sync")
		said := field(sa, "id")
		saGrant := field(at(oper.get("/service-accounts/"+said+"/grants").must(t, http.StatusOK).JSON, "grants").([]any)[0], "id")
		samGrant := field(oper.post("/grants", map[string]any{"connection": "acme", "user_id": w.sam, "role": "reports.viewer",
			"org": "acme", "reason": "monthly reports"}).must(t, http.StatusCreated).JSON, "id")
		token := field(oper.post("/service-accounts/"+said+"/tokens", nil).must(t, http.StatusCreated).JSON, "token")
		if ok, why := allowedNow(t, w.integrationCheck(t, token, "reports.read", "acme")); !ok {
			t.Fatalf("the account before the review: %s", why)
		}
		// pat owns the account and administers acme: she may review sam's grant, not her account's.
		del := oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": w.pat,
			"capabilities": []string{"manage_members"}}).must(t, http.StatusCreated).JSON
		pat := env.admin(t, field(oper.post("/delegations/"+field(del, "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key"), w.doc)

		deadline := env.clock.Now().Add(7 * 24 * time.Hour).UTC()
		review := oper.post("/reviews", map[string]any{"org": "acme", "name": "Acme Q4", "deadline": deadline}).must(t, http.StatusCreated).JSON
		id := field(review, "id")
		if n := num(t, at(review, "counts", "items")); n != 2 {
			t.Fatalf("a review of acme has %v items; want sam's grant and the account's: %v", n, review)
		}
		lines := map[string]map[string]any{}
		for _, it := range at(oper.get("/reviews/"+id+"/items").must(t, http.StatusOK).JSON, "items").([]any) {
			lines[field(it, "grant_id")] = it.(map[string]any)
		}
		if l := lines[saGrant]; l == nil || field(l, "holder") != "service_account" || field(l, "service_account", "id") != said ||
			field(l, "service_account", "name") != "billing-sync" || field(l, "service_account", "owner", "connection") != "acme" ||
			field(l, "service_account", "owner", "user_id") != w.pat || field(l, "service_account", "state") != "active" ||
			field(l, "user_id") != said || field(l, "connection") != "" || field(l, "decision") != "pending" {
			t.Errorf("the account's line: %v", l)
		}
		if l := lines[samGrant]; l == nil || field(l, "holder") != "user" || l["service_account"] != nil || field(l, "connection") != "acme" ||
			field(l, "user_id") != w.sam {
			t.Errorf("sam's line: %v", l)
		}

		item := func(g string) string { return "/reviews/" + id + "/items/" + g }
		refused(t, "the owner reviews her account's grant", pat.post(item(saGrant)+"/confirm", nil), http.StatusForbidden, "forbidden")
		if it := pat.post(item(samGrant)+"/confirm", map[string]any{"note": "still runs reports"}).must(t, http.StatusOK).JSON; field(it, "decision") != "confirmed" {
			t.Errorf("sam's line confirmed: %v", it)
		}

		env.setClock(deadline.Add(time.Hour))
		run, err := newReconciler(db, env.clock.Now).Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var revoked []string
		for _, r := range run.Report.Rules {
			if r.Rule == reconcile.RuleReviewDeadline && strings.HasPrefix(r.Action, "revoke") {
				revoked = r.IDs
			}
		}
		if !slices.Equal(revoked, []string{saGrant}) {
			t.Errorf("the pass revoked %v; want the account's grant %s", revoked, saGrant)
		}
		g := oper.get("/grants/"+saGrant).must(t, http.StatusOK).JSON
		if g["revoked_at"] == nil || g["revoked_by"] != "review:"+id || g["revoke_reason"] != "access review "+id+": not confirmed by deadline" {
			t.Errorf("the account's grant after the deadline: %v", g)
		}
		if g := oper.get("/grants/"+samGrant).must(t, http.StatusOK).JSON; g["revoked_at"] != nil {
			t.Errorf("sam's confirmed grant was revoked: %v", g)
		}
		if ok, why := allowedNow(t, w.integrationCheck(t, token, "reports.read", "acme")); ok {
			t.Errorf("the account may still read reports after the deadline revoked its grant")
		} else if why == "" {
			t.Errorf("a denial without a reason")
		}
		if l := oper.get("/reviews/"+id+"/items?decision=revoked").must(t, http.StatusOK).JSON; len(at(l, "items").([]any)) != 1 ||
			field(at(l, "items").([]any)[0], "holder") != "service_account" {
			t.Errorf("revoked lines: %v", l)
		}

		// The trail names the reviewer of sam's line and puts the deadline's revocation of
		// the account's grant, by the reconciler, in acme's chain.
		trail := at(oper.get("/audit?target="+url.QueryEscape(id)).must(t, http.StatusOK).JSON, "events").([]any)
		var actions []string
		acmeChain := "" // sam's confirmation is in acme's chain
		for _, e := range trail {
			if field(e, "action") == "review.confirm" {
				acmeChain = field(e, "connection_id")
			}
		}
		for _, e := range trail {
			actions = append(actions, field(e, "action"))
			switch field(e, "action") {
			case "review.confirm":
				if !strings.Contains(field(e, "actor"), w.pat) || field(e, "diff", "grant_id") != samGrant {
					t.Errorf("the confirmation does not name its reviewer: %v", e)
				}
			case "grants.revoke":
				if field(e, "actor") != reconcile.Actor || field(e, "diff", "review") != id || acmeChain == "" ||
					field(e, "connection_id") != acmeChain || !slices.Contains(at(e, "diff", "ids").([]any), any(saGrant)) {
					t.Errorf("the deadline's revocation: %v", e)
				}
			}
		}
		if want := []string{"review.start", "review.confirm", "grants.revoke", "review.close"}; !slices.Equal(actions, want) {
			t.Errorf("the review's trail %v; want %v", actions, want)
		}

		d := &webhooks.Deliverer{Outbox: db.Webhooks(), Now: env.clock.Now}
		if _, err := d.Once(ctx); err != nil {
			t.Fatal(err)
		}
		heard := false
		events := recv.Events()
		for _, ev := range events {
			if ev.Type == "grants.revoke" && strings.Contains(string(ev.Diff), saGrant) && ev.Target.ID == id {
				heard = true
			}
		}
		if !heard {
			t.Errorf("acme's subscriber did not hear of the account's grant revoked at the deadline: %+v", events)
		}
	})
}
