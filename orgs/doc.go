// Package orgs holds the organisation tree and the SCIM connections bound to it, with
// their bearer tokens. Later it holds roles, mappings, grants and delegations.
//
// It is plain Go: no HTTP, no SQL. Stores are interfaces declared here, where they are
// used; sqlstore implements them.
package orgs
