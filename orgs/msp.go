package orgs

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/provisioning"
)

// Managed service providers and franchises. An MSP org is given administration over a
// customer org outside its own subtree by an Engagement, which the customer's
// administrator and the vendor both consent to. The MSP's administrator then names its
// technicians: each gets a delegation of their own on the customer, made under the
// administrator's delegation on the MSP and recording the engagement, so that every
// action names a person. Such a delegation is one link more for the authority rule
// (reachHolds): it holds only while the engagement is consented to, unrevoked and
// unexpired, both the MSP's and the customer's relationships are active, the technician
// belongs to the MSP, and their delegation lies inside the customer. Revoking the
// engagement (either side may), or ending either relationship, therefore stops every
// technician at the next decision; nothing is copied that could outlive it.

// Audit actions of engagements.
const (
	ActMSPPropose         = "msp.propose"
	ActMSPConsentCustomer = "msp.consent_customer"
	ActMSPConsentVendor   = "msp.consent_vendor"
	ActMSPRevoke          = "msp.revoke"
)

// Engagement is an MSP's administration over a customer org.
type Engagement struct {
	ID            string
	MSPOrgID      string
	CustomerOrgID string
	// Capabilities bound every technician delegation made under it; never delegate: an
	// MSP's reach is not handed on, and its technicians never count as the customer's
	// own administrators.
	Capabilities []Capability
	Reason       string
	ProposedBy   string
	Proposed     time.Time
	Expires      *time.Time
	// CustomerConsentUnder is the delegation the customer's administrator consented
	// through: what technicians made goes back to it when a technician or the
	// engagement is revoked.
	CustomerConsentBy    string
	CustomerConsentUnder string
	CustomerConsent      *time.Time
	VendorConsentBy      string
	VendorConsent        *time.Time
	Revoked              *time.Time
	RevokedBy            string
	RevokeReason         string
}

// State says where the engagement stands at now, by its own fields: revoked, expired,
// active (both consents given) or proposed. Whether it holds also depends on the two
// relationships (EngagementHolds).
func (e *Engagement) State(now time.Time) string {
	switch {
	case e.Revoked != nil:
		return "revoked"
	case e.Expires != nil && !now.Before(*e.Expires):
		return "expired"
	case e.CustomerConsent != nil && e.VendorConsent != nil:
		return "active"
	}
	return "proposed"
}

// MSPReach is what the authority rule asks of a technician's delegation beyond its
// chain, read as it is now: its engagement, the two orgs (nil when gone), and the org
// of the technician's connection.
type MSPReach struct {
	Engagement *Engagement
	MSP        *Org
	Customer   *Org
	HolderHome *Org
}

// ReachScope names, for audit, the engagement a technician acts under (see
// Principal.Reach).
type ReachScope struct {
	EngagementID string
	MSPSlug      string
	CustomerSlug string
}

// EngagementHolds applies the rule to an engagement at now: both consents given, not
// revoked, not expired, and every org on the MSP's and on the customer's path in an
// active relationship inside its contract and grace. byID holds the orgs of both paths.
func EngagementHolds(e *Engagement, msp, customer *Org, byID map[string]*Org, now time.Time) error {
	switch {
	case e.Revoked != nil:
		return brokenLink("MSP engagement %s was revoked", e.ID)
	case e.Expires != nil && !now.Before(*e.Expires):
		return brokenLink("MSP engagement %s has expired", e.ID)
	case e.CustomerConsent == nil && e.VendorConsent == nil:
		return brokenLink("MSP engagement %s awaits the consent of the customer's administrator and of the vendor", e.ID)
	case e.CustomerConsent == nil:
		return brokenLink("MSP engagement %s awaits the consent of the customer's administrator", e.ID)
	case e.VendorConsent == nil:
		return brokenLink("MSP engagement %s awaits the consent of the vendor", e.ID)
	case msp == nil || customer == nil:
		return brokenLink("an org of MSP engagement %s no longer exists", e.ID)
	}
	if slug := inactiveOnPath(pathIDs(msp.Path), byID, now); slug != "" {
		return brokenLink("MSP engagement %s: the relationship with org %s (the MSP's path) is not active (status, contract or grace period)", e.ID, slug)
	}
	if slug := inactiveOnPath(pathIDs(customer.Path), byID, now); slug != "" {
		return brokenLink("MSP engagement %s: the relationship with org %s (the customer's path) is not active (status, contract or grace period)", e.ID, slug)
	}
	return nil
}

