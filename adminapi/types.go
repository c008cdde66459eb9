package adminapi

import (
	"encoding/json"
	"time"
)

// The wire types of the admin API. The OpenAPI document is derived from them (see
// schemas), so a field added here is documented by construction.

// ErrorBody is every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong.
type ErrorDetail struct {
	Code    string `json:"code" doc:"machine-readable: invalid, invalid_syntax, conflict, not_found, unauthorized, forbidden, too_large, method_not_allowed, unavailable, internal, ..."`
	Message string `json:"message" doc:"human-readable, safe to show"`
	ID      string `json:"id,omitempty" doc:"for internal errors: the id under which the server logged the cause"`
}

// Brand is presentation only.
type Brand struct {
	DisplayName  string `json:"display_name"`
	LogoURL      string `json:"logo_url"`
	PrimaryColor string `json:"primary_color"`
	AccentColor  string `json:"accent_color"`
}

// Org is a node of the organisation tree with its relationship.
type Org struct {
	ID            string     `json:"id"`
	Slug          string     `json:"slug"`
	Name          string     `json:"name"`
	Parent        *string    `json:"parent" doc:"the parent org's slug; null for the root"`
	Kind          string     `json:"kind" enum:"vendor,partner,subsidiary,business_unit"`
	Status        string     `json:"status" enum:"pending,active,suspended,ended"`
	ContractStart *time.Time `json:"contract_start"`
	ContractEnd   *time.Time `json:"contract_end"`
	GraceSeconds  int64      `json:"grace_seconds" doc:"access continues this long after contract_end"`
	Owner         string     `json:"owner" doc:"the accountable owner"`
	Brand         Brand      `json:"brand"`
	Version       int64      `json:"version"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// OrgRef names an org.
type OrgRef struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// CreateOrgRequest creates an org.
type CreateOrgRequest struct {
	Name   string `json:"name" doc:"required"`
	Slug   string `json:"slug,omitempty" doc:"derived from the name when empty"`
	Parent string `json:"parent,omitempty" doc:"the parent org's slug; empty creates a root (operators only)"`
}

// UpdateOrgRequest changes an org; absent fields stay as they are, null clears.
type UpdateOrgRequest struct {
	Name          Opt[string]    `json:"name" nullable:"false"`
	Kind          Opt[string]    `json:"kind" nullable:"false" enum:"vendor,partner,subsidiary,business_unit"`
	Status        Opt[string]    `json:"status" nullable:"false" enum:"pending,active,suspended,ended"`
	ContractStart Opt[time.Time] `json:"contract_start" doc:"null clears it"`
	ContractEnd   Opt[time.Time] `json:"contract_end" doc:"null clears it; once it (plus the grace period) is past, the org and its whole subtree give no access"`
	GraceSeconds  Opt[int64]     `json:"grace_seconds" nullable:"false"`
	Owner         Opt[string]    `json:"owner" doc:"null clears it"`
	Brand         Opt[Brand]     `json:"brand" doc:"replaces the whole brand"`
}

// MoveOrgRequest re-parents an org.
type MoveOrgRequest struct {
	Parent string `json:"parent" doc:"the new parent's slug"`
}

// Connection is a partner IdP's SCIM tenant.
type Connection struct {
	ID        string    `json:"id"`
	Slug      string    `json:"slug"`
	Org       string    `json:"org" doc:"the slug of the org it provisions into"`
	IdP       string    `json:"idp" enum:"entra,okta,generic"`
	Status    string    `json:"status" enum:"pending,active,suspended" doc:"pending: onboarded, not yet pushed to; its first successful change makes it active"`
	SCIMPath  string    `json:"scim_path"`
	CreatedAt time.Time `json:"created_at"`
	Domains   string    `json:"domains,omitempty" enum:"verified,unverified" doc:"whether its org holds a verified e-mail domain; unverified: any domain not verified elsewhere is provisioned, and nothing links by e-mail"`
}

// CreateConnectionRequest creates a connection.
type CreateConnectionRequest struct {
	Org  string `json:"org" doc:"slug of the org the connection provisions into"`
	Slug string `json:"slug,omitempty" doc:"the {connection} URL segment; defaults to the org's slug"`
	IdP  string `json:"idp,omitempty" enum:"entra,okta,generic" doc:"default generic"`
}

// CreatedConnection is a new connection with its first token.
type CreatedConnection struct {
	Connection
	Token string `json:"token" doc:"the SCIM bearer token, shown only in this response"`
}

// Token describes a SCIM bearer token, never its secret.
type Token struct {
	ID         string     `json:"id"`
	Connection string     `json:"connection"`
	Hint       string     `json:"hint" doc:"the token's first characters"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// IssuedToken is a new token with its secret.
type IssuedToken struct {
	Token
	Secret string `json:"token" doc:"the secret, shown only in this response"`
}

// TokenList lists a connection's tokens.
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// ExpiryRequest sets an optional expiry.
type ExpiryRequest struct {
	ExpiresAt *time.Time `json:"expires_at,omitempty" doc:"omitted or null: no expiry (bounded by the delegation's own for delegate keys)"`
}

// Role is part of the vendor's catalogue.
type Role struct {
	ID                 string    `json:"id"`
	Key                string    `json:"key"`
	Description        string    `json:"description"`
	Permissions        []string  `json:"permissions"`
	Privileged         bool      `json:"privileged" doc:"needs a second person's approval and expires after max_duration_seconds"`
	MaxDurationSeconds int64     `json:"max_duration_seconds"`
	Inherits           bool      `json:"inherits" doc:"a grant on an org holds on its whole subtree"`
	CreatedAt          time.Time `json:"created_at"`
}

// CreateRoleRequest adds a role.
type CreateRoleRequest struct {
	Key                string   `json:"key"`
	Description        string   `json:"description,omitempty"`
	Permissions        []string `json:"permissions" doc:"e.g. billing.read, or billing.* for every billing permission"`
	Privileged         bool     `json:"privileged,omitempty"`
	MaxDurationSeconds int64    `json:"max_duration_seconds,omitempty" doc:"required for privileged roles"`
	Inherits           bool     `json:"inherits,omitempty"`
}

// Mapping is "members of group G of connection C hold role R on org O".
type Mapping struct {
	ID          string     `json:"id"`
	Connection  string     `json:"connection" doc:"connection slug"`
	GroupID     string     `json:"group_id" doc:"the SCIM id of the group"`
	Role        string     `json:"role" doc:"role key"`
	Org         string     `json:"org" doc:"org slug"`
	State       string     `json:"state" enum:"draft,active,retired"`
	Replaces    string     `json:"replaces" doc:"the active mapping this one replaces on approval"`
	DraftedBy   string     `json:"drafted_by"`
	ApprovedBy  string     `json:"approved_by"`
	Reason      string     `json:"reason"`
	CreatedAt   time.Time  `json:"created_at"`
	ActivatedAt *time.Time `json:"activated_at"`
	RetiredAt   *time.Time `json:"retired_at"`
}

// CreateMappingRequest drafts a mapping.
type CreateMappingRequest struct {
	Connection string `json:"connection" doc:"connection slug"`
	GroupID    string `json:"group_id" doc:"the SCIM id of a group of that connection"`
	Role       string `json:"role" doc:"role key"`
	Org        string `json:"org" doc:"org slug, inside the connection's subtree"`
	Replaces   string `json:"replaces,omitempty" doc:"id of an active mapping this draft replaces on approval"`
	Reason     string `json:"reason,omitempty"`
}

// ReasonRequest carries a reason.
type ReasonRequest struct {
	Reason string `json:"reason,omitempty"`
}

// Grant is the fact "user U holds role R on org O", with its provenance.
type Grant struct {
	ID           string     `json:"id"`
	Connection   string     `json:"connection" doc:"connection slug; empty for a service account's grant, whose user_id is the account's id"`
	UserID       string     `json:"user_id"`
	Role         string     `json:"role" doc:"role key"`
	Org          string     `json:"org" doc:"org slug"`
	Source       string     `json:"source" enum:"mapping,direct,import,elevation"`
	SourceID     string     `json:"source_id" doc:"the mapping (or import, elevation) behind the grant"`
	GrantedBy    string     `json:"granted_by"`
	ApprovedBy   string     `json:"approved_by"`
	Reason       string     `json:"reason"`
	ValidFrom    time.Time  `json:"valid_from"`
	ExpiresAt    *time.Time `json:"expires_at"`
	CreatedAt    time.Time  `json:"created_at"`
	RevokedAt    *time.Time `json:"revoked_at"`
	RevokedBy    string     `json:"revoked_by"`
	RevokeReason string     `json:"revoke_reason"`
}

// CreateGrantRequest assigns a role directly.
type CreateGrantRequest struct {
	Connection string     `json:"connection" doc:"connection slug"`
	UserID     string     `json:"user_id" doc:"the SCIM id of a user of that connection"`
	Role       string     `json:"role" doc:"role key; not a privileged one"`
	Org        string     `json:"org" doc:"org slug, inside the connection's subtree"`
	Reason     string     `json:"reason,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
}

// Holder is the person a delegation gives authority to.
type Holder struct {
	Connection string `json:"connection" doc:"connection slug"`
	UserID     string `json:"user_id"`
}

// Delegation gives a person authority over a subtree.
type Delegation struct {
	ID           string     `json:"id"`
	Org          string     `json:"org" doc:"slug of the root of the delegated subtree"`
	Holder       Holder     `json:"holder"`
	Capabilities []string   `json:"capabilities" enum:"manage_members,manage_mappings,approve,delegate"`
	Depth        int        `json:"depth" doc:"how many further levels it may delegate"`
	ParentID     string     `json:"parent_id" doc:"the delegation this one was delegated through; empty when an operator granted it"`
	GrantedBy    string     `json:"granted_by"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    *time.Time `json:"expires_at"`
	RevokedAt    *time.Time `json:"revoked_at"`
	RevokedBy    string     `json:"revoked_by"`
	RevokeReason string     `json:"revoke_reason"`
	Engagement   string     `json:"engagement,omitempty" doc:"an MSP technician's delegation: the MSP engagement it was made under, and holds only while that does"`
	// Set when one delegation is read (GET /delegations/{id}).
	InForce   *bool      `json:"in_force,omitempty" doc:"whether the authority rule holds for it now: its whole chain, its holders and every org on their paths"`
	Standing  string     `json:"standing,omitempty" doc:"why it is not in force, naming the first link that broke"`
	MadeUnder *MadeUnder `json:"made_under,omitempty" doc:"what was made under it and stands or falls with it"`
}

// MadeUnder is what was made under a delegation: ids (at most 100 of each) and counts.
type MadeUnder struct {
	Delegations     []string `json:"delegations" doc:"live delegations delegated through it"`
	DelegationCount int      `json:"delegation_count"`
	Keys            []string `json:"keys" doc:"live admin keys of its holder and keys issued through it"`
	KeyCount        int      `json:"key_count"`
	Grants          []string `json:"grants" doc:"live grants made under it"`
	GrantCount      int      `json:"grant_count"`
	Mappings        []string `json:"mappings" doc:"active mappings approved under it"`
	MappingCount    int      `json:"mapping_count"`
}

// CreateDelegationRequest delegates authority.
type CreateDelegationRequest struct {
	Org          string     `json:"org" doc:"org slug"`
	Connection   string     `json:"connection" doc:"the holder's connection slug"`
	UserID       string     `json:"user_id" doc:"the holder's SCIM user id"`
	Capabilities []string   `json:"capabilities" enum:"manage_members,manage_mappings,approve,delegate"`
	Depth        int        `json:"depth,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
}

// Successor receives a revoked delegation's authority in the same transaction.
type Successor struct {
	Connection   string     `json:"connection"`
	UserID       string     `json:"user_id"`
	Capabilities []string   `json:"capabilities" enum:"manage_members,manage_mappings,approve,delegate"`
	Depth        int        `json:"depth,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
}

// RevokeDelegationRequest is the optional body of a revocation.
type RevokeDelegationRequest struct {
	Reason    string     `json:"reason,omitempty"`
	Successor *Successor `json:"successor,omitempty" doc:"required when the revocation would leave a partner org without an administrator; answers for what was made under the revoked delegations"`
	// Compromise revokes what was made under the delegations instead of handing it over.
	Compromise bool       `json:"compromise,omitempty" doc:"revoke at once every grant made under the revoked delegations and retire the mappings they approved, instead of handing them over for re-attestation"`
	ReattestBy *time.Time `json:"reattest_by,omitempty" doc:"deadline of the re-attestation campaign (default: 14 days)"`
}

// RevokedDelegation is the answer to a revocation.
type RevokedDelegation struct {
	Revoked   Delegation  `json:"revoked"`
	Successor *Delegation `json:"successor" doc:"the successor's delegation, when one was named"`
	Cascade   []string    `json:"cascade" doc:"the delegations revoked with it, delegated through it"`
	Handover  Handover    `json:"handover"`
}

// Handover says what became of the rights made under revoked delegations.
type Handover struct {
	To              *string `json:"to" doc:"the delegation that now answers for them; null for the vendor's operators"`
	Grants          int     `json:"grants" doc:"live grants handed over for re-attestation"`
	Mappings        int     `json:"mappings" doc:"active mappings whose approval was handed over"`
	Reattestation   *string `json:"reattestation" doc:"the review that re-attests the grants handed over"`
	RevokedGrants   int     `json:"revoked_grants" doc:"on a compromise: grants revoked at once"`
	RetiredMappings int     `json:"retired_mappings" doc:"on a compromise: mappings retired at once"`
}

// IssuedKey is a new admin API key with its secret.
type IssuedKey struct {
	ID           string     `json:"id"`
	Key          string     `json:"key" doc:"the secret (oscadm_...), shown only in this response"`
	Hint         string     `json:"hint"`
	DelegationID string     `json:"delegation_id"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    *time.Time `json:"expires_at"`
}

// Me says who the caller is.
type Me struct {
	Principal  string      `json:"principal" doc:"as recorded in granted_by, approved_by: operator:NAME or user:CONNECTION_ID/USER_ID"`
	Operator   string      `json:"operator" doc:"set for an operator"`
	Delegation *Delegation `json:"delegation" doc:"set for a delegated administrator"`
}

// GroupRef names a group.
type GroupRef struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
}

// ConnectionRef names a connection.
type ConnectionRef struct {
	ID     string `json:"id"`
	Slug   string `json:"slug"`
	IdP    string `json:"idp"`
	Status string `json:"status"`
}

// Explanation is the chain behind one grant: grant ← mapping ← group membership ←
// connection.
type Explanation struct {
	Grant      Grant         `json:"grant" doc:"with who granted and approved it, why, and its expiry"`
	Role       Role          `json:"role"`
	Org        OrgRef        `json:"org" doc:"the org the grant is on: the one asked about, or an ancestor whose role inherits"`
	Mapping    *Mapping      `json:"mapping" doc:"the mapping behind a grant from a mapping; null for a direct grant"`
	Groups     []GroupRef    `json:"groups" doc:"the user's own group first, then each group containing it, up to the mapped one"`
	Connection ConnectionRef `json:"connection"`
}

// Decision answers an access check.
type Decision struct {
	Allowed bool          `json:"allowed"`
	Reason  string        `json:"reason"`
	Because []Explanation `json:"because"`
}

// Holding is one live grant that gives access.
type Holding struct {
	Grant Grant  `json:"grant"`
	Role  Role   `json:"role"`
	Org   OrgRef `json:"org" doc:"where the grant is; with an inheriting role it covers the subtree"`
}

// OrgAccess lists who has access to an org and why.
type OrgAccess struct {
	Org     OrgRef    `json:"org"`
	Holders []Holding `json:"holders"`
}

// UserAccess lists what a user can do and why.
type UserAccess struct {
	Connection string    `json:"connection"`
	UserID     string    `json:"user_id"`
	Holdings   []Holding `json:"holdings"`
}

// AuditEvent is one change in the audit trail.
type AuditEvent struct {
	ID           string          `json:"id"`
	Cursor       string          `json:"cursor" doc:"the event's place in the listing: pass it as cursor to list what came after it"`
	Time         time.Time       `json:"time"`
	Actor        string          `json:"actor" doc:"who: admin_key:KEY_ID PRINCIPAL (the admin API), token:TOKEN_ID (a connection's IdP), operator:cli:OS_USER (the CLI), system:JOB"`
	Action       string          `json:"action" doc:"e.g. org.update, mapping.approve, grants.sync, user.update"`
	TargetType   string          `json:"target_type"`
	TargetID     string          `json:"target_id"`
	OrgID        string          `json:"org_id" doc:"the org the change concerns; empty for the vendor's catalogue and operator keys"`
	OrgPath      string          `json:"org_path" doc:"the org's ids from the root, as /root/.../org/, when the event was recorded"`
	ConnectionID string          `json:"connection_id" doc:"set for changes of a connection and their consequences"`
	Diff         json.RawMessage `json:"diff,omitempty" doc:"each changed field's before and after, or the record of a bulk change (counts, up to 1000 ids); secrets never appear"`
	RequestID    string          `json:"request_id" doc:"the X-Request-Id of the request that made the change"`
	ClientAddr   string          `json:"client_addr"`
	Chain        string          `json:"chain" doc:"the tenant: the connection's id, or control"`
	Seq          int64           `json:"seq" doc:"the event's number: increasing in the order events are written (with gaps); for events from before the verifiable log, the position in its connection's hash chain"`
	PrevHash     string          `json:"prev_hash" doc:"for events from before the verifiable log, the hash of the event before it in its chain; empty since"`
	Hash         string          `json:"hash" doc:"hex SHA-256 leaf hash of the event in the verifiable log (its proof: GET /audit/{id}/proof); for events from before it, the chain hash"`
}

// AuditPage is one page of the audit trail, oldest first.
type AuditPage struct {
	Events     []AuditEvent `json:"events"`
	NextCursor *string      `json:"next_cursor" doc:"set when the page is full: pass it as cursor for the next page (which may be empty); null when the trail ends here"`
}
