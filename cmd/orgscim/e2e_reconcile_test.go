package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
)

// A pass that would revoke more than a connection's guardrail allows is held; an
// operator reads it and approves it over the admin API, and only then is it applied.
func TestE2EReconcileGuardrailApproval(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env := newE2E(t, db)
		svc := newServices(db, env.clock.Now)
		_, opSecret, err := svc.keys.IssueOperatorKey(audit.WithSource(ctx, audit.Source{Actor: "operator:cli:test"}), "ops", nil)
		if err != nil {
			t.Fatal(err)
		}
		doc := env.admin(t, "", nil).get("/openapi.json").must(t, http.StatusOK).JSON
		oper := env.admin(t, opSecret, doc)
		scim := env.connect("acme", "entra")
		oper.post("/roles", map[string]any{"key": "viewer", "permissions": []string{"reports.read"}}).must(t, http.StatusCreated)
		expires := env.clock.Now().Add(time.Hour)
		var grants []string
		for _, name := range []string{"ann", "ben", "cat"} {
			u := scim.create(map[string]any{"schemas": []string{userSchemaURN}, "userName": name + "@acme.test", "active": true})
			r := oper.post("/grants", map[string]any{"connection": "acme", "user_id": u["id"], "role": "viewer", "org": "acme",
				"expires_at": expires}).must(t, http.StatusCreated)
			grants = append(grants, field(r.JSON, "id"))
		}
		oper.get("/connections/acme/policy").must(t, http.StatusOK)
		if r := oper.call("PATCH", "/connections/acme/policy", map[string]any{"guard_max_share": 1.5}); r.Status != http.StatusBadRequest {
			t.Errorf("share 1.5: %d", r.Status)
		}
		p := oper.call("PATCH", "/connections/acme/policy", map[string]any{"guard_max_changes": 2}).must(t, http.StatusOK)
		if fmt.Sprint(p.JSON["guard_max_changes"]) != "2" {
			t.Fatalf("policy %v", p.JSON)
		}

		env.clock.mu.Lock()
		env.clock.t = env.clock.t.Add(2 * time.Hour)
		env.clock.mu.Unlock()
		run, err := newReconciler(db, env.clock.Now).Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := oper.get("/reconcile/runs/"+run.ID).must(t, http.StatusOK)
		held, _ := at(got.JSON, "report", "held").([]any)
		if len(held) != 1 || at(held[0], "state") != "held" {
			t.Fatalf("run as served: %s", got.Raw)
		}
		for _, id := range grants {
			if g := oper.get("/grants/"+id).must(t, http.StatusOK); g.JSON["revoked_at"] != nil {
				t.Fatalf("grant %s revoked while its plan was held", id)
			}
		}
		if r := oper.post("/reconcile/runs/nope/approve", nil); r.Status != http.StatusNotFound {
			t.Errorf("approving an unknown run: %d", r.Status)
		}
		ok := oper.post("/reconcile/runs/"+run.ID+"/approve", map[string]any{"connections": []string{"acme"}}).must(t, http.StatusOK)
		if field(ok.JSON, "kind") != "approval" || field(ok.JSON, "approves") != run.ID {
			t.Errorf("approval run %s", ok.Raw)
		}
		for _, id := range grants {
			g := oper.get("/grants/"+id).must(t, http.StatusOK)
			if g.JSON["revoked_at"] == nil || !strings.Contains(field(g.JSON, "revoke_reason"), "expired") {
				t.Errorf("grant %s after approval: %s", id, g.Raw)
			}
		}
		if r := oper.post("/reconcile/runs/"+run.ID+"/approve", nil); r.Status != http.StatusConflict {
			t.Errorf("approving twice: %d", r.Status)
		}
		after := oper.get("/reconcile/runs/"+run.ID).must(t, http.StatusOK)
		held, _ = at(after.JSON, "report", "held").([]any)
		if len(held) != 1 || at(held[0], "state") != "approved" || !strings.HasPrefix(field(held[0].(map[string]any), "decided_by"), "admin_key:") {
			t.Errorf("held plan after approval: %s", after.Raw)
		}
	})
}
