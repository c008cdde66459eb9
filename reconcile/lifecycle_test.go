package reconcile_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
)

func (w *world) directory() *orgs.Directory {
	return &orgs.Directory{Store: w.db.Orgs(), Tx: w.db, Audit: w.db.Audit(), Now: w.clock}
}

func (w *world) setPolicy(t *testing.T, slug string, u orgs.PolicyUpdate) {
	t.Helper()
	if _, err := w.directory().SetConnectionPolicy(ctx, slug, "operator:test", u); err != nil {
		t.Fatal(err)
	}
}

func (w *world) user(t *testing.T, name string) *provisioning.User {
	t.Helper()
	u, err := w.db.Users().User(ctx, w.conn.ID, w.person[name])
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// touch is the IdP writing the user again (a PATCH that changes nothing counts).
func (w *world) touch(t *testing.T, name string) {
	t.Helper()
	if _, err := w.users.Update(ctx, w.conn.ID, w.person[name], func(*provisioning.User) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func liveGrantsOf(t *testing.T, db *sqlstore.DB, userID string) []*orgs.Grant {
	t.Helper()
	gs, _, err := db.Access().GrantsOfUser(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

func TestStaleMembersAreDeactivated(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newWorld(t, db)
		rec := w.reconciler()
		day := 24 * time.Hour
		window := 30 * day
		w.setPolicy(t, "acme", orgs.PolicyUpdate{StaleAfter: &window})

		w.now = w.now.Add(20 * day)
		w.touch(t, "ann") // ann's IdP still vouches for her; ben and carol were last written on day 0
		w.now = w.now.Add(15 * day)

		dry, err := rec.Once(ctx, reconcile.Options{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if s := rule(dry.Report, reconcile.RuleStaleMember); s.Count != 2 {
			t.Errorf("dry run plans %+v; want ben and carol", s)
		}
		if !w.user(t, "ben").Active {
			t.Fatal("a dry run deactivated a member")
		}

		run, err := rec.Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s := rule(run.Report, reconcile.RuleStaleMember); s.Count != 2 || s.ByConnection[w.conn.ID] != 2 {
			t.Errorf("stale rule %+v; want ben and carol", s)
		}
		if !w.user(t, "ann").Active || w.user(t, "ben").Active || w.user(t, "carol").Active {
			t.Errorf("active after the pass: ann %v ben %v carol %v; want only ann", w.user(t, "ann").Active,
				w.user(t, "ben").Active, w.user(t, "carol").Active)
		}
		// Deactivation has its usual consequences, attributed to the rule.
		if gs := liveGrantsOf(t, db, w.person["ben"]); len(gs) != 0 {
			t.Errorf("ben still holds %d grants", len(gs))
		}
		g := grantByID(t, db, w.grants["ben"].ID)
		if g.Revoked == nil || g.RevokedBy != reconcile.Actor || !strings.Contains(g.RevokeReason, reconcile.RuleStaleMember) ||
			!strings.Contains(g.RevokeReason, run.ID) {
			t.Errorf("ben's grant after the pass: %+v", g)
		}
		sub, err := db.Delegations().Delegation(ctx, w.sub.ID)
		if err != nil || sub.Revoked == nil || sub.RevokedBy != reconcile.Actor {
			t.Errorf("carol's delegation after the pass: %+v %v", sub, err)
		}
		if d, _ := db.Delegations().Delegation(ctx, w.del.ID); strings.Contains(d.RevokeReason, reconcile.RuleStaleMember) {
			t.Errorf("ann's delegation was revoked as stale: %q", d.RevokeReason)
		}
		evs, err := db.Audit().Events(ctx, audit.Query{Actor: reconcile.Actor, Action: provisioning.ActionUserUpdate})
		if err != nil || len(evs) != 2 {
			t.Errorf("user.update events by the reconciler: %d %v; want 2", len(evs), err)
		}

		again, err := rec.Once(ctx, reconcile.Options{})
		if err != nil || rule(again.Report, reconcile.RuleStaleMember).Count != 0 {
			t.Errorf("second pass: %+v %v", rule(again.Report, reconcile.RuleStaleMember), err)
		}
	})
}

func TestStaleRuleSkipsSuspendedConnections(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newWorld(t, db)
		window := 30 * 24 * time.Hour
		w.setPolicy(t, "acme", orgs.PolicyUpdate{StaleAfter: &window})
		// A suspended connection's IdP cannot push: its silence says nothing.
		if _, err := w.directory().SetConnectionStatus(ctx, "acme", "suspended"); err != nil {
			t.Fatal(err)
		}
		w.now = w.now.Add(60 * 24 * time.Hour)
		run, err := w.reconciler().Once(ctx, reconcile.Options{})
		if err != nil || rule(run.Report, reconcile.RuleStaleMember).Count != 0 || !w.user(t, "ben").Active {
			t.Errorf("stale rule on a suspended connection: %+v %v", rule(run.Report, reconcile.RuleStaleMember), err)
		}
	})
}

// drift builds a mapping from group "staff" (ann, ben) to viewer on acme, then makes
// grants and memberships disagree the way a crash between two systems would: changes
// made by services that do not tell access about them.
func drift(t *testing.T, w *world) (m *orgs.Mapping, group *provisioning.Group) {
	t.Helper()
	db := w.db
	groups := &provisioning.Groups{Store: db.Groups(), Tx: db, Observer: w.access, Audit: db.Audit(), Now: w.clock}
	g, err := groups.Create(ctx, w.conn.ID, map[string]any{"displayName": "staff"},
		[]provisioning.Member{{Value: w.person["ann"], Type: "User"}, {Value: w.person["ben"], Type: "User"}})
	if err != nil {
		t.Fatal(err)
	}
	acme, _ := db.Orgs().OrgBySlug(ctx, "acme")
	if _, err := w.access.CreateRole(ctx, orgs.Role{Key: "staff", Permissions: []string{"app.use"}}); err != nil {
		t.Fatal(err)
	}
	op := orgs.Principal{Operator: "ops"}
	m, err = w.access.DraftMapping(ctx, op, w.conn, g.ID, "staff", acme.ID, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	if m, err = w.access.ApproveMapping(ctx, orgs.Principal{Operator: "other"}, m.ID); err != nil {
		t.Fatal(err)
	}
	// Unobserved: carol joins and ben leaves without grants following.
	blind := &provisioning.Groups{Store: db.Groups(), Tx: db, Audit: db.Audit(), Now: w.clock}
	if _, err := blind.Update(ctx, w.conn.ID, g.ID, func(*provisioning.Group) ([]provisioning.MemberChange, error) {
		return []provisioning.MemberChange{
			{Kind: provisioning.AddMembers, Members: []provisioning.Member{{Value: w.person["carol"], Type: "User"}}},
			{Kind: provisioning.RemoveMembers, Members: []provisioning.Member{{Value: w.person["ben"], Type: "User"}}},
		}, nil
	}); err != nil {
		t.Fatal(err)
	}
	return m, g
}

func mappingHolders(t *testing.T, w *world, m *orgs.Mapping) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for name, id := range w.person {
		for _, g := range liveGrantsOf(t, w.db, id) {
			if g.Source == orgs.SourceMapping && g.SourceID == m.ID {
				out[name] = true
			}
		}
	}
	return out
}

func TestDriftIsRepairedBothWays(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newWorld(t, db)
		m, _ := drift(t, w)
		if h := mappingHolders(t, w, m); !h["ann"] || !h["ben"] || h["carol"] {
			t.Fatalf("before repair: %v; want the drifted ann and ben", h)
		}
		// A user deactivated without its grants following is an orphan holder.
		blind := &provisioning.Users{Store: db.Users(), Tx: db, Audit: db.Audit(), Now: w.clock}
		if _, err := blind.Update(ctx, w.conn.ID, w.person["ann"], func(u *provisioning.User) error {
			u.Attributes["active"] = false
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		rec := w.reconciler()
		dry, err := rec.Once(ctx, reconcile.Options{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		drifted := func(rep reconcile.Report) (added, revoked, orphans int) {
			for _, r := range rep.Rules {
				switch {
				case r.Rule == reconcile.RuleDrift && strings.HasPrefix(r.Action, "grant"):
					added = r.Count
				case r.Rule == reconcile.RuleDrift:
					revoked = r.Count
				case r.Rule == reconcile.RuleOrphan:
					orphans = r.Count
				}
			}
			return
		}
		// ann's grants (her mapping grant and two direct ones) are orphans; ben's
		// mapping grant is drift out, carol's is drift in.
		if a, r, o := drifted(dry.Report); a != 1 || r != 2 || o != 3 {
			t.Errorf("dry run plans drift +%d -%d, orphans %d; want +1 -2 (ann counted by both), 3", a, r, o)
		}
		if h := mappingHolders(t, w, m); !h["ben"] || h["carol"] {
			t.Fatal("a dry run repaired drift")
		}

		run, err := rec.Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		a, r, o := drifted(run.Report)
		if a != 1 || r+o < 4 { // ben's, and ann's three under one rule or the other
			t.Errorf("pass repaired +%d -%d, orphans %d", a, r, o)
		}
		if h := mappingHolders(t, w, m); h["ann"] || h["ben"] || !h["carol"] {
			t.Errorf("after repair mapping grants are held by %v; want carol only", h)
		}
		for _, name := range []string{"ann"} {
			if gs := liveGrantsOf(t, db, w.person[name]); len(gs) != 0 {
				t.Errorf("inactive %s still holds %d grants", name, len(gs))
			}
		}
		evs, err := db.Audit().Events(ctx, audit.Query{Actor: reconcile.Actor, Action: orgs.ActGrantsSync})
		if err != nil || len(evs) == 0 || !strings.Contains(string(evs[0].Diff), reconcile.RuleDrift) {
			t.Errorf("drift repair events %v %v", evs, err)
		}

		again, err := rec.Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if a, r, o := drifted(again.Report); a+r+o != 0 {
			t.Errorf("second pass repaired +%d -%d orphans %d; want nothing", a, r, o)
		}
	})
}

func TestGuardrailHoldsAMassRevocation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newWorld(t, db)
		// A second partner whose one expiring grant stays under its limit.
		dir := w.directory()
		if _, err := dir.CreateOrg(ctx, "globex", "globex", "vendor"); err != nil {
			t.Fatal(err)
		}
		other, _, err := dir.CreateConnection(ctx, "globex", "globex", "okta")
		if err != nil {
			t.Fatal(err)
		}
		dan, err := w.users.Create(ctx, other.ID, map[string]any{"userName": "dan", "active": true}, "")
		if err != nil {
			t.Fatal(err)
		}
		globex, _ := db.Orgs().OrgBySlug(ctx, "globex")
		exp := w.now.Add(time.Hour)
		danGrant, err := w.access.AssignRole(ctx, orgs.Principal{Operator: "ops"}, other, dan.ID, "viewer", globex.ID, "test", &exp)
		if err != nil {
			t.Fatal(err)
		}
		one := 1
		w.setPolicy(t, "acme", orgs.PolicyUpdate{GuardMaxChanges: &one})

		w.now = w.now.Add(4 * time.Hour) // both of ann's grants expire: 2 > 1
		rec := w.reconciler()
		run, err := rec.Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(run.Report.Held) != 1 || run.Report.Held[0].ConnectionID != w.conn.ID ||
			run.Report.Held[0].Plan.Revoke[reconcile.RuleGrantExpired] != 2 || run.Report.Held[0].GuardMaxChanges != 1 {
			t.Fatalf("held %+v; want acme's plan of 2 expired grants", run.Report.Held)
		}
		if w.revoked(t, "ann1h") || w.revoked(t, "ann3h") {
			t.Error("the guardrail held acme's plan, yet its grants were revoked")
		}
		if g := grantByID(t, db, danGrant.ID); g.Revoked == nil {
			t.Error("globex, under its limit, was held back too")
		}
		// Expiry still denies at query time while the plan waits.
		if gs := liveGrantsOf(t, db, w.person["ann"]); len(gs) != 2 {
			t.Errorf("ann's unrevoked grants: %d", len(gs))
		}
		stored, err := db.Reconcile().Holds(ctx, run.ID)
		if err != nil || len(stored) != 1 || stored[0].State != "held" {
			t.Fatalf("stored holds %+v %v", stored, err)
		}
		// The next pass holds it again rather than apply it.
		next, err := rec.Once(ctx, reconcile.Options{})
		if err != nil || len(next.Report.Held) != 1 || w.revoked(t, "ann1h") {
			t.Fatalf("next pass: held %+v %v", next.Report.Held, err)
		}

		if _, err := rec.Approve(ctx, run.ID, "", nil); orgscim.ErrorCode(err) != orgscim.Invalid {
			t.Errorf("approval without approver: %v", err)
		}
		if _, err := rec.Approve(ctx, run.ID, "operator:alice", []string{other.ID}); orgscim.ErrorCode(err) != orgscim.NotFound {
			t.Errorf("approving a connection that was not held: %v", err)
		}
		applied, err := rec.Approve(ctx, run.ID, "operator:alice", nil)
		if err != nil {
			t.Fatal(err)
		}
		if applied.Kind != "approval" || applied.Approves != run.ID || rule(applied.Report, reconcile.RuleGrantExpired).Count != 2 {
			t.Errorf("approval run %+v", applied.Report)
		}
		if !w.revoked(t, "ann1h") || !w.revoked(t, "ann3h") {
			t.Error("approval did not revoke the held grants")
		}
		stored, _ = db.Reconcile().Holds(ctx, run.ID)
		if stored[0].State != "approved" || stored[0].DecidedBy != "operator:alice" || stored[0].AppliedRun != applied.ID {
			t.Errorf("hold after approval %+v", stored[0])
		}
		evs, err := db.Audit().Events(ctx, audit.Query{Action: "reconcile.approve"})
		if err != nil || len(evs) != 1 || evs[0].Actor != "operator:alice" {
			t.Errorf("approval events %+v %v", evs, err)
		}
		if _, err := rec.Approve(ctx, run.ID, "operator:alice", nil); orgscim.ErrorCode(err) != orgscim.Conflict {
			t.Errorf("second approval: %v; want Conflict", err)
		}
		// The later pass's hold is moot now: approving it finds nothing more to do.
		late, err := rec.Approve(ctx, next.ID, "operator:bob", nil)
		if err != nil || rule(late.Report, reconcile.RuleGrantExpired).Count != 0 {
			t.Errorf("approving the later hold: %+v %v", late, err)
		}
	})
}

func TestApprovalRefusesAPlanThatGrew(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newWorld(t, db)
		one := 1
		w.setPolicy(t, "acme", orgs.PolicyUpdate{GuardMaxChanges: &one})
		w.now = w.now.Add(4 * time.Hour)
		rec := w.reconciler()
		run, err := rec.Once(ctx, reconcile.Options{})
		if err != nil || len(run.Report.Held) != 1 {
			t.Fatalf("held %+v %v", run, err)
		}
		// Since the hold, ben was given a grant on emea with an expiry before the held
		// pass's time. An expiry must lie ahead when it is given, so the clock stands just
		// before it for the assignment: the grant is recorded after the hold, expired as
		// of its pass.
		emea, _ := db.Orgs().OrgBySlug(ctx, "emea")
		past := run.AsOf.Add(-time.Minute)
		w.now = past.Add(-time.Minute)
		if _, err := w.access.AssignRole(ctx, orgs.Principal{Operator: "ops"}, w.conn, w.person["ben"], "viewer", emea.ID, "late", &past); err != nil {
			t.Fatalf("assigning a grant that expires before the held pass: %v", err)
		}
		w.now = run.AsOf.Add(time.Hour)
		if _, err := rec.Approve(ctx, run.ID, "operator:alice", nil); orgscim.ErrorCode(err) != orgscim.Conflict {
			t.Errorf("approving a plan that grew: %v; want Conflict", err)
		}
		if w.revoked(t, "ann1h") {
			t.Error("a refused approval revoked something")
		}
	})
}