// reachHolds is the link of a technician's delegation l (named name), made under
// parent: its engagement holds, its org lies in the customer's subtree, its holder
// belongs to the MSP, its parent administers the MSP, and it confers nothing the
// engagement does not.
func reachHolds(name string, l ChainLink, parent *ChainLink, byID map[string]*Org, now time.Time) error {
	r := l.Reach
	if r == nil || r.Engagement == nil || r.Engagement.ID != l.Delegation.EngagementID {
		return brokenLink("%s: its MSP engagement is missing", name)
	}
	if err := EngagementHolds(r.Engagement, r.MSP, r.Customer, byID, now); err != nil {
		return brokenLink("%s: %s", name, orgscim.ErrorMessage(err))
	}
	switch {
	case !strings.HasPrefix(l.OrgPath, r.Customer.Path):
		return brokenLink("%s: its org lies outside customer %s of its MSP engagement", name, r.Customer.Slug)
	case r.HolderHome == nil || !r.MSP.Contains(r.HolderHome):
		return brokenLink("%s: its holder no longer belongs to MSP %s", name, r.MSP.Slug)
	case parent == nil || parent.Delegation.ID != l.Delegation.ParentID:
		return brokenLink("%s: the MSP administrator's delegation it was made under is missing", name)
	case !strings.HasPrefix(r.MSP.Path, parent.OrgPath):
		return brokenLink("%s: the delegation it was made under no longer administers MSP %s", name, r.MSP.Slug)
	}
	for _, c := range l.Delegation.Capabilities {
		if !slices.Contains(r.Engagement.Capabilities, c) {
			return brokenLink("%s: MSP engagement %s does not confer %s", name, r.Engagement.ID, c)
		}
	}
	return nil
}

// EngagementStore keeps engagements.
type EngagementStore interface {
	// CreateEngagement stores e; Conflict when the pair has one unrevoked already.
	CreateEngagement(ctx context.Context, e *Engagement) error
	Engagement(ctx context.Context, id string) (*Engagement, error)
	// UpdateEngagement runs fn on the locked engagement and stores the result.
	UpdateEngagement(ctx context.Context, id string, fn func(*Engagement) error) (*Engagement, error)
	// EngagementsOf lists the engagements in which the org is the MSP or the customer,
	// by id after after.
	EngagementsOf(ctx context.Context, orgID, after string, limit int) ([]*Engagement, error)
	// TechniciansOf lists the delegations made under the engagement, revoked ones too,
	// oldest first.
	TechniciansOf(ctx context.Context, engagementID string) ([]*Delegation, error)
	// UnrevokedEngagements lists the unrevoked engagements by id after after.
	UnrevokedEngagements(ctx context.Context, after string, limit int) ([]*Engagement, error)
	// ConsentedEngagementsReaching lists the unrevoked engagements with both consents
	// whose MSP org is orgPath's org or one of its ancestors.
	ConsentedEngagementsReaching(ctx context.Context, orgPath string) ([]*Engagement, error)
	// EngagementStanding reads what EngagementHolds needs: the engagement's two orgs and
	// every org on their paths.
	EngagementStanding(ctx context.Context, e *Engagement) (msp, customer *Org, byID map[string]*Org, err error)
}

// MSPs is the service over engagements and their technicians.
type MSPs struct {
	Store       EngagementStore
	Delegations *Delegations
	Tx          provisioning.Transactor
	Audit       AuditLog
	Now         func() time.Time
}

func (s *MSPs) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

// engagementView is what an event shows of an engagement.
type engagementView struct {
	MSPOrgID          string       `json:"msp_org_id"`
	CustomerOrgID     string       `json:"customer_org_id"`
	Capabilities      []Capability `json:"capabilities"`
	Reason            string       `json:"reason,omitempty"`
	ProposedBy        string       `json:"proposed_by"`
	ExpiresAt         *time.Time   `json:"expires_at,omitempty"`
	CustomerConsentBy string       `json:"customer_consent_by,omitempty"`
	VendorConsentBy   string       `json:"vendor_consent_by,omitempty"`
	RevokedBy         string       `json:"revoked_by,omitempty"`
	RevokeReason      string       `json:"revoke_reason,omitempty"`
}

