package orgs

import (
	"context"
	"slices"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/provisioning"
)

// Capability is a kind of administrative authority a delegation confers.
type Capability string

const (
	CapManageMembers  Capability = "manage_members"  // assign and revoke roles of people in the subtree
	CapManageMappings Capability = "manage_mappings" // draft group-to-role mappings in the subtree
	CapApprove        Capability = "approve"         // approve mappings (never one's own privileged draft)
	CapDelegate       Capability = "delegate"        // delegate further, within Depth
)

var allCapabilities = []Capability{CapManageMembers, CapManageMappings, CapApprove, CapDelegate}

// MaxDelegationDepth bounds any chain of delegations.
const MaxDelegationDepth = 8

// Delegation gives a person authority over a subtree. Its chain back to the vendor is
// ParentID, ParentID's parent, and so on; revoking one revokes everything delegated
// through it.
type Delegation struct {
	ID                 string
	OrgID              string
	HolderConnectionID string
	HolderUserID       string
	Capabilities       []Capability
	Depth              int
	ParentID           string
	GrantedBy          string
	Created            time.Time
	Expires            *time.Time
	Revoked            *time.Time
	RevokedBy          string
	RevokeReason       string
	// EngagementID is set for an MSP technician's delegation: it lies in the customer's
	// subtree, outside its parent's, and holds only while the engagement does (msp.go).
	EngagementID string
}

// LiveAt reports whether the delegation itself is in force at t. Its ancestors are
// in force too: revocation cascades down, and a child never outlives its parent.
func (d *Delegation) LiveAt(t time.Time) bool {
	return d.Revoked == nil && (d.Expires == nil || t.Before(*d.Expires))
}

// Has reports whether the delegation confers c.
func (d *Delegation) Has(c Capability) bool { return slices.Contains(d.Capabilities, c) }

// DelegationStore keeps delegations.
type DelegationStore interface {
	CreateDelegation(ctx context.Context, d *Delegation) error
	Delegation(ctx context.Context, id string) (*Delegation, error)
	// RevokeDelegationTree revokes the delegation and every live one delegated through
	// it, and returns them.
	RevokeDelegationTree(ctx context.Context, id string, at time.Time, by, reason string) ([]*Delegation, error)
	// LiveDelegations returns the unrevoked, unexpired delegations on any of the orgs.
	LiveDelegations(ctx context.Context, orgIDs []string, at time.Time) ([]*Delegation, error)
	// DelegationsHeldBy returns the unrevoked delegations whose holder is the user.
	DelegationsHeldBy(ctx context.Context, conn, userID string) ([]*Delegation, error)
	// DelegationChain returns the delegation and each one above it, the delegation
	// first, with what the authority rule asks of each, and every org on their paths
	// (NotFound when there is no such delegation).
	DelegationChain(ctx context.Context, id string) ([]ChainLink, map[string]*Org, error)
	// MadeUnder lists what was made under the delegation, up to limit ids of each kind.
	MadeUnder(ctx context.Context, id string, limit int) (*MadeUnder, error)
}

// MadeUnder is what was made under a delegation and stands or falls with it: the
// delegations made through it, the live admin keys of its holder and those issued
// through it, the live grants made under it, and the active mappings approved under
// it. Counts are complete; id lists stop at a limit.
type MadeUnder struct {
	Delegations     []string
	DelegationCount int
	Keys            []string
	KeyCount        int
	Grants          []string
	GrantCount      int
	Mappings        []string
	MappingCount    int
}

// Principal is who acts through the admin API or the CLI: a vendor operator, with all
// authority, or a person acting through one delegation.
type Principal struct {
	Operator   string
	Delegation *Delegation
	// KeyID is the admin API key the principal authenticated with; empty elsewhere (the
	// CLI). It names the actor of audit events, not the principal's authority.
	KeyID string
	// KeyExpires is when that key lapses (nil: never): keys it mints lapse no later.
	KeyExpires *time.Time
	// Confined: an operator key under the support policy, or acting in a support session,
	// reaches a partner's data only through Support (see OperatorReach).
	Confined bool
	Support  *SupportScope
	// Reach names the MSP engagement a technician acts under, for audit.
	Reach *ReachScope
}

