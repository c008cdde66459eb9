// Package reconcile is the pass that enforces lifecycle rules no single request
// triggers: grants and delegations past their expiry; partners whose relationship is
// over (ended, or contract end plus grace passed: the subtree's grants revoked, its
// connections suspended and their tokens revoked); access reviews past their deadline
// (the grants nobody confirmed revoked, with the review as the reason, and the review
// closed: rule review-deadline, done by the orgs domain's CloseDue with the pass's
// leadership check before each batch); members their IdP has stopped
// writing (a connection's stale window: deactivated, with the usual consequences);
// drift between the grants mappings imply and those stored, fixed both ways, and
// orphaned grants; and a check of the audit trail. Each change is recorded with its
// rule, its run and an audit event in the tenant's chain, so that downstream
// subscribers hear of it.
//
// A pass plans before it acts: it counts, per connection and rule, what it would
// change (Store.Plan, grouped queries, nothing loaded row by row). A connection whose
// plan exceeds its policy's guardrail is held: nothing is applied there, the plan is
// recorded, and Approve applies it later — judged as of the held pass's time, and never
// more than was counted.
//
// One pass (Reconciler.Once) runs at a time: it leads through the store's lock (a
// PostgreSQL advisory lock on a connection of its own) and re-checks the lock before
// each batch, stopping at once when it is lost. Each batch is one transaction that
// changes only what is still due, so a pass killed at any point and run again ends in
// the state an uninterrupted pass would have reached, with no revocation, audit event
// or webhook twice (cmd/orgscim's crash test kills it with SIGKILL to show it). A dry
// run reports the plan and changes nothing. Work is streamed in batches, so memory does
// not grow with the data (BenchmarkReconcilePass).
//
// The package is plain Go; the clock is injected, so tests drive it with a fake one.
package reconcile
