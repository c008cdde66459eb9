package reconcile

import "context"

// Rules of service accounts whose owner is gone (see orgs.ServiceAccounts): the first
// pass that finds one orphans it with a deadline for its org's administrators; a pass
// after the deadline retires it with its grants and tokens. The authority rule stopped
// the account the moment its owner left; these rules record, notify and clean up.
const (
	RuleServiceAccountOrphaned = "service-account-orphaned"
	RuleServiceAccountRetired  = "service-account-retired"
)

// ServiceAccountSweep orphans the service accounts whose owner is gone and retires the
// orphans past their deadline; a dry run changes nothing.
type ServiceAccountSweep interface {
	SweepOrphans(ctx context.Context, dryRun bool) (orphaned, retired []string, err error)
}

func (r *Reconciler) sweepServiceAccounts(ctx context.Context, lead Leadership, opts Options) ([]RuleResult, error) {
	if r.ServiceAccounts == nil {
		return nil, nil
	}
	orph := newResult(RuleServiceAccountOrphaned, "orphan: the owner is gone; administrators reassign or retire it by a deadline")
	ret := newResult(RuleServiceAccountRetired, "retire an orphan past its deadline, with its grants and tokens")
	if err := lead.Check(ctx); err != nil {
		return []RuleResult{orph, ret}, err
	}
	orphaned, retired, err := r.ServiceAccounts.SweepOrphans(ctx, opts.DryRun)
	for _, id := range orphaned {
		orph.add(tenantOf(""), id)
	}
	for _, id := range retired {
		ret.add(tenantOf(""), id)
	}
	r.progress(RuleServiceAccountOrphaned, orph)
	r.progress(RuleServiceAccountRetired, ret)
	return []RuleResult{orph, ret}, err
}
