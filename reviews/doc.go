// Package reviews holds access reviews: campaigns in which delegated administrators
// confirm or revoke, by a deadline, each grant live on their subtree when the campaign
// opened — a service account's as a person's, the line naming the account and its
// accountable owner — and attest or retire the mappings behind the grants of a
// group's members. What nobody confirmed by the deadline is revoked (retired) when the
// reconciler closes the campaign (Service.CloseDue), by "review:ID" with
// UnconfirmedReason. A campaign is started by a person over a subtree (KindSubtree), or
// opened by a change: the re-attestation of exactly what a revoked delegation handed
// over (KindReattest, through orgs.Delegations.Reattest) and the revalidation of a
// subtree after a business event — a move, a new contract or owner (KindRevalidate,
// through orgs.Directory.Revalidate).
//
// It lives apart from orgs because a review is a workflow on top of the authority rule,
// not part of it: every decision goes through orgs — the access check
// (orgs.Access.Authorize), the one path that revokes a grant by hand
// (orgs.Access.RevokeOne) or retires a mapping (orgs.Access.RetireOne), and the audit
// log in the decision's transaction. reviews imports orgs; orgs never imports reviews,
// and opens a campaign only through the small interfaces it declares.
//
// It is plain Go: no HTTP, no SQL. Store is declared here, where it is used; sqlstore
// implements it.
package reviews