func TestShareGuardrail(t *testing.T) {
	p := orgs.Policy{GuardMaxShare: 0.1}
	for _, c := range []struct {
		grants, users, live, active int
		hold                        bool
	}{
		{10, 0, 100, 50, false},
		{11, 0, 100, 50, true},
		{0, 6, 100, 50, true},
		{0, 0, 0, 0, false},
	} {
		if got := p.Holds(c.grants, c.users, c.live, c.active); got != c.hold {
			t.Errorf("share 0.1: %d grants of %d, %d users of %d: hold %v; want %v", c.grants, c.live, c.users, c.active, got, c.hold)
		}
	}
	if orgs.DefaultPolicy.Holds(500, 500, 1000, 1000) || !orgs.DefaultPolicy.Holds(501, 0, 1e6, 0) {
		t.Error("the default policy holds more than 500 changes, not 500")
	}
}

// Several replicas started together: exactly one leads, the others are refused, and
// nothing is revoked or recorded twice.
func TestConcurrentReconcilersNeverBothAct(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newWorld(t, db)
		w.now = w.now.Add(4 * time.Hour)
		const replicas = 6
		var wg sync.WaitGroup
		runs := make([]*reconcile.Run, replicas)
		errs := make([]error, replicas)
		start := make(chan struct{})
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				runs[i], errs[i] = w.reconciler().Once(ctx, reconcile.Options{})
			}()
		}
		close(start)
		wg.Wait()
		revoked := 0
		for i := range replicas {
			switch {
			case errs[i] == nil:
				revoked += rule(runs[i].Report, reconcile.RuleGrantExpired).Count
			case orgscim.ErrorCode(errs[i]) != orgscim.Conflict:
				t.Errorf("replica %d: %v", i, errs[i])
			}
		}
		if revoked != 2 {
			t.Errorf("replicas revoked %d grants in all; want ann's 2, once", revoked)
		}
		evs, err := db.Audit().Events(ctx, audit.Query{Actor: reconcile.Actor, Action: "grants.revoke"})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			n += strings.Count(string(e.Diff), w.grants["ann1h"].ID)
		}
		if n != 1 {
			t.Errorf("ann's grant appears in %d revocation events; want 1", n)
		}
	})
}

func grantByID(t *testing.T, db *sqlstore.DB, id string) *orgs.Grant {
	t.Helper()
	g, err := db.Access().(interface {
		Grant(ctx context.Context, id string) (*orgs.Grant, error)
	}).Grant(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
