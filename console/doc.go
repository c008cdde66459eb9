// Package console is the web console under /console: server-rendered pages
// (html/template, embedded with their stylesheet, no script) for the vendor's operators
// and the partners' delegated administrators, served by the same binary as SCIM and the
// admin API.
//
// Operators sign in with a one-time link (`orgscim console link --operator NAME`);
// partner administrators through their connection's OpenID Connect IdP (state, nonce,
// PKCE; go-oidc verifies the ID token), matched to the SCIM user that IdP provisioned.
// Sessions are package sessions': server-side, re-checked on every request by the
// authority rule, revoked when the person no longer stands. Cookies are HttpOnly,
// SameSite=Lax and Secure over TLS; every form carries the session's CSRF token.
//
// Pages: the org tree and an org's page (connections, delegations, grants, mappings,
// reviews); its live grants are people's and service accounts' (an account's row names
// it, links its page and the owner who answers for it), 200 a page by grant id with the
// total and where the page starts (?after= the last grant shown; Lists.CountGrants), so
// that nobody is silently left out; a connection's people, 200 a page with the total,
// found by user name or name (?q=, a SCIM filter the users store runs), "why", and groups
// (read-only); access reviews (the reviewer's queue; a campaign's lines, a person's or a
// service account's with its owner, 200 a page by grant id with the total, filtered by
// decision — waiting, confirmed, revoked, ended otherwise — through reviews.Service.Items
// and CountItems; confirm or revoke per line, coming back to the same filter and page);
// partner onboarding (propose, approve)
// and a connection's page (setup link, steps for Entra ID, Okta and generic clients);
// an org's delegations with their chains (delegate; revoke with a reason, a successor,
// or as a compromise); elevations (the pending requests of the person's subtree; ask,
// approve, deny); a draft mapping's rejection; an org's service accounts
// (serviceaccounts.go: create, grant, ask for an elevation, issue and revoke integration
// tokens — the secret only on the answer that issues it —, reassign, retire, "why"; orphans
// highlighted), for those with manage_members, as orgs.ServiceAccounts decides; an org's
// MSP engagements (msp.go: propose, consent as customer or vendor, name and remove
// technicians, revoke), for operators and the org's own administrators (a delegation
// with delegate that is not itself an engagement's reach), as msp.Service decides.
//
// Step-up: actions that hand out authority — approving an elevation, approving a
// mapping to a privileged role, creating a delegation (also as a successor), approving
// a held reconciler plan, consenting to an MSP engagement for the customer or the
// vendor (it gives another organisation's people administration) — call Server.StepUp first. It lets the action through only
// when the session's authentication is at most StepUpMaxAge old, and then puts that
// time in the context (audit.WithStepUp) so that every audit event of the action
// records it; otherwise it answers with a page that sends a delegate through their IdP
// again (prompt=login, max_age) and an operator to a fresh one-time link, and the
// sign-in that follows returns to the form (a cookie holding a console path) and ends
// the session it replaces.
//
// The operations pages (ops.go, Ops): a connection's health and redacted request log
// (health.go, from the same store as GET /api/v1/connections/{slug}/health); webhook
// subscriptions with their newest 200 deliveries, newest first, each with its last error
// and next attempt, and the total, and disabling one (webhooks.go,
// webhooks.Subscriptions.Disable, audited); the reconciler's runs and held
// plans, approved with reconcile.Reconciler.Approve (reconciler.go); audit search by
// actor, org subtree, target, action and time, paged by cursor, with a CSV export whose
// cells cannot start a formula (audit.go); and spreadsheet import (imports.go): the
// importer's dry run shown line by line, then the very file checked (carried in the form,
// matched by its SHA-256) applied by imports.Importer in the background while a page
// that reloads itself (a Refresh header: no script) shows its progress and outcome. An
// import job lives in the memory of the replica that runs it. Webhooks and the
// reconciler are for operators only, as in the admin API; a delegate's audit search is
// confined to their delegated subtree. Approving a held plan goes through StepUp, as
// approving an elevation does: an authentication at most StepUpMaxAge old, recorded in
// the approval's audit events.
//
// Trust pages (domains.go, support.go, Trust), offered on an org's page to operators and
// to the org's administrators (a delegate holding the delegate capability over it, the
// authority domains.Service and support.Service ask of a partner's administrator; anyone
// else is refused the pages): the org's verified domains — each claim with its status
// (pending, verified, lapsed), its last check, and the DNS TXT record and HTTPS
// well-known file to publish; claim, verify now (domains.Service.Verify, a refusal shown
// on the claim's row) and release. And the support sessions on the org — waiting for a
// decision, open now (who, ticket, reason, until), break-glass sessions owing a review,
// past ones; an operator asks for a session (ticket, reason, read-only or not, minutes up
// to the policy's maximum) or breaks the glass; the partner's administrators approve,
// refuse, end and review, an operator ends and reviews one another operator opened.
// Approving a support session hands the vendor's staff the partner's data, so it goes
// through StepUp like approving an elevation. The domains page also shows each of the
// org's connections with its domain policy (refuse or quarantine; an operator changes it
// with orgs.Directory.SetConnectionPolicy, as PATCH /api/v1/connections/{slug}/policy
// does) and, to those who manage its members, the users it holds quarantined, each with
// Release (into the connection) and Reject (deleted from it) buttons: the calls of
// POST /api/v1/connections/{slug}/quarantine/{id}/release and DELETE .../quarantine/{id},
// domains.Quarantine deciding who may, with the same audit events.
//
// Pages call the same domain functions as the admin API (orgs.Access.AssignRole,
// RevokeGrant, DraftMapping, ApproveMapping, RejectMapping, RequestElevation,
// ApproveElevation, RejectElevation, Check, WhatCanUserDo; orgs.Delegations.Delegate,
// Revoke; reviews.Service;
// onboarding.Onboarding), so every action has the same authorisation, consequences and
// audit events; the audit actor is "console_session:ID PERSON". A delegate sees only
// their subtree and is offered only controls the domain would accept: the console asks
// the domain's own rules (sessions.Service.Principal for a capability,
// orgs.Access.MayApproveMapping, onboarding.MayApprove, orgs.Principal.Holds) before
// showing a button, and the domain decides again when it is pressed. A page about a
// partner's subtree wears the partner's brand (setuppage.BrandOf keeps only safe
// values; the colours come as a stylesheet, since the policy allows no inline style).
// Domain errors in a form are shown next to their field; others become pages in one
// function (status, HandleError).
package console
