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
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
)

// setClock moves the server's clock to t.
func (e *e2eEnv) setClock(t time.Time) {
	e.clock.mu.Lock()
	defer e.clock.mu.Unlock()
	e.clock.t = t
}

// TestAccessReviewOverHTTP: a partner's delegated administrator reviews the grants of
// its subtree through the real server; the reconciler revokes what is left unconfirmed
// at the deadline, once.
func TestAccessReviewOverHTTP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env := newE2E(t, db)
		keys := &orgs.AdminKeys{Store: db.AdminKeys(), Now: env.clock.Now}
		_, opKey, err := keys.IssueOperatorKey(ctx, "ops", nil)
		if err != nil {
			t.Fatal(err)
		}
		doc := env.admin(t, "", nil).get("/openapi.json").must(t, http.StatusOK).JSON
		oper := env.admin(t, opKey, doc)
		for _, o := range [][3]string{{"Vendor", "vendor", ""}, {"Acme", "acme", "vendor"}, {"Acme EMEA", "emea", "acme"}, {"Globex", "globex", "vendor"}} {
			body := map[string]any{"name": o[0], "slug": o[1]}
			if o[2] != "" {
				body["parent"] = o[2]
			}
			oper.post("/orgs", body).must(t, http.StatusCreated)
		}
		token := map[string]string{}
		for _, c := range []string{"acme", "globex"} {
			token[c] = field(oper.post("/connections", map[string]any{"org": c, "idp": "entra"}).must(t, http.StatusCreated).JSON, "token")
		}
		person := map[string]string{}
		for _, p := range [][2]string{{"ann", "acme"}, {"ben", "acme"}, {"carol", "acme"}, {"dave", "acme"}, {"gina", "globex"}} {
			scim := &scimClient{t: t, env: env, slug: p[1], token: token[p[1]]}
			person[p[0]] = scim.create(map[string]any{"userName": p[0] + "@" + p[1] + ".example"})["id"].(string)
		}
		oper.post("/roles", map[string]any{"key": "reports.viewer", "permissions": []string{"reports.read"}, "inherits": true}).must(t, http.StatusCreated)
		grant := map[string]string{}
		for _, g := range [][3]string{{"ann", "acme", "acme"}, {"ben", "acme", "emea"}, {"carol", "acme", "acme"}, {"dave", "acme", "acme"},
			{"gina", "globex", "globex"}} {
			grant[g[0]] = field(oper.post("/grants", map[string]any{"connection": g[1], "user_id": person[g[0]], "role": "reports.viewer",
				"org": g[2], "reason": "monthly reports"}).must(t, http.StatusCreated).JSON, "id")
		}
		// carol administers acme: she may start reviews (approve) and decide them (manage_members).
		del := oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": person["carol"],
			"capabilities": []string{"approve", "manage_members"}}).must(t, http.StatusCreated).JSON
		carol := env.admin(t, field(oper.post("/delegations/"+field(del, "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key"), doc)

		now := env.clock.Now()
		deadline := now.Add(7 * 24 * time.Hour).UTC()
		refused(t, "outside her subtree", carol.post("/reviews", map[string]any{"org": "globex", "name": "x", "deadline": deadline}),
			http.StatusForbidden, "forbidden")
		refused(t, "no deadline", carol.post("/reviews", map[string]any{"org": "acme", "name": "x"}), http.StatusBadRequest, "invalid")
		refused(t, "past deadline", carol.post("/reviews", map[string]any{"org": "acme", "name": "x", "deadline": now.Add(-time.Hour)}),
			http.StatusBadRequest, "invalid")
		review := carol.post("/reviews", map[string]any{"org": "acme", "name": "Acme Q3 review", "deadline": deadline}).must(t, http.StatusCreated).JSON
		id := field(review, "id")
		if review["state"] != "open" || review["org"] != "acme" || num(t, at(review, "counts", "items")) != 4 {
			t.Fatalf("review %v", review)
		}
		// The vendor's own review, due later, covers globex too, outside carol's subtree.
		vendorReview := field(oper.post("/reviews", map[string]any{"org": "vendor", "name": "all partners", "deadline": deadline.Add(7 * 24 * time.Hour)}).
			must(t, http.StatusCreated).JSON, "id")

		item := func(who string) string { return "/reviews/" + id + "/items/" + grant[who] }
		if it := carol.post(item("ben")+"/confirm", map[string]any{"note": "still runs reports"}).must(t, http.StatusOK).JSON; it["decision"] != "confirmed" ||
			it["user_id"] != person["ben"] || it["org"] != "emea" || it["role"] != "reports.viewer" || it["source"] != "direct" {
			t.Errorf("confirmed item %v", it)
		}
		if it := carol.post(item("dave")+"/revoke", map[string]any{"note": "left the company"}).must(t, http.StatusOK).JSON; it["decision"] != "revoked" {
			t.Errorf("revoked item %v", it)
		}
		g := oper.get("/grants/"+grant["dave"]).must(t, http.StatusOK).JSON
		if g["revoked_at"] == nil || !strings.Contains(field(g, "revoke_reason"), id) {
			t.Errorf("dave's grant after the reviewer revoked it: %v", g)
		}
		refused(t, "her own grant", carol.post(item("carol")+"/confirm", nil), http.StatusForbidden, "forbidden")
		refused(t, "outside her subtree", carol.post("/reviews/"+vendorReview+"/items/"+grant["gina"]+"/confirm", nil), http.StatusForbidden, "forbidden")
		refused(t, "decided twice", carol.post(item("ben")+"/revoke", nil), http.StatusConflict, "conflict")
		refused(t, "no such item", carol.post("/reviews/"+id+"/items/nope/confirm", nil), http.StatusNotFound, "not_found")
		refused(t, "bad decision filter", carol.get("/reviews/"+id+"/items?decision=maybe"), http.StatusBadRequest, "invalid")
		// An operator reviews carol's own grant; ann's is left pending.
		oper.post(item("carol")+"/confirm", nil).must(t, http.StatusOK)

		pending := carol.get("/reviews/"+id+"/items?decision=pending").must(t, http.StatusOK).JSON
		if items, _ := pending["items"].([]any); len(items) != 1 || field(items[0], "grant_id") != grant["ann"] {
			t.Errorf("pending items %v", pending)
		}
		// Every listing says how many items its filter selects, whatever page it is; a
		// delegate's total counts only her part of a wider review.
		for _, c := range []struct {
			who    *adminClient
			review string
			query  string
			total  int
		}{
			{carol, id, "", 4}, {carol, id, "decision=pending", 1}, {carol, id, "decision=confirmed", 2},
			{carol, id, "decision=revoked", 1}, {carol, id, "decision=lapsed", 0},
			{carol, vendorReview, "", 4}, {oper, vendorReview, "", 5}, {carol, vendorReview, "decision=lapsed", 1},
		} {
			var seen int
			for cursor := ""; ; {
				page := c.who.get("/reviews/"+c.review+"/items?limit=1&"+c.query+"&cursor="+cursor).must(t, http.StatusOK).JSON
				seen += len(page["items"].([]any))
				if n := num(t, page["total"]); n != c.total {
					t.Errorf("review %s ?%s: total %d, want %d", c.review, c.query, n, c.total)
				}
				if cursor = field(page, "next_cursor"); cursor == "" {
					break
				}
			}
			if seen != c.total {
				t.Errorf("review %s ?%s: %d items over its pages, total %d", c.review, c.query, seen, c.total)
			}
		}
		got := carol.get("/reviews/"+id).must(t, http.StatusOK).JSON
		if c := got["counts"]; num(t, at(c, "confirmed")) != 2 || num(t, at(c, "revoked")) != 1 || num(t, at(c, "pending")) != 1 {
			t.Errorf("counts %v", c)
		}
		listed := func(query string) []string {
			t.Helper()
			var out []string
			for _, x := range carol.get("/reviews?"+query).must(t, http.StatusOK).JSON["items"].([]any) {
				out = append(out, field(x, "id"))
			}
			return out
		}
		// Hers, and the vendor's, in which she reviews her part.
		if got, want := listed("state=open"), []string{id, vendorReview}; !slices.Equal(got, sortedCopy(want)) {
			t.Errorf("carol lists %v; want %v", got, sortedCopy(want))
		}
		if got := listed("org=acme"); !slices.Equal(got, []string{id}) {
			t.Errorf("carol lists %v on acme; want only acme's review", got)
		}
		refused(t, "listing another subtree", carol.get("/reviews?org=globex"), http.StatusForbidden, "forbidden")

		// A review of globex is none of carol's business; cancelled, it takes no decisions.
		globexReview := field(oper.post("/reviews", map[string]any{"org": "globex", "name": "globex", "deadline": deadline}).
			must(t, http.StatusCreated).JSON, "id")
		refused(t, "a review outside her subtree", carol.get("/reviews/"+globexReview), http.StatusNotFound, "not_found")
		refused(t, "cancel outside her subtree", carol.post("/reviews/"+globexReview+"/cancel", nil), http.StatusNotFound, "not_found")
		if r := oper.post("/reviews/"+globexReview+"/cancel", map[string]any{"reason": "wrong quarter"}).must(t, http.StatusOK).JSON; r["state"] != "cancelled" {
			t.Errorf("cancelled review %v", r)
		}
		refused(t, "decision on a cancelled review", oper.post("/reviews/"+globexReview+"/items/"+grant["gina"]+"/revoke", nil),
			http.StatusConflict, "conflict")
		refused(t, "cancelled twice", oper.post("/reviews/"+globexReview+"/cancel", nil), http.StatusConflict, "conflict")

		// Past the deadline nothing is decided any more; the reconciler revokes ann's grant.
		env.setClock(deadline.Add(time.Hour))
		refused(t, "after the deadline", oper.post(item("ann")+"/confirm", nil), http.StatusConflict, "conflict")
		rec := newReconciler(db, env.clock.Now)
		run, err := rec.Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var revoked []string
		for _, r := range run.Report.Rules {
			if r.Rule == reconcile.RuleReviewDeadline && strings.HasPrefix(r.Action, "revoke") {
				revoked = r.IDs
			}
		}
		if !slices.Equal(revoked, []string{grant["ann"]}) {
			t.Errorf("the pass revoked %v; want ann's grant: %+v", revoked, run.Report)
		}
		g = oper.get("/grants/"+grant["ann"]).must(t, http.StatusOK).JSON
		if g["revoked_at"] == nil || g["revoked_by"] != "review:"+id || g["revoke_reason"] != "access review "+id+": not confirmed by deadline" {
			t.Errorf("ann's grant after the deadline: %v", g)
		}
		for _, who := range []string{"ben", "gina"} { // confirmed; in a cancelled review and one due later
			if g := oper.get("/grants/"+grant[who]).must(t, http.StatusOK).JSON; g["revoked_at"] != nil {
				t.Errorf("%s's grant was revoked: %v", who, g)
			}
		}
		if r := carol.get("/reviews/"+id).must(t, http.StatusOK).JSON; r["state"] != "closed" || num(t, at(r, "counts", "revoked_at_deadline")) != 1 {
			t.Errorf("review after the deadline: %v", r)
		}
		if r := oper.get("/reviews/"+vendorReview).must(t, http.StatusOK).JSON; r["state"] != "open" {
			t.Errorf("the review due later is %v", r["state"])
		}
		trail := func() []any {
			t.Helper()
			return carol.get("/audit?target="+url.QueryEscape(id)).must(t, http.StatusOK).JSON["events"].([]any)
		}
		events := trail()
		var actions []string
		for _, e := range events {
			actions = append(actions, field(e, "action"))
			if field(e, "action") == "grants.revoke" && (field(e, "actor") != reconcile.Actor || field(e, "request_id") != run.ID ||
				field(e, "diff", "rule") != reconcile.RuleReviewDeadline || field(e, "diff", "review") != id) {
				t.Errorf("deadline revocation event %v", e)
			}
		}
		want := []string{"review.start", "review.confirm", "review.revoke", "review.confirm", "grants.revoke", "review.close"}
		if !slices.Equal(actions, want) {
			t.Errorf("the review's audit trail %v; want %v", actions, want)
		}

		again, err := rec.Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range again.Report.Rules {
			if r.Rule == reconcile.RuleReviewDeadline && r.Count != 0 {
				t.Errorf("second pass: %+v", r)
			}
		}
		if n := len(trail()); n != len(events) {
			t.Errorf("second pass added %d events to the review's trail", n-len(events))
		}
	})
}
