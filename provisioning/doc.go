// Package provisioning holds the users (and later groups and memberships) that a partner's
// IdP pushes into one connection, and their lifecycle.
//
// It is plain Go: it knows the RFC 7643 user model as attributes, not the SCIM wire
// protocol. Every call takes the connection (the tenant) as an explicit argument; the
// store it is given scopes every query by it.
package provisioning
