// Package domains lets an org prove which e-mail domains are its own, and keeps every
// other org's connections from provisioning people in them.
//
// An org claims a domain and receives a token; the claim verifies when the token is
// published either as a DNS TXT record at _orgscim-challenge.<domain>
// ("orgscim-verification=<token>") or as the body of
// https://<domain>/.well-known/orgscim-domain-verification. The proofs themselves are
// adapters (package domaincheck); this package decides what a proof means: a verified
// domain belongs to one org at a time, a user in it is refused by every connection
// outside that org's subtree, an org that has verified domains refuses users outside
// them, and a domain that stops verifying lapses and freezes new users in it.
package domains
