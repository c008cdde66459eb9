package onboarding

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// Audit actions of partner onboarding.
const (
	ActOnboardingPropose = "onboarding.propose"
	ActOnboardingApprove = "onboarding.approve"
	ActOnboardingReject  = "onboarding.reject"
)

// Onboarding request states.
const (
	OnboardingProposed = "proposed"
	OnboardingApproved = "approved"
	OnboardingRejected = "rejected"
)

// OnboardingMapping is a mapping a proposal asks for: members of the IdP group named
// Group hold the role Role on the new org.
type OnboardingMapping struct {
	Group string `json:"group"`
	Role  string `json:"role"`
}

// OnboardingRequest proposes a partner org with everything it needs to start: its
// relationship, its connection, its first administrator and the mappings it wants.
// Approved by a second person, it becomes all of that in one transaction.
type OnboardingRequest struct {
	ID             string
	ParentID       string
	OrgName        string
	OrgSlug        string
	ConnectionSlug string
	IdP            string
	ContractStart  *time.Time
	ContractEnd    *time.Time
	Owner          string
	// The first administrator is a user of the new connection, known by the userName
	// its IdP will push (usually an e-mail address). Approval creates the user ahead of
	// the IdP, so that the delegation has a holder; Entra and Okta look a user up by
	// userName before creating one, and adopt it.
	AdminUserName     string
	AdminDisplayName  string
	AdminCapabilities []orgs.Capability
	Mappings          []OnboardingMapping
	Reason            string
	State             string
	ProposedBy        string
	Proposed          time.Time
	DecidedBy         string
	Decided           *time.Time
	DecisionReason    string
	// What an approval created.
	OrgID        string
	ConnectionID string
	DelegationID string
}

// OnboardingStore keeps onboarding requests and setup links.
type OnboardingStore interface {
	CreateOnboarding(ctx context.Context, r *OnboardingRequest) error
	Onboarding(ctx context.Context, id string) (*OnboardingRequest, error)
	// UpdateOnboarding runs fn on the request, locked, and stores the result.
	UpdateOnboarding(ctx context.Context, id string, fn func(*OnboardingRequest) error) (*OnboardingRequest, error)
	// Onboardings lists up to limit requests, newest first, after the position after
	// when it is not nil: in the given state when it is not empty, and only those whose
	// parent lies in the subtree at path when path is not empty.
	Onboardings(ctx context.Context, state, path string, after *OnboardingPosition, limit int) ([]*OnboardingRequest, error)
	SetupLinkStore
}

// UserCreator creates a SCIM user in a connection (provisioning.Users does).
type UserCreator interface {
	Create(ctx context.Context, conn string, attrs map[string]any, password string) (*provisioning.User, error)
}

// GroupCreator creates a SCIM group in a connection (provisioning.Groups does).
type GroupCreator interface {
	Create(ctx context.Context, conn string, attrs map[string]any, members []provisioning.Member) (*provisioning.Group, error)
}

// Onboarding is the service over partner onboarding and setup links.
type Onboarding struct {
	Store       OnboardingStore
	Dir         *orgs.Directory
	Access      *orgs.Access
	Delegations *orgs.Delegations
	Users       UserCreator
	Groups      GroupCreator
	Tx          provisioning.Transactor
	Audit       orgs.AuditLog // optional
	// Awaiting, when set, lets the partner's IdP adopt the first administrator that
	// approval creates ahead of it, instead of colliding with it (Okta POSTs a user it
	// has not seen without looking it up first).
	Awaiting interface {
		AwaitIdP(ctx context.Context, conn, id, email, source string) error
	}
	Now func() time.Time
}

func (s *Onboarding) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

// maxOnboardingMappings bounds what one proposal may ask for.
const maxOnboardingMappings = 100

// defaultAdminCapabilities is what a partner's first administrator holds unless the
// proposal says otherwise: everything, so that the partner runs its own subtree.
var defaultAdminCapabilities = []orgs.Capability{orgs.CapManageMembers, orgs.CapManageMappings, orgs.CapApprove, orgs.CapDelegate}

// firstAdminDepth is how many further levels the first administrator may delegate.
const firstAdminDepth = 2

