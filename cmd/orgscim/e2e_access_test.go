package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestAccessFollowsSCIM drives memberships and user status over SCIM, as Entra sends
// them, and checks that grants and access answers change in the same transaction: the
// answer right after the SCIM response already reflects it.
func TestAccessFollowsSCIM(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env := newE2E(t, db)
		if _, err := env.dir.CreateOrg(ctx, "Vendor", "vendor", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := env.dir.CreateOrg(ctx, "Globex", "globex", "vendor"); err != nil {
			t.Fatal(err)
		}
		c := env.connectUnder("acme", "vendor", "entra")
		emea, err := env.dir.CreateOrg(ctx, "Acme EMEA", "acme-emea", "acme")
		if err != nil {
			t.Fatal(err)
		}
		acme, _ := db.Orgs().OrgBySlug(ctx, "acme")
		globex, _ := db.Orgs().OrgBySlug(ctx, "globex")
		users := &provisioning.Users{Store: db.Users()}
		access := &orgs.Access{Store: db.Access(), Users: users, Tx: db, Now: env.clock.Now}
		op1 := orgs.Principal{Operator: "op1"}

		if _, err := access.CreateRole(ctx, orgs.Role{Key: "billing.viewer", Permissions: []string{"billing.read"}, Inherits: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := access.CreateRole(ctx, orgs.Role{Key: "billing.admin", Permissions: []string{"billing.*"}, Privileged: true, MaxDuration: 8 * time.Hour}); err != nil {
			t.Fatal(err)
		}

		ann := c.create(map[string]any{"userName": "ann@acme.example"})["id"].(string)
		ben := c.create(map[string]any{"userName": "ben@acme.example"})["id"].(string)
		finance := c.createGroup("Finance", ann)["id"].(string)
		all := c.createGroup("All staff", finance, ben)["id"].(string)

		check := func(user, perm string, org *orgs.Org) *orgs.Decision {
			t.Helper()
			d, err := access.Check(ctx, c.conn, user, perm, org.ID)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		mustAllow := func(user, perm string, org *orgs.Org) *orgs.Decision {
			t.Helper()
			d := check(user, perm, org)
			if !d.Allowed {
				t.Fatalf("%s %s on %s: denied: %s", user, perm, org.Slug, d.Reason)
			}
			return d
		}
		mustDeny := func(user, perm string, org *orgs.Org, why string) {
			t.Helper()
			if d := check(user, perm, org); d.Allowed || !strings.Contains(d.Reason, why) {
				t.Fatalf("%s %s on %s: allowed=%v reason %q, want a denial naming %q", user, perm, org.Slug, d.Allowed, d.Reason, why)
			}
		}

		mustDeny(ann, "billing.read", emea, "no live grant")

		// A mapping outside the connection's subtree is refused.
		if _, err := access.DraftMapping(ctx, op1, c.conn, all, "billing.viewer", globex.ID, "", ""); orgscim.ErrorCode(err) != orgscim.Forbidden {
			t.Fatalf("mapping outside the subtree: %v", err)
		}
		m, err := access.DraftMapping(ctx, op1, c.conn, all, "billing.viewer", acme.ID, "", "all staff read billing")
		if err != nil {
			t.Fatal(err)
		}
		mustDeny(ann, "billing.read", emea, "no live grant") // a draft grants nothing
		if _, err := access.ApproveMapping(ctx, op1, m.ID); orgscim.ErrorCode(err) != orgscim.Forbidden {
			t.Fatalf("the drafter approved its own mapping: %v", err)
		}
		if _, err := access.ApproveMapping(ctx, orgs.Principal{Operator: "op2"}, m.ID); err != nil {
			t.Fatal(err)
		}

		// ann holds it through Finance ⊂ All staff; it inherits down to EMEA.
		d := mustAllow(ann, "billing.read", emea)
		ex := d.Because[0]
		if ex.Mapping.ID != m.ID || ex.Org.ID != acme.ID || strings.Join(ex.Groups, ",") != finance+","+all || ex.Connection.ID != c.conn.ID {
			t.Fatalf("explanation %+v groups %v", ex, ex.Groups)
		}
		mustAllow(ben, "billing.read", acme)
		mustDeny(ann, "billing.write", acme, "no live grant")

		// A privileged mapping needs a second person.
		pm, err := access.DraftMapping(ctx, op1, c.conn, finance, "billing.admin", emea.ID, "", "finance admins")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := access.ApproveMapping(ctx, op1, pm.ID); orgscim.ErrorCode(err) != orgscim.Forbidden {
			t.Fatalf("self-approval of a privileged mapping: %v", err)
		}
		if _, err := access.ApproveMapping(ctx, orgs.Principal{Operator: "op2"}, pm.ID); err != nil {
			t.Fatal(err)
		}
		d = mustAllow(ann, "billing.write", emea)
		if g := d.Because[0].Grant; g.Expires == nil || g.ApprovedBy != "operator:op2" {
			t.Fatalf("privileged grant without expiry or approver: %+v", g)
		}
		mustDeny(ann, "billing.write", acme, "no live grant") // billing.admin does not inherit upward or down

		// Entra removes ann from Finance: both grants go before the response is sent.
		c.do("PATCH", "/Groups/"+finance, patchBody(op("Remove", "members", []any{map[string]any{"value": ann}}))).must(t, http.StatusNoContent)
		mustDeny(ann, "billing.read", emea, "no live grant")
		mustDeny(ann, "billing.write", emea, "no live grant")
		mustAllow(ben, "billing.read", emea)

		// Re-adding restores a grant from the mapping.
		c.do("PATCH", "/Groups/"+all, patchBody(op("Add", "members", []any{map[string]any{"value": ann}}))).must(t, http.StatusNoContent)
		if d := mustAllow(ann, "billing.read", emea); len(d.Because[0].Groups) != 1 {
			t.Fatalf("direct membership path %v", d.Because[0].Groups)
		}

		// Who has access to EMEA, and what can ann do, with reasons.
		holders, err := access.WhoHasAccess(ctx, emea.ID)
		if err != nil {
			t.Fatal(err)
		}
		who := map[string]string{}
		for _, h := range holders {
			who[h.Grant.UserID] = h.Role.Key + "@" + h.Org.Slug + " via " + string(h.Grant.Source)
		}
		if len(who) != 2 || who[ann] != "billing.viewer@acme via mapping" || who[ben] == "" {
			t.Fatalf("who has access to emea: %v", who)
		}
		can, err := access.WhatCanUserDo(ctx, c.conn, ann)
		if err != nil || len(can) != 1 || can[0].Role.Key != "billing.viewer" {
			t.Fatalf("what can ann do: %+v %v", can, err)
		}

		// Deactivation revokes at once; reactivation re-grants.
		c.do("PATCH", "/Users/"+ben, patchBody(op("Replace", "active", "False"))).must(t, http.StatusNoContent)
		mustDeny(ben, "billing.read", acme, "inactive")
		c.do("PATCH", "/Users/"+ben, patchBody(op("Replace", "active", "True"))).must(t, http.StatusNoContent)
		mustAllow(ben, "billing.read", acme)

		// Suspending a parent removes the subtree's access at query time, grants untouched.
		suspended, active := orgs.StatusSuspended, orgs.StatusActive
		if _, err := env.dir.UpdateOrg(ctx, "acme", orgs.OrgUpdate{Status: &suspended}); err != nil {
			t.Fatal(err)
		}
		mustDeny(ben, "billing.read", emea, "not active")
		// and the partner's IdP is shut out with it: its tokens stop at once.
		c.do("GET", "/Users/"+ben, nil).must(t, http.StatusUnauthorized)
		if _, err := env.dir.UpdateOrg(ctx, "acme", orgs.OrgUpdate{Status: &active}); err != nil {
			t.Fatal(err)
		}
		mustAllow(ben, "billing.read", emea)
		c.do("GET", "/Users/"+ben, nil).must(t, http.StatusOK)
		past := env.clock.Now().Add(-time.Hour)
		if _, err := env.dir.UpdateOrg(ctx, "acme", orgs.OrgUpdate{ContractEnd: &[]*time.Time{&past}[0]}); err != nil {
			t.Fatal(err)
		}
		mustDeny(ben, "billing.read", emea, "not active")
		c.do("GET", "/Users/"+ben, nil).must(t, http.StatusUnauthorized)
		if holders, err := access.WhoHasAccess(ctx, emea.ID); err != nil || len(holders) != 0 {
			t.Fatalf("an ended contract still lists holders: %d %v", len(holders), err)
		}

		// Deleting the group revokes what it carried.
		if _, err := env.dir.UpdateOrg(ctx, "acme", orgs.OrgUpdate{ContractEnd: &[]*time.Time{nil}[0]}); err != nil {
			t.Fatal(err)
		}
		mustAllow(ben, "billing.read", emea)
		c.do("DELETE", "/Groups/"+all, nil).must(t, http.StatusNoContent)
		mustDeny(ben, "billing.read", emea, "no live grant")
	})
}
