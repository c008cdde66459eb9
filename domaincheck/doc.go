// Package domaincheck asks the network whether a domain publishes its verification
// token (see package domains): a DNS TXT record through a resolver that can be named,
// and an HTTPS well-known file fetched with an injectable certificate pool.
package domaincheck
