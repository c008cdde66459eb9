package sqlstore_test

import (
	"testing"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
)

func TestDelegatedAdministration(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		dir := &orgs.Directory{Store: db.Orgs(), Now: clock}
		for _, o := range [][2]string{{"vendor", ""}, {"acme", "vendor"}, {"emea", "acme"}, {"paris", "emea"}, {"globex", "vendor"}} {
			if _, err := dir.CreateOrg(ctx, o[0], o[0], o[1]); err != nil {
				t.Fatal(err)
			}
		}
		org := func(slug string) *orgs.Org {
			o, err := db.Orgs().OrgBySlug(ctx, slug)
			if err != nil {
				t.Fatal(err)
			}
			return o
		}
		conn, _, err := dir.CreateConnection(ctx, "acme", "acme", "entra")
		if err != nil {
			t.Fatal(err)
		}
		users := &provisioning.Users{Store: db.Users(), Now: clock}
		person := map[string]string{}
		for _, n := range []string{"alice", "bob", "carol", "dave"} {
			u, err := users.Create(ctx, conn.ID, map[string]any{"userName": n}, "")
			if err != nil {
				t.Fatal(err)
			}
			person[n] = u.ID
		}
		access := &orgs.Access{Store: db.Access(), Users: users, Tx: db, Now: clock}
		dels := &orgs.Delegations{Store: db.Delegations(), Orgs: db.Orgs(), Access: access, Tx: db, Now: clock}
		access.Authz = dels
		if _, err := access.CreateRole(ctx, orgs.Role{Key: "viewer", Permissions: []string{"reports.read"}, Inherits: true}); err != nil {
			t.Fatal(err)
		}
		op := orgs.Principal{Operator: "root"}
		req := func(who, slug string, depth int, caps ...orgs.Capability) orgs.DelegationRequest {
			return orgs.DelegationRequest{OrgID: org(slug).ID, HolderConnectionID: conn.ID, HolderUserID: person[who], Capabilities: caps, Depth: depth}
		}
		all := []orgs.Capability{orgs.CapManageMembers, orgs.CapManageMappings, orgs.CapApprove, orgs.CapDelegate}
		must := func(d *orgs.Delegation, err error) orgs.Principal {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return orgs.Principal{Delegation: d}
		}
		refused := func(what string, err error, code orgscim.Code) {
			t.Helper()
			if orgscim.ErrorCode(err) != code {
				t.Errorf("%s: got %v, want %s", what, err, code)
			}
		}

		alice := must(dels.Delegate(ctx, op, req("alice", "acme", 2, all...)))
		bob := must(dels.Delegate(ctx, alice, req("bob", "emea", 1, orgs.CapManageMembers, orgs.CapDelegate)))
		if bob.Delegation.ParentID != alice.Delegation.ID {
			t.Fatalf("chain not recorded: %+v", bob.Delegation)
		}

		// Outside the subtree: a sibling, a parent.
		_, err = dels.Delegate(ctx, alice, req("dave", "globex", 0, orgs.CapManageMembers))
		refused("delegate on a sibling", err, orgscim.Forbidden)
		_, err = dels.Delegate(ctx, bob, req("dave", "acme", 0, orgs.CapManageMembers))
		refused("delegate on a parent", err, orgscim.Forbidden)
		// Escalation: a capability not held, a depth not allowed.
		_, err = dels.Delegate(ctx, bob, req("carol", "paris", 0, orgs.CapApprove))
		refused("delegate a capability not held", err, orgscim.Forbidden)
		_, err = dels.Delegate(ctx, bob, req("carol", "paris", 1, orgs.CapManageMembers))
		refused("delegate deeper than allowed", err, orgscim.Forbidden)
		carol := must(dels.Delegate(ctx, bob, req("carol", "paris", 0, orgs.CapManageMembers)))
		_, err = dels.Delegate(ctx, carol, req("dave", "paris", 0, orgs.CapManageMembers))
		refused("delegate without the capability", err, orgscim.Forbidden)

		// Granting roles: only what one holds, only inside the subtree.
		_, err = access.AssignRole(ctx, bob, conn, person["carol"], "viewer", org("paris").ID, "", nil)
		refused("grant a role one does not hold", err, orgscim.Forbidden)
		if _, err := access.AssignRole(ctx, op, conn, person["bob"], "viewer", org("emea").ID, "reports", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := access.AssignRole(ctx, bob, conn, person["carol"], "viewer", org("paris").ID, "reports", nil); err != nil {
			t.Fatalf("grant a held, inherited role below: %v", err)
		}
		_, err = access.AssignRole(ctx, bob, conn, person["carol"], "viewer", org("acme").ID, "", nil)
		refused("grant on a parent", err, orgscim.Forbidden)
		if d, err := access.Check(ctx, conn, person["carol"], "reports.read", org("paris").ID); err != nil || !d.Allowed {
			t.Fatalf("carol's grant: %+v %v", d, err)
		}

		// Mapping approval needs the approve capability.
		_, err = access.DraftMapping(ctx, bob, conn, "g1", "viewer", org("emea").ID, "", "")
		refused("draft a mapping without manage_mappings", err, orgscim.Forbidden)

		// The last administrator of a partner cannot go without a successor.
		_, err = dels.Revoke(ctx, op, alice.Delegation.ID, orgs.Revocation{Reason: "left the company"})
		refused("revoke the last administrator", err, orgscim.Conflict)
		if err := dels.Authorize(ctx, bob, orgs.CapManageMembers, org("paris")); err != nil {
			t.Fatalf("a refused revocation changed something: %v", err)
		}
		succ := orgs.DelegationRequest{HolderConnectionID: conn.ID, HolderUserID: person["dave"], Capabilities: all, Depth: 2}
		if _, err := dels.Revoke(ctx, op, alice.Delegation.ID, orgs.Revocation{Reason: "left the company", Successor: &succ}); err != nil {
			t.Fatal(err)
		}
		// Everything delegated through alice is gone with her.
		for name, p := range map[string]orgs.Principal{"alice": alice, "bob": bob, "carol": carol} {
			if err := dels.Authorize(ctx, p, orgs.CapManageMembers, org("paris")); orgscim.ErrorCode(err) != orgscim.Forbidden {
				t.Errorf("%s still acts after the revocation: %v", name, err)
			}
		}
		live, err := db.Delegations().LiveDelegations(ctx, []string{org("acme").ID}, now)
		if err != nil || len(live) != 1 || live[0].HolderUserID != person["dave"] {
			t.Fatalf("successor: %+v %v", live, err)
		}

		// Expiry: a child never outlives its parent, and expiry works at query time.
		end := now.Add(time.Hour)
		r := req("bob", "emea", 1, orgs.CapManageMembers, orgs.CapDelegate)
		r.Expires = &end
		dave := orgs.Principal{Delegation: live[0]}
		bob = must(dels.Delegate(ctx, dave, r))
		c2 := must(dels.Delegate(ctx, bob, req("carol", "paris", 0, orgs.CapManageMembers)))
		if c2.Delegation.Expires == nil || !c2.Delegation.Expires.Equal(end) {
			t.Fatalf("child expiry %v, want the parent's %v", c2.Delegation.Expires, end)
		}
		now = end
		if err := dels.Authorize(ctx, c2, orgs.CapManageMembers, org("paris")); orgscim.ErrorCode(err) != orgscim.Forbidden {
			t.Fatalf("expired delegation acts: %v", err)
		}
	})
}
