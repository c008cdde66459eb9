package orgs

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
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
//
// This file holds what the rule and the delegations need of an engagement; package msp
// holds the engagements' lifecycle (proposal, consents, revocation, technicians).

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
			if h.ReattestationID == "" {
				h.ReattestationID = rv
			}
		}
	}
	return rest, nil
}

// EngagementLapsed says why the engagement is over for good, "" when it is not: past its expiry,
// or an org on the MSP's or the customer's path has ended its relationship (status
// ended, or its contract and grace are over). A suspension is not: it may be lifted.
func EngagementLapsed(e *Engagement, msp, customer *Org, byID map[string]*Org, now time.Time) string {
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

// CreateTechnician stores a technician's delegation, made and checked under its
// engagement by package msp, with its event, in one transaction.
func (s *Delegations) CreateTechnician(ctx context.Context, d *Delegation, now time.Time) error {
	if d.EngagementID == "" || d.ParentID == "" {
		return orgscim.Errorf(orgscim.Internal, "a technician's delegation needs its engagement and the delegation it is made under")
	}
	return InTx(ctx, s.Tx, func(ctx context.Context) error {
		if err := s.Store.CreateDelegation(ctx, d); err != nil {
			return err
		}
		ev := audit.New(ctx, now, ActDelegationCreate, "delegation", d.ID)
		ev.OrgID = d.OrgID
		ev.Diff = audit.Diff(nil, delegationView{OrgID: d.OrgID, HolderConnectionID: d.HolderConnectionID,
			HolderUserID: d.HolderUserID, Capabilities: d.Capabilities, Depth: d.Depth, ParentID: d.ParentID,
			GrantedBy: d.GrantedBy, ExpiresAt: d.Expires, EngagementID: d.EngagementID})
		return Record(ctx, s.Audit, ev)
	})
}

// RevokeTechnician revokes a technician's delegation in the caller's transaction, with
// its event (detail adds to it); what the technician made goes where
// handOverTechnicians sends it.
func (s *Delegations) RevokeTechnician(ctx context.Context, d *Delegation, by, why string, detail map[string]any, now time.Time) (Handover, error) {
	revoked, err := s.Store.RevokeDelegationTree(ctx, d.ID, now, by, why)
	if err != nil {
		return Handover{}, err
	}
	forgetDecisions(ctx)
	h, err := s.handOver(ctx, d, revoked, "", false, time.Time{}, by, why, now)
	if err != nil {
		return h, err
	}
	detail["reason"] = why
	return h, s.recordRevocation(ctx, d, revoked, h, "", detail, now)
}
