// Package audit is orgscim's evidence trail: one Event per change, appended in the same
// database transaction as the change, never updated or deleted, and hash-chained per
// tenant so that a modified, deleted, inserted or reordered event is detected.
//
// A tenant's chain is its connection (every SCIM change, and every consequence of one,
// belongs to the connection that sent it); changes of the control plane that belong to
// no connection — orgs, roles, admin keys — form the Control chain. Each event carries
// its position (Seq, from 1), the hash of the event before it and its own hash; the
// store keeps each chain's head (last Seq and hash) and appends under a lock on it, so a
// chain stays linear however many writers there are.
//
// The package is plain Go: the event, its hash, the diff of a change, where a change
// comes from (Source, carried in the context by the adapters), and Verify, which checks
// a chain as the store streams it. Storage lives in sqlstore.
package audit
