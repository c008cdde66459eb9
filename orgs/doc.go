// Package orgs holds the authority rule (authority.go): a grant, delegation, admin key
// or SCIM token holds only while every link of its chain holds — holder, connection,
// every org on its path, source, scope — evaluated at each decision, so that ending,
// suspending, moving or revoking takes effect at the commit of that change. The access
// check (check.go) applies it to "may this user do P on org O": Access.CheckMany decides
// any number of such questions with one read of their facts (CheckStore.UserFacts: the
// orgs on the paths, the users, their grants on them) and one more per kind of fact only
// some grants need, Check is CheckMany of one, and a service account's check
// (ServiceAccounts.CheckMany) shares the same decision past its holder.
//
// Around it: the organisation tree and the SCIM connections bound to it, with their
// bearer tokens; the vendor's roles, the group-to-role mappings and the grants they
// materialise; delegated administration and the admin API keys, each grant, mapping
// approval and key recording the delegation it was made under, so that revoking one
// reaches what was made under it; just-in-time elevation; each connection's lifecycle
// policy (policy.go: its stale-member window and the reconciler's guardrail); a pending
// connection's activation by its first push (connections.go); token rotation
// (rotation.go); the export of access (export.go); and the link of the authority rule
// for managed service providers (msp.go): an MSP technician's delegation on a customer
// holds only while its engagement does, so that revoking the engagement or ending either
// relationship stops every technician at the next decision (package msp keeps the
// engagements themselves). The workflows on top of this
// directory live in their own packages and use what it exports: partner onboarding and
// setup links in onboarding, spreadsheet import in imports, access reviews in reviews.
// Where a change here must open a review (a revoked delegation's handover, a business
// event on a subtree), it asks through an interface declared where it is used
// (Delegations.Reattest, Directory.Revalidate), so that orgs never imports reviews.
//
// Every change records its audit event (audit.go) through AuditLog, in the change's own
// transaction (Tx), with the audit.Source the adapter put in the context. An event
// carries the org it concerns, so that a delegated administrator can read its subtree's
// trail, and the connection when it belongs to one (tokens, mappings, grants, placement):
// those go to the connection's chain, with the SCIM changes whose consequences they often
// are. A consequence of another kind than the change (the grants a mapping gives or
// takes, users a membership change re-places, delegations revoked in a cascade) is one
// more event per kind, with counts and at most 1,000 ids, however many rows it touched.
// Reads and last-used timestamps record nothing; no event holds a secret, hash or hint.
//
// It is plain Go: no HTTP, no SQL. Stores are interfaces declared here, where they are
// used; sqlstore implements them.
package orgs
