package reconcile

import "context"

// RuleMSPEnded revokes the MSP engagements that are over for good: past their expiry, or
// whose MSP's or customer's relationship has ended. Their technicians stopped at that
// moment already (the engagement is a link of the authority rule); this records it, with
// an event the customer's administrators see, and revokes the technicians' delegations.
const RuleMSPEnded = "msp-ended"

// MSPSweep revokes the lapsed engagements and returns their ids; a dry run only lists
// them.
type MSPSweep interface {
	EndLapsed(ctx context.Context, dryRun bool) (ended []string, err error)
}

func (r *Reconciler) endEngagements(ctx context.Context, lead Leadership, opts Options) ([]RuleResult, error) {
	if r.MSP == nil {
		return nil, nil
	}
	res := newResult(RuleMSPEnded, "revoke MSP engagements past their expiry or whose MSP's or customer's relationship ended")
	if err := lead.Check(ctx); err != nil {
		return []RuleResult{res}, err
	}
	ended, err := r.MSP.EndLapsed(ctx, opts.DryRun)
	for _, id := range ended {
		res.add(tenantOf(""), id)
	}
	r.progress(RuleMSPEnded, res)
	return []RuleResult{res}, err
}