func engagementViewOf(e *Engagement) *engagementView {
	if e == nil {
		return nil
	}
	return &engagementView{MSPOrgID: e.MSPOrgID, CustomerOrgID: e.CustomerOrgID, Capabilities: e.Capabilities, Reason: e.Reason,
		ProposedBy: e.ProposedBy, ExpiresAt: e.Expires, CustomerConsentBy: e.CustomerConsentBy, VendorConsentBy: e.VendorConsentBy,
		RevokedBy: e.RevokedBy, RevokeReason: e.RevokeReason}
}

// record appends an engagement's event on the customer's org, whose administrators
// answer for what is done there, and names the MSP in its diff.
func (s *MSPs) record(ctx context.Context, now time.Time, action string, before, after *Engagement, extra map[string]any) error {
	e := audit.New(ctx, now, action, "msp_engagement", after.ID)
	e.OrgID = after.CustomerOrgID
	if extra != nil {
		extra["engagement"] = engagementViewOf(after)
		e.Diff = audit.Detail(extra)
	} else {
		e.Diff = audit.Diff(engagementViewOf(before), engagementViewOf(after))
	}
	return Record(ctx, s.Audit, e)
}

// EngagementRequest proposes an engagement.
type EngagementRequest struct {
	MSP          string // slug
	Customer     string // slug
	Capabilities []Capability
	Expires      *time.Time
	Reason       string
}

// administers checks that p administers org as its own: a delegate with the delegate
// capability there whose delegation is not itself an MSP's reach.
func (s *MSPs) administers(ctx context.Context, p Principal, org *Org) error {
	if p.Delegation == nil {
		return orgscim.Errorf(orgscim.Forbidden, "no delegation")
	}
	if p.Delegation.EngagementID != "" {
		return orgscim.Errorf(orgscim.Forbidden, "an MSP technician acts for the customer, never as its administrator")
	}
	return s.Delegations.Authorize(ctx, p, CapDelegate, org)
}

