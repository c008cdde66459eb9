package main

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/webhooks"
)

// TestServiceAccountGrantEventsReachThePartner: a service account's grant belongs to no
// connection, yet its events must reach whoever sees the grants of the partner's people.
// A grant created, one revoked by hand, one revoked by the reconciler because it expired
// and one because its org's relationship ended: acme's delegated administrator finds all
// of them in its audit listing, each on the owner's connection, and a webhook receiver
// subscribed to acme's connection receives them.
func TestServiceAccountGrantEventsReachThePartner(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newSAWorld(t, db)
		oper := w.oper
		ctx := context.Background()
		recv := newWebhookInbox(t)
		oper.post("/webhooks", map[string]any{"connection": "acme", "url": recv.URL, "actions": []string{"grant.", "grants."}}).
			must(t, http.StatusCreated)
		// acme's administrator: sam, delegated manage_members on acme.
		d := oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": w.sam,
			"capabilities": []string{"manage_members"}, "depth": 0}).must(t, http.StatusCreated).JSON
		admin := w.env.admin(t, field(oper.post("/delegations/"+field(d, "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key"), w.doc)
		oper.post("/roles", map[string]any{"key": "audit.reader", "permissions": []string{"audit.read"}}).must(t, http.StatusCreated)
		oper.post("/roles", map[string]any{"key": "ops.viewer", "permissions": []string{"ops.read"}}).must(t, http.StatusCreated)

		sa := field(oper.post("/service-accounts", map[string]any{"org": "acme", "name": "billing-sync",
			"owner": map[string]any{"connection": "acme", "user_id": w.pat}}).must(t, http.StatusCreated).JSON, "id")
		grant := func(role, org string, expires *time.Time) string { return w.grantSA(t, sa, role, org, expires) }
		kept := grant("reports.viewer", "acme", nil)
		byHand := grant("audit.reader", "acme", nil)
		soon := w.env.clock.Now().Add(time.Hour)
		expiring := grant("ops.viewer", "acme", &soon)
		ended := grant("reports.viewer", "emea", nil)
		oper.call("DELETE", "/grants/"+byHand, map[string]any{"reason": "no longer needed"}).must(t, http.StatusOK)

		w.env.clock.advance(2 * time.Hour)
		oper.call("PATCH", "/orgs/emea", map[string]any{"status": "ended"}).must(t, http.StatusOK)
		run, err := newReconciler(db, w.env.clock.Now).Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, r := range run.Report.Rules {
			counts[r.Rule] += r.Count
		}
		if counts[reconcile.RuleGrantExpired] != 1 || counts[reconcile.RuleContractEnded] == 0 {
			t.Fatalf("the pass: %v", counts)
		}
		for _, id := range []string{expiring, ended} {
			if g := oper.get("/grants/"+id).must(t, http.StatusOK).JSON; g["revoked_at"] == nil {
				t.Fatalf("grant %s not revoked by the pass: %v", id, g)
			}
		}

		acme, err := newServices(db, w.env.clock.Now).dir.Connection(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		// what names the grants an event is about: its target, or the ids it lists.
		grantsOf := func(action, target string, diff json.RawMessage) []string {
			if action != "grants.revoke" {
				return []string{action + " " + target}
			}
			var detail struct{ IDs []string }
			_ = json.Unmarshal(diff, &detail)
			var out []string
			for _, id := range detail.IDs {
				out = append(out, action+" "+id)
			}
			return out
		}
		want := []string{"grant.create " + kept, "grant.create " + byHand, "grant.create " + expiring, "grant.create " + ended,
			"grant.revoke " + byHand, "grants.revoke " + expiring, "grants.revoke " + ended}
		sort.Strings(want)
		mine := map[string]bool{kept: true, byHand: true, expiring: true, ended: true}

		var listed []string
		for _, prefix := range []string{"grant.", "grants."} {
			for _, e := range at(admin.get("/audit?action="+prefix).must(t, http.StatusOK).JSON, "events").([]any) {
				raw, _ := json.Marshal(at(e, "diff"))
				for _, g := range grantsOf(field(e, "action"), field(e, "target_id"), raw) {
					if !mine[g[strings.IndexByte(g, ' ')+1:]] {
						continue
					}
					listed = append(listed, g)
					if c := field(e, "connection_id"); c != acme.ID {
						t.Errorf("%s recorded on connection %q, not the owner's %s", g, c, acme.ID)
					}
				}
			}
		}
		sort.Strings(listed)
		if strings.Join(listed, "\n") != strings.Join(want, "\n") {
			t.Errorf("acme's administrator sees\n%s\nwant\n%s", strings.Join(listed, "\n"), strings.Join(want, "\n"))
		}

		if _, err := (&webhooks.Deliverer{Outbox: db.Webhooks(), Now: w.env.clock.Now}).Once(ctx); err != nil {
			t.Fatal(err)
		}
		var delivered []string
		for _, ev := range recv.Events() {
			for _, g := range grantsOf(ev.Type, ev.Target.ID, ev.Diff) {
				if mine[g[strings.IndexByte(g, ' ')+1:]] {
					delivered = append(delivered, g)
				}
			}
		}
		sort.Strings(delivered)
		if strings.Join(delivered, "\n") != strings.Join(want, "\n") {
			t.Errorf("acme's webhook received\n%s\nwant\n%s", strings.Join(delivered, "\n"), strings.Join(want, "\n"))
		}
	})
}
