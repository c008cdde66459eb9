package orgs

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/provisioning"
)

// Role is a bundle of permissions defined by the vendor.
type Role struct {
	ID          string
	Key         string
	Description string
	Permissions []string
	// Privileged roles need a second person's approval and hold for at most MaxDuration.
	Privileged  bool
	MaxDuration time.Duration
	// Inherits: a grant on an org holds on its whole subtree.
	Inherits bool
	Created  time.Time
}

// MappingState is where a mapping is in its life: drafted, then active, then retired
// (replaced by a newer revision, or withdrawn).
type MappingState string

const (
	MappingDraft   MappingState = "draft"
	MappingActive  MappingState = "active"
	MappingRetired MappingState = "retired"
)

// Mapping says: members of IdP group GroupID in connection ConnectionID hold role RoleID
// on org OrgID.
type Mapping struct {
	ID           string
	ConnectionID string
	GroupID      string
	RoleID       string
	OrgID        string
	State        MappingState
	Replaces     string // the active mapping this draft replaces on activation
	DraftedBy    string
	ApprovedBy   string
	// ApprovedUnder is the delegation its approver acted through ("" for an operator):
	// the mapping's grants hold only while that delegation's chain does.
	ApprovedUnder string
	Reason        string
	Created       time.Time
	Activated     *time.Time
	Retired       *time.Time
}

// GrantSource says where a grant comes from.
type GrantSource string

const (
	SourceMapping   GrantSource = "mapping"
	SourceDirect    GrantSource = "direct"
	SourceImport    GrantSource = "import"
	SourceElevation GrantSource = "elevation"
)

// Grant is the materialised fact "user U holds role R on org O", with its provenance.
// Grants are never deleted; revocation is a state.
type Grant struct {
	ID           string
	ConnectionID string
	UserID       string
	RoleID       string
	OrgID        string
	Source       GrantSource
	SourceID     string // the mapping, import batch or elevation request
	GrantedBy    string
	// GrantedUnder is the delegation under which the grant was made ("" when an operator
	// made it): the grant holds only while that delegation's chain does.
	GrantedUnder string
	ApprovedBy   string
	Reason       string
	ValidFrom    time.Time
	Expires      *time.Time
	Created      time.Time
	Revoked      *time.Time
	RevokedBy    string
	RevokeReason string
}

// LiveAt reports whether the grant itself is in force at t.
func (g *Grant) LiveAt(t time.Time) bool {
	return g.Revoked == nil && !t.Before(g.ValidFrom) && (g.Expires == nil || t.Before(*g.Expires))
}

// AccessStore keeps roles, mappings and grants.
type AccessStore interface {
	CreateRole(ctx context.Context, r *Role) error
	RoleByKey(ctx context.Context, key string) (*Role, error)
	RoleByID(ctx context.Context, id string) (*Role, error)
	CreateMapping(ctx context.Context, m *Mapping) error
	// UpdateMapping runs fn on the locked mapping and stores the result.
	UpdateMapping(ctx context.Context, id string, fn func(*Mapping) error) (*Mapping, error)
	// MappingsAbove returns the active mappings of the connection whose group is one of
	// groupIDs or contains one of them, directly or through nested groups.
	MappingsAbove(ctx context.Context, conn string, groupIDs []string) ([]*Mapping, error)
	// MappingsOfUser returns the active mappings whose group contains the user.
	MappingsOfUser(ctx context.Context, conn, userID string) ([]*Mapping, error)
	// UsersUnder returns the users in the groups, directly or through nested groups.
	UsersUnder(ctx context.Context, conn string, groupIDs []string) ([]string, error)
	// SyncMappingGrants makes the live grants of m for the given users (all users when
	// users is nil) match m's group: a grant for each live, active user in the group or
	// its nested groups, none for the others. g is the template of new grants.
	// It returns how many grants it added and every grant it revoked (ID, ConnectionID
	// and UserID set).
	SyncMappingGrants(ctx context.Context, m *Mapping, users []string, g Grant) (added int, revoked []*Grant, err error)
	// RevokeGrants revokes the live grants sel selects and returns every one of them
	// (ID, ConnectionID and UserID set), so that the revocation's events name them all.
	RevokeGrants(ctx context.Context, sel GrantSelector, at time.Time, by, reason string) ([]*Grant, error)
	CreateGrant(ctx context.Context, g *Grant) error
	// LiveGrants returns the user's unrevoked grants on any of the orgs, and their roles.
	LiveGrants(ctx context.Context, userID string, orgIDs []string) ([]*Grant, map[string]*Role, error)
	// GrantsOn returns the unrevoked grants on any of the orgs held by live, active users
	// of active connections, and their roles.
	GrantsOn(ctx context.Context, orgIDs []string) ([]*Grant, map[string]*Role, error)
	// GrantsOfUser returns the user's unrevoked grants and their roles.
	GrantsOfUser(ctx context.Context, userID string) ([]*Grant, map[string]*Role, error)
	OrgsByID(ctx context.Context, ids []string) (map[string]*Org, error)
	ConnectionByID(ctx context.Context, id string) (*Connection, error)
	// MembershipPath returns the chain of groups from the user up to groupID (the user's
	// direct group first), or nil when the user is not in it.
	MembershipPath(ctx context.Context, conn, userID, groupID string) ([]string, error)
	Mapping(ctx context.Context, id string) (*Mapping, error)
	// SetUserOrg records where placement put the user.
	SetUserOrg(ctx context.Context, conn, userID, orgID string) error
	// AddMappingException records an exception (a second one for the same mapping and
	// user is a no-op).
	AddMappingException(ctx context.Context, x MappingException) error
	// MappingsApprovedUnder returns the active mappings approved under any of the
	// delegations.
	MappingsApprovedUnder(ctx context.Context, delegationIDs []string) ([]*Mapping, error)
	// HandOver makes delegation to ("" for the operators) the authority of the live
	// grants and active mappings made under any of from, and returns their ids.
	HandOver(ctx context.Context, from []string, to string) (grantIDs, mappingIDs []string, err error)
}

