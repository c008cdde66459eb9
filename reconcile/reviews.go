package reconcile

import (
	"context"

	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reviews"
)

// RuleReviewDeadline revokes the grants of an access review that nobody confirmed by
// its deadline, and closes the review.
const RuleReviewDeadline = "review-deadline"

// ReviewCloser closes the access reviews past their deadline (reviews.Service does).
type ReviewCloser interface {
	CloseDue(ctx context.Context, o reviews.CloseOptions) (reviews.CloseResult, error)
}

// closeReviews runs the review-deadline rule: the domain revokes, a batch per
// transaction, after the leadership check; the pass counts what it reports, and its
// events carry the rule and the run.
func (r *Reconciler) closeReviews(ctx context.Context, lead Leadership, run *Run, opts Options) ([]RuleResult, error) {
	grants := newResult(RuleReviewDeadline, "revoke grants not confirmed by the review's deadline")
	mappings := newResult(RuleReviewDeadline, "retire mappings not confirmed by the review's deadline")
	closed := newResult(RuleReviewDeadline, "close reviews past their deadline")
	out := func() []RuleResult { return []RuleResult{grants, mappings, closed} }
	if r.Reviews == nil {
		return out(), nil
	}
	if err := lead.Check(ctx); err != nil {
		return out(), err
	}
	_, err := r.Reviews.CloseDue(ctx, reviews.CloseOptions{
		AsOf: run.AsOf, DryRun: opts.DryRun, Batch: r.batch(), BeforeBatch: lead.Check,
		Detail:  map[string]any{"rule": RuleReviewDeadline, "run": run.ID},
		Revoked: func(_ *reviews.Review, g *orgs.Grant) { grants.add(tenantOf(g.ConnectionID), g.ID) },
		Retired: func(_ *reviews.Review, m *orgs.Mapping) { mappings.add(tenantOf(m.ConnectionID), m.ID) },
		Closed:  func(rv *reviews.Review) { closed.add(tenantOf(""), rv.ID) },
	})
	return out(), err
}