// Propose records a request to onboard a partner under its parent. Operators may
// propose anywhere; a delegate with the delegate capability only under an org of its
// subtree. Everything that can be checked now is, so that a request that waits for
// approval is one that can be approved.
func (s *Onboarding) Propose(ctx context.Context, by orgs.Principal, r OnboardingRequest, parentSlug string) (*OnboardingRequest, error) {
	now := s.now()
	if err := s.normalise(ctx, &r, now); err != nil {
		return nil, err
	}
	if parentSlug == "" {
		return nil, orgscim.Errorf(orgscim.Invalid, "a partner needs a parent org")
	}
	parent, err := s.Dir.Store.OrgBySlug(ctx, parentSlug)
	if err != nil {
		return nil, err
	}
	if err := s.Delegations.Authorize(ctx, by, orgs.CapDelegate, parent); err != nil {
		return nil, err
	}
	if err := s.free(ctx, r.OrgSlug, r.ConnectionSlug); err != nil {
		return nil, err
	}
	r.ID, r.ParentID, r.State, r.ProposedBy, r.Proposed = provisioning.NewID(), parent.ID, OnboardingProposed, by.Name(), now
	r.DecidedBy, r.Decided, r.DecisionReason, r.OrgID, r.ConnectionID, r.DelegationID = "", nil, "", "", "", ""
	err = orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
		if err := s.Store.CreateOnboarding(ctx, &r); err != nil {
			return err
		}
		return s.record(ctx, now, ActOnboardingPropose, &r, map[string]any{"proposal": viewOnboarding(&r)})
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// normalise fills defaults and refuses what could never be approved.
func (s *Onboarding) normalise(ctx context.Context, r *OnboardingRequest, now time.Time) error {
	r.OrgName = strings.TrimSpace(r.OrgName)
	if r.OrgName == "" {
		return orgscim.Errorf(orgscim.Invalid, "a partner needs a name")
	}
	if r.OrgSlug == "" {
		r.OrgSlug = orgs.Slugify(r.OrgName)
	}
	if err := orgs.CheckSlug(r.OrgSlug); err != nil {
		return err
	}
	if r.ConnectionSlug == "" {
		r.ConnectionSlug = r.OrgSlug
	}
	if err := orgs.CheckSlug(r.ConnectionSlug); err != nil {
		return err
	}
	idp, err := orgs.CheckIdP(r.IdP)
	if err != nil {
		return err
	}
	r.IdP = idp
	if err := orgs.CheckContract(r.ContractStart, r.ContractEnd); err != nil {
		return err
	}
	if r.ContractEnd != nil && !r.ContractEnd.After(now) {
		return orgscim.Errorf(orgscim.Invalid, "the contract must end in the future")
	}
	r.Owner = strings.TrimSpace(r.Owner)
	if r.Owner == "" {
		return orgscim.Errorf(orgscim.Invalid, "a partner needs an accountable owner")
	}
	r.AdminUserName = strings.TrimSpace(r.AdminUserName)
	if r.AdminUserName == "" || len(r.AdminUserName) > 256 || strings.ContainsAny(r.AdminUserName, " \t\r\n") {
		return orgscim.Errorf(orgscim.Invalid, "the first administrator needs a userName (the one the IdP will send, e.g. an e-mail address) without spaces")
	}
	if len(r.AdminCapabilities) == 0 {
		r.AdminCapabilities = slices.Clone(defaultAdminCapabilities)
	}
	if err := orgs.CheckCapabilities(r.AdminCapabilities); err != nil {
		return err
	}
	if len(r.Mappings) > maxOnboardingMappings {
		return orgscim.Errorf(orgscim.Invalid, "at most %d mappings per request", maxOnboardingMappings)
	}
	seen := map[string]bool{}
	for i, m := range r.Mappings {
		m.Group = strings.TrimSpace(m.Group)
		if m.Group == "" || len(m.Group) > 512 {
			return orgscim.Errorf(orgscim.Invalid, "mapping %d needs a group display name (at most 512 bytes)", i)
		}
		key := strings.ToLower(m.Group) + "\x00" + m.Role
		if seen[key] {
			return orgscim.Errorf(orgscim.Invalid, "mapping %d repeats group %q with role %q", i, m.Group, m.Role)
		}
		seen[key] = true
		if _, err := s.Access.Store.RoleByKey(ctx, m.Role); err != nil {
			if orgscim.ErrorCode(err) == orgscim.NotFound {
				return orgscim.Errorf(orgscim.Invalid, "mapping %d: no role %q", i, m.Role)
			}
			return err
		}
		r.Mappings[i] = m
	}
	return nil
}

// free refuses slugs that are taken already.
func (s *Onboarding) free(ctx context.Context, orgSlug, connSlug string) error {
	if _, err := s.Dir.Store.OrgBySlug(ctx, orgSlug); err == nil {
		return orgscim.Errorf(orgscim.Conflict, "an org with slug %q exists", orgSlug)
	} else if orgscim.ErrorCode(err) != orgscim.NotFound {
		return err
	}
	if _, err := s.Dir.Store.ConnectionBySlug(ctx, connSlug); err == nil {
		return orgscim.Errorf(orgscim.Conflict, "a connection with slug %q exists", connSlug)
	} else if orgscim.ErrorCode(err) != orgscim.NotFound {
		return err
	}
	return nil
}

// Approve creates what the request proposes, in one transaction with every audit event:
// the org, its connection (pending until its IdP first pushes), the first administrator
// as a user of the connection with a delegation over the org, and each mapping as a
// draft on a group of that name. Only an operator other than the proposer approves; if
// anything fails, nothing is created and the request stays proposed.
func (s *Onboarding) Approve(ctx context.Context, by orgs.Principal, id, reason string) (*OnboardingRequest, error) {
	// Creating a partner is the vendor's own act, outside the support policy: the org,
	// its first administrator and its draft mappings are new, not a partner's data.
	by = by.Unconfined()
	return s.decide(ctx, by, id, func(ctx context.Context, r *OnboardingRequest, now time.Time) error {
		if err := MayApprove(by, r); err != nil {
			return err
		}
		parent, err := s.Dir.Store.OrgByID(ctx, r.ParentID)
		if err != nil {
			return err
		}
		if err := s.grantsAccessOnPath(ctx, parent, now); err != nil {
			return err
		}
		org := &orgs.Org{ID: provisioning.NewID(), Slug: r.OrgSlug, Name: r.OrgName, ParentID: parent.ID, Kind: orgs.KindUnder(parent),
			Status: orgs.StatusActive, ContractStart: r.ContractStart, ContractEnd: r.ContractEnd, Owner: r.Owner,
			Version: 1, Created: now, Updated: now}
		if err := s.Dir.StoreOrg(ctx, org, now); err != nil {
			return err
		}
		conn := &orgs.Connection{ID: provisioning.NewID(), Slug: r.ConnectionSlug, OrgID: org.ID, IdP: r.IdP,
			Status: orgs.ConnectionPending, Created: now}
		// No token yet: the partner's administrator gets one from a setup link.
		if err := s.Dir.StoreConnection(ctx, conn, nil, now); err != nil {
			return err
		}
		admin, err := s.Users.Create(ctx, conn.ID, firstAdminAttributes(r), "")
		if err != nil {
			return err
		}
		if s.Awaiting != nil {
			if err := s.Awaiting.AwaitIdP(ctx, conn.ID, admin.ID, admin.Email, "onboarding:"+r.ID); err != nil {
				return err
			}
		}
		for _, m := range r.Mappings {
			g, err := s.Groups.Create(ctx, conn.ID, map[string]any{
				"schemas":     []any{"urn:ietf:params:scim:schemas:core:2.0:Group"},
				"displayName": m.Group,
			}, nil)
			if err != nil {
				return err
			}
			if _, err := s.Access.DraftMapping(ctx, by, conn, g.ID, m.Role, org.ID, "", "onboarding "+r.ID); err != nil {
				return err
			}
		}
		d, err := s.Delegations.Delegate(ctx, by, orgs.DelegationRequest{OrgID: org.ID, HolderConnectionID: conn.ID,
			HolderUserID: admin.ID, Capabilities: r.AdminCapabilities, Depth: firstAdminDepth, Expires: r.ContractEnd})
		if err != nil {
			return err
		}
		// A partner onboarded here provisions once it has proved an e-mail domain: until
		// then its IdP could push anyone's address. Set last, so that the first
		// administrator above was created ahead of it.
		if st, ok := s.Dir.Store.(orgs.PolicyStore); ok {
			p := orgs.DefaultPolicy
			p.RequireVerifiedDomain, p.Updated, p.UpdatedBy = true, now, by.Name()
			if err := st.SetPolicy(ctx, conn.ID, p); err != nil {
				return err
			}
		}
		r.State, r.DecidedBy, r.Decided, r.DecisionReason = OnboardingApproved, by.Name(), &now, reason
		r.OrgID, r.ConnectionID, r.DelegationID = org.ID, conn.ID, d.ID
		return s.record(ctx, now, ActOnboardingApprove, r, map[string]any{"reason": reason, "org_id": org.ID,
			"connection_id": conn.ID, "delegation_id": d.ID, "admin_user_id": admin.ID})
	})
}

// grantsAccessOnPath refuses a parent when the relationship with it, or with any org
// above it, does not allow access now: nothing is onboarded where its tokens would not
// work.
func (s *Onboarding) grantsAccessOnPath(ctx context.Context, parent *orgs.Org, now time.Time) error {
	path := parent.AncestorIDs()
	byID, err := s.Dir.Store.OrgsByID(ctx, path)
	if err != nil {
		return err
	}
	for _, id := range path {
		o := byID[id]
		if o == nil {
			return orgscim.Errorf(orgscim.Conflict, "an org above parent org %s no longer exists", parent.Slug)
		}
		if !o.GrantsAccessAt(now) {
			what := "does not grant access now"
			if o.Status != orgs.StatusActive {
				what = "is " + string(o.Status)
			}
			if o.ID == parent.ID {
				return orgscim.Errorf(orgscim.Conflict, "the relationship with parent org %s %s", o.Slug, what)
			}
			return orgscim.Errorf(orgscim.Conflict, "the relationship with org %s, above parent org %s, %s", o.Slug, parent.Slug, what)
		}
	}
	return nil
}

// Reject refuses a request; like approval, it is an operator's decision.
func (s *Onboarding) Reject(ctx context.Context, by orgs.Principal, id, reason string) (*OnboardingRequest, error) {
	return s.decide(ctx, by, id, func(ctx context.Context, r *OnboardingRequest, now time.Time) error {
		r.State, r.DecidedBy, r.Decided, r.DecisionReason = OnboardingRejected, by.Name(), &now, reason
		return s.record(ctx, now, ActOnboardingReject, r, map[string]any{"reason": reason})
	})
}

// MayApprove is the rule of an approval: an operator, other than the proposer (the
// decision's own checks add that the request still waits). The console asks it before
// offering the button.
func MayApprove(by orgs.Principal, r *OnboardingRequest) error {
	if by.Operator == "" {
		return orgscim.Errorf(orgscim.Forbidden, "only operators decide onboarding requests")
	}
	if by.Name() == r.ProposedBy {
		return orgscim.Errorf(orgscim.Forbidden, "a request is approved by someone other than its proposer")
	}
	return nil
}

// decide runs a decision on a proposed request, inside one transaction.
func (s *Onboarding) decide(ctx context.Context, by orgs.Principal, id string, fn func(ctx context.Context, r *OnboardingRequest, now time.Time) error) (*OnboardingRequest, error) {
	var out *OnboardingRequest
	err := orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
		now := s.now()
		r, err := s.Store.UpdateOnboarding(ctx, id, func(r *OnboardingRequest) error {
			if by.Operator == "" {
				return orgscim.Errorf(orgscim.Forbidden, "only operators decide onboarding requests")
			}
			if r.State != OnboardingProposed {
				return orgscim.Errorf(orgscim.Conflict, "onboarding request %s is %s, not awaiting a decision", r.ID, r.State)
			}
			return fn(ctx, r, now)
		})
		out = r
		return err
	})
	return out, err
}

