package adminapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim/reviews"
)

// route is one endpoint: what Register mounts and what the OpenAPI document describes,
// from the same value.
type route struct {
	method string
	path   string // relative to Prefix, with {name} parameters
	tag    string
	// summary says what it does; who says who may call it.
	summary, who string
	public       bool // no admin key needed
	// integration: no admin key; the handler authenticates an integration token.
	integration  bool
	query        []param // query parameters
	body         any     // the request body's type (a zero value), nil for none
	bodyOptional bool
	status       int // the success status
	resp         any // the success body's type (a zero value), nil for none
	stream       any // each line's type when it answers NDJSON instead (Accept: application/x-ndjson)
	handle       echo.HandlerFunc
	// bodyMedia and respMedia name a body that is not JSON (text/csv), described as a string.
	bodyMedia, respMedia string
	// conflict documents a 409 a GET can answer.
	conflict string
}

type param struct {
	name, doc string
	required  bool
}

// pathParams documents the path parameters by name.
var pathParams = map[string]string{
	"slug":  "a slug (of an org under /orgs, of a connection under /connections)",
	"id":    "an id",
	"key":   "a role key",
	"item":  "a review item: the id of its grant",
	"token": "an integration token's id",
}

const (
	whoOperators = "Operators only."
	whoAny       = "Any authenticated caller."
)

func (s *Server) routes() []route {
	return append(append(append(append(s.coreRoutes(), s.domainRoutes()...), s.quarantineRoutes()...), s.supportRoutes()...), append(s.serviceAccountRoutes(), s.mspRoutes()...)...)
}