// Propose proposes that the MSP administer the customer. The vendor's operators or the
// MSP's administrators propose; it holds nothing until both consents are given.
func (s *MSPs) Propose(ctx context.Context, by Principal, r EngagementRequest) (*Engagement, error) {
	if err := requireFields("msp", r.MSP, "customer", r.Customer); err != nil {
		return nil, err
	}
	if len(r.Capabilities) == 0 {
		return nil, orgscim.Errorf(orgscim.Invalid, "an engagement needs at least one capability")
	}
	if err := CheckCapabilities(r.Capabilities); err != nil {
		return nil, err
	}
	if slices.Contains(r.Capabilities, CapDelegate) {
		return nil, orgscim.Errorf(orgscim.Invalid, "an engagement cannot confer delegate: an MSP's technicians act for the customer, they do not administer its delegations")
	}
	if len(r.Reason) > 2000 {
		return nil, orgscim.Errorf(orgscim.Invalid, "reason is at most 2000 characters")
	}
	now := s.now()
	if r.Expires != nil && !r.Expires.After(now) {
		return nil, orgscim.Errorf(orgscim.Invalid, "expiry must be in the future")
	}
	msp, err := s.Delegations.Orgs.OrgBySlug(ctx, r.MSP)
	if err != nil {
		return nil, err
	}
	customer, err := s.Delegations.Orgs.OrgBySlug(ctx, r.Customer)
	if err != nil {
		return nil, err
	}
	switch {
	case !msp.PartnerData() || !customer.PartnerData():
		return nil, orgscim.Errorf(orgscim.Invalid, "an engagement joins two partner orgs; the vendor's own orgs are administered by its operators")
	case msp.Contains(customer):
		return nil, orgscim.Errorf(orgscim.Invalid, "org %s lies inside the subtree of %s, which administers it already", customer.Slug, msp.Slug)
	case customer.Contains(msp):
		return nil, orgscim.Errorf(orgscim.Invalid, "org %s lies inside the subtree of its customer %s", msp.Slug, customer.Slug)
	}
	if by.Operator == "" {
		if err := s.administers(ctx, by, msp); err != nil {
			return nil, err
		}
	}
	e := &Engagement{ID: provisioning.NewID(), MSPOrgID: msp.ID, CustomerOrgID: customer.ID, Capabilities: slices.Clone(r.Capabilities),
		Reason: r.Reason, ProposedBy: by.Name(), Proposed: now, Expires: r.Expires}
	err = InTx(ctx, s.Tx, func(ctx context.Context) error {
		if err := s.Store.CreateEngagement(ctx, e); err != nil {
			return err
		}
		return s.record(ctx, now, ActMSPPropose, nil, e, nil)
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// requireFields names the fields, of name-value pairs, left empty.
func requireFields(pairs ...string) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			missing = append(missing, pairs[i])
		}
	}
	if len(missing) > 0 {
		return orgscim.Errorf(orgscim.Invalid, "missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// change runs fn on the locked engagement and records action.
func (s *MSPs) change(ctx context.Context, id, action string, fn func(ctx context.Context, e *Engagement, now time.Time) error) (*Engagement, error) {
	var out *Engagement
	err := InTx(ctx, s.Tx, func(ctx context.Context) error {
		now := s.now()
		var before Engagement
		e, err := s.Store.UpdateEngagement(ctx, id, func(e *Engagement) error {
			before = *e
			return fn(ctx, e, now)
		})
		if err != nil {
			return err
		}
		out = e
		return s.record(ctx, now, action, &before, e, nil)
	})
	return out, err
}

func open(e *Engagement, now time.Time) error {
	switch e.State(now) {
	case "revoked":
		return orgscim.Errorf(orgscim.Conflict, "MSP engagement %s was revoked", e.ID)
	case "expired":
		return orgscim.Errorf(orgscim.Conflict, "MSP engagement %s has expired", e.ID)
	}
	return nil
}

// ConsentCustomer records the consent of one of the customer's administrators (never
// the vendor's, never the MSP's).
func (s *MSPs) ConsentCustomer(ctx context.Context, by Principal, id string) (*Engagement, error) {
	return s.change(ctx, id, ActMSPConsentCustomer, func(ctx context.Context, e *Engagement, now time.Time) error {
		if by.Operator != "" {
			return orgscim.Errorf(orgscim.Forbidden, "the customer's administrator consents for the customer; the vendor consents with /consent-vendor")
		}
		customer, err := s.Delegations.Orgs.OrgByID(ctx, e.CustomerOrgID)
		if err != nil {
			return err
		}
		if err := s.administers(ctx, by, customer); err != nil {
			return err
		}
		if err := open(e, now); err != nil {
			return err
		}
		if e.CustomerConsent != nil {
			return orgscim.Errorf(orgscim.Conflict, "the customer has consented to MSP engagement %s already", e.ID)
		}
		e.CustomerConsentBy, e.CustomerConsentUnder, e.CustomerConsent = by.Name(), by.Under(), &now
		return nil
	})
}

// ConsentVendor records the vendor's consent: an operator's.
func (s *MSPs) ConsentVendor(ctx context.Context, by Principal, id string) (*Engagement, error) {
	return s.change(ctx, id, ActMSPConsentVendor, func(ctx context.Context, e *Engagement, now time.Time) error {
		if by.Operator == "" {
			return orgscim.Errorf(orgscim.Forbidden, "only the vendor's operators consent for the vendor")
		}
		if err := open(e, now); err != nil {
			return err
		}
		if e.VendorConsent != nil {
			return orgscim.Errorf(orgscim.Conflict, "the vendor has consented to MSP engagement %s already", e.ID)
		}
		e.VendorConsentBy, e.VendorConsent = by.Name(), &now
		return nil
	})
}

// party checks that p is one of the engagement's parties: an operator, or an
// administrator of the customer or of the MSP.
func (s *MSPs) party(ctx context.Context, p Principal, e *Engagement) error {
	if p.Operator != "" {
		return nil
	}
	customer, err := s.Delegations.Orgs.OrgByID(ctx, e.CustomerOrgID)
	if err != nil {
		return err
	}
	if s.administers(ctx, p, customer) == nil {
		return nil
	}
	msp, err := s.Delegations.Orgs.OrgByID(ctx, e.MSPOrgID)
	if err != nil {
		return err
	}
	return s.administers(ctx, p, msp)
}

// EngagementRevoked is what a revocation did.
type EngagementRevoked struct {
	Engagement  *Engagement
	Technicians []string // the technician delegations revoked with it
	Handover
}

// Revoke ends the engagement now, for the customer, the MSP or the vendor. Its
// technicians stopped holding at the commit through the rule already; their delegations
// are revoked in the same transaction too, so that the listings say so, and what they
// made on the customer goes back to the administrator who consented, for
// re-attestation.
func (s *MSPs) Revoke(ctx context.Context, by Principal, id, reason string) (*EngagementRevoked, error) {
	return s.revoke(ctx, by.Name(), id, reason, func(ctx context.Context, e *Engagement) error { return s.party(ctx, by, e) })
}

// revoke revokes the engagement as actor once may allows it.
func (s *MSPs) revoke(ctx context.Context, actor, id, reason string, may func(ctx context.Context, e *Engagement) error) (*EngagementRevoked, error) {
	out := &EngagementRevoked{}
	err := InTx(ctx, s.Tx, func(ctx context.Context) error {
		now := s.now()
		var before Engagement
		e, err := s.Store.UpdateEngagement(ctx, id, func(e *Engagement) error {
			before = *e
			if err := may(ctx, e); err != nil {
				return err
			}
			if e.Revoked != nil {
				return orgscim.Errorf(orgscim.Conflict, "MSP engagement %s was revoked already", e.ID)
			}
			e.Revoked, e.RevokedBy, e.RevokeReason = &now, actor, reason
			return nil
		})
		if err != nil {
			return err
		}
		out.Engagement = e
		techs, err := s.Store.TechniciansOf(ctx, e.ID)
		if err != nil {
			return err
		}
		why := "MSP engagement " + e.ID + " revoked"
		if reason != "" {
			why += ": " + reason
		}
		var listed []string
		grants, mappings := 0, 0
		for _, d := range techs {
			if d.Revoked != nil {
				continue
			}
			h, err := s.retireTechnician(ctx, e, d, actor, why, now)
			if err != nil {
				return err
			}
			grants, mappings = grants+h.Grants, mappings+h.Mappings
			out.Technicians = append(out.Technicians, d.ID)
			if len(listed) < maxListedIDs {
				listed = append(listed, d.ID)
			}
		}
		out.Handover = Handover{To: e.CustomerConsentUnder, Grants: grants, Mappings: mappings}
		return s.record(ctx, now, ActMSPRevoke, &before, e, map[string]any{"reason": reason, "technicians_revoked": len(out.Technicians),
			"technicians": listed, "grants_handed_over": grants, "mappings_handed_over": mappings})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// retireTechnician revokes a technician's delegation in the caller's transaction; what
// they made goes where handOverTechnicians sends it.
func (s *MSPs) retireTechnician(ctx context.Context, e *Engagement, d *Delegation, by, why string, now time.Time) (Handover, error) {
	revoked, err := s.Delegations.Store.RevokeDelegationTree(ctx, d.ID, now, by, why)
	if err != nil {
		return Handover{}, err
	}
	forgetDecisions(ctx)
	h, err := s.Delegations.handOver(ctx, d, revoked, "", false, time.Time{}, by, why, now)
	if err != nil {
		return h, err
	}
	return h, s.Delegations.recordRevocation(ctx, d, revoked, h, "", map[string]any{"reason": why, "engagement": e.ID}, now)
}

// Get returns an engagement to its parties.
func (s *MSPs) Get(ctx context.Context, by Principal, id string) (*Engagement, error) {
	e, err := s.Store.Engagement(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.party(ctx, by, e); err != nil {
		return nil, orgscim.Errorf(orgscim.NotFound, "no MSP engagement %q", id)
	}
	return e, nil
}

// List lists the engagements in which the org is the MSP or the customer, for the
// operators and the org's administrators.
func (s *MSPs) List(ctx context.Context, by Principal, orgSlug, after string, limit int) ([]*Engagement, error) {
	org, err := s.Delegations.Orgs.OrgBySlug(ctx, orgSlug)
	if err != nil {
		return nil, err
	}
	if by.Operator == "" {
		if err := s.administers(ctx, by, org); err != nil {
			return nil, err
		}
	}
	return s.Store.EngagementsOf(ctx, org.ID, after, limit)
}

// Holds evaluates the rule for an engagement now: nil, or Forbidden naming what broke.
func (s *MSPs) Holds(ctx context.Context, e *Engagement) error {
	msp, customer, byID, err := s.Store.EngagementStanding(ctx, e)
	if err != nil {
		return err
	}
	return EngagementHolds(e, msp, customer, byID, s.now())
}

// TechnicianRequest names a technician of the MSP for a customer.
type TechnicianRequest struct {
	Org                string // slug inside the customer's subtree; "" for the customer itself
	HolderConnectionID string
	HolderUserID       string
	Capabilities       []Capability
	Expires            *time.Time
}

// NameTechnician gives a person of the MSP their own delegation on the customer, made
// under the delegation through which one of the MSP's administrators acts: it confers
// no more than both that delegation and the engagement do, delegates nothing further,
// and ends no later than either. A technician may be named before both consents are
// given; the delegation holds only once they are.
func (s *MSPs) NameTechnician(ctx context.Context, by Principal, engagementID string, r TechnicianRequest) (*Delegation, error) {
	e, err := s.Store.Engagement(ctx, engagementID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	msp, err := s.Delegations.Orgs.OrgByID(ctx, e.MSPOrgID)
	if err != nil {
		return nil, err
	}
	if by.Delegation == nil {
		return nil, orgscim.Errorf(orgscim.Forbidden, "an MSP's administrator names its technicians, through their delegation on the MSP")
	}
	if err := s.administers(ctx, by, msp); err != nil {
		return nil, err
	}
	if err := open(e, now); err != nil {
		return nil, err
	}
	p := by.Delegation
	if len(r.Capabilities) == 0 {
		return nil, orgscim.Errorf(orgscim.Invalid, "a technician needs at least one capability")
	}
	if err := CheckCapabilities(r.Capabilities); err != nil {
		return nil, err
	}
	for _, c := range r.Capabilities {
		if !slices.Contains(e.Capabilities, c) {
			return nil, orgscim.Errorf(orgscim.Forbidden, "MSP engagement %s does not confer %s", e.ID, c)
		}
		if !p.Has(c) {
			return nil, orgscim.Errorf(orgscim.Forbidden, "cannot delegate %s: the delegation does not hold it", c)
		}
	}
	if p.Depth < 1 {
		return nil, orgscim.Errorf(orgscim.Forbidden, "this delegation may delegate 0 more levels")
	}
	if r.Expires != nil && !r.Expires.After(now) {
		return nil, orgscim.Errorf(orgscim.Invalid, "expiry must be in the future")
	}
	customer, err := s.Delegations.Orgs.OrgByID(ctx, e.CustomerOrgID)
	if err != nil {
		return nil, err
	}
	org := customer
	if r.Org != "" {
		if org, err = s.Delegations.Orgs.OrgBySlug(ctx, r.Org); err != nil {
			return nil, err
		}
		if !customer.Contains(org) {
			return nil, orgscim.Errorf(orgscim.Forbidden, "org %s lies outside customer %s of this engagement", org.Slug, customer.Slug)
		}
	}
	if err := requireFields("connection", r.HolderConnectionID, "user_id", r.HolderUserID); err != nil {
		return nil, err
	}
	conn, err := s.Delegations.Access.Store.ConnectionByID(ctx, r.HolderConnectionID)
	if err != nil {
		return nil, err
	}
	home, err := s.Delegations.Orgs.OrgByID(ctx, conn.OrgID)
	if err != nil {
		return nil, err
	}
	if !msp.Contains(home) {
		return nil, orgscim.Errorf(orgscim.Forbidden, "connection %s does not belong to MSP %s: technicians are the MSP's own people", conn.Slug, msp.Slug)
	}
	holder, err := s.Delegations.Access.Users.Get(ctx, conn.ID, r.HolderUserID)
	if err != nil {
		return nil, err
	}
	if !holder.Active {
		return nil, orgscim.Errorf(orgscim.Invalid, "user %s is inactive", holder.UserName)
	}
	d := &Delegation{ID: provisioning.NewID(), OrgID: org.ID, HolderConnectionID: conn.ID, HolderUserID: holder.ID,
		Capabilities: slices.Clone(r.Capabilities), GrantedBy: by.Name(), Created: now, Expires: r.Expires,
		ParentID: p.ID, EngagementID: e.ID}
	for _, limit := range []*time.Time{p.Expires, e.Expires} {
		if limit != nil && (d.Expires == nil || d.Expires.After(*limit)) {
			d.Expires = limit
		}
	}
	err = InTx(ctx, s.Delegations.Tx, func(ctx context.Context) error {
		if err := s.Delegations.Store.CreateDelegation(ctx, d); err != nil {
			return err
		}
		ev := audit.New(ctx, now, ActDelegationCreate, "delegation", d.ID)
		ev.OrgID = d.OrgID
		ev.Diff = audit.Diff(nil, delegationView{OrgID: d.OrgID, HolderConnectionID: d.HolderConnectionID,
			HolderUserID: d.HolderUserID, Capabilities: d.Capabilities, Depth: d.Depth, ParentID: d.ParentID,
			GrantedBy: d.GrantedBy, ExpiresAt: d.Expires, EngagementID: d.EngagementID})
		return Record(ctx, s.Delegations.Audit, ev)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Technicians lists the delegations made under the engagement, for its parties.
func (s *MSPs) Technicians(ctx context.Context, by Principal, engagementID string) ([]*Delegation, error) {
	if _, err := s.Get(ctx, by, engagementID); err != nil {
		return nil, err
	}
	return s.Store.TechniciansOf(ctx, engagementID)
}

// RemoveTechnician revokes one technician's delegation, for any party of the
// engagement.
func (s *MSPs) RemoveTechnician(ctx context.Context, by Principal, engagementID, delegationID, reason string) (*Delegation, error) {
	var out *Delegation
	err := InTx(ctx, s.Tx, func(ctx context.Context) error {
		e, err := s.Store.Engagement(ctx, engagementID)
		if err != nil {
			return err
		}
		if err := s.party(ctx, by, e); err != nil {
			return err
		}
		d, err := s.Delegations.Store.Delegation(ctx, delegationID)
		if err != nil || d.EngagementID != e.ID {
			return orgscim.Errorf(orgscim.NotFound, "no technician delegation %q under MSP engagement %s", delegationID, e.ID)
		}
		if d.Revoked != nil {
			return orgscim.Errorf(orgscim.Conflict, "technician delegation %s was revoked already", d.ID)
		}
		why := "technician removed from MSP engagement " + e.ID
		if reason != "" {
			why += ": " + reason
		}
		if _, err := s.retireTechnician(ctx, e, d, by.Name(), why, s.now()); err != nil {
			return err
		}
		out, err = s.Delegations.Store.Delegation(ctx, delegationID)
		return err
	})
	return out, err
}

// ConsentedUnder returns the delegation through which the customer's administrator
// consented to the engagement of the technician's delegation id ("" when none).
func (s *Delegations) ConsentedUnder(ctx context.Context, id string) (string, error) {
	chain, _, err := s.Store.DelegationChain(ctx, id)
	if err != nil {
		return "", err
	}
	if len(chain) == 0 || chain[0].Reach == nil {
		return "", nil
	}
	return chain[0].Reach.Engagement.CustomerConsentUnder, nil
}

// EngagedCustomers returns the customers that the MSP containing the connection's org
// reaches now, through engagements in force: the domain rule lets the connection
// provision their verified domains ("an MSP's delegated reach aside").
func (s *MSPs) EngagedCustomers(ctx context.Context, connectionID string) ([]*Org, error) {
	conn, err := s.Delegations.Access.Store.ConnectionByID(ctx, connectionID)
	if err != nil {
		return nil, err
	}
	home, err := s.Delegations.Orgs.OrgByID(ctx, conn.OrgID)
	if err != nil {
		return nil, err
	}
	es, err := s.Store.ConsentedEngagementsReaching(ctx, home.Path)
	if err != nil {
		return nil, err
	}
	var out []*Org
	for _, e := range es {
		msp, customer, byID, err := s.Store.EngagementStanding(ctx, e)
		if err != nil {
			return nil, err
		}
		if EngagementHolds(e, msp, customer, byID, s.now()) == nil {
			out = append(out, customer)
		}
	}
	return out, nil
}

// handOverTechnicians deals with the MSP technicians' delegations among revoked, in the
// caller's transaction, and returns the others: what a technician made lies on its
// customer, outside the subtree of whoever takes over the rest (the MSP's side), so it
// goes to the customer administrator's delegation that consented to the engagement when
// that still holds, else to the vendor's operators, with a re-attestation on the
// customer's org.
func (s *Delegations) handOverTechnicians(ctx context.Context, revoked []*Delegation, deadline time.Time, h *Handover) ([]*Delegation, error) {
	var rest []*Delegation
	for _, r := range revoked {
		if r.EngagementID == "" {
			rest = append(rest, r)
			continue
		}
		to, err := s.ConsentedUnder(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		if to != "" {
			if _, _, err := s.DelegationHolds(ctx, to); err != nil {
				if c := orgscim.ErrorCode(err); c != orgscim.Forbidden && c != orgscim.NotFound {
					return nil, err
				}
				to = ""
			}
		}
		grants, mappings, err := s.Access.Store.HandOver(ctx, []string{r.ID}, to)
		if err != nil {
			return nil, err
		}
		h.Grants, h.Mappings = h.Grants+len(grants), h.Mappings+len(mappings)
		if len(grants)+len(mappings) > 0 && s.Reattest != nil {
			rv, err := s.Reattest.Reattest(ctx, r.OrgID, grants, mappings, deadline, "MSP technician delegation "+r.ID+" revoked")
			if err != nil {
				return nil, err
			}
			if h.Reattestation == nil {
				h.Reattestation = rv
			}
		}
	}
	return rest, nil
}

// lapsed says why the engagement is over for good, "" when it is not: past its expiry,
// or an org on the MSP's or the customer's path has ended its relationship (status
// ended, or its contract and grace are over). A suspension is not: it may be lifted.
func lapsed(e *Engagement, msp, customer *Org, byID map[string]*Org, now time.Time) string {
	if e.Expires != nil && !now.Before(*e.Expires) {
		return "expired"
	}
	for _, side := range []struct {
		name string
		org  *Org
	}{{"the MSP's", msp}, {"the customer's", customer}} {
		if side.org == nil {
			return side.name + " org no longer exists"
		}
		for _, id := range pathIDs(side.org.Path) {
			o := byID[id]
			if o == nil {
				return side.name + " org no longer exists"
			}
			if o.Status == StatusEnded || (o.ContractEnd != nil && !now.Before(o.ContractEnd.Add(o.Grace))) {
				return side.name + " relationship ended (org " + o.Slug + ")"
			}
		}
	}
	return ""
}

// EndLapsed is the reconciler's rule: it revokes, as system:reconcile, every engagement
// that is over for good (lapsed), with its technicians' delegations, and returns their
// ids. The technicians stopped at the lapse already, under the authority rule; this
// records it, notifies the customer (msp.revoke on its org) and cleans up. A dry run
// only lists them.
func (s *MSPs) EndLapsed(ctx context.Context, dryRun bool) ([]string, error) {
	ended := []string{}
	for after := ""; ; {
		batch, err := s.Store.UnrevokedEngagements(ctx, after, 100)
		if err != nil || len(batch) == 0 {
			return ended, err
		}
		after = batch[len(batch)-1].ID
		for _, e := range batch {
			msp, customer, byID, err := s.Store.EngagementStanding(ctx, e)
			if err != nil {
				return ended, err
			}
			why := lapsed(e, msp, customer, byID, s.now())
			if why == "" {
				continue
			}
			ended = append(ended, e.ID)
			if dryRun {
				continue
			}
			_, err = s.revoke(audit.WithSource(ctx, audit.Source{Actor: "system:reconcile"}), "system:reconcile", e.ID, why,
				func(context.Context, *Engagement) error { return nil })
			if err != nil && orgscim.ErrorCode(err) != orgscim.Conflict { // revoked meanwhile
				return ended, err
			}
		}
	}
}
