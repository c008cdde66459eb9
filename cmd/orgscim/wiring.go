package main

import (
	"time"

	"github.com/orgscim/orgscim/domaincheck"
	"github.com/orgscim/orgscim/domains"
	"github.com/orgscim/orgscim/imports"
	"github.com/orgscim/orgscim/msp"
	"github.com/orgscim/orgscim/onboarding"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/reviews"
	"github.com/orgscim/orgscim/sessions"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/support"
)

// services is the domain, wired by hand over one database: the server and every CLI
// command use the same wiring, so a change made from the terminal has the same
// consequences (grants, cascades) and leaves the same audit events as one made over
// HTTP.
type services struct {
	dir         *orgs.Directory
	users       *provisioning.Users
	groups      *provisioning.Groups
	access      *orgs.Access
	delegations *orgs.Delegations
	keys        *orgs.AdminKeys
	reviews     *reviews.Service
	imports     *imports.Importer
	exports     *orgs.Exporter
	onboarding  *onboarding.Onboarding
	sessions    *sessions.Service
	domains     *domains.Service
	support     *support.Service
	// serviceAccounts: non-human identities, judged by the same authority rule.
	serviceAccounts *orgs.ServiceAccounts
	// msps: MSP engagements and their technicians' delegations.
	msps *msp.Service
	// quarantine: decisions on the users a domain policy holds, for the admin API and
	// the console alike.
	quarantine *domains.Quarantine
}

// domainProofs are the ways a domain claim is proved: a TXT record asked of resolver
// (host:port; "" is the system's), and the HTTPS well-known file.
func domainProofs(resolver string) []domains.Proof {
	return []domains.Proof{domaincheck.DNS{Resolver: resolver}, domaincheck.HTTPS{}}
}

// newServices wires the domain over db; now is the clock (nil for the real one).
func newServices(db *sqlstore.DB, now func() time.Time) *services {
	log := db.Audit()
	dir := &orgs.Directory{Store: db.Orgs(), Tx: db, Audit: log, Now: now}
	users := &provisioning.Users{Store: db.Users(), Tx: db, Audit: log, Now: now}
	access := &orgs.Access{Store: db.Access(), Users: users, Tx: db, Audit: log, Now: now}
	// Grants follow memberships and user status in the transaction of the SCIM request.
	users.Observer = access
	groups := &provisioning.Groups{Store: db.Groups(), Tx: db, Observer: access, Audit: log, Now: now}
	// Delegations decide who may act where; the admin API authenticates operators and
	// delegates by their keys.
	dels := &orgs.Delegations{Store: db.Delegations(), Orgs: db.Orgs(), Access: access, Tx: db, Audit: log, Now: now}
	access.Authz = dels
	// The authority rule: grants made under a delegation hold while its chain does.
	access.Authority = dels
	// Offboarding: a user the IdP deactivates loses its delegations in the same
	// transaction as its grants.
	access.Holders = dels
	keys := &orgs.AdminKeys{Store: db.AdminKeys(), Delegations: dels, Tx: db, Audit: log, Now: now}
	// Access reviews decide through access: the same authority and revocation path as
	// revoking a grant by hand.
	rv := &reviews.Service{Store: db.Reviews(), Access: access, Tx: db, Audit: log, Now: now}
	// Revoking a delegation hands what was made under it to a re-attestation campaign;
	// a move, a new contract or owner opens a revalidation of the subtree.
	dels.Reattest = rv
	dir.Revalidate = rv
	// Spreadsheet imports; an IdP's creation of an imported person adopts it.
	users.Links = db.Imports()
	importer := &imports.Importer{Orgs: db.Orgs(), Access: access, Store: db.Imports(), Observer: access}
	exports := &orgs.Exporter{Orgs: db.Orgs(), Store: db.Imports(), Access: access}
	// Onboarding creates a partner's org, connection, first administrator and draft
	// mappings through the same services, so each leaves its usual events.
	onboard := &onboarding.Onboarding{Store: db.Onboarding(), Dir: dir, Access: access, Delegations: dels, Users: users,
		Groups: groups, Tx: db, Audit: log, Now: now, Awaiting: db.Imports()}
	// Verified domains: every user write asks which domains its connection may hold, and
	// a link by e-mail only trusts an address in a domain its org holds verified.
	doms := &domains.Service{Store: db.Domains(), Orgs: db.Orgs(), Policies: db.Orgs().(orgs.PolicyStore),
		Authorizer: dels, Tx: db, Audit: log, Proofs: domainProofs(""), Now: now}
	users.Domains, users.Quarantine = doms, db.Quarantine()
	// A connection whose policy requires a verified domain stays pending until it has one.
	dir.ActivationGate = doms
	// Held users are released or rejected by those who manage their connection's org.
	quarantine := &domains.Quarantine{Users: users, Connections: db.Orgs(), Orgs: db.Orgs(), Authorizer: dels}
	// Console sessions re-check their person by the same authority rule.
	sess := &sessions.Service{Store: db.Console(), Users: users, Connections: db.Access(), Delegations: dels, Tx: db, Audit: log, Now: now}
	// Support sessions: the vendor's staff reach a partner's data only in one, approved by
	// the partner's administrators under the same authority rule.
	sup := &support.Service{Store: db.Support(), Orgs: db.Orgs(), Authorizer: dels, Tx: db, Audit: log, Now: now}
	// Service accounts hold grants through access, and answer to an owner whose
	// standing access reads.
	sas := &orgs.ServiceAccounts{Store: db.ServiceAccounts(), Access: access, Tx: db, Audit: log, Now: now}
	// The access export lists the service accounts' grants beside the people's.
	exports.ServiceAccounts = sas
	// MSP engagements: a technician's delegation holds while its engagement does, under
	// the same authority rule as every delegation.
	msps := &msp.Service{Store: db.Engagements(), Delegations: dels, Tx: db, Audit: log, Now: now}
	// An MSP's connections may provision the domains its customers verified, while the
	// engagement is in force.
	doms.Reach = msps
	return &services{msps: msps, support: sup, serviceAccounts: sas, sessions: sess, dir: dir, users: users, groups: groups, access: access, delegations: dels, keys: keys, reviews: rv,
		imports: importer, exports: exports, onboarding: onboard, domains: doms, quarantine: quarantine}
}
