package reconcile

import (
	"context"

	"github.com/orgscim/orgscim/orgs"
)

// repairDrift makes every active mapping's grants match its group again: a grant for
// each active member (nested groups included), none for anyone else. Requests keep the
// two in step as they happen; drift is what they missed (a crash between systems, a
// restore from backup, a direct database edit). Each repair is recorded by the mapping
// service as a grants.sync event naming the rule and the run, and counted here both
// ways.
func (r *Reconciler) repairDrift(ctx context.Context, lead Leadership, run *Run, sc Scope, opts Options) ([]RuleResult, error) {
	// Counted in grants, listed by mapping.
	added := newResult(RuleDrift, "grant what a mapping implies and was missing")
	revoked := newResult(RuleDrift, "revoke mapping grants their group no longer implies")
	out := func() []RuleResult { return []RuleResult{added, revoked} }
	if r.Mappings == nil {
		return nil, nil
	}
	if opts.DryRun {
		planned(run, RuleDrift, sc, &revoked, false)
		for conn, t := range run.plan {
			if sc.Includes(conn) && t.Add > 0 {
				added.Count += t.Add
				added.ByConnection[tenantOf(conn)] += t.Add
			}
		}
		return out(), nil
	}
	reason := "drift repair (rule " + RuleDrift + ", reconciler run " + run.ID + ")"
	after := ""
	for {
		ms, err := r.Store.ActiveMappings(ctx, after, sc, r.batch())
		if err != nil || len(ms) == 0 {
			return out(), err
		}
		for _, m := range ms {
			if err := r.repairMapping(ctx, lead, m, reason, &added, &revoked); err != nil {
				return out(), err
			}
		}
		after = ms[len(ms)-1].ID
		r.progress(RuleDrift, added)
	}
}

// repairMapping re-synchronises one mapping, a batch of drifted users per transaction.
func (r *Reconciler) repairMapping(ctx context.Context, lead Leadership, m *orgs.Mapping, reason string, added, revoked *RuleResult) error {
	for {
		if err := lead.Check(ctx); err != nil {
			return err
		}
		users, err := r.Store.DriftUsers(ctx, m, r.batch())
		if err != nil || len(users) == 0 {
			return err
		}
		var a, v int
		err = r.Tx.InTx(ctx, func(ctx context.Context) error {
			var err error
			a, v, err = r.Mappings.RepairMapping(ctx, m, users, Actor, reason)
			return err
		})
		if err != nil {
			return err
		}
		added.addN(tenantOf(m.ConnectionID), m.ID, a)
		revoked.addN(tenantOf(m.ConnectionID), m.ID, v)
		if len(users) < r.batch() || a+v == 0 {
			return nil
		}
	}
}
