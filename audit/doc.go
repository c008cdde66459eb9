// Package audit is orgscim's evidence: one Event per change, written in the same database
// transaction as the change and never updated or deleted, and a verifiable log over all
// of them — a Merkle tree (RFC 6962 hashing and proofs from golang.org/x/mod/sumdb/tlog)
// whose signed checkpoints (C2SP signed notes, Ed25519, golang.org/x/mod/sumdb/note) let
// anyone holding an earlier checkpoint prove that the log was not rolled back,
// truncated, rewritten or forked since, even by someone holding the database.
//
// There is one log per deployment, not one per tenant: one checkpoint a second covers
// every tenant, so there is one sealer, one stream for witnesses to keep and one key to
// guard, however many partners connect; a tenant's auditor still gets its own evidence,
// as inclusion proofs of its events (an export bundle), which reveal nothing of other
// tenants' events but their hashes. A per-tenant log would multiply checkpoints,
// witness state and sealing work by the number of connections for no stronger proof.
//
// The request's transaction gives its events a number (increasing in the order they are
// written) and a content hash (Hash, the hex of the event's leaf hash), and waits for no
// other writer. The Sealer, one per deployment, later gives committed events their
// position in the log in commit order, extends the tree and signs a checkpoint (see
// sqlstore/auditlog.go for how commit order is settled). Verify rebuilds the tree from
// the events in constant memory and checks it against the stored checkpoint and any
// exported ones; InclusionProof shows one event's place under a checkpoint.
//
// Events written before the log were hash-chained per tenant (Seq, PrevHash, Hash in the
// chain's order); VerifyChains checks those chains once more when the sealer moves them
// into the log, and LeafData keeps their PrevHash, so the old links are committed too.
//
// The package is plain Go: the event, its leaf, the diff of a change, where a change
// comes from (Source, carried in the context by the adapters), checkpoints, keys, the
// sealer and verification. Storage lives in sqlstore.
package audit