func firstAdminAttributes(r *OnboardingRequest) map[string]any {
	attrs := map[string]any{
		"schemas":  []any{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": r.AdminUserName,
		"active":   true,
	}
	if r.AdminDisplayName != "" {
		attrs["displayName"] = r.AdminDisplayName
	}
	if strings.Contains(r.AdminUserName, "@") {
		attrs["emails"] = []any{map[string]any{"value": r.AdminUserName, "type": "work", "primary": true}}
	}
	return attrs
}

// OnboardingFor returns a request to an operator, its proposer, or a delegate whose
// subtree contains its parent org.
func (s *Onboarding) OnboardingFor(ctx context.Context, by orgs.Principal, id string) (*OnboardingRequest, error) {
	r, err := s.Store.Onboarding(ctx, id)
	if err != nil {
		return nil, err
	}
	if by.Operator != "" || by.Name() == r.ProposedBy {
		return r, nil
	}
	parent, err := s.Dir.Store.OrgByID(ctx, r.ParentID)
	if err != nil {
		return nil, err
	}
	if err := s.Delegations.Authorize(ctx, by, orgs.CapDelegate, parent); err != nil {
		return nil, orgscim.Errorf(orgscim.NotFound, "onboarding request %q not found", id)
	}
	return r, nil
}

// List returns up to limit requests, newest first, in the state when it is not empty:
// every request to an operator, those under its subtree to a delegate.
func (s *Onboarding) List(ctx context.Context, by orgs.Principal, state, after string, limit int) ([]*OnboardingRequest, error) {
	switch state {
	case "", OnboardingProposed, OnboardingApproved, OnboardingRejected:
	default:
		return nil, orgscim.Errorf(orgscim.Invalid, "state must be proposed, approved or rejected")
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var pos *OnboardingPosition
	if after != "" {
		micros, id, ok := audit.ParseCursor(after)
		if !ok {
			return nil, orgscim.Errorf(orgscim.Invalid, "cursor is not one this listing gave")
		}
		pos = &OnboardingPosition{ProposedMicros: micros, ID: id}
	}
	if by.Operator != "" {
		return s.Store.Onboardings(ctx, state, "", pos, limit)
	}
	if by.Delegation == nil {
		return nil, orgscim.Errorf(orgscim.Unauthorized, "no principal")
	}
	home, err := s.Dir.Store.OrgByID(ctx, by.Delegation.OrgID)
	if err != nil {
		return nil, err
	}
	if err := s.Delegations.Authorize(ctx, by, orgs.CapDelegate, home); err != nil {
		return nil, err
	}
	return s.Store.Onboardings(ctx, state, home.Path, pos, limit)
}

// OnboardingCursor is where a listing continues after r: its time of proposal, then
// its id, since the listing is newest first. It has the shape of an audit cursor
// (audit.ParseCursor reads it), in microseconds.
func OnboardingCursor(r *OnboardingRequest) string {
	return strconv.FormatInt(r.Proposed.UnixMicro(), 10) + "_" + r.ID
}

// OnboardingPosition is a parsed OnboardingCursor: a listing continues with the
// requests before it, newest first.
type OnboardingPosition struct {
	ProposedMicros int64
	ID             string
}

// onboardingView is what an event shows of a proposal.
type onboardingView struct {
	ParentID          string              `json:"parent_id"`
	OrgName           string              `json:"org_name"`
	OrgSlug           string              `json:"org_slug"`
	ConnectionSlug    string              `json:"connection_slug"`
	IdP               string              `json:"idp"`
	ContractStart     *time.Time          `json:"contract_start"`
	ContractEnd       *time.Time          `json:"contract_end"`
	Owner             string              `json:"owner"`
	AdminUserName     string              `json:"admin_user_name"`
	AdminCapabilities []orgs.Capability   `json:"admin_capabilities"`
	Mappings          []OnboardingMapping `json:"mappings"`
	Reason            string              `json:"reason"`
}

func viewOnboarding(r *OnboardingRequest) onboardingView {
	return onboardingView{ParentID: r.ParentID, OrgName: r.OrgName, OrgSlug: r.OrgSlug, ConnectionSlug: r.ConnectionSlug,
		IdP: r.IdP, ContractStart: r.ContractStart, ContractEnd: r.ContractEnd, Owner: r.Owner, AdminUserName: r.AdminUserName,
		AdminCapabilities: r.AdminCapabilities, Mappings: r.Mappings, Reason: r.Reason}
}

// record records a step of the request on its parent org, so that a delegate of that
// subtree sees the proposals made under it.
func (s *Onboarding) record(ctx context.Context, now time.Time, action string, r *OnboardingRequest, detail map[string]any) error {
	e := audit.New(ctx, now, action, "onboarding", r.ID)
	e.OrgID = r.ParentID
	e.Diff = audit.Detail(detail)
	return orgs.Record(ctx, s.Audit, e)
}
