package msp

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// Audit actions of engagements.
const (
	ActPropose         = "msp.propose"
	ActConsentCustomer = "msp.consent_customer"
	ActConsentVendor   = "msp.consent_vendor"
	ActRevoke          = "msp.revoke"
)

// maxListedIDs bounds the ids an event lists, as orgs' events do.
const maxListedIDs = 1000

// Store keeps engagements.
type Store interface {
	// CreateEngagement stores e; Conflict when the pair has one unrevoked already.
	CreateEngagement(ctx context.Context, e *orgs.Engagement) error
	Engagement(ctx context.Context, id string) (*orgs.Engagement, error)
	// UpdateEngagement runs fn on the locked engagement and stores the result.
	UpdateEngagement(ctx context.Context, id string, fn func(*orgs.Engagement) error) (*orgs.Engagement, error)
	// EngagementsOf lists the engagements in which the org is the MSP or the customer,
	// by id after after.
	EngagementsOf(ctx context.Context, orgID, after string, limit int) ([]*orgs.Engagement, error)
	// TechniciansOf lists the delegations made under the engagement, revoked ones too,
	// oldest first.
	TechniciansOf(ctx context.Context, engagementID string) ([]*orgs.Delegation, error)
	// UnrevokedEngagements lists the unrevoked engagements by id after after.
	UnrevokedEngagements(ctx context.Context, after string, limit int) ([]*orgs.Engagement, error)
	// ConsentedEngagementsReaching lists the unrevoked engagements with both consents
	// whose MSP org is orgPath's org or one of its ancestors.
	ConsentedEngagementsReaching(ctx context.Context, orgPath string) ([]*orgs.Engagement, error)
	// EngagementStanding reads what orgs.EngagementHolds needs: the engagement's two orgs and
	// every org on their paths.
	EngagementStanding(ctx context.Context, e *orgs.Engagement) (msp, customer *orgs.Org, byID map[string]*orgs.Org, err error)
}