// Under is the delegation p acts through, recorded as the provenance of what p makes;
// "" for an operator.
func (p Principal) Under() string {
	if p.Delegation != nil {
		return p.Delegation.ID
	}
	return ""
}

// Name identifies the principal in records (granted_by, approved_by, audit).
func (p Principal) Name() string {
	if p.Operator != "" {
		return "operator:" + p.Operator
	}
	if p.Delegation != nil {
		return "user:" + p.Delegation.HolderConnectionID + "/" + p.Delegation.HolderUserID
	}
	return "anonymous"
}

// Delegations is the service over delegated administration.
type Delegations struct {
	Store  DelegationStore
	Orgs   Store
	Access *Access
	Tx     provisioning.Transactor
	Audit  AuditLog // optional
	// Reattest opens, in the revocation's transaction, the campaign that re-attests the
	// grants and mappings handed over when a delegation is revoked, and returns its id
	// (reviews.Service does); nil hands them over without one.
	Reattest interface {
		Reattest(ctx context.Context, orgID string, grantIDs, mappingIDs []string, deadline time.Time, why string) (reviewID string, err error)
	}
	Now func() time.Time
}

func (s *Delegations) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

// Authorize checks that p may use capability c on org: an operator may as far as
// OperatorReach lets it (everywhere, unless confined to a support session); a
// delegate only through a delegation that holds now under the authority rule
// (DelegationHolds: its whole chain, its holder, every org on its path), confers c, and
// whose subtree contains org.
func (s *Delegations) Authorize(ctx context.Context, p Principal, c Capability, org *Org) error {
	if p.Operator != "" {
		return OperatorReach(p, org, s.now())
	}
	d := p.Delegation
	if d == nil {
		return orgscim.Errorf(orgscim.Unauthorized, "no principal")
	}
	// Re-read: a delegation revoked, or a relationship ended, a moment ago must not act.
	cur, home, err := s.DelegationHolds(ctx, d.ID)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return orgscim.Errorf(orgscim.Forbidden, "delegation %s no longer exists", d.ID)
	}
	if err != nil {
		return err
	}
	if !cur.Has(c) {
		return orgscim.Errorf(orgscim.Forbidden, "the delegation does not confer %s", c)
	}
	if home == nil || !home.Contains(org) {
		return orgscim.Errorf(orgscim.Forbidden, "org %s is outside the delegated subtree", org.Slug)
	}
	return nil
}

// DelegationRequest describes a new delegation.
type DelegationRequest struct {
	OrgID              string
	HolderConnectionID string
	HolderUserID       string
	Capabilities       []Capability
	Depth              int
	Expires            *time.Time
}

