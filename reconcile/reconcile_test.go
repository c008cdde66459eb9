package reconcile_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to end the leader's session
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
)

var ctx = context.Background()

type world struct {
	db       *sqlstore.DB
	now      time.Time
	access   *orgs.Access
	conn     *orgs.Connection
	grants   map[string]*orgs.Grant
	del, sub *orgs.Delegation
	users    *provisioning.Users
	person   map[string]string // user ids by name
}

func (w *world) clock() time.Time { return w.now }

// newWorld: an org with a connection; ann holds a grant expiring in 1h and one in 3h,
// ben one without expiry; ann holds a delegation expiring in 2h, through which carol
// holds another.
func newWorld(t *testing.T, db *sqlstore.DB) *world {
	w := &world{db: db, now: time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC), grants: map[string]*orgs.Grant{}}
	log := db.Audit()
	dir := &orgs.Directory{Store: db.Orgs(), Tx: db, Audit: log, Now: w.clock}
	for _, o := range [][2]string{{"vendor", ""}, {"acme", "vendor"}, {"emea", "acme"}} {
		if _, err := dir.CreateOrg(ctx, o[0], o[0], o[1]); err != nil {
			t.Fatal(err)
		}
	}
	conn, _, err := dir.CreateConnection(ctx, "acme", "acme", "entra")
	if err != nil {
		t.Fatal(err)
	}
	w.conn = conn
	users := &provisioning.Users{Store: db.Users(), Tx: db, Audit: log, Now: w.clock}
	person := map[string]string{}
	w.users, w.person = users, person
	for _, n := range []string{"ann", "ben", "carol"} {
		u, err := users.Create(ctx, conn.ID, map[string]any{"userName": n, "active": true}, "")
		if err != nil {
			t.Fatal(err)
		}
		person[n] = u.ID
	}
	w.access = &orgs.Access{Store: db.Access(), Users: users, Tx: db, Audit: log, Now: w.clock}
	users.Observer = w.access
	dels := &orgs.Delegations{Store: db.Delegations(), Orgs: db.Orgs(), Access: w.access, Tx: db, Audit: log, Now: w.clock}
	w.access.Authz = dels
	w.access.Holders = dels
	if _, err := w.access.CreateRole(ctx, orgs.Role{Key: "viewer", Permissions: []string{"reports.read"}, Inherits: true}); err != nil {
		t.Fatal(err)
	}
	acme, err := db.Orgs().OrgBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	emea, err := db.Orgs().OrgBySlug(ctx, "emea")
	if err != nil {
		t.Fatal(err)
	}
	op := orgs.Principal{Operator: "ops"}
	in := func(d time.Duration) *time.Time { x := w.now.Add(d); return &x }
	for name, g := range map[string]struct {
		user, org string
		exp       *time.Time
	}{"ann1h": {"ann", acme.ID, in(time.Hour)}, "ann3h": {"ann", emea.ID, in(3 * time.Hour)}, "ben": {"ben", acme.ID, nil}} {
		gr, err := w.access.AssignRole(ctx, op, conn, person[g.user], "viewer", g.org, "test", g.exp)
		if err != nil {
			t.Fatal(err)
		}
		w.grants[name] = gr
	}
	caps := []orgs.Capability{orgs.CapManageMembers, orgs.CapDelegate}
	if w.del, err = dels.Delegate(ctx, op, orgs.DelegationRequest{OrgID: acme.ID, HolderConnectionID: conn.ID,
		HolderUserID: person["ann"], Capabilities: caps, Depth: 1, Expires: in(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if w.sub, err = dels.Delegate(ctx, orgs.Principal{Delegation: w.del}, orgs.DelegationRequest{OrgID: emea.ID,
		HolderConnectionID: conn.ID, HolderUserID: person["carol"], Capabilities: caps[:1], Expires: in(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) reconciler() *reconcile.Reconciler {
	return &reconcile.Reconciler{Store: w.db.Reconcile(), Tx: w.db, Audit: w.db.Audit(), Now: w.clock, Batch: 1,
		Users: w.users, Mappings: w.access,
		Verify: func(ctx context.Context) (rep audit.Report, err error) {
			err = w.db.Snapshot(ctx, func(ctx context.Context) error {
				rep, err = audit.VerifyAll(ctx, w.db.Audit())
				return err
			})
			return rep, err
		}}
}

func (w *world) revoked(t *testing.T, name string) bool {
	t.Helper()
	gs, _, err := w.db.Access().GrantsOfUser(ctx, w.grants[name].UserID)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs { // the live ones: expired or not, but not revoked
		if g.ID == w.grants[name].ID {
			return false
		}
	}
	return true
}

func rule(rep reconcile.Report, name string) reconcile.RuleResult {
	for _, r := range rep.Rules {
		if r.Rule == name {
			return r
		}
	}
	return reconcile.RuleResult{}
}

func TestExpiryRules(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newWorld(t, db)
		rec := w.reconciler()

		// Before anything is due, a pass changes nothing.
		run, err := rec.Once(ctx, reconcile.Options{})
		if err != nil || rule(run.Report, reconcile.RuleGrantExpired).Count != 0 || rule(run.Report, reconcile.RuleDelegationExpired).Count != 0 {
			t.Fatalf("nothing due: %+v %v", run, err)
		}

		w.now = w.now.Add(150 * time.Minute) // ann's 1h grant and the 2h delegations are past
		dry, err := rec.Once(ctx, reconcile.Options{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if g := rule(dry.Report, reconcile.RuleGrantExpired); g.Count != 1 || g.IDs[0] != w.grants["ann1h"].ID {
			t.Errorf("dry run plans grants %+v", g)
		}
		if d := rule(dry.Report, reconcile.RuleDelegationExpired); d.Count != 2 {
			t.Errorf("dry run plans delegations %+v; want ann's and carol's", d)
		}
		if w.revoked(t, "ann1h") {
			t.Fatal("a dry run revoked a grant")
		}
		if _, err := db.Reconcile().Run(ctx, dry.ID); orgscim.ErrorCode(err) != orgscim.NotFound {
			t.Errorf("a dry run left a run record: %v", err)
		}

		run, err = rec.Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if g := rule(run.Report, reconcile.RuleGrantExpired); g.Count != 1 || g.ByConnection[w.conn.ID] != 1 {
			t.Errorf("revoked grants %+v", g)
		}
		if d := rule(run.Report, reconcile.RuleDelegationExpired); d.Count != 2 {
			t.Errorf("revoked delegations %+v", d)
		}
		if len(run.Report.AuditBreaks) != 0 || run.Report.AuditEvents == 0 {
			t.Errorf("audit check: %d events, breaks %v", run.Report.AuditEvents, run.Report.AuditBreaks)
		}
		if !w.revoked(t, "ann1h") || w.revoked(t, "ann3h") || w.revoked(t, "ben") {
			t.Errorf("revoked: ann1h %v ann3h %v ben %v; want only ann1h", w.revoked(t, "ann1h"), w.revoked(t, "ann3h"), w.revoked(t, "ben"))
		}
		for _, d := range []*orgs.Delegation{w.del, w.sub} {
			got, err := db.Delegations().Delegation(ctx, d.ID)
			if err != nil || got.Revoked == nil || got.RevokedBy != reconcile.Actor {
				t.Errorf("delegation %s after the pass: %+v %v", d.ID, got, err)
			}
		}
		stored, err := db.Reconcile().Run(ctx, run.ID)
		if err != nil || stored.State != "done" || rule(stored.Report, reconcile.RuleGrantExpired).Count != 1 {
			t.Errorf("run record %+v %v", stored, err)
		}
		evs, err := db.Audit().Events(ctx, audit.Query{Actor: reconcile.Actor})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range evs {
			actions = append(actions, e.Action)
			if e.RequestID != run.ID || e.ConnectionID != w.conn.ID || !strings.Contains(string(e.Diff), run.ID) {
				t.Errorf("event %+v does not name its run and tenant", e)
			}
		}
		if strings.Join(actions, ",") != "grants.revoke,delegation.revoke" {
			t.Errorf("audit events %v; want one for the grant batch and one for the delegation tree", actions)
		}

		// Idempotent: the same time again finds nothing more to do.
		again, err := rec.Once(ctx, reconcile.Options{})
		if err != nil || rule(again.Report, reconcile.RuleGrantExpired).Count != 0 || rule(again.Report, reconcile.RuleDelegationExpired).Count != 0 {
			t.Errorf("second pass: %+v %v", again, err)
		}
		if evs2, _ := db.Audit().Events(ctx, audit.Query{Actor: reconcile.Actor}); len(evs2) != len(evs) {
			t.Errorf("second pass added %d audit events", len(evs2)-len(evs))
		}
		var rep map[string]any
		b, _ := json.Marshal(again.Report)
		if err := json.Unmarshal(b, &rep); err != nil || rep["as_of"] == nil {
			t.Errorf("report JSON %s", b)
		}
	})
}

func TestOneLeaderAtATime(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		first, err := db.Reconcile().Lead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Reconcile().Lead(ctx); orgscim.ErrorCode(err) != orgscim.Conflict {
			t.Fatalf("a second leader: %v; want Conflict", err)
		}
		w := &world{db: db, now: time.Now()}
		if _, err := w.reconciler().Once(ctx, reconcile.Options{}); orgscim.ErrorCode(err) != orgscim.Conflict {
			t.Errorf("a pass beside a leader: %v; want Conflict", err)
		}
		if err := first.Check(ctx); err != nil {
			t.Fatal(err)
		}
		first.Release()
		again, err := db.Reconcile().Lead(ctx)
		if err != nil {
			t.Fatalf("after release: %v", err)
		}
		again.Release()
	})
}

// On PostgreSQL the lock lives with the leader's session: when that session ends, Check
// fails before the next batch, and the lock is free for another replica.
func TestLostLockIsNoticed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		if db.Engine() != "postgres" {
			t.Skip("SQLite's reconciler lock is the process's own")
		}
		lead, err := db.Reconcile().Lead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer lead.Release()
		key, err := db.Reconcile().LockKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		admin, err := sql.Open("pgx", dbtest.PostgresURL())
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if _, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'
			AND (classid::bigint << 32 | objid::bigint) = $1`, key); err != nil {
			t.Fatal(err)
		}
		if err := lead.Check(ctx); orgscim.ErrorCode(err) != orgscim.Conflict {
			t.Fatalf("after the leader's session ended: %v; want Conflict", err)
		}
		// The ended session releases its locks as its backend exits, a moment after
		// being told to.
		var other reconcile.Leadership
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			if other, err = db.Reconcile().Lead(ctx); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("the lock stayed taken: %v", err)
		}
		other.Release()
	})
}

func TestEndedContractIsOffboarded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newWorld(t, db)
		dir := &orgs.Directory{Store: db.Orgs(), Tx: db, Audit: db.Audit(), Now: w.clock}
		end, grace := w.now.Add(time.Hour), 24*time.Hour
		endp := &end
		if _, err := dir.UpdateOrg(ctx, "acme", orgs.OrgUpdate{ContractEnd: &endp, Grace: &grace}); err != nil {
			t.Fatal(err)
		}
		// ben administers emea with no expiry: the end of the contract stops his
		// delegation at once (the authority rule), and the pass records it.
		emea, err := db.Orgs().OrgBySlug(ctx, "emea")
		if err != nil {
			t.Fatal(err)
		}
		dels := &orgs.Delegations{Store: db.Delegations(), Orgs: db.Orgs(), Access: w.access, Tx: db, Audit: db.Audit(), Now: w.clock}
		bens, err := dels.Delegate(ctx, orgs.Principal{Operator: "ops"}, orgs.DelegationRequest{OrgID: emea.ID,
			HolderConnectionID: w.conn.ID, HolderUserID: w.person["ben"], Capabilities: []orgs.Capability{orgs.CapManageMembers}})
		if err != nil {
			t.Fatal(err)
		}
		rec := w.reconciler()

		// Inside the grace period nothing happens.
		w.now = w.now.Add(2 * time.Hour)
		run, err := rec.Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range run.Report.Rules {
			if r.Rule == reconcile.RuleContractEnded && r.Count != 0 {
				t.Fatalf("within the grace period: %+v", r)
			}
		}

		w.now = w.now.Add(24 * time.Hour)
		run, err = rec.Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var grants, conns, delegated int
		for _, r := range run.Report.Rules {
			if r.Rule == reconcile.RuleContractEnded {
				switch {
				case strings.HasPrefix(r.Action, "revoke grants"):
					grants = r.Count
				case strings.HasPrefix(r.Action, "suspend"):
					conns = r.Count
				case strings.HasPrefix(r.Action, "revoke delegations"):
					delegated = r.Count
				}
			}
		}
		// ann's grants expired by then and went by their own rule; ben's had no expiry.
		// ann's delegation (and carol's through it) expired; ben's did not.
		if grants != 1 || conns != 1 || delegated != 1 {
			t.Errorf("offboarded %d grants, %d connections, %d delegations; want ben's, the one connection and ben's", grants, conns, delegated)
		}
		if d, err := db.Delegations().Delegation(ctx, bens.ID); err != nil || d.Revoked == nil || d.RevokedBy != reconcile.Actor {
			t.Errorf("ben's delegation after offboarding: %+v %v", d, err)
		}
		if !w.revoked(t, "ann3h") || !w.revoked(t, "ben") {
			t.Error("grants of the ended partner still live")
		}
		c, err := db.Orgs().ConnectionBySlug(ctx, "acme")
		if err != nil || c.Status != "suspended" {
			t.Errorf("connection after offboarding: %+v %v", c, err)
		}
		toks, err := db.Orgs().Tokens(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range toks {
			if tok.Revoked == nil {
				t.Errorf("token %s still usable", tok.ID)
			}
		}
		if len(run.Report.AuditBreaks) != 0 {
			t.Errorf("audit chain: %v", run.Report.AuditBreaks)
		}

		again, err := rec.Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range again.Report.Rules {
			if r.Count != 0 {
				t.Errorf("second pass did more: %+v", r)
			}
		}
	})
}
