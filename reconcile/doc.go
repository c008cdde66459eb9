// Package reconcile is the pass that enforces lifecycle rules no single request
// triggers: grants and delegations past their expiry, partners whose relationship is
// over (ended, or contract end plus grace passed: the subtree's grants revoked, its
// connections suspended and their tokens revoked), access reviews past their deadline
// (the grants nobody confirmed revoked, with the review as the reason, and the review
// closed: rule review-deadline, reviews.go, done by the orgs domain's CloseDue with the
// pass's leadership check before each batch), and a check of the audit trail.
// Expiry already takes effect at query time; the pass makes it a recorded revocation —
// with its rule, its run and an audit event in the tenant's chain, so that downstream
// subscribers hear of it.
//
// One pass (Reconciler.Once) runs at a time: it leads through the store's lock (a
// PostgreSQL advisory lock on a connection of its own) and re-checks the lock before
// each batch, stopping at once when it is lost. Each batch is one transaction that
// revokes only what is still live, so a pass killed at any point and run again ends in
// the state an uninterrupted pass would have reached, with no revocation or audit event
// twice. A dry run reports the plan and changes nothing.
//
// The package is plain Go; the clock is injected, so tests drive it with a fake one.
package reconcile