// Delegate grants a delegation. A delegate can never give more than it holds: the new
// delegation lies inside its subtree, confers a subset of its capabilities, may delegate
// fewer levels, and ends no later than it does.
func (s *Delegations) Delegate(ctx context.Context, by Principal, r DelegationRequest) (*Delegation, error) {
	now := s.now()
	if len(r.Capabilities) == 0 {
		return nil, orgscim.Errorf(orgscim.Invalid, "a delegation needs at least one capability")
	}
	if err := CheckCapabilities(r.Capabilities); err != nil {
		return nil, err
	}
	if r.Depth < 0 || r.Depth > MaxDelegationDepth {
		return nil, orgscim.Errorf(orgscim.Invalid, "depth must be between 0 and %d", MaxDelegationDepth)
	}
	if r.Expires != nil && !r.Expires.After(now) {
		return nil, orgscim.Errorf(orgscim.Invalid, "expiry must be in the future")
	}
	org, err := s.Orgs.OrgByID(ctx, r.OrgID)
	if err != nil {
		return nil, err
	}
	if err := s.Authorize(ctx, by, CapDelegate, org); err != nil {
		return nil, err
	}
	d := &Delegation{ID: provisioning.NewID(), OrgID: r.OrgID, HolderConnectionID: r.HolderConnectionID,
		HolderUserID: r.HolderUserID, Capabilities: slices.Clone(r.Capabilities), Depth: r.Depth,
		GrantedBy: by.Name(), Created: now, Expires: r.Expires}
	if p := by.Delegation; p != nil {
		if r.Depth >= p.Depth {
			return nil, orgscim.Errorf(orgscim.Forbidden, "this delegation may delegate %d more level(s); the new one must allow fewer", p.Depth)
		}
		for _, c := range r.Capabilities {
			if !p.Has(c) {
				return nil, orgscim.Errorf(orgscim.Forbidden, "cannot delegate %s: the delegation does not hold it", c)
			}
		}
		if p.Expires != nil && (d.Expires == nil || d.Expires.After(*p.Expires)) {
			d.Expires = p.Expires // never outlive the parent
		}
		d.ParentID = p.ID
	}
	conn, err := s.Access.Store.ConnectionByID(ctx, r.HolderConnectionID)
	if err != nil {
		return nil, err
	}
	holder, err := s.Access.Users.Get(ctx, conn.ID, r.HolderUserID)
	if err != nil {
		return nil, err
	}
	if !holder.Active {
		return nil, orgscim.Errorf(orgscim.Invalid, "user %s is inactive", holder.UserName)
	}
	err = InTx(ctx, s.Tx, func(ctx context.Context) error {
		if err := s.Store.CreateDelegation(ctx, d); err != nil {
			return err
		}
		e := audit.New(ctx, now, ActDelegationCreate, "delegation", d.ID)
		e.OrgID = d.OrgID
		e.Diff = audit.Diff(nil, delegationView{OrgID: d.OrgID, HolderConnectionID: d.HolderConnectionID,
			HolderUserID: d.HolderUserID, Capabilities: d.Capabilities, Depth: d.Depth, ParentID: d.ParentID,
			GrantedBy: d.GrantedBy, ExpiresAt: d.Expires})
		return Record(ctx, s.Audit, e)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Revocation says how to revoke a delegation.
type Revocation struct {
	Reason string
	// Successor receives the same authority in the same transaction — required when the
	// revocation would leave a partner org without an administrator — and answers for
	// what was made under the revoked delegations.
	Successor *DelegationRequest
	// Compromise revokes at once everything made under the revoked delegations (grants
	// and mapping approvals) instead of handing it over for re-attestation: for a
	// delegate who cannot be trusted with what they did.
	Compromise bool
	// ReattestBy is the deadline of the re-attestation (zero: the reattester's default,
	// reviews.DefaultReattestation).
	ReattestBy time.Time
}

// Revoked is what a revocation did.
type Revoked struct {
	Delegations []*Delegation // the delegation and those delegated through it
	Successor   *Delegation
	Handover
}

// Handover is what became of the rights made under revoked delegations: handed to the
// delegation To ("" for the vendor's operators) with a re-attestation campaign, or, on
// a compromise, revoked at once.
type Handover struct {
	To              string
	Grants          int    // grants handed over
	Mappings        int    // active mappings whose approval was handed over
	ReattestationID string // the review that re-attests what was handed over; "" for none
	RevokedGrants   int    // compromise
	RetiredMappings int    // compromise
}

// Revoke revokes a delegation and everything delegated through it, with their keys, at
// once. What was made under them — grants, mapping approvals — goes to the successor
// (or to whoever revoked) for re-attestation by a deadline, or is revoked at once on a
// compromise. The last live delegation able to administer a partner org cannot go
// without a successor.
func (s *Delegations) Revoke(ctx context.Context, by Principal, id string, rv Revocation) (*Revoked, error) {
	out := &Revoked{}
	err := InTx(ctx, s.Tx, func(ctx context.Context) error {
		d, err := s.Store.Delegation(ctx, id)
		if err != nil {
			return err
		}
		org, err := s.Orgs.OrgByID(ctx, d.OrgID)
		if err != nil {
			return err
		}
		if by.Delegation != nil && by.Delegation.ID == d.ID {
			return orgscim.Errorf(orgscim.Forbidden, "a delegation cannot revoke itself; ask whoever granted it")
		}
		if err := s.Authorize(ctx, by, CapDelegate, org); err != nil {
			return err
		}
		if !rv.ReattestBy.IsZero() && !rv.ReattestBy.After(s.now()) {
			return orgscim.Errorf(orgscim.Invalid, "the re-attestation deadline must be in the future")
		}
		if rv.Successor != nil {
			rv.Successor.OrgID = d.OrgID
			if out.Successor, err = s.Delegate(ctx, by, *rv.Successor); err != nil {
				return err
			}
		}
		now := s.now()
		revoked, err := s.Store.RevokeDelegationTree(ctx, id, now, by.Name(), rv.Reason)
		if err != nil {
			return err
		}
		forgetDecisions(ctx)
		out.Delegations = revoked
		if err := s.keepAnAdministrator(ctx, revoked, now); err != nil {
			return err
		}
		to := by.Under()
		if out.Successor != nil {
			to = out.Successor.ID
		}
		if out.Handover, err = s.handOver(ctx, d, revoked, to, rv.Compromise, rv.ReattestBy, by.Name(), rv.Reason, now); err != nil {
			return err
		}
		return s.recordRevocation(ctx, d, revoked, out.Handover, "", map[string]any{"reason": rv.Reason, "compromise": rv.Compromise}, now)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// handOver deals with what was made under the revoked delegations, in the caller's
// transaction: on a compromise it revokes their grants and retires the mappings they
// approved; otherwise it makes to the authority of both and opens a campaign that
// re-attests exactly those grants.
func (s *Delegations) handOver(ctx context.Context, d *Delegation, revoked []*Delegation, to string, compromise bool,
	deadline time.Time, actor, reason string, now time.Time) (Handover, error) {
	a := s.Access
	h := Handover{To: to}
	if !compromise {
		var err error
		if revoked, err = s.handOverTechnicians(ctx, revoked, deadline, &h); err != nil {
			return h, err
		}
	}
	ids := make([]string, len(revoked))
	for i, r := range revoked {
		ids[i] = r.ID
	}
	if compromise {
		why := "made under revoked delegation " + d.ID + " (compromise)"
		if reason != "" {
			why += ": " + reason
		}
		mappings, err := a.Store.MappingsApprovedUnder(ctx, ids)
		if err != nil {
			return h, err
		}
		for _, m := range mappings {
			if err := a.RetireOne(ctx, m.ID, actor, why, now); err != nil {
				return h, err
			}
		}
		h.RetiredMappings = len(mappings)
		n, err := a.revokeGrants(ctx, GrantSelector{GrantedUnder: ids}, now, actor, why, "delegation", d.ID, "", d.OrgID)
		h.RevokedGrants = n
		return h, err
	}
	if len(ids) == 0 {
		return h, nil
	}
	grants, mappings, err := a.Store.HandOver(ctx, ids, to)
	if err != nil {
		return h, err
	}
	h.Grants, h.Mappings = h.Grants+len(grants), h.Mappings+len(mappings)
	if len(grants)+len(mappings) > 0 && s.Reattest != nil {
		if h.ReattestationID, err = s.Reattest.Reattest(ctx, d.OrgID, grants, mappings, deadline, "delegation "+d.ID+" revoked"); err != nil {
			return h, err
		}
	}
	return h, nil
}

// recordRevocation records one event for a revocation and its cascade: the
// delegations revoked with it are named, not recorded one by one, with what became of
// what was made under them.
func (s *Delegations) recordRevocation(ctx context.Context, d *Delegation, revoked []*Delegation, h Handover, conn string,
	detail map[string]any, now time.Time) error {
	var cascade []string
	for _, r := range revoked {
		if r.ID != d.ID && len(cascade) < maxListedIDs {
			cascade = append(cascade, r.ID)
		}
	}
	detail["revoked"], detail["cascade"] = len(revoked), cascade
	detail["handed_over_to"], detail["grants_handed_over"], detail["mappings_handed_over"] = h.To, h.Grants, h.Mappings
	if h.ReattestationID != "" {
		detail["reattestation"] = h.ReattestationID
	}
	if h.RevokedGrants+h.RetiredMappings > 0 {
		detail["grants_revoked"], detail["mappings_retired"] = h.RevokedGrants, h.RetiredMappings
	}
	e := audit.New(ctx, now, ActDelegationRevoke, "delegation", d.ID)
	e.ConnectionID, e.OrgID = conn, d.OrgID
	e.Diff = audit.Detail(detail)
	return Record(ctx, s.Audit, e)
}

// HolderLeft revokes, with everything delegated through them, the delegations the user
// holds: the partner's IdP deactivated or deleted the user, so the person has left or
// lost their job there, and authority must end with the same transaction. Unlike
// Revoke it does not insist on a successor — keeping a departed person in charge is no
// way to keep an administrator — but the event says when a partner is left without one.
// The user's admin keys stop working with the delegations they belong to.
func (s *Delegations) HolderLeft(ctx context.Context, conn, userID, why string) error {
	held, err := s.Store.DelegationsHeldBy(ctx, conn, userID)
	if err != nil || len(held) == 0 {
		return err
	}
	now := s.now()
	by := "scim:" + conn
	if c, ok := provisioning.CauseOf(ctx); ok {
		by = c.Actor
	}
	for _, d := range held {
		revoked, err := s.Store.RevokeDelegationTree(ctx, d.ID, now, by, why)
		if orgscim.ErrorCode(err) == orgscim.NotFound {
			continue // revoked already, through one of the user's delegations above it
		}
		if err != nil {
			return err
		}
		forgetDecisions(ctx)
		detail := map[string]any{"reason": why}
		if err := s.keepAnAdministrator(ctx, revoked, now); orgscim.ErrorCode(err) == orgscim.Conflict {
			detail["warning"] = orgscim.ErrorMessage(err)
		} else if err != nil {
			return err
		}
		// What the person made goes up the chain, to whoever delegated to them if that
		// still holds, else to the operators, for re-attestation.
		to := ""
		if d.ParentID != "" {
			if _, _, err := s.DelegationHolds(ctx, d.ParentID); err == nil {
				to = d.ParentID
			} else if c := orgscim.ErrorCode(err); c != orgscim.Forbidden && c != orgscim.NotFound {
				return err
			}
		}
		h, err := s.handOver(ctx, d, revoked, to, false, time.Time{}, by, why, now)
		if err != nil {
			return err
		}
		if err := s.recordRevocation(ctx, d, revoked, h, conn, detail, now); err != nil {
			return err
		}
	}
	return nil
}

// keepAnAdministrator refuses a revocation that leaves a partner org, whose
// administration a revoked delegation covered, with no live delegation able to
// delegate there.
func (s *Delegations) keepAnAdministrator(ctx context.Context, revoked []*Delegation, now time.Time) error {
	for _, d := range revoked {
		org, err := s.Orgs.OrgByID(ctx, d.OrgID)
		if err != nil {
			return err
		}
		if !d.Has(CapDelegate) || (org.Kind != KindPartner && org.Kind != KindSubsidiary) {
			continue
		}
		// The vendor's own operators do not count: the partner needs one of its own.
		live, err := s.Store.LiveDelegations(ctx, org.AncestorIDs()[1:], now)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(live, func(l *Delegation) bool { return l.Has(CapDelegate) }) {
			return orgscim.Errorf(orgscim.Conflict, "this would leave org %s without an administrator; name a successor", org.Slug)
		}
	}
	return nil
}

// InTx runs fn in one transaction of tx, or directly without one.
func InTx(ctx context.Context, tx provisioning.Transactor, fn func(ctx context.Context) error) error {
	if tx == nil {
		return fn(ctx)
	}
	return tx.InTx(ctx, fn)
}

// CheckCapabilities refuses a capability that does not exist.
func CheckCapabilities(caps []Capability) error {
	for _, c := range caps {
		if !slices.Contains(allCapabilities, c) {
			return orgscim.Errorf(orgscim.Invalid, "unknown capability %q", c)
		}
	}
	return nil
}
