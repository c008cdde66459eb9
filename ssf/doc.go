// Package ssf is orgscim's Shared Signals transmitter (OpenID Shared Signals Framework
// 1.0): it tells downstream applications, in the standard's own terms, the moment a
// person's access changes, so that they end sessions and drop rights without a custom
// client or verifier.
//
// # Receivers and streams
//
// An operator registers a receiver (orgscim ssf receiver add): a downstream application
// with a bearer token, shown once and stored as its hash, and an audience (the aud of its
// SETs). A receiver of a connection gets that tenant's events; one without gets every
// tenant's and the control plane's. With its token the receiver manages its own streams
// through the endpoints GET /.well-known/ssf-configuration names: create, read, update
// (PATCH), replace (PUT) and delete a stream; read and set its status (enabled; paused,
// which holds its SETs; disabled, which drops them); remove a subject (and add it back);
// and ask for a verification event (at most once per MinVerificationInterval,
// published as the stream's min_verification_interval). Streams send every subject by default
// (default_subjects ALL). A receiver sees only its own streams: another's reads as not
// found. Every change is audited (ssf_receiver.*, ssf_stream.*). A receiver's requests
// are limited per replica (Server.RateLimit, DefaultRateLimit a second): past it, 429.
//
// # Events
//
// SETs (RFC 8417) are made from audit events by SETs: a SCIM deactivation gives RISC
// account-disabled and CAEP session-revoked, a reactivation RISC account-enabled, a
// userName change RISC identifier-changed, a new password CAEP credential-change, a
// deletion CAEP session-revoked and RISC account-purged; a grant revoked and an org's
// relationship ended or suspended give the urn:orgscim grant-revoked and
// relationship-ended events. A grant is revoked one at a time (by hand, by a reviewer:
// grant.revoke) or with others (at a review's deadline, by the reconciler: grants.revoke;
// with its mapping retired or rejected, the delegation it was made under revoked on a
// compromise, its holder deactivated or deleted, or leaving a mapped group, drift
// repaired: grants.sync). Both bulk kinds name every grant they revoked (in ids and
// revoked_grant_ids, 1,000 an event, on each grant's tenant), and each gives a SET per
// grant, about its holder. Each SET holds one event, with sub_id a
// subject identifier (RFC 9493): complex, with user (email when the user has one, else
// the opaque SCIM id) and tenant (the connection's slug, or the org's); txn is the audit
// event's id, shared by the SETs of one event (a revocation of more than 1,000 grants,
// or of grants of several tenants, is several events).
//
// A service account (orgs.ServiceAccount) has no connection and no e-mail: its SETs are
// about it by the subject complex{user: opaque <account id>, tenant: opaque <its owner's
// connection slug>}, the connection its events are recorded on (orgs.GrantConnections),
// and each event says "service_account": <its name>, so that no receiver takes it for a
// person. Its grants revoked give grant-revoked as a person's do; orphaned (its owner
// gone, it holds nothing) RISC account-disabled; adopted again or reassigned out of it
// RISC account-enabled; retired, a grant-revoked for each grant it still held, then
// CAEP session-revoked and RISC account-purged. Its SETs are ordered by its id, across
// reassignments.
//
// When an operator revokes a receiver, each of its push streams that was enabled or
// paused is sent one last SET, SSF 1.0's stream-updated (§8.1.5): its subject the
// stream ({"format":"opaque","id":<stream id>}), status disabled and the reason. It is
// queued in the revocation's transaction, after the SETs the stream held are given up,
// and goes out although the stream is disabled.
//
// # Guarantees
//
//   - Transactional outbox: sqlstore queues a stream's SETs in the transaction that
//     appends the audit event, as it queues webhook deliveries, so SETs are queued if and
//     only if their change commits; nothing is sent for a rolled-back change.
//   - Order per subject: a push stream sends the SETs about one subject (a user, by SCIM
//     id, so across renames; an org) one at a time, in the order their events were
//     numbered; a SET that fails holds back the later ones about its subject until it is
//     delivered or given up, while SETs about other subjects go out meanwhile. A poll
//     returns a stream's SETs oldest first.
//   - Pushed at commit: the transaction that queues SETs wakes the pusher when it
//     commits (Pusher.Wake; sqlstore SSFWakeups: NOTIFY on PostgreSQL, which reaches
//     every replica's pusher, and an in-process signal on SQLite). The pusher's tick
//     stays, for retries falling due and for a wake-up lost with a connection.
//   - A slow receiver delays no other: each SET is pushed by its own request, at most
//     Pusher.PerStream of them in flight to one stream and Pusher.Concurrency in all,
//     and the pusher claims and sends other streams' SETs while a receiver's requests
//     hang (each bounded by Pusher.Timeout). Acknowledgements are recorded together, at
//     most once per Pusher.Gather while requests are in flight.
//   - At least once: a push is retried with exponential backoff (Pusher) until the
//     receiver answers 2xx; a 400 (the receiver refused that SET, RFC 8935 §2.3) gives it
//     up at once. A polled SET not acknowledged within DefaultPollLease is returned again
//     (RFC 8936). The jti is the same on every attempt.
//   - Bounded queue: a SET delivered, acknowledged or given up is deleted once older
//     than the retention (Purger; serve --ssf-retention, a week by default).
//
// # Keys
//
// SETs are JWS signed (go-jose) with Ed25519 (EdDSA) or ES256, typ secevent+jwt, by a
// key kept in a file (Keyring), never in the database. RotateKey replaces it and keeps
// the old public key in the JWKS (GET /ssf/jwks) for a while, so that SETs already sent
// still verify; a running server re-reads the file when it changes.
package ssf