func (s *Server) coreRoutes() []route {
	return []route{
		{method: http.MethodGet, path: "/openapi.json", tag: "meta", public: true, status: http.StatusOK,
			summary: "This OpenAPI 3.0 document.", handle: s.openAPI},
		{method: http.MethodGet, path: "/me", tag: "meta", status: http.StatusOK, resp: Me{},
			summary: "Who the key belongs to: an operator, or a delegate with its delegation.", who: whoAny, handle: s.me},

		{method: http.MethodPost, path: "/orgs", tag: "orgs", body: CreateOrgRequest{}, status: http.StatusCreated, resp: Org{},
			summary: "Create an org under a parent (or a root).",
			who:     "Operators; a delegate with the delegate capability on the parent. Only operators create roots.",
			handle:  s.createOrg},
		{method: http.MethodGet, path: "/orgs/{slug}", tag: "orgs", status: http.StatusOK, resp: Org{},
			summary: "Read an org with its relationship and brand.",
			who:     "Operators; a delegate whose subtree contains the org.", handle: s.getOrg},
		{method: http.MethodPatch, path: "/orgs/{slug}", tag: "orgs", body: UpdateOrgRequest{}, status: http.StatusOK, resp: Org{},
			summary: "Change an org's relationship (kind, status, contract, grace), owner, name or brand. Absent fields stay; null clears. " +
				"Ending or suspending the relationship (or passing contract_end plus grace) removes the access of the org and its whole subtree at once.",
			who: "Operators; a delegate with the delegate capability on the org for name, owner and brand, " +
				"and on its parent for kind, status, contract and grace (a partner's administrator never reopens its own contract).",
			handle: s.updateOrg},
		{method: http.MethodPost, path: "/orgs/{slug}/move", tag: "orgs", body: MoveOrgRequest{}, status: http.StatusOK, resp: Org{},
			summary: "Re-parent an org with its subtree; never into its own subtree.",
			who:     "Operators; a delegate with the delegate capability on the current and the new parent.", handle: s.moveOrg},
		{method: http.MethodGet, path: "/orgs/{slug}/access", tag: "access", status: http.StatusOK, resp: OrgAccess{},
			summary: "Who has access to the org and why: live grants on it, and on its ancestors through inheriting roles.",
			who:     "Operators; a delegate whose subtree contains the org.", handle: s.orgAccess},

		{method: http.MethodPost, path: "/connections", tag: "connections", body: CreateConnectionRequest{}, status: http.StatusCreated,
			resp: CreatedConnection{}, summary: "Create a SCIM connection bound to an org; returns its first token once.",
			who: whoOperators, handle: s.createConnection},
		{method: http.MethodGet, path: "/connections/{slug}", tag: "connections", status: http.StatusOK, resp: Connection{},
			summary: "Read a connection.",
			who:     "Operators; a delegate whose subtree and the connection's org lie on one path of the tree.", handle: s.getConnection},
		{method: http.MethodPatch, path: "/connections/{slug}", tag: "connections", body: UpdateConnectionRequest{}, status: http.StatusOK,
			resp: Connection{}, summary: "Suspend a connection (its SCIM tokens stop working at once; its users, groups and grants stay) or make it active again.",
			who: whoOperators, handle: s.updateConnection},
		{method: http.MethodGet, path: "/connections/{slug}/tokens", tag: "connections", status: http.StatusOK, resp: TokenList{},
			summary: "List a connection's tokens (never their secrets).", who: whoOperators, handle: s.listTokens},
		{method: http.MethodPost, path: "/connections/{slug}/tokens", tag: "connections", body: ExpiryRequest{}, bodyOptional: true,
			status: http.StatusCreated, resp: IssuedToken{},
			summary: "Issue another token (rotation); the secret is shown once. At most two usable tokens at a time.",
			who:     whoOperators, handle: s.issueToken},
		{method: http.MethodDelete, path: "/connections/{slug}/tokens/{id}", tag: "connections", status: http.StatusNoContent,
			summary: "Revoke a token at once.", who: whoOperators, handle: s.revokeToken},

		{method: http.MethodPost, path: "/roles", tag: "roles", body: CreateRoleRequest{}, status: http.StatusCreated, resp: Role{},
			summary: "Add a role to the catalogue.", who: whoOperators, handle: s.createRole},
		{method: http.MethodGet, path: "/roles/{key}", tag: "roles", status: http.StatusOK, resp: Role{},
			summary: "Read a role.", who: whoOperators, handle: s.getRole},

		{method: http.MethodPost, path: "/mappings", tag: "mappings", body: CreateMappingRequest{}, status: http.StatusCreated, resp: Mapping{},
			summary: "Draft a mapping: members of a group of the connection hold a role on an org inside the connection's subtree. A draft grants nothing.",
			who:     "Operators; a delegate with manage_mappings on the org.", handle: s.createMapping},
		{method: http.MethodGet, path: "/mappings/{id}", tag: "mappings", status: http.StatusOK, resp: Mapping{},
			summary: "Read a mapping.", who: "Operators; a delegate whose subtree contains the mapping's org.", handle: s.getMapping},
		{method: http.MethodPost, path: "/mappings/{id}/approve", tag: "mappings", status: http.StatusOK, resp: Mapping{},
			summary: "Approve a draft: it becomes active, its group's members get their grants, and the mapping it replaces retires, in one transaction. " +
				"A privileged role's mapping needs an approver other than its drafter.",
			who: "Operators; a delegate with approve on the mapping's org.", handle: s.approveMapping},
		{method: http.MethodPost, path: "/mappings/{id}/retire", tag: "mappings", body: ReasonRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: Mapping{}, summary: "Retire an active mapping and revoke its grants.",
			who: "Operators; a delegate with manage_mappings on the mapping's org.", handle: s.retireMapping},
		{method: http.MethodPost, path: "/mappings/{id}/reject", tag: "mappings", body: ReasonRequest{},
			status: http.StatusOK, resp: Mapping{}, summary: "Reject a draft, with a required reason: it retires without ever granting anything.",
			who: "Operators; a delegate with approve on the mapping's org (its drafter too, withdrawing it).", handle: s.rejectMapping},

		{method: http.MethodPost, path: "/grants", tag: "grants", body: CreateGrantRequest{}, status: http.StatusCreated, resp: Grant{},
			summary: "Assign a (non-privileged) role to a user directly.",
			who:     "Operators; a delegate with manage_members on the org that itself holds the role there.", handle: s.createGrant},
		{method: http.MethodGet, path: "/grants/{id}", tag: "grants", status: http.StatusOK, resp: Grant{},
			summary: "Read a grant, live or revoked, with its provenance.",
			who:     "Operators; a delegate whose subtree contains the grant's org.", handle: s.getGrant},
		{method: http.MethodDelete, path: "/grants/{id}", tag: "grants", body: RevokeGrantRequest{}, status: http.StatusOK, resp: Grant{},
			summary: "Revoke a direct, imported or elevation grant, with a reason; it is kept, revoked. " +
				"A grant from a mapping is refused (409): retire the mapping or remove the membership instead.",
			who: "Operators; a delegate with manage_members on the grant's org.", handle: s.revokeGrant},

		{method: http.MethodPost, path: "/elevations", tag: "elevations", body: CreateElevationRequest{}, status: http.StatusCreated,
			resp: Elevation{}, summary: "Request a privileged role for a user, with a reason and a duration up to the role's maximum. " +
				"A second person approves it; the grant then expires on its own.",
			who: "The user itself (with its delegate key); operators; a delegate with manage_members on the org.", handle: s.createElevation},
		{method: http.MethodGet, path: "/elevations/{id}", tag: "elevations", status: http.StatusOK, resp: Elevation{},
			summary: "Read a request and its decision.",
			who:     "Its requester and beneficiary; operators; a delegate with approve or manage_members on the org.", handle: s.getElevation},
		{method: http.MethodPost, path: "/elevations/{id}/approve", tag: "elevations", body: DecisionRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: Elevation{},
			summary: "Approve a request waiting for a decision (for at most 24 hours): the grant starts now and ends after the requested duration.",
			who:     "Operators and delegates with approve on the org — never the requester or the beneficiary.",
			handle:  s.decideElevation(approveElevation)},
		{method: http.MethodPost, path: "/elevations/{id}/reject", tag: "elevations", body: DecisionRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: Elevation{}, summary: "Reject a request waiting for a decision.",
			who: "Operators and delegates with approve on the org.", handle: s.decideElevation(rejectElevation)},
		{method: http.MethodPost, path: "/elevations/{id}/cancel", tag: "elevations", body: DecisionRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: Elevation{}, summary: "Withdraw a request waiting for a decision.",
			who: "Its requester; operators.", handle: s.decideElevation(cancelElevation)},

		{method: http.MethodPost, path: "/delegations", tag: "delegations", body: CreateDelegationRequest{}, status: http.StatusCreated,
			resp: Delegation{}, summary: "Delegate administration of a subtree to a person.",
			who: "Operators; a delegate with the delegate capability on the org, giving a subset of its capabilities, " +
				"a smaller depth and no later expiry.", handle: s.createDelegation},
		{method: http.MethodGet, path: "/delegations/{id}", tag: "delegations", status: http.StatusOK, resp: Delegation{},
			summary: "Read a delegation: whether it is in force now under the authority rule (and if not, the first link that broke), " +
				"and what was made under it — delegations, keys, grants, mapping approvals.",
			who: "Operators; a delegate whose subtree contains the delegation's org.", handle: s.getDelegation},
		{method: http.MethodDelete, path: "/delegations/{id}", tag: "delegations", body: RevokeDelegationRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: RevokedDelegation{},
			summary: "Revoke a delegation and everything delegated through it; its keys stop working at once. " +
				"The grants and mapping approvals made under them go to the successor (or to the revoker) with a re-attestation review " +
				"scoped to exactly those grants, or, with compromise, are revoked at once. " +
				"The last administrator of a partner org cannot go without a successor (409).",
			who:    "Operators; a delegate with the delegate capability on the delegation's org, never for its own delegation.",
			handle: s.revokeDelegation},
		{method: http.MethodPost, path: "/delegations/{id}/keys", tag: "delegations", body: ExpiryRequest{}, bodyOptional: true,
			status: http.StatusCreated, resp: IssuedKey{},
			summary: "Issue an admin API key for the delegation's holder; the secret is shown once. It works while the delegation is in force " +
				"under the authority rule, and never outlives the key it was issued with: revoking that key revokes it too.",
			who: "Operators; a delegate with the delegate capability on the delegation's org; the holder itself.", handle: s.issueDelegateKey},
		{method: http.MethodDelete, path: "/keys/{id}", tag: "delegations", status: http.StatusNoContent,
			summary: "Revoke an admin API key at once, with every key issued with it.", who: whoOperators, handle: s.revokeKey},

		{method: http.MethodGet, path: "/orgs", tag: "orgs", status: http.StatusOK, resp: Page[Org]{},
			query:   append([]param{{"parent", "slug of the parent; absent lists the roots (operators only)", false}}, pageParams...),
			summary: "List the children of an org, by id.", who: "Operators; a delegate whose subtree contains the parent.", handle: s.listOrgs},
		{method: http.MethodGet, path: "/connections", tag: "connections", status: http.StatusOK, resp: Page[Connection]{},
			query:   append([]param{{"org", "org slug", true}}, pageParams...),
			summary: "List the connections bound to an org, by id.", who: "Operators; a delegate whose subtree contains the org.", handle: s.listConnections},
		{method: http.MethodGet, path: "/roles", tag: "roles", status: http.StatusOK, resp: Page[Role]{}, query: pageParams,
			summary: "List the role catalogue, by id.", who: whoAny, handle: s.listRoles},
		{method: http.MethodGet, path: "/mappings", tag: "mappings", status: http.StatusOK, resp: Page[Mapping]{},
			query:   append([]param{{"connection", "connection slug", true}, {"state", "draft, active or retired; absent for all", false}}, pageParams...),
			summary: "List a connection's mappings, by id. A delegate's page holds only the mappings onto its subtree (it may hold fewer than limit and still have a next_cursor).",
			who:     "Operators; a delegate whose subtree and the connection's org lie on one path of the tree.", handle: s.listMappings},
		{method: http.MethodGet, path: "/grants", tag: "grants", status: http.StatusOK, resp: Page[Grant]{},
			query:   append([]param{{"org", "org slug", true}, {"live", "false to include revoked grants (default true)", false}}, pageParams...),
			summary: "List the grants on an org, by id.", who: "Operators; a delegate whose subtree contains the org.", handle: s.listGrants},
		{method: http.MethodGet, path: "/delegations", tag: "delegations", status: http.StatusOK, resp: Page[Delegation]{},
			query:   append([]param{{"org", "org slug", true}}, pageParams...),
			summary: "List the delegations on an org, revoked ones included, by id.", who: "Operators; a delegate whose subtree contains the org.", handle: s.listDelegations},

		{method: http.MethodPost, path: "/webhooks", tag: "webhooks", body: CreateWebhookRequest{}, status: http.StatusCreated, resp: Webhook{},
			summary: "Subscribe a URL to a connection's (or the control plane's) events, signed per Standard Webhooks unless format is orgscim. The secret is shown once.",
			who:     whoOperators, handle: s.createWebhook},
		{method: http.MethodGet, path: "/webhooks", tag: "webhooks", status: http.StatusOK, resp: WebhookList{},
			summary: "List the subscriptions with their format and deliveries (never their secrets).", who: whoOperators, handle: s.listWebhooks},
		{method: http.MethodPatch, path: "/webhooks/{id}", tag: "webhooks", body: UpdateWebhookRequest{}, status: http.StatusOK, resp: Webhook{},
			summary: "Switch a subscription's signature format (standard or orgscim), keeping its secret; pending deliveries are signed the new way.",
			who:     whoOperators, handle: s.updateWebhook},

		{method: http.MethodGet, path: "/access/check", tag: "access", status: http.StatusOK, resp: Decision{},
			query: []param{
				{"connection", "connection slug", true},
				{"user", "the user's SCIM id", true},
				{"permission", "e.g. billing.read", true},
				{"org", "org slug", true},
			},
			summary: "May the user exercise the permission on the org? Allow or deny, with the chain that decides it: " +
				"grant ← mapping ← group membership path ← connection, with approver and expiry. " +
				"A suspended or ended org (or ancestor), an inactive user, a suspended connection or an expired grant gives no access.",
			who: "Operators; a delegate whose subtree contains the org and lies on one path with the connection's org.", handle: s.check},
		{method: http.MethodGet, path: "/audit", tag: "audit", status: http.StatusOK, resp: AuditPage{}, stream: AuditEvent{},
			query: []param{
				{"org", "org slug: the events on orgs of its subtree", false},
				{"actor", "exactly this actor, e.g. admin_key:KEY_ID operator:NAME, token:TOKEN_ID, operator:cli:NAME", false},
				{"target", "the id of the changed object", false},
				{"action", "exactly this action (org.update), or a prefix ending in a dot (mapping.)", false},
				{"since", "RFC 3339 time, inclusive", false},
				{"until", "RFC 3339 time, exclusive", false},
				{"cursor", "the next_cursor of the previous page, or an event's cursor: list what came after it", false},
				{"limit", "page size, 1 to 1000 (default 100); the NDJSON export ignores it", false},
				{"format", "json (default) or ndjson: the same as Accept: application/x-ndjson", false},
			},
			summary: "The audit trail: one event per change, with who made it, from which request and what changed, oldest first. " +
				"Pages of JSON follow next_cursor; asked for NDJSON (Accept: application/x-ndjson or format=ndjson), it streams every " +
				"matching event, one JSON object a line, within the request timeout.",
			who:    "Operators see every event; a delegate the events on orgs of its delegated subtree, and names an org only inside it.",
			handle: s.auditEvents},
		{method: http.MethodGet, path: "/audit/{id}/proof", tag: "audit", status: http.StatusOK, resp: AuditProof{},
			summary: "The event's inclusion proof in the verifiable audit log: its leaf, its position and the RFC 6962 audit path " +
				"to the root of the latest signed checkpoint (C2SP signed note, Ed25519). Anyone holding the log's public key " +
				"can check it offline. 409 while the event is not sealed into a checkpoint yet (within a second or so).",
			who:      "Operators; a delegate for the events on orgs of its delegated subtree.",
			conflict: "The event is not sealed into a checkpoint yet: ask again in a second.",
			handle:   s.auditProof},
		{method: http.MethodGet, path: "/connections/{slug}/users/{id}/access", tag: "access", status: http.StatusOK, resp: UserAccess{},
			summary: "What the user can do, and why.",
			who:     "Operators; a delegate whose subtree lies on one path with the connection's org, seeing the grants inside its subtree.",
			handle:  s.userAccess},

		{method: http.MethodGet, path: "/reconcile/runs/{id}", tag: "reconcile", status: http.StatusOK, resp: ReconcileRun{},
			summary: "A recorded reconciliation pass: what each rule did per connection, and the plans its guardrail held, as they stand now.",
			who:     whoOperators, handle: s.getReconcileRun},
		{method: http.MethodPost, path: "/reconcile/runs/{id}/approve", tag: "reconcile", body: ApproveRunRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: ReconcileRun{},
			summary: "Apply the plans the guardrail held in a pass (all, or those of the given connections), judged as of the pass's time; " +
				"refused (409) when a plan has grown since, or none is left to apply. Answers the approval's own run.",
			who: whoOperators, handle: s.approveReconcileRun},
		{method: http.MethodGet, path: "/connections/{slug}/console-sign-in", tag: "connections", status: http.StatusOK, resp: ConsoleSignIn{},
			summary: "How the connection's administrators sign in to the console (OpenID Connect at their IdP); never the client secret.",
			who:     whoOperators, handle: s.getConsoleSignIn},
		{method: http.MethodPut, path: "/connections/{slug}/console-sign-in", tag: "connections", body: ConsoleSignInRequest{}, status: http.StatusOK,
			resp: ConsoleSignIn{}, summary: "Configure the connection's console sign-in: issuer, client id, client secret (write-only) and the ID token claim " +
				"that finds the SCIM user. Audited, without the secret.",
			who: whoOperators, handle: s.putConsoleSignIn},
		{method: http.MethodGet, path: "/connections/{slug}/policy", tag: "connections", status: http.StatusOK, resp: ConnectionPolicy{},
			summary: "A connection's lifecycle policy: its stale-member window and its guardrail.", who: whoOperators, handle: s.getConnectionPolicy},
		{method: http.MethodPatch, path: "/connections/{slug}/policy", tag: "connections", body: UpdatePolicyRequest{}, status: http.StatusOK,
			resp: ConnectionPolicy{}, summary: "Change a connection's lifecycle policy; absent fields stay. Audited.",
			who: whoOperators, handle: s.updateConnectionPolicy},
		{method: http.MethodPost, path: "/reviews", tag: "reviews", body: CreateReviewRequest{}, status: http.StatusCreated, resp: Review{},
			summary: "Start an access review of an org's subtree: every grant live there now becomes an item to confirm or revoke by the deadline, " +
				"and every active mapping there an item to confirm or retire; what is unconfirmed then is revoked (retired) by the reconciler " +
				"(rule review-deadline), with the review as the reason. Revoking a person's grant from a mapping records an exception: " +
				"the mapping does not grant it again while the IdP's membership stands.",
			who: "Operators; a delegate with approve on the org.", handle: s.createReview},
		{method: http.MethodGet, path: "/reviews", tag: "reviews", status: http.StatusOK, resp: Page[Review]{},
			query: append([]param{{"org", "org slug: the reviews on orgs of its subtree; absent for the caller's whole view", false},
				{"state", "open, closed or cancelled; absent for all", false}}, pageParams...),
			summary: "List access reviews, by id, with their counts. Without org, a delegate sees the reviews on its subtree and those above it, in which it reviews its part.",
			who:     "Operators; a delegate, inside its subtree.", handle: s.listReviews},
		{method: http.MethodGet, path: "/reviews/{id}", tag: "reviews", status: http.StatusOK, resp: Review{},
			summary: "Read an access review with its counts.",
			who:     "Operators; a delegate whose subtree contains the review's org or lies inside it.", handle: s.getReview},
		{method: http.MethodGet, path: "/reviews/{id}/items", tag: "reviews", status: http.StatusOK, resp: ReviewItemPage{},
			query: append([]param{{"decision", "pending (undecided, grant live), confirmed, revoked or lapsed (undecided, grant ended); absent for all", false}},
				pageParams...),
			summary: "List a review's items, by grant id: who holds which role on which org, from which source, until when, and the decision; total is how many the filter selects across all pages.",
			who:     "Operators; a delegate whose subtree contains the review's org, or, for a part of it, the items on that part.", handle: s.listReviewItems},
		{method: http.MethodPost, path: "/reviews/{id}/items/{item}/confirm", tag: "reviews", body: ReviewDecisionRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: ReviewItem{}, summary: "Confirm that a grant should stay; only while the review is open and before its deadline.",
			who: "Operators; a delegate with manage_members on the grant's org — never the grant's holder, nor the owner of the service account holding it.", handle: s.decideReviewItem(reviews.ItemConfirmed)},
		{method: http.MethodPost, path: "/reviews/{id}/items/{item}/revoke", tag: "reviews", body: ReviewDecisionRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: ReviewItem{},
			summary: "Revoke a grant at once, as DELETE /grants/{id} does, with the review in its reason; only while the review is open and before its deadline.",
			who:     "Operators; a delegate with manage_members on the grant's org — never the grant's holder, nor the owner of the service account holding it.", handle: s.decideReviewItem(reviews.ItemRevoked)},
		{method: http.MethodGet, path: "/reviews/{id}/mappings", tag: "reviews", status: http.StatusOK, resp: Page[ReviewMapping]{},
			query:   append([]param{{"decision", "pending, confirmed or retired; absent for all", false}}, pageParams...),
			summary: "List a review's mappings, by mapping id: the rules behind the grants of their groups' members, and the decision.",
			who:     "Operators; a delegate whose subtree contains the review's org, or, for a part of it, the mappings on that part.", handle: s.listReviewMappings},
		{method: http.MethodPost, path: "/reviews/{id}/mappings/{mapping}/confirm", tag: "reviews", body: ReviewDecisionRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: ReviewMapping{}, summary: "Confirm that a mapping should stay; only while the review is open and before its deadline.",
			who: "Operators; a delegate with manage_mappings on the mapping's org — never its drafter or approver.", handle: s.decideReviewMapping(reviews.ItemConfirmed)},
		{method: http.MethodPost, path: "/reviews/{id}/mappings/{mapping}/retire", tag: "reviews", body: ReviewDecisionRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: ReviewMapping{},
			summary: "Retire a mapping at once with its grants, the review in their reason; only while the review is open and before its deadline.",
			who:     "Operators; a delegate with manage_mappings on the mapping's org — never its drafter or approver.", handle: s.decideReviewMapping(reviews.ItemRetired)},
		{method: http.MethodPost, path: "/reviews/{id}/cancel", tag: "reviews", body: ReasonRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: Review{}, summary: "Cancel an open review: nothing more is decided or revoked; decisions made stay.",
			who: "Operators; a delegate with approve on the review's org.", handle: s.cancelReview},
		{method: http.MethodPost, path: "/imports", tag: "imports", body: "", bodyMedia: "text/csv", status: http.StatusOK, resp: ImportReport{},
			query: []param{{"dry_run", "true: check the file and report what would change, changing nothing", false}},
			summary: "Import a spreadsheet (CSV with a header row, at most 1 MiB and 5000 rows) of orgs, people and their roles. " +
				"Every problem is reported with its line; a file with any problem imports nothing (400 naming them). " +
				"A real run applies the whole file in one transaction, recorded as an import batch whose id is the source_id of its grants (source import); " +
				"running the same file again changes nothing. See the README for the columns.",
			who:    "Operators; a delegate with manage_members on each org (delegate on the parent of an org it creates) that holds each role it grants.",
			handle: s.importFile},
		{method: http.MethodGet, path: "/access/export", tag: "access", respMedia: "text/csv", status: http.StatusOK,
			query: []param{{"org", "org slug: its subtree; absent: the whole tree (operators) or the delegated subtree", false}},
			summary: "Current access as CSV for auditors, streamed: one line per grant in force on an org of the subtree " +
				"(org_path, user_name, email, external_id, user_id, connection, role, source, source_id, granted_by, approved_by, reason, valid_from, expires_at, grant_id). " +
				"Cells starting with = + - @ get a leading apostrophe.",
			who: "Operators; a delegate with manage_members on the org.", handle: s.exportAccess},
		{method: http.MethodPost, path: "/onboarding", tag: "onboarding", body: ProposeOnboardingRequest{}, status: http.StatusCreated,
			resp: Onboarding{}, summary: "Propose a partner org: its relationship, a connection, its first administrator and the mappings it wants. " +
				"Nothing is created until a second person approves.",
			who: "Operators; a delegate with the delegate capability on the parent.", handle: s.proposeOnboarding},
		{method: http.MethodGet, path: "/onboarding", tag: "onboarding", status: http.StatusOK, resp: Page[Onboarding]{},
			query:   append([]param{{"state", "proposed, approved or rejected; absent for all", false}}, pageParams...),
			summary: "List onboarding requests, newest first, paged by cursor.",
			who:     "Operators; a delegate with the delegate capability, the requests under its subtree.", handle: s.listOnboarding},
		{method: http.MethodGet, path: "/onboarding/{id}", tag: "onboarding", status: http.StatusOK, resp: Onboarding{},
			summary: "Read an onboarding request and its decision.",
			who:     "Operators; its proposer; a delegate with the delegate capability on its parent.", handle: s.getOnboarding},
		{method: http.MethodPost, path: "/onboarding/{id}/approve", tag: "onboarding", body: DecisionRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: Onboarding{},
			summary: "Approve a proposed request: in one transaction the org, its connection (pending until its IdP first pushes), " +
				"the first administrator with a delegation over the org, and each mapping as a draft on a group of that name are created, audited. " +
				"If anything fails, nothing is created.",
			who: "Operators other than the proposer.", handle: s.decideOnboarding(true)},
		{method: http.MethodPost, path: "/onboarding/{id}/reject", tag: "onboarding", body: DecisionRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: Onboarding{}, summary: "Reject a proposed request; nothing is created.",
			who: whoOperators, handle: s.decideOnboarding(false)},
		{method: http.MethodPost, path: "/connections/{slug}/setup-links", tag: "onboarding", body: CreateSetupLinkRequest{}, bodyOptional: true,
			status: http.StatusCreated, resp: CreatedSetupLink{},
			summary: "Create a setup link for the partner's IT administrator; its URL is shown once. The page shows the SCIM base URL " +
				"and instructions for the connection's IdP, and reveals one fresh token once; the link expires after its TTL.",
			who: "Operators, for any connection; a delegate with the delegate capability on the connection's org, only while the connection is pending.", handle: s.createSetupLink},
		{method: http.MethodGet, path: "/connections/{slug}/health", tag: "connections", status: http.StatusOK, resp: ConnectionHealth{},
			summary: "How the connection's IdP is doing: requests and errors counted, when it last pushed, succeeded and failed, " +
				"the token rotation in progress and the tokens about to lapse. Counts are stored about once a second.",
			who: "Operators; a delegate whose subtree and the connection's org lie on one path of the tree.", handle: s.connectionHealth},
		{method: http.MethodGet, path: "/connections/{slug}/requests", tag: "connections", status: http.StatusOK, resp: RequestLog{},
			query:   []param{{"limit", "how many, 1 to 50 (default 50)", false}},
			summary: "The connection's last 50 SCIM requests, newest first, with status, SCIM error and redacted bodies (no headers, no passwords).",
			who:     "Operators; a delegate whose subtree and the connection's org lie on one path of the tree.", handle: s.connectionRequests},
		{method: http.MethodPost, path: "/connections/{slug}/rotation", tag: "connections", body: ExpiryRequest{}, bodyOptional: true,
			status: http.StatusCreated, resp: RotationStarted{},
			summary: "Start a token rotation: a new token (its secret shown once) works beside the old one until the rotation completes or is cancelled.",
			who:     whoOperators, handle: s.startRotation},
		{method: http.MethodPost, path: "/connections/{slug}/rotation/complete", tag: "connections", body: CompleteRotationRequest{},
			bodyOptional: true, status: http.StatusOK, resp: RotationEnded{},
			summary: "Complete the rotation: every other token of the connection is revoked. Refused (409) until the IdP has used the new token, unless force.",
			who:     whoOperators, handle: s.completeRotation},
		{method: http.MethodDelete, path: "/connections/{slug}/rotation", tag: "connections", status: http.StatusOK, resp: RotationEnded{},
			summary: "Cancel the rotation: its new token is revoked, the old one stays.", who: whoOperators, handle: s.cancelRotation},
	}
}