// UserLookup is what access needs to know of a user.
type UserLookup interface {
	Get(ctx context.Context, conn, id string) (*provisioning.User, error)
}

// GrantSelector picks live grants to revoke.
type GrantSelector struct {
	Source   GrantSource
	SourceID string
	UserID   string
	// GrantedUnder picks the grants made under any of these delegations.
	GrantedUnder []string
}

// MappingException records that a reviewer revoked a person's mapping-derived grant: it
// overrides the IdP's membership, so the mapping does not grant it again while the
// exception stands.
type MappingException struct {
	MappingID    string
	UserID       string
	ConnectionID string
	ReviewID     string
	CreatedBy    string
	Created      time.Time
	Reason       string
}

// Access is the service over roles, mappings and grants, and the answer to "may this
// user do this on this org, and why".
type Access struct {
	Store AccessStore
	Users UserLookup
	Tx    provisioning.Transactor // optional: multi-step changes commit together
	// Authz checks a principal's capability on an org (Delegations does); nil admits
	// only operators.
	Authz Authorizer
	Audit AuditLog // optional
	// Holders ends the authority a user holds when its IdP deactivates or deletes it
	// (Delegations does); optional.
	Holders interface {
		HolderLeft(ctx context.Context, conn, userID, why string) error
	}
	// Authority evaluates the authority rule for the delegations grants were made under;
	// nil uses Authz when it can (Delegations can).
	Authority AuthorityRule
	// FourEyes says which mappings need an approver other than their drafter:
	// FourEyesAll (the zero value) every mapping, FourEyesPrivileged only mappings to
	// privileged roles.
	FourEyes FourEyes
	Now      func() time.Time
}

// FourEyes is a deployment's rule for who may approve a mapping.
type FourEyes string

const (
	// FourEyesAll: no mapping is approved by the person who drafted it.
	FourEyesAll FourEyes = "all"
	// FourEyesPrivileged relaxes the rule for mappings to roles that are not privileged.
	FourEyesPrivileged FourEyes = "privileged"
)

// ParseFourEyes reads a deployment's setting; "" is FourEyesAll.
func ParseFourEyes(s string) (FourEyes, error) {
	switch FourEyes(s) {
	case "", FourEyesAll:
		return FourEyesAll, nil
	case FourEyesPrivileged:
		return FourEyesPrivileged, nil
	}
	return "", orgscim.Errorf(orgscim.Invalid, "four-eyes must be all or privileged, not %q", s)
}

// Authorizer decides whether a principal may use a capability on an org.
type Authorizer interface {
	Authorize(ctx context.Context, p Principal, c Capability, org *Org) error
}

// Authorize decides with Authz, or admits only operators without it: the check every
// change of the access services makes before it writes.
func (a *Access) Authorize(ctx context.Context, p Principal, c Capability, org *Org) error {
	if a.Authz != nil {
		return a.Authz.Authorize(ctx, p, c, org)
	}
	if p.Operator == "" {
		return orgscim.Errorf(orgscim.Forbidden, "only operators may do this here")
	}
	return nil
}

