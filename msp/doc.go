// Package msp gives managed service providers and franchises administration over
// customer orgs outside their own subtree. An engagement names the MSP org, the customer
// org and the capabilities its technicians may be given (never delegate); an operator or
// the MSP's administrator proposes it, and it holds nothing until both the customer's
// administrator and the vendor consent. The MSP's administrator then names technicians:
// each gets a delegation of their own on the customer, made under the administrator's
// delegation on the MSP, so that every action names a person.
//
// Whether a technician's delegation holds is the authority rule's question, answered in
// package orgs at each decision (orgs.EngagementHolds, the engagement link of a chain):
// revoking the engagement (the customer, the MSP or the vendor may) or ending either
// relationship stops every technician at the next request. This package records the
// lifecycle around it — proposals, consents, revocations with their technicians, the
// reconciler's rule for engagements over for good (EndLapsed) — and tells the domain
// rule which customers' verified domains an MSP's connections may provision
// (EngagedCustomers).
package msp
