// Package sessions is who is signed in to the console, and whether they still may be.
//
// A session belongs to a person: a vendor operator (signed in with a one-time link that
// `orgscim console link` prints, or later the vendor's IdP), or a partner's delegated
// administrator, signed in through the OpenID Connect IdP of their connection and
// matched to the SCIM user that same IdP provisioned. Sessions live server-side; the
// browser holds a random secret stored here only as its hash, so signing out (or an
// administrator revoking) ends a session at once.
//
// Every request resumes its session (Service.Resume), and resuming re-checks the person
// by the authority rule of package orgs: a delegate's user must still be active in an
// active connection, and at least one of their delegations must still hold
// (orgs.Delegations.DelegationHolds). When that fails the session is revoked, with the
// reason, and the caller shows the person why. Idle and absolute timeouts bound every
// session whatever the person's standing.
//
// The package is plain Go: the console adapter speaks HTTP and OpenID Connect, sqlstore
// keeps the rows.
package sessions
