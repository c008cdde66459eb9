// Package onboarding brings a partner in: a proposal that names everything the partner
// needs (org, relationship, connection, first administrator, mappings), approved by a
// second operator into all of that in one transaction (onboarding.go); and the one-time
// setup links that hand the partner's IT administrator a connection's SCIM base URL and
// a fresh token, once (setuplinks.go, setuplinkview.go).
//
// It is a workflow on top of the directory, not part of it: it creates orgs,
// connections, mappings and delegations through the orgs services, so each leaves its
// usual audit events and passes the same authority rule, and orgs knows nothing of it.
// What a pending connection does on its first push (ActivatePending) stays in orgs,
// with the connection. It is plain Go; OnboardingStore and SetupLinkStore are declared
// here and implemented by sqlstore.
package onboarding
