// Package provisioning holds the users, groups and memberships that a partner's IdP
// pushes into one connection, and their lifecycle: creation (restoring a deleted user by
// externalId, or adopting one created ahead of the IdP, link.go), updates, deletion,
// and deactivation on behalf of a lifecycle rule (lifecycle.go).
//
// It is plain Go: it knows the RFC 7643 user model as attributes, not the SCIM wire
// protocol. Every call takes the connection (the tenant) as an explicit argument; the
// store it is given scopes every query by it.
//
// Every change records its audit event (the Action constants) in the transaction of the
// change, so that the change and its evidence commit or fail together; a change that
// changes nothing records none. Who made it comes from the audit.Source in the context.
package provisioning
