package orgs

import (
	"context"
	"time"

	"github.com/orgscim/orgscim/audit"
)

// Audit actions of the control plane. Each change records exactly one event, in the
// change's transaction; a consequence of another kind (grants a mapping gives or takes,
// users re-placed) records one more event per kind, however many rows it touches.
const (
	ActOrgCreate        = "org.create"
	ActOrgUpdate        = "org.update"
	ActOrgMove          = "org.move"
	ActConnectionCreate = "connection.create"
	ActPlacementUpdate  = "placement.update"
	ActTokenCreate      = "token.create"
	ActTokenRevoke      = "token.revoke"
	ActRoleCreate       = "role.create"
	ActMappingDraft     = "mapping.draft"
	ActMappingApprove   = "mapping.approve" // approval is activation: the diff shows state draft → active
	ActMappingRetire    = "mapping.retire"
	ActGrantCreate      = "grant.create"
	ActGrantsSync       = "grants.sync"
	// ActGrantsRevoke is one batch of grants revoked together (RecordRevocations), per
	// tenant: at a review's deadline, or by a rule.
	ActGrantsRevoke = "grants.revoke"
	// A user placement moved to another org: target the user, or, when a membership
	// change moved several at once, the connection with the moves in the detail.
	ActPlacementMove    = "placement.move"
	ActDelegationCreate = "delegation.create"
	ActDelegationRevoke = "delegation.revoke"
	ActAdminKeyCreate   = "admin_key.create"
	ActAdminKeyRevoke   = "admin_key.revoke"
)

// maxListedIDs bounds the ids one event lists: a sync that adds 100,000 grants is one
// event with its count and the first of their ids, not a megabyte of ids. Revoked grants
// are named every one (a Shared Signals receiver hears of each), so a bulk revocation is
// an event per maxListedIDs of them.
const maxListedIDs = 1000

// grantNamer is implemented by stores that can name the grants a bulk change added
// (sqlstore does), so that its event lists them. Without it the event counts them.
type grantNamer interface {
	// LiveGrantIDs returns up to limit ids of the live grants sel selects: of the given
	// users only when users is not nil, created exactly at createdAt when it is not zero.
	LiveGrantIDs(ctx context.Context, sel GrantSelector, users []string, createdAt time.Time, limit int) ([]string, error)
}

// Record appends e to log in the transaction of ctx; a service without a log records
// nothing.
func Record(ctx context.Context, log AuditLog, e audit.Event) error {
	if log == nil {
		return nil
	}
	return log.Record(ctx, e)
}

// The views below are what an event's diff shows of each target: the fields a change
// can touch, under the admin API's names, never a secret, hash or hint of one.

type brandView struct {
	DisplayName  string `json:"display_name"`
	LogoURL      string `json:"logo_url"`
	PrimaryColor string `json:"primary_color"`
	AccentColor  string `json:"accent_color"`
}

type orgView struct {
	Slug          string     `json:"slug"`
	Name          string     `json:"name"`
	ParentID      string     `json:"parent_id"`
	Kind          Kind       `json:"kind"`
	Status        Status     `json:"status"`
	ContractStart *time.Time `json:"contract_start"`
	ContractEnd   *time.Time `json:"contract_end"`
	GraceSeconds  int64      `json:"grace_seconds"`
	Owner         string     `json:"owner"`
	Brand         brandView  `json:"brand"`
}

func viewOrg(o *Org) orgView {
	return orgView{Slug: o.Slug, Name: o.Name, ParentID: o.ParentID, Kind: o.Kind, Status: o.Status,
		ContractStart: o.ContractStart, ContractEnd: o.ContractEnd, GraceSeconds: int64(o.Grace / time.Second),
		Owner: o.Owner, Brand: brandView(o.Brand)}
}

type connectionView struct {
	Slug   string `json:"slug"`
	OrgID  string `json:"org_id"`
	IdP    string `json:"idp"`
	Status string `json:"status"`
}

type tokenView struct {
	ConnectionID string     `json:"connection_id"`
	ExpiresAt    *time.Time `json:"expires_at"`
}

type placementView struct {
	Placement []PlacementRule `json:"placement"`
}

type roleView struct {
	Key                string   `json:"key"`
	Description        string   `json:"description"`
	Permissions        []string `json:"permissions"`
	Privileged         bool     `json:"privileged"`
	MaxDurationSeconds int64    `json:"max_duration_seconds"`
	Inherits           bool     `json:"inherits"`
}

type mappingView struct {
	ConnectionID string       `json:"connection_id"`
	GroupID      string       `json:"group_id"`
	RoleID       string       `json:"role_id"`
	OrgID        string       `json:"org_id"`
	State        MappingState `json:"state"`
	Replaces     string       `json:"replaces"`
	DraftedBy    string       `json:"drafted_by"`
	ApprovedBy   string       `json:"approved_by"`
	Reason       string       `json:"reason"`
}

func viewMapping(m *Mapping) mappingView {
	return mappingView{ConnectionID: m.ConnectionID, GroupID: m.GroupID, RoleID: m.RoleID, OrgID: m.OrgID, State: m.State,
		Replaces: m.Replaces, DraftedBy: m.DraftedBy, ApprovedBy: m.ApprovedBy, Reason: m.Reason}
}

type grantView struct {
	UserID    string      `json:"user_id"`
	RoleID    string      `json:"role_id"`
	OrgID     string      `json:"org_id"`
	Source    GrantSource `json:"source"`
	SourceID  string      `json:"source_id"`
	GrantedBy string      `json:"granted_by"`
	Reason    string      `json:"reason"`
	ValidFrom time.Time   `json:"valid_from"`
	ExpiresAt *time.Time  `json:"expires_at"`
}

type delegationView struct {
	OrgID              string       `json:"org_id"`
	HolderConnectionID string       `json:"holder_connection_id"`
	HolderUserID       string       `json:"holder_user_id"`
	Capabilities       []Capability `json:"capabilities"`
	Depth              int          `json:"depth"`
	ParentID           string       `json:"parent_id"`
	GrantedBy          string       `json:"granted_by"`
	ExpiresAt          *time.Time   `json:"expires_at"`
	EngagementID       string       `json:"engagement_id,omitempty"`
}

type adminKeyView struct {
	Operator     string     `json:"operator,omitempty"`
	DelegationID string     `json:"delegation_id,omitempty"`
	CreatedBy    string     `json:"created_by"`
	ExpiresAt    *time.Time `json:"expires_at"`
	// A named operator key's identity.
	Name              string `json:"name,omitempty"`
	OwnerConnectionID string `json:"owner_connection_id,omitempty"`
	OwnerUserID       string `json:"owner_user_id,omitempty"`
}

// grantChanges is the detail of a grants.sync event: what one sync or revocation did to
// the grants of one source (or one user), in one tenant. A change that revoked more
// than maxListedIDs grants is several events, each naming the grants it counts.
type grantChanges struct {
	Reason     string   `json:"reason"`
	Added      int      `json:"added"`
	Revoked    int      `json:"revoked"` // how many grants this event names revoked
	AddedIDs   []string `json:"added_grant_ids,omitempty"`
	RevokedIDs []string `json:"revoked_grant_ids,omitempty"`
	// IDsTruncated: added_grant_ids names fewer grants than added counts.
	IDsTruncated bool `json:"ids_truncated,omitempty"`
}
