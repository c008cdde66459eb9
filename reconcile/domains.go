package reconcile

import "context"

// RuleDomainLapsed re-verifies the verified e-mail domains; one that no longer proves
// lapses (see package domains): new users in it are refused and links by e-mail in it
// stop.
const RuleDomainLapsed = "domain-lapsed"

// DomainRecheck re-checks every verified domain and returns those that lapsed; a dry
// run asks the network but changes nothing.
type DomainRecheck interface {
	Lapse(ctx context.Context, dryRun bool) (lapsed []string, err error)
}

func (r *Reconciler) recheckDomains(ctx context.Context, lead Leadership, opts Options) ([]RuleResult, error) {
	if r.Domains == nil {
		return nil, nil
	}
	res := newResult(RuleDomainLapsed, "lapse verified domains that no longer prove")
	if err := lead.Check(ctx); err != nil {
		return []RuleResult{res}, err
	}
	lapsed, err := r.Domains.Lapse(ctx, opts.DryRun)
	for _, d := range lapsed {
		res.add(tenantOf(""), d)
	}
	r.progress(RuleDomainLapsed, res)
	return []RuleResult{res}, err
}
