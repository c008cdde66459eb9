package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/reviews"
	"github.com/orgscim/orgscim/sqlstore"
)

// reviewWorld adds to newWorld: dave, who administers acme with approve and
// manage_members and holds a direct grant there himself; erin, whose viewer grant on
// acme comes from a mapping; and the reviews service.
type reviewWorld struct {
	*world
	reviews   *reviews.Service
	dave      orgs.Principal
	carol     orgs.Principal // manage_members on emea only
	daveGrant *orgs.Grant
	acme      *orgs.Org
	emea      *orgs.Org
}

func newReviewWorld(t *testing.T, db *sqlstore.DB) *reviewWorld {
	t.Helper()
	w := &reviewWorld{world: newWorld(t, db)}
	log := db.Audit()
	users := &provisioning.Users{Store: db.Users(), Tx: db, Audit: log, Now: w.clock}
	person := map[string]string{}
	for _, n := range []string{"dave", "erin"} {
		u, err := users.Create(ctx, w.conn.ID, map[string]any{"userName": n, "active": true}, "")
		if err != nil {
			t.Fatal(err)
		}
		person[n] = u.ID
	}
	var err error
	if w.acme, err = db.Orgs().OrgBySlug(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if w.emea, err = db.Orgs().OrgBySlug(ctx, "emea"); err != nil {
		t.Fatal(err)
	}
	op := orgs.Principal{Operator: "ops"}
	dels := &orgs.Delegations{Store: db.Delegations(), Orgs: db.Orgs(), Access: w.access, Tx: db, Audit: log, Now: w.clock}
	d, err := dels.Delegate(ctx, op, orgs.DelegationRequest{OrgID: w.acme.ID, HolderConnectionID: w.conn.ID, HolderUserID: person["dave"],
		Capabilities: []orgs.Capability{orgs.CapApprove, orgs.CapManageMembers}})
	if err != nil {
		t.Fatal(err)
	}
	w.dave, w.carol = orgs.Principal{Delegation: d}, orgs.Principal{Delegation: w.sub}
	if w.daveGrant, err = w.access.AssignRole(ctx, op, w.conn, person["dave"], "viewer", w.acme.ID, "test", nil); err != nil {
		t.Fatal(err)
	}
	groups := &provisioning.Groups{Store: db.Groups(), Tx: db, Observer: w.access, Audit: log, Now: w.clock}
	g, err := groups.Create(ctx, w.conn.ID, map[string]any{"displayName": "Finance"},
		[]provisioning.Member{{Value: person["erin"], Type: provisioning.MemberUser}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := w.access.DraftMapping(ctx, op, w.conn, g.ID, "viewer", w.acme.ID, "", "finance reads reports")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.access.ApproveMapping(ctx, orgs.Principal{Operator: "second"}, m.ID); err != nil {
		t.Fatal(err)
	}
	w.reviews = &reviews.Service{Store: db.Reviews(), Access: w.access, Tx: db, Audit: log, Now: w.clock}
	return w
}

func (w *reviewWorld) grant(t *testing.T, id string) *orgs.Grant {
	t.Helper()
	g, err := w.db.Access().(orgs.GrantStore).Grant(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func itemIDs(items []*reviews.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Grant.ID)
	}
	return out
}

func TestAccessReview(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newReviewWorld(t, db)
		rv := w.reviews
		deadline := w.now.Add(24 * time.Hour)

		// Who may start one, and what is bad input.
		for name, c := range map[string]struct {
			by       orgs.Principal
			org      string
			name     string
			deadline time.Time
			code     orgscim.Code
		}{
			"without approve":     {w.carol, w.emea.ID, "q1", deadline, orgscim.Forbidden},
			"outside the subtree": {w.dave, w.acme.ParentID, "q1", deadline, orgscim.Forbidden},
			"no name":             {w.dave, w.acme.ID, " ", deadline, orgscim.Invalid},
			"deadline passed":     {w.dave, w.acme.ID, "q1", w.now, orgscim.Invalid},
			"deadline too far":    {w.dave, w.acme.ID, "q1", w.now.Add(400 * 24 * time.Hour), orgscim.Invalid},
			"no such org":         {w.dave, "nope", "q1", deadline, orgscim.NotFound},
		} {
			if _, err := rv.StartReview(ctx, c.by, c.org, c.name, "", c.deadline); orgscim.ErrorCode(err) != c.code {
				t.Errorf("%s: %v; want %s", name, err, c.code)
			}
		}

		r, err := rv.StartReview(ctx, w.dave, w.acme.ID, "Q1 access review", "every grant of acme", deadline)
		if err != nil {
			t.Fatal(err)
		}
		// ann's two, ben's, dave's own, and erin's from the Finance mapping.
		if r.Counts.Items != 5 || r.Counts.ExcludedMapping != 0 || r.State != reviews.Open {
			t.Fatalf("started %+v", r)
		}
		ben, ann1h, ann3h := w.grants["ben"].ID, w.grants["ann1h"].ID, w.grants["ann3h"].ID
		all, err := rv.Items(ctx, w.dave, r.ID, "", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var erin *orgs.Grant
		for _, it := range all {
			if it.Grant.Source == orgs.SourceMapping {
				erin = it.Grant
			}
		}
		if erin == nil {
			t.Fatalf("no mapping grant among %v", itemIDs(all))
		}
		// Revoking a membership-derived grant overrides the IdP's membership: an
		// exception against the mapping, which no later sync undoes (checked below).
		if _, err := rv.Revoke(ctx, w.dave, r.ID, erin.ID, "no longer in finance"); err != nil {
			t.Fatalf("revoke the mapping grant: %v", err)
		}

		// Decisions.
		if _, err := rv.Confirm(ctx, w.dave, r.ID, ben, "still on the team"); err != nil {
			t.Fatal(err)
		}
		it, err := rv.Revoke(ctx, w.dave, r.ID, ann3h, "left emea")
		if err != nil || it.Decision != reviews.ItemRevoked || it.DecidedBy != w.dave.Name() {
			t.Fatalf("revoke: %+v %v", it, err)
		}
		if g := w.grant(t, ann3h); g.Revoked == nil || g.RevokedBy != w.dave.Name() || !strings.Contains(g.RevokeReason, r.ID) {
			t.Errorf("revoked by review: %+v", g)
		}
		for name, c := range map[string]struct {
			by    orgs.Principal
			grant string
			code  orgscim.Code
		}{
			"own grant":          {w.dave, w.daveGrant.ID, orgscim.Forbidden},
			"decided already":    {w.dave, ben, orgscim.Conflict},
			"outside subtree":    {w.carol, ben, orgscim.Forbidden},
			"not in the review":  {w.dave, "nope", orgscim.NotFound},
			"revoked by review":  {w.dave, ann3h, orgscim.Conflict},
			"operator, no grant": {orgs.Principal{Operator: "ops"}, "nope", orgscim.NotFound},
		} {
			if _, err := rv.Confirm(ctx, c.by, r.ID, c.grant, ""); orgscim.ErrorCode(err) != c.code {
				t.Errorf("%s: %v; want %s", name, err, c.code)
			}
		}
		// carol administers emea, inside the review's subtree: she sees its part of it.
		if items, err := rv.Items(ctx, w.carol, r.ID, "", "", 100); err != nil || len(items) != 1 || items[0].Grant.ID != ann3h {
			t.Errorf("carol's part: %v %v", itemIDs(items), err)
		}
		if list, err := rv.List(ctx, w.carol, nil, "", "", 100); err != nil || len(list) != 1 || list[0].ID != r.ID {
			t.Errorf("carol's reviews: %v %v", list, err)
		}
		pending, err := rv.Items(ctx, w.dave, r.ID, reviews.ItemPending, "", 100)
		if err != nil || len(pending) != 2 {
			t.Errorf("pending: %v %v; want ann1h and dave's", itemIDs(pending), err)
		}

		// A cancelled review takes no more decisions and revokes nothing.
		other, err := rv.StartReview(ctx, orgs.Principal{Operator: "ops"}, w.emea.ID, "emea", "", deadline)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rv.Cancel(ctx, w.carol, other.ID, "wrong scope"); orgscim.ErrorCode(err) != orgscim.Forbidden {
			t.Errorf("carol cancels: %v; want Forbidden (no approve)", err)
		}
		if c, err := rv.Cancel(ctx, w.dave, other.ID, "wrong scope"); err != nil || c.State != reviews.Cancelled {
			t.Fatalf("cancel: %+v %v", c, err)
		}
		if _, err := rv.Confirm(ctx, w.dave, other.ID, ann3h, ""); orgscim.ErrorCode(err) != orgscim.Conflict {
			t.Errorf("decision on a cancelled review: %v", err)
		}

		// ann's 1h grant expires on its own: no longer pending, not unconfirmed.
		w.now = w.now.Add(2 * time.Hour)
		got, err := rv.ReviewFor(ctx, w.dave, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c := got.Counts; c.Confirmed != 1 || c.Revoked != 2 || c.Pending != 1 || c.Lapsed != 1 || c.RevokedAtDeadline != 0 {
			t.Errorf("counts before the deadline: %+v", c)
		}

		w.now = deadline.Add(time.Minute)
		if _, err := rv.Confirm(ctx, w.dave, r.ID, w.daveGrant.ID, ""); orgscim.ErrorCode(err) != orgscim.Conflict {
			t.Errorf("decision after the deadline: %v", err)
		}
		rec := w.reconciler()
		rec.Reviews = rv
		dry, err := rec.Once(ctx, reconcile.Options{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if res := reviewRule(dry.Report, "revoke"); res.Count != 1 || res.IDs[0] != w.daveGrant.ID {
			t.Errorf("dry run plans %+v; want dave's grant", res)
		}
		if w.grant(t, w.daveGrant.ID).Revoked != nil {
			t.Fatal("a dry run revoked a grant")
		}

		run, err := rec.Once(ctx, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res := reviewRule(run.Report, "revoke"); res.Count != 1 || res.ByConnection[w.conn.ID] != 1 {
			t.Errorf("revoked at the deadline: %+v", res)
		}
		if res := reviewRule(run.Report, "close"); res.Count != 1 || res.IDs[0] != r.ID {
			t.Errorf("closed: %+v", res)
		}
		g := w.grant(t, w.daveGrant.ID)
		if g.Revoked == nil || g.RevokedBy != "review:"+r.ID || g.RevokeReason != reviews.UnconfirmedReason(r.ID) {
			t.Errorf("unconfirmed grant after the deadline: %+v", g)
		}
		if g := w.grant(t, ben); g.Revoked != nil {
			t.Errorf("the confirmed grant was revoked: %+v", g)
		}
		// The reconciler's drift rule repaired the mapping's grants and left erin's
		// exception alone: she is still in Finance, and still without the grant.
		if live, _, err := db.Access().GrantsOfUser(ctx, erin.UserID); err != nil || len(live) != 0 {
			t.Errorf("erin's grants after the pass: %v %v; want none (exception)", live, err)
		}
		if g := w.grant(t, ann1h); g.RevokedBy != reconcile.Actor || strings.Contains(g.RevokeReason, "review") {
			t.Errorf("the lapsed grant went by its own rule: %+v", g)
		}
		closed, err := rv.ReviewFor(ctx, orgs.Principal{Operator: "ops"}, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c := closed.Counts; closed.State != reviews.Closed || closed.EndedBy != reconcile.Actor ||
			c.RevokedAtDeadline != 1 || c.Pending != 0 || c.Lapsed != 1 {
			t.Errorf("closed review %+v", closed)
		}
		// Nobody attested the Finance mapping: it is retired at the deadline, with the
		// review in its reason.
		ms, err := rv.Mappings(ctx, orgs.Principal{Operator: "ops"}, r.ID, "", "", 10)
		if err != nil || len(ms) != 1 || ms[0].Decision != reviews.ItemRetired || ms[0].Mapping.State != orgs.MappingRetired ||
			ms[0].DecidedBy != "review:"+r.ID || closed.Counts.Mappings != 1 || closed.Counts.MappingsRetired != 1 {
			t.Errorf("the review's mapping after the deadline: %+v %v (counts %+v)", ms, err, closed.Counts)
		}
		if res := reviewRule(run.Report, "retire"); res.Count != 1 {
			t.Errorf("retired at the deadline: %+v", res)
		}
		if st, _ := rv.ReviewFor(ctx, orgs.Principal{Operator: "ops"}, other.ID); st.State != reviews.Cancelled {
			t.Errorf("the cancelled review became %s", st.State)
		}
		evs, err := db.Audit().Events(ctx, audit.Query{TargetID: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range evs {
			actions = append(actions, e.Action)
			if e.Actor == reconcile.Actor && (e.RequestID != run.ID || !strings.Contains(string(e.Diff), `"rule":"review-deadline"`)) {
				t.Errorf("event %s %s does not carry its rule and run: %s", e.Action, e.RequestID, e.Diff)
			}
		}
		if strings.Join(actions, ",") != "review.start,review.revoke,review.confirm,review.revoke,grants.revoke,review.close" {
			t.Errorf("audit events of the review: %v", actions)
		}

		again, err := rec.Once(ctx, reconcile.Options{})
		if err != nil || reviewRule(again.Report, "revoke").Count != 0 || reviewRule(again.Report, "close").Count != 0 {
			t.Errorf("second pass: %+v %v", again, err)
		}
		if evs2, _ := db.Audit().Events(ctx, audit.Query{TargetID: r.ID}); len(evs2) != len(evs) {
			t.Errorf("second pass added %d events", len(evs2)-len(evs))
		}
	})
}

// A CloseDue stopped between batches (a lost lock, a crash) and run again ends as one
// uninterrupted call would: every unconfirmed grant revoked once, the review closed once.
func TestCloseDueResumes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newReviewWorld(t, db)
		r, err := w.reviews.StartReview(ctx, orgs.Principal{Operator: "ops"}, w.acme.ID, "all of acme", "", w.now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		w.now = w.now.Add(90 * time.Minute) // ann1h has lapsed: four grants (erin's from a mapping) are unconfirmed
		ctx := audit.WithSource(ctx, audit.Source{Actor: "operator:cli:test"})
		lost := errors.New("lock lost")
		calls := 0
		res, err := w.reviews.CloseDue(ctx, reviews.CloseOptions{Batch: 1, BeforeBatch: func(context.Context) error {
			calls++
			if calls > 2 {
				return lost
			}
			return nil
		}})
		if !errors.Is(err, lost) || res.Revoked != 2 || len(res.Closed) != 0 {
			t.Fatalf("interrupted: %+v %v; want 2 revoked, none closed", res, err)
		}
		if st, _ := w.reviews.ReviewFor(ctx, orgs.Principal{Operator: "ops"}, r.ID); st.State != reviews.Open || st.Counts.Pending != 2 {
			t.Fatalf("after the interruption: %+v", st)
		}
		res, err = w.reviews.CloseDue(ctx, reviews.CloseOptions{Batch: 1})
		if err != nil || res.Revoked != 2 || len(res.Closed) != 1 {
			t.Fatalf("resumed: %+v %v", res, err)
		}
		res, err = w.reviews.CloseDue(ctx, reviews.CloseOptions{})
		if err != nil || res.Revoked != 0 || len(res.Closed) != 0 {
			t.Fatalf("third call: %+v %v", res, err)
		}
		st, _ := w.reviews.ReviewFor(ctx, orgs.Principal{Operator: "ops"}, r.ID)
		if c := st.Counts; st.State != reviews.Closed || st.EndedBy != "operator:cli:test" || c.RevokedAtDeadline != 4 || c.Lapsed != 1 {
			t.Errorf("closed: %+v", st)
		}
		evs, err := db.Audit().Events(ctx, audit.Query{TargetID: r.ID, Action: "grants.revoke"})
		if err != nil || len(evs) != 4 {
			t.Errorf("%d batch events, %v; want one per batch of one", len(evs), err)
		}
	})
}

func reviewRule(rep reconcile.Report, action string) reconcile.RuleResult {
	for _, r := range rep.Rules {
		if r.Rule == reconcile.RuleReviewDeadline && strings.HasPrefix(r.Action, action) {
			return r
		}
	}
	return reconcile.RuleResult{}
}