// Service keeps MSP engagements and names their technicians.
type Service struct {
	Store       Store
	Delegations *orgs.Delegations
	Tx          provisioning.Transactor
	Audit       orgs.AuditLog
	Now         func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

// engagementView is what an event shows of an engagement.
type engagementView struct {
	MSPOrgID          string            `json:"msp_org_id"`
	CustomerOrgID     string            `json:"customer_org_id"`
	Capabilities      []orgs.Capability `json:"capabilities"`
	Reason            string            `json:"reason,omitempty"`
	ProposedBy        string            `json:"proposed_by"`
	ExpiresAt         *time.Time        `json:"expires_at,omitempty"`
	CustomerConsentBy string            `json:"customer_consent_by,omitempty"`
	VendorConsentBy   string            `json:"vendor_consent_by,omitempty"`
	RevokedBy         string            `json:"revoked_by,omitempty"`
	RevokeReason      string            `json:"revoke_reason,omitempty"`
}

func engagementViewOf(e *orgs.Engagement) *engagementView {
	if e == nil {
		return nil
	}
	return &engagementView{MSPOrgID: e.MSPOrgID, CustomerOrgID: e.CustomerOrgID, Capabilities: e.Capabilities, Reason: e.Reason,
		ProposedBy: e.ProposedBy, ExpiresAt: e.Expires, CustomerConsentBy: e.CustomerConsentBy, VendorConsentBy: e.VendorConsentBy,
		RevokedBy: e.RevokedBy, RevokeReason: e.RevokeReason}
}

// record appends an engagement's event on the customer's org, whose administrators
// answer for what is done there, and names the MSP in its diff.
func (s *Service) record(ctx context.Context, now time.Time, action string, before, after *orgs.Engagement, extra map[string]any) error {
	e := audit.New(ctx, now, action, "msp_engagement", after.ID)
	e.OrgID = after.CustomerOrgID
	if extra != nil {
		extra["engagement"] = engagementViewOf(after)
		e.Diff = audit.Detail(extra)
	} else {
		e.Diff = audit.Diff(engagementViewOf(before), engagementViewOf(after))
	}
	return orgs.Record(ctx, s.Audit, e)
}

// EngagementRequest proposes an engagement.
type EngagementRequest struct {
	MSP          string // slug
	Customer     string // slug
	Capabilities []orgs.Capability
	Expires      *time.Time
	Reason       string
}

// administers checks that p administers org as its own: a delegate with the delegate
// capability there whose delegation is not itself an MSP's reach.
func (s *Service) administers(ctx context.Context, p orgs.Principal, org *orgs.Org) error {
	if p.Delegation == nil {
		return orgscim.Errorf(orgscim.Forbidden, "no delegation")
	}
	if p.Delegation.EngagementID != "" {
		return orgscim.Errorf(orgscim.Forbidden, "an MSP technician acts for the customer, never as its administrator")
	}
	return s.Delegations.Authorize(ctx, p, orgs.CapDelegate, org)
}

// Propose proposes that the MSP administer the customer. The vendor's operators or the
// MSP's administrators propose; it holds nothing until both consents are given.
func (s *Service) Propose(ctx context.Context, by orgs.Principal, r EngagementRequest) (*orgs.Engagement, error) {
	if err := requireFields("msp", r.MSP, "customer", r.Customer); err != nil {
		return nil, err
	}
	if len(r.Capabilities) == 0 {
		return nil, orgscim.Errorf(orgscim.Invalid, "an engagement needs at least one capability")
	}
	if err := orgs.CheckCapabilities(r.Capabilities); err != nil {
		return nil, err
	}
	if slices.Contains(r.Capabilities, orgs.CapDelegate) {
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
	e := &orgs.Engagement{ID: provisioning.NewID(), MSPOrgID: msp.ID, CustomerOrgID: customer.ID, Capabilities: slices.Clone(r.Capabilities),
		Reason: r.Reason, ProposedBy: by.Name(), Proposed: now, Expires: r.Expires}
	err = orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
		if err := s.Store.CreateEngagement(ctx, e); err != nil {
			return err
		}
		return s.record(ctx, now, ActPropose, nil, e, nil)
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
func (s *Service) change(ctx context.Context, id, action string, fn func(ctx context.Context, e *orgs.Engagement, now time.Time) error) (*orgs.Engagement, error) {
	var out *orgs.Engagement
	err := orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
		now := s.now()
		var before orgs.Engagement
		e, err := s.Store.UpdateEngagement(ctx, id, func(e *orgs.Engagement) error {
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

func open(e *orgs.Engagement, now time.Time) error {
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
func (s *Service) ConsentCustomer(ctx context.Context, by orgs.Principal, id string) (*orgs.Engagement, error) {
	return s.change(ctx, id, ActConsentCustomer, func(ctx context.Context, e *orgs.Engagement, now time.Time) error {
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
func (s *Service) ConsentVendor(ctx context.Context, by orgs.Principal, id string) (*orgs.Engagement, error) {
	return s.change(ctx, id, ActConsentVendor, func(ctx context.Context, e *orgs.Engagement, now time.Time) error {
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
func (s *Service) party(ctx context.Context, p orgs.Principal, e *orgs.Engagement) error {
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
	Engagement  *orgs.Engagement
	Technicians []string // the technician delegations revoked with it
	orgs.Handover
}

// Revoke ends the engagement now, for the customer, the MSP or the vendor. Its
// technicians stopped holding at the commit through the rule already; their delegations
// are revoked in the same transaction too, so that the listings say so, and what they
// made on the customer goes back to the administrator who consented, for
// re-attestation.
func (s *Service) Revoke(ctx context.Context, by orgs.Principal, id, reason string) (*EngagementRevoked, error) {
	return s.revoke(ctx, by.Name(), id, reason, func(ctx context.Context, e *orgs.Engagement) error { return s.party(ctx, by, e) })
}

// revoke revokes the engagement as actor once may allows it.
func (s *Service) revoke(ctx context.Context, actor, id, reason string, may func(ctx context.Context, e *orgs.Engagement) error) (*EngagementRevoked, error) {
	out := &EngagementRevoked{}
	err := orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
		now := s.now()
		var before orgs.Engagement
		e, err := s.Store.UpdateEngagement(ctx, id, func(e *orgs.Engagement) error {
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
		out.Handover = orgs.Handover{To: e.CustomerConsentUnder, Grants: grants, Mappings: mappings}
		return s.record(ctx, now, ActRevoke, &before, e, map[string]any{"reason": reason, "technicians_revoked": len(out.Technicians),
			"technicians": listed, "grants_handed_over": grants, "mappings_handed_over": mappings})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// retireTechnician revokes a technician's delegation in the caller's transaction; what
// they made goes to the customer's side (orgs.Delegations.RevokeTechnician).
func (s *Service) retireTechnician(ctx context.Context, e *orgs.Engagement, d *orgs.Delegation, by, why string, now time.Time) (orgs.Handover, error) {
	return s.Delegations.RevokeTechnician(ctx, d, by, why, map[string]any{"engagement": e.ID}, now)
}

// Get returns an engagement to its parties.
func (s *Service) Get(ctx context.Context, by orgs.Principal, id string) (*orgs.Engagement, error) {
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
func (s *Service) List(ctx context.Context, by orgs.Principal, orgSlug, after string, limit int) ([]*orgs.Engagement, error) {
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
func (s *Service) Holds(ctx context.Context, e *orgs.Engagement) error {
	msp, customer, byID, err := s.Store.EngagementStanding(ctx, e)
	if err != nil {
		return err
	}
	return orgs.EngagementHolds(e, msp, customer, byID, s.now())
}

// TechnicianRequest names a technician of the MSP for a customer.
type TechnicianRequest struct {
	Org                string // slug inside the customer's subtree; "" for the customer itself
	HolderConnectionID string
	HolderUserID       string
	Capabilities       []orgs.Capability
	Expires            *time.Time
}

// NameTechnician gives a person of the MSP their own delegation on the customer, made
// under the delegation through which one of the MSP's administrators acts: it confers
// no more than both that delegation and the engagement do, delegates nothing further,
// and ends no later than either. A technician may be named before both consents are
// given; the delegation holds only once they are.
func (s *Service) NameTechnician(ctx context.Context, by orgs.Principal, engagementID string, r TechnicianRequest) (*orgs.Delegation, error) {
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
	if err := orgs.CheckCapabilities(r.Capabilities); err != nil {
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
	d := &orgs.Delegation{ID: provisioning.NewID(), OrgID: org.ID, HolderConnectionID: conn.ID, HolderUserID: holder.ID,
		Capabilities: slices.Clone(r.Capabilities), GrantedBy: by.Name(), Created: now, Expires: r.Expires,
		ParentID: p.ID, EngagementID: e.ID}
	for _, limit := range []*time.Time{p.Expires, e.Expires} {
		if limit != nil && (d.Expires == nil || d.Expires.After(*limit)) {
			d.Expires = limit
		}
	}
	if err := s.Delegations.CreateTechnician(ctx, d, now); err != nil {
		return nil, err
	}
	return d, nil
}

// Technicians lists the delegations made under the engagement, for its parties.
func (s *Service) Technicians(ctx context.Context, by orgs.Principal, engagementID string) ([]*orgs.Delegation, error) {
	if _, err := s.Get(ctx, by, engagementID); err != nil {
		return nil, err
	}
	return s.Store.TechniciansOf(ctx, engagementID)
}

// RemoveTechnician revokes one technician's delegation, for any party of the
// engagement.
func (s *Service) RemoveTechnician(ctx context.Context, by orgs.Principal, engagementID, delegationID, reason string) (*orgs.Delegation, error) {
	var out *orgs.Delegation
	err := orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
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

// EngagedCustomers returns the customers that the MSP containing the connection's org
// reaches now, through engagements in force: the domain rule lets the connection
// provision their verified domains ("an MSP's delegated reach aside").
func (s *Service) EngagedCustomers(ctx context.Context, connectionID string) ([]*orgs.Org, error) {
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
	var out []*orgs.Org
	for _, e := range es {
		msp, customer, byID, err := s.Store.EngagementStanding(ctx, e)
		if err != nil {
			return nil, err
		}
		if orgs.EngagementHolds(e, msp, customer, byID, s.now()) == nil {
			out = append(out, customer)
		}
	}
	return out, nil
}

// EndLapsed is the reconciler's rule: it revokes, as system:reconcile, every engagement
// that is over for good (lapsed), with its technicians' delegations, and returns their
// ids. The technicians stopped at the lapse already, under the authority rule; this
// records it, notifies the customer (msp.revoke on its org) and cleans up. A dry run
// only lists them.
func (s *Service) EndLapsed(ctx context.Context, dryRun bool) ([]string, error) {
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
			why := orgs.EngagementLapsed(e, msp, customer, byID, s.now())
			if why == "" {
				continue
			}
			ended = append(ended, e.ID)
			if dryRun {
				continue
			}
			_, err = s.revoke(audit.WithSource(ctx, audit.Source{Actor: "system:reconcile"}), "system:reconcile", e.ID, why,
				func(context.Context, *orgs.Engagement) error { return nil })
			if err != nil && orgscim.ErrorCode(err) != orgscim.Conflict { // revoked meanwhile
				return ended, err
			}
		}
	}
}
