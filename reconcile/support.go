package reconcile

import "context"

// RuleSupportExpired records the end of support sessions past their expiry. They stopped
// authorising at their expiry already (the rule compares it with the clock at every
// request); this records it, with an event the partner's administrators see.
const RuleSupportExpired = "support-expired"

// SupportSweep ends the active support sessions past their expiry and returns their ids;
// a dry run only lists them.
type SupportSweep interface {
	EndExpired(ctx context.Context, dryRun bool) (ended []string, err error)
}

func (r *Reconciler) endSupportSessions(ctx context.Context, lead Leadership, opts Options) ([]RuleResult, error) {
	if r.Support == nil {
		return nil, nil
	}
	res := newResult(RuleSupportExpired, "record the end of support sessions past their expiry")
	if err := lead.Check(ctx); err != nil {
		return []RuleResult{res}, err
	}
	ended, err := r.Support.EndExpired(ctx, opts.DryRun)
	for _, id := range ended {
		res.add(tenantOf(""), id)
	}
	r.progress(RuleSupportExpired, res)
	return []RuleResult{res}, err
}