// InTx runs fn in one transaction when the service has a transactor.
func (a *Access) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if a.Tx == nil {
		return fn(ctx)
	}
	return a.Tx.InTx(ctx, fn)
}

// CurrentTime is now by the service's clock, in UTC to the millisecond, as the changes
// it makes record time.
func (a *Access) CurrentTime() time.Time {
	if a.Now != nil {
		return a.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

var (
	roleKeyPattern    = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,62}$`)
	permissionPattern = regexp.MustCompile(`^[a-z][a-z0-9_.:*-]{0,126}$`)
)

// CreateRole adds a role to the catalogue.
func (a *Access) CreateRole(ctx context.Context, r Role) (*Role, error) {
	if !roleKeyPattern.MatchString(r.Key) {
		return nil, orgscim.Errorf(orgscim.Invalid, "role key %q must be lower-case letters, digits and _.:- (max 63)", r.Key)
	}
	if len(r.Permissions) == 0 {
		return nil, orgscim.Errorf(orgscim.Invalid, "a role needs at least one permission")
	}
	seen := map[string]bool{}
	var perms []string
	for _, p := range r.Permissions {
		p = strings.TrimSpace(p)
		if !permissionPattern.MatchString(p) {
			return nil, orgscim.Errorf(orgscim.Invalid, "permission %q is not a valid name", p)
		}
		if !seen[p] {
			seen[p] = true
			perms = append(perms, p)
		}
	}
	r.Permissions = perms
	if r.MaxDuration < 0 {
		return nil, orgscim.Errorf(orgscim.Invalid, "a maximum duration cannot be negative")
	}
	if r.Privileged && r.MaxDuration == 0 {
		return nil, orgscim.Errorf(orgscim.Invalid, "a privileged role needs a maximum duration")
	}
	r.ID = provisioning.NewID()
	r.Created = a.CurrentTime()
	err := a.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.CreateRole(ctx, &r); err != nil {
			return err
		}
		// The catalogue belongs to no org: the control chain, for operators' eyes.
		e := audit.New(ctx, r.Created, ActRoleCreate, "role", r.ID)
		e.Diff = audit.Diff(nil, roleView{Key: r.Key, Description: r.Description, Permissions: r.Permissions,
			Privileged: r.Privileged, MaxDurationSeconds: int64(r.MaxDuration / time.Second), Inherits: r.Inherits})
		return Record(ctx, a.Audit, e)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// DraftMapping drafts "members of group hold role on org" for a connection. The org must
// lie inside the connection's subtree. replaces names an active mapping that this draft
// will replace on activation.
func (a *Access) DraftMapping(ctx context.Context, by Principal, conn *Connection, groupID, roleKey, orgID, replaces, reason string) (*Mapping, error) {
	actor := by.Name()
	role, err := a.Store.RoleByKey(ctx, roleKey)
	if err != nil {
		return nil, err
	}
	orgsByID, err := a.Store.OrgsByID(ctx, []string{conn.OrgID, orgID})
	if err != nil {
		return nil, err
	}
	home, target := orgsByID[conn.OrgID], orgsByID[orgID]
	if target == nil {
		return nil, orgscim.Errorf(orgscim.NotFound, "no org %q", orgID)
	}
	if home == nil || !home.Contains(target) {
		return nil, orgscim.Errorf(orgscim.Forbidden, "org %q is outside the subtree of connection %q", target.Slug, conn.Slug)
	}
	if err := a.Authorize(ctx, by, CapManageMappings, target); err != nil {
		return nil, err
	}
	if replaces != "" {
		old, err := a.Store.Mapping(ctx, replaces)
		if err != nil {
			return nil, err
		}
		if old.State != MappingActive || old.ConnectionID != conn.ID {
			return nil, orgscim.Errorf(orgscim.Invalid, "only an active mapping of the same connection can be replaced")
		}
	}
	m := &Mapping{ID: provisioning.NewID(), ConnectionID: conn.ID, GroupID: groupID, RoleID: role.ID, OrgID: orgID,
		State: MappingDraft, Replaces: replaces, DraftedBy: actor, Reason: reason, Created: a.CurrentTime()}
	err = a.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.CreateMapping(ctx, m); err != nil {
			return err
		}
		return a.recordMapping(ctx, m.Created, ActMappingDraft, m, nil)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// recordMapping records a change of m in its connection's chain, on its org, so that
// delegated administrators of that org see it. before is nil for a new mapping.
func (a *Access) recordMapping(ctx context.Context, now time.Time, action string, m *Mapping, before any) error {
	e := audit.New(ctx, now, action, "mapping", m.ID)
	e.ConnectionID, e.OrgID = m.ConnectionID, m.OrgID
	e.Diff = audit.Diff(before, viewMapping(m))
	return Record(ctx, a.Audit, e)
}

// ApproveMapping activates a draft: its group's members get their grants, and the
// mapping it replaces is retired with its grants, in one transaction (the caller's
// store joins it). A mapping is approved by someone other than its drafter (four
// eyes); a deployment may relax that to mappings of privileged roles (FourEyes).
func (a *Access) ApproveMapping(ctx context.Context, by Principal, id string) (*Mapping, error) {
	var out *Mapping
	err := a.InTx(ctx, func(ctx context.Context) error {
		if err := a.authorizeOnMapping(ctx, by, CapApprove, id); err != nil {
			return err
		}
		var err error
		out, err = a.approve(ctx, id, by)
		return err
	})
	return out, err
}

// authorizeOnMapping checks p's capability on the org of mapping id.
func (a *Access) authorizeOnMapping(ctx context.Context, p Principal, c Capability, id string) error {
	m, err := a.Store.Mapping(ctx, id)
	if err != nil {
		return err
	}
	orgsByID, err := a.Store.OrgsByID(ctx, []string{m.OrgID})
	if err != nil {
		return err
	}
	return a.Authorize(ctx, p, c, orgsByID[m.OrgID])
}

// MayApproveMapping is the four-eyes rule of a mapping's approval: its drafter never
// approves a privileged role's mapping, nor any mapping unless FourEyes asks a second
// person only for privileged roles. approver is a Principal's Name. The console asks
// it before offering the button.
func (a *Access) MayApproveMapping(m *Mapping, role *Role, approver string) error {
	if approver == m.DraftedBy {
		if role.Privileged {
			return orgscim.Errorf(orgscim.Forbidden, "a mapping to the privileged role %q needs a second person's approval", role.Key)
		}
		if a.FourEyes != FourEyesPrivileged {
			return orgscim.Errorf(orgscim.Forbidden, "a mapping is approved by someone other than its drafter (%s)", m.DraftedBy)
		}
	}
	return nil
}

func (a *Access) approve(ctx context.Context, id string, by Principal) (*Mapping, error) {
	approver := by.Name()
	now := a.CurrentTime()
	var role *Role
	var before mappingView
	m, err := a.Store.UpdateMapping(ctx, id, func(m *Mapping) error {
		before = viewMapping(m)
		if m.State != MappingDraft {
			return orgscim.Errorf(orgscim.Invalid, "mapping %s is %s, not a draft", m.ID, m.State)
		}
		var err error
		if role, err = a.Store.RoleByID(ctx, m.RoleID); err != nil {
			return err
		}
		if err := a.MayApproveMapping(m, role, approver); err != nil {
			return err
		}
		m.State, m.ApprovedBy, m.ApprovedUnder, m.Activated = MappingActive, approver, by.Under(), &now
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := a.recordMapping(ctx, now, ActMappingApprove, m, before); err != nil {
		return nil, err
	}
	if m.Replaces != "" {
		if err := a.RetireOne(ctx, m.Replaces, approver, "replaced by mapping "+m.ID, now); err != nil {
			return nil, err
		}
	}
	if _, _, err := a.syncMapping(ctx, m, nil, a.grantTemplate(m, role, approver, now), "mapping approved"); err != nil {
		return nil, err
	}
	return m, nil
}

// RetireMapping withdraws an active mapping and revokes its grants.
func (a *Access) RetireMapping(ctx context.Context, by Principal, id, reason string) error {
	return a.InTx(ctx, func(ctx context.Context) error {
		if err := a.authorizeOnMapping(ctx, by, CapManageMappings, id); err != nil {
			return err
		}
		return a.RetireOne(ctx, id, by.Name(), reason, a.CurrentTime())
	})
}

// AssignRole grants a role to a user directly. A delegate can never grant more than it
// holds: it must hold the role on the org itself. Privileged roles are not assigned
// directly; they are requested and approved as time-boxed elevations.
func (a *Access) AssignRole(ctx context.Context, by Principal, conn *Connection, userID, roleKey, orgID, reason string, expires *time.Time) (*Grant, error) {
	now := a.CurrentTime()
	role, err := a.Store.RoleByKey(ctx, roleKey)
	if err != nil {
		return nil, err
	}
	if role.Privileged {
		return nil, orgscim.Errorf(orgscim.Forbidden, "the privileged role %q is granted only through an approved elevation", role.Key)
	}
	if expires != nil && !expires.After(now) {
		return nil, orgscim.Errorf(orgscim.Invalid, "expiry must be in the future")
	}
	orgsByID, err := a.Store.OrgsByID(ctx, []string{orgID, conn.OrgID})
	if err != nil {
		return nil, err
	}
	target := orgsByID[orgID]
	if target == nil {
		return nil, orgscim.Errorf(orgscim.NotFound, "no org %q", orgID)
	}
	if home := orgsByID[conn.OrgID]; home == nil || !home.Contains(target) {
		return nil, orgscim.Errorf(orgscim.Forbidden, "org %q is outside the subtree of connection %q", target.Slug, conn.Slug)
	}
	if err := a.Authorize(ctx, by, CapManageMembers, target); err != nil {
		return nil, err
	}
	if d := by.Delegation; d != nil {
		if err := a.HoldsRole(ctx, d, role, target, now); err != nil {
			return nil, err
		}
	}
	user, err := a.Users.Get(ctx, conn.ID, userID)
	if err != nil {
		return nil, err
	}
	if !user.Active {
		return nil, orgscim.Errorf(orgscim.Invalid, "user %s is inactive", user.UserName)
	}
	g := &Grant{ID: provisioning.NewID(), ConnectionID: conn.ID, UserID: userID, RoleID: role.ID, OrgID: orgID,
		Source: SourceDirect, GrantedBy: by.Name(), GrantedUnder: by.Under(), Reason: reason, ValidFrom: now, Expires: expires, Created: now}
	if err := a.InTx(ctx, func(ctx context.Context) error { return a.CreateGrant(ctx, g, now) }); err != nil {
		return nil, err
	}
	return g, nil
}

// HoldsRole checks that the holder of d holds role on org now, under the authority rule:
// a grant of it on org or (inheriting) above it, that holds, on a path in an active
// relationship. A delegate never grants more than it holds.
func (a *Access) HoldsRole(ctx context.Context, d *Delegation, role *Role, org *Org, now time.Time) error {
	refused := orgscim.Errorf(orgscim.Forbidden, "cannot grant %q on %s: the delegate does not hold it there", role.Key, org.Slug)
	if d.EngagementID != "" {
		// An MSP technician holds no role on its customer: it grants no more than the
		// customer's administrator who consented to the engagement holds there.
		refused = orgscim.Errorf(orgscim.Forbidden, "cannot grant %q on %s: the customer's administrator who consented to MSP engagement %s does not hold it there",
			role.Key, org.Slug, d.EngagementID)
		r, ok := a.authority().(interface {
			ConsentedUnder(ctx context.Context, delegationID string) (string, error)
		})
		if !ok {
			return refused
		}
		under, err := r.ConsentedUnder(ctx, d.ID)
		if err != nil {
			return err
		}
		cd, _, err := a.authority().DelegationHolds(ctx, under)
		if c := orgscim.ErrorCode(err); c == orgscim.Forbidden || c == orgscim.NotFound {
			return refused
		} else if err != nil {
			return err
		}
		d = cd
	}
	path := org.AncestorIDs()
	byID, err := a.Store.OrgsByID(ctx, path)
	if err != nil {
		return err
	}
	if inactiveOnPath(path, byID, now) != "" {
		return refused
	}
	grants, _, err := a.Store.LiveGrants(ctx, d.HolderUserID, path)
	if err != nil {
		return err
	}
	var covering []*Grant
	for _, g := range grants {
		if g.RoleID == role.ID && g.ConnectionID == d.HolderConnectionID && (g.OrgID == org.ID || role.Inherits) {
			covering = append(covering, g)
		}
	}
	standing, err := a.grantStanding(ctx, covering, byID, now)
	if err != nil {
		return err
	}
	for _, g := range covering {
		if _, broken := standing[g.ID]; !broken {
			return nil
		}
	}
	return refused
}

// RetireOne retires the active mapping id at now and revokes its grants, recording both,
// in the context's transaction: the one path of a mapping retired, whether by
// RetireMapping, a replacing mapping's approval, a compromised delegation or an access
// review's decision or deadline. It asks no authority; the caller has.
func (a *Access) RetireOne(ctx context.Context, id, actor, reason string, now time.Time) error {
	type retired struct {
		mappingView
		RetireReason string `json:"retire_reason,omitempty"`
	}
	var before retired
	m, err := a.Store.UpdateMapping(ctx, id, func(m *Mapping) error {
		before = retired{mappingView: viewMapping(m)}
		if m.State != MappingActive {
			return orgscim.Errorf(orgscim.Invalid, "mapping %s is %s, not active", m.ID, m.State)
		}
		m.State, m.Retired = MappingRetired, &now
		return nil
	})
	if err != nil {
		return err
	}
	e := audit.New(ctx, now, ActMappingRetire, "mapping", m.ID)
	e.ConnectionID, e.OrgID = m.ConnectionID, m.OrgID
	e.Diff = audit.Diff(before, retired{viewMapping(m), reason})
	if err := Record(ctx, a.Audit, e); err != nil {
		return err
	}
	_, err = a.revokeGrants(ctx, GrantSelector{Source: SourceMapping, SourceID: id}, now, actor, "mapping retired: "+reason,
		"mapping", m.ID, m.ConnectionID, m.OrgID)
	return err
}

// syncMapping makes m's grants for users (all users when nil) follow m's group, and
// records what changed, if anything, as grants.sync events in the connection's chain.
func (a *Access) syncMapping(ctx context.Context, m *Mapping, users []string, g Grant, reason string) (added, revoked int, err error) {
	added, gone, err := a.Store.SyncMappingGrants(ctx, m, users, g)
	if err != nil || added+len(gone) == 0 || a.Audit == nil {
		return added, len(gone), err
	}
	var addedIDs []string
	if namer, ok := a.Store.(grantNamer); ok && added > 0 {
		sel := GrantSelector{Source: SourceMapping, SourceID: m.ID}
		if addedIDs, err = namer.LiveGrantIDs(ctx, sel, users, g.Created, maxListedIDs); err != nil {
			return 0, 0, err
		}
	}
	return added, len(gone), a.recordGrants(ctx, g.Created, "mapping", m.ID, m.ConnectionID, m.OrgID, reason, added, addedIDs, gone)
}

// revokeGrants revokes the live grants sel selects, records them as grants.sync events
// on the target that caused it, and says how many it revoked.
func (a *Access) revokeGrants(ctx context.Context, sel GrantSelector, now time.Time, by, reason, targetType, targetID, conn, org string) (int, error) {
	gone, err := a.Store.RevokeGrants(ctx, sel, now, by, reason)
	if err != nil || len(gone) == 0 {
		return len(gone), err
	}
	return len(gone), a.recordGrants(ctx, now, targetType, targetID, conn, org, reason, 0, nil, gone)
}

// recordGrants records a bulk change of grants as grants.sync events. conn puts them in
// the connection's chain (consequences of SCIM requests belong there); org, when set,
// is the org the grants are on, so that delegated administrators of it see the events.
//
// Every revoked grant is named, for the Shared Signals transmitter sends a grant-revoked
// SET for each (a receiver must hear of access ending whatever ended it): the grants
// are recorded on their own tenant's chain (GrantConnections; conn when they have none
// — a delegation's grants may lie in several), maxListedIDs ids an event at most. The
// first event on conn also has how many grants the change added and the first of their
// ids; "revoked" is how many grants an event names.
func (a *Access) recordGrants(ctx context.Context, now time.Time, targetType, targetID, conn, org, reason string,
	added int, addedIDs []string, revoked []*Grant) error {
	tenants, byConn, err := grantsByTenant(ctx, a.OwnerLookup(), revoked, conn)
	if err != nil {
		return err
	}
	conns := []string{conn} // first: the added grants' count goes there
	for _, c := range tenants {
		if c != conn {
			conns = append(conns, c)
		}
	}
	addedIDs = addedIDs[:min(len(addedIDs), maxListedIDs)]
	first := added > 0
	for _, c := range conns {
		ids := byConn[c]
		sort.Strings(ids)
		for first || len(ids) > 0 {
			ch := grantChanges{Reason: reason}
			if first {
				ch.Added, ch.AddedIDs, ch.IDsTruncated = added, addedIDs, len(addedIDs) < added
			}
			shown := ids[:min(len(ids), maxListedIDs-len(ch.AddedIDs))]
			ids = ids[len(shown):]
			ch.Revoked, ch.RevokedIDs = len(shown), shown
			first = false
			e := audit.New(ctx, now, ActGrantsSync, targetType, targetID)
			e.ConnectionID, e.OrgID, e.Diff = c, org, audit.Detail(ch)
			if err := Record(ctx, a.Audit, e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *Access) grantTemplate(m *Mapping, role *Role, actor string, now time.Time) Grant {
	g := Grant{ConnectionID: m.ConnectionID, RoleID: m.RoleID, OrgID: m.OrgID, Source: SourceMapping, SourceID: m.ID,
		GrantedBy: actor, GrantedUnder: m.ApprovedUnder, ApprovedBy: m.ApprovedBy, Reason: "member of the mapped group", ValidFrom: now, Created: now}
	if role != nil && role.MaxDuration > 0 {
		exp := now.Add(role.MaxDuration)
		g.Expires = &exp
	}
	return g
}

// MembershipsChanged makes grants follow memberships, in the transaction of the SCIM
// request that changed them: each mapping on an affected group (or a group containing
// it) is re-synchronised for exactly the users whose membership changed.
func (a *Access) MembershipsChanged(ctx context.Context, conn string, changes []provisioning.MembershipChange) error {
	groupSet := map[string]bool{}
	userSet := map[string]bool{}
	var nested []string
	for _, c := range changes {
		groupSet[c.GroupID] = true
		if c.MemberType == provisioning.MemberGroup {
			nested = append(nested, c.MemberID)
		} else {
			userSet[c.MemberID] = true
		}
	}
	if err := a.replaceByGroups(ctx, conn, changes); err != nil {
		return err
	}
	groups := keys(groupSet)
	mappings, err := a.Store.MappingsAbove(ctx, conn, groups)
	if err != nil || len(mappings) == 0 {
		return err
	}
	if len(nested) > 0 {
		under, err := a.Store.UsersUnder(ctx, conn, nested)
		if err != nil {
			return err
		}
		for _, u := range under {
			userSet[u] = true
		}
	}
	users := keys(userSet)
	if len(users) == 0 {
		return nil
	}
	return a.sync(ctx, mappings, users, "scim:"+conn, "group membership changed")
}

// replaceByGroups re-places users whose memberships changed, when the connection places
// by group.
func (a *Access) replaceByGroups(ctx context.Context, conn string, changes []provisioning.MembershipChange) error {
	c, err := a.connection(ctx, conn)
	if err != nil {
		return err
	}
	byGroup := false
	for _, r := range c.Placement {
		byGroup = byGroup || r.GroupID != ""
	}
	if !byGroup {
		return nil
	}
	users := map[string]bool{}
	var nested []string
	for _, ch := range changes {
		if ch.MemberType == provisioning.MemberGroup {
			nested = append(nested, ch.MemberID)
		} else {
			users[ch.MemberID] = true
		}
	}
	if len(nested) > 0 {
		under, err := a.Store.UsersUnder(ctx, conn, nested)
		if err != nil {
			return err
		}
		for _, u := range under {
			users[u] = true
		}
	}
	type move struct {
		UserID string `json:"user_id"`
		From   string `json:"from_org_id"`
		To     string `json:"to_org_id"`
	}
	var moves []move
	n := 0
	for id := range users {
		u, err := a.Users.Get(ctx, conn, id)
		if orgscim.ErrorCode(err) == orgscim.NotFound {
			continue
		}
		if err != nil {
			return err
		}
		from, moved, err := a.place(ctx, c, u)
		if err != nil {
			return err
		}
		if moved {
			n++
			if len(moves) < maxListedIDs {
				moves = append(moves, move{u.ID, from, u.OrgID})
			}
		}
	}
	if n == 0 {
		return nil
	}
	// One event for the lot: a nested group of many members moves many users at once.
	e := audit.New(ctx, a.CurrentTime(), ActPlacementMove, "connection", conn)
	e.ConnectionID = conn
	e.Diff = audit.Detail(map[string]any{"reason": "group membership changed", "moved": n, "users": moves,
		"truncated": n > len(moves)})
	return Record(ctx, a.Audit, e)
}

// place puts the user where the connection's rules say, the first matching rule
// winning, and stores it when it changed. moved reports whether the user's effective
// org changed (an unplaced user is in the connection's org), from where.
func (a *Access) place(ctx context.Context, c *Connection, u *provisioning.User) (from string, moved bool, err error) {
	org := c.OrgID
	for _, r := range c.Placement {
		if r.Attribute != "" {
			if v, ok := attributeValue(u.Attributes, r.Attribute); ok && strings.EqualFold(v, r.Value) {
				org = r.OrgID
				break
			}
			continue
		}
		path, err := a.Store.MembershipPath(ctx, c.ID, u.ID, r.GroupID)
		if err != nil {
			return "", false, err
		}
		if len(path) > 0 {
			org = r.OrgID
			break
		}
	}
	if org == u.OrgID || (u.OrgID == "" && org == c.OrgID && len(c.Placement) == 0) {
		return "", false, nil
	}
	from = u.OrgID
	if from == "" {
		from = c.OrgID
	}
	u.OrgID = org
	return from, from != org, a.Store.SetUserOrg(ctx, c.ID, u.ID, org)
}

// attributeValue reads a string attribute by SCIM path ("title", "name.familyName",
// "urn:...:enterprise:2.0:User:department"), ignoring the case of names.
func attributeValue(attrs map[string]any, path string) (string, bool) {
	var cur any = attrs
	if strings.HasPrefix(strings.ToLower(path), "urn:") {
		i := strings.LastIndexByte(path, ':')
		urn, rest := path[:i], path[i+1:]
		cur = lookup(attrs, urn)
		path = rest
	}
	for _, name := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		cur = lookup(m, name)
	}
	s, ok := cur.(string)
	return s, ok
}

func lookup(m map[string]any, name string) any {
	if v, ok := m[name]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func (a *Access) sync(ctx context.Context, mappings []*Mapping, users []string, actor, reason string) error {
	now := a.CurrentTime()
	roles := map[string]*Role{}
	for _, m := range mappings {
		role, ok := roles[m.RoleID]
		if !ok {
			var err error
			if role, err = a.Store.RoleByID(ctx, m.RoleID); err != nil {
				return err
			}
			roles[m.RoleID] = role
		}
		if _, _, err := a.syncMapping(ctx, m, users, a.grantTemplate(m, role, actor, now), reason); err != nil {
			return err
		}
	}
	return nil
}

// UserChanged makes grants follow a user's status: a user the IdP deactivates or
// deletes loses its grants at once; one it reactivates gets back what its groups'
// mappings give.
func (a *Access) UserChanged(ctx context.Context, conn string, before, after *provisioning.User) error {
	if after.Deleted == nil {
		c, err := a.connection(ctx, conn)
		if err != nil {
			return err
		}
		from, moved, err := a.place(ctx, c, after)
		if err != nil {
			return err
		}
		if moved && before != nil {
			// A new user's place shows in its creation event.
			e := audit.New(ctx, a.CurrentTime(), ActPlacementMove, "user", after.ID)
			e.ConnectionID = conn
			e.Diff = audit.Diff(map[string]string{"org_id": from}, map[string]string{"org_id": after.OrgID})
			if err := Record(ctx, a.Audit, e); err != nil {
				return err
			}
		}
	}
	if before == nil {
		return nil // a new user is in no group yet, so holds no grant
	}
	wasLive := before != nil && before.Deleted == nil && before.Active
	isLive := after.Deleted == nil && after.Active
	switch {
	case wasLive && !isLive:
		by, why := "scim:"+conn, "user deactivated by the IdP"
		if after.Deleted != nil {
			why = "user deleted by the IdP"
		}
		if c, ok := provisioning.CauseOf(ctx); ok {
			by, why = c.Actor, c.Reason
		}
		// In the connection's org: the grants may lie on any org of its subtree.
		if _, err := a.revokeGrants(ctx, GrantSelector{UserID: after.ID}, a.CurrentTime(), by, why, "user", after.ID, conn, ""); err != nil {
			return err
		}
		if a.Holders == nil {
			return nil
		}
		return a.Holders.HolderLeft(ctx, conn, after.ID, why)
	case !wasLive && isLive:
		mappings, err := a.Store.MappingsOfUser(ctx, conn, after.ID)
		if err != nil || len(mappings) == 0 {
			return err
		}
		return a.sync(ctx, mappings, []string{after.ID}, "scim:"+conn, "user reactivated")
	}
	return nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// RepairMapping makes m's grants for users match m's group again, recording what it
// changed as one grants.sync event with reason; the reconciler's drift repair calls it
// for the users whose grants drifted.
func (a *Access) RepairMapping(ctx context.Context, m *Mapping, users []string, actor, reason string) (added, revoked int, err error) {
	role, err := a.Store.RoleByID(ctx, m.RoleID)
	if err != nil {
		return 0, 0, err
	}
	return a.syncMapping(ctx, m, users, a.grantTemplate(m, role, actor, a.CurrentTime()), reason)
}

// CreateGrant stores one grant and records it, in the context's transaction: a direct
// assignment, or a spreadsheet import's.
func (a *Access) CreateGrant(ctx context.Context, g *Grant, now time.Time) error {
	if err := a.Store.CreateGrant(ctx, g); err != nil {
		return err
	}
	conns, err := GrantConnections(ctx, a.OwnerLookup(), []*Grant{g})
	if err != nil {
		return err
	}
	e := audit.New(ctx, now, ActGrantCreate, "grant", g.ID)
	e.ConnectionID, e.OrgID = conns[g.ID], g.OrgID
	e.Diff = audit.Diff(nil, grantView{UserID: g.UserID, RoleID: g.RoleID, OrgID: g.OrgID, Source: g.Source,
		SourceID: g.SourceID, GrantedBy: g.GrantedBy, Reason: g.Reason, ValidFrom: g.ValidFrom, ExpiresAt: g.Expires})
	return Record(ctx, a.Audit, e)
}
