// Package support separates the vendor's internal support access from a partner's own
// administration. A member of the vendor's staff (an operator key's name) reaches a
// partner's data only in a support session: a ticket reference, a reason, one org's
// subtree as its scope, read-only unless write access is asked for, and a duration up to
// the deployment's maximum. A session is requested and approved (or refused) by one of
// the partner's administrators, or opened as break-glass: active at once, with notice to
// the partner (an audit event, and so a webhook delivery) and a review owed afterwards.
// It ends at its expiry — every decision compares the expiry with the clock, so nothing
// waits for the reconciler — or earlier, by the staff member or the partner.
//
// Whether operator keys need a session at all is a deployment-wide policy (on for new
// deployments, off for those that existed before it); OperatorReach in package orgs is
// the rule that applies it, and Service.Admit puts the session a request names on its
// principal.
package support
