package reviews

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// Audit actions of access reviews.
const (
	ActStart   = "review.start"
	ActConfirm = "review.confirm"
	ActRevoke  = "review.revoke"
	ActCancel  = "review.cancel"
	ActClose   = "review.close"
)

// State is where a campaign is: open until its deadline, then closed; or
// cancelled before it, which revokes nothing.
type State string

const (
	Open      State = "open"
	Closed    State = "closed"
	Cancelled State = "cancelled"
)

// Item decisions. An item still pending whose grant has ended by other means (revoked,
// expired) is "lapsed": nothing is left to decide, and the deadline does not touch it.
const (
	ItemPending   = "pending"
	ItemConfirmed = "confirmed"
	ItemRevoked   = "revoked"
	ItemLapsed    = "lapsed" // a filter and a count, never a stored decision
	// ItemRetired is a mapping's: retired by a reviewer, or at the deadline.
	ItemRetired = "retired"
)

// Audit actions of a mapping's attestation.
const (
	ActConfirmMapping = "review.confirm_mapping"
	ActRetireMapping  = "review.retire_mapping"
)

// MaxLength bounds a campaign: a review nobody finishes within a year is no review.
const MaxLength = 366 * 24 * time.Hour

// Kind says what a campaign covers and why it was opened.
type Kind string

const (
	// KindSubtree: every grant live in a subtree, started by a person.
	KindSubtree Kind = "subtree"
	// KindReattest: exactly the grants made under a revoked delegation, handed to its
	// successor (or to whoever revoked it) to confirm or revoke.
	KindReattest Kind = "reattest"
	// KindRevalidate: every grant live in a subtree after a business event (a move, a
	// contract or owner change), for the new administrators to confirm or revoke.
	KindRevalidate Kind = "revalidate"
)

// Scope selects the grants a campaign snapshots: those live on the orgs of the
// subtree at Path, or, when GrantIDs is not nil, those of these that are live.
// Mappings are snapshotted alongside: the active ones on the subtree, or, when GrantIDs
// is set, those of MappingIDs that are active.
type Scope struct {
	Path       string
	GrantIDs   []string
	MappingIDs []string
}

// DefaultReattestation is how long re-attestation and revalidation campaigns run.
const DefaultReattestation = 14 * 24 * time.Hour

// Review is an access review campaign over the subtree of OrgID: the grants live there
// when it started (or the grants its kind names) each wait for a confirmation or a
// revocation until Deadline; what is unconfirmed then is revoked.
type Review struct {
	ID          string
	Kind        Kind
	OrgID       string
	Name        string
	Description string
	CreatedBy   string
	Created     time.Time
	Deadline    time.Time
	State       State
	EndedBy     string // who closed or cancelled it
	Ended       *time.Time
	Counts      Counts
}

// Counts is how far a campaign has got. Items = Confirmed + Revoked +
// RevokedAtDeadline + Pending + Lapsed.
type Counts struct {
	Items int
	// ExcludedMapping counted the mapping grants left out of snapshots taken before
	// reviews covered them; 0 for campaigns since.
	ExcludedMapping   int
	Confirmed         int
	Revoked           int // by a reviewer
	RevokedAtDeadline int // not confirmed by the deadline
	Pending           int // undecided, grant still live
	Lapsed            int // undecided, grant ended by other means
	// The mappings of the snapshot: confirmed, or retired (by a reviewer or at the
	// deadline); the rest are pending or have ended by other means.
	Mappings          int
	MappingsConfirmed int
	MappingsRetired   int
}

// Mapping is one mapping of a campaign's snapshot and its decision: the rule
// behind the grants of its group's members, attested as a whole.
type Mapping struct {
	ReviewID  string
	Mapping   *orgs.Mapping // as it is now
	Decision  string        // pending, confirmed or retired
	DecidedBy string
	Decided   *time.Time
	Note      string
}

// Item is one grant of a campaign's snapshot and its decision.
type Item struct {
	ReviewID string
	Grant    *orgs.Grant // as it is now
	// ServiceAccount is the grant's holder when it is a service account (the grant has no
	// connection; its user is the account), as the account is now; nil for a person. The
	// line names the account and its accountable owner.
	ServiceAccount *orgs.ServiceAccount
	Decision       string
	DecidedBy      string
	Decided        *time.Time
	Note           string
}

// Store keeps campaigns and their items.
type Store interface {
	// CreateReview stores r and snapshots into it the grants scope selects that are
	// live at r.Created, mapping grants included. It sets r.Counts.Items.
	CreateReview(ctx context.Context, r *Review, scope Scope) error
	// Review returns a campaign with its counts, Pending and Lapsed judged at at; a zero
	// at leaves those two out (they cost a pass over the undecided items).
	Review(ctx context.Context, id string, at time.Time) (*Review, error)
	// Reviews lists the campaigns on orgs of the subtree at path (every one when path is
	// empty) — and, when above is set, on the orgs above it too — of one state when
	// state is set, by id after after.
	Reviews(ctx context.Context, path string, above bool, state, after string, limit int, at time.Time) ([]*Review, error)
	// EndReview runs fn on the locked campaign and stores its state, EndedBy and Ended.
	EndReview(ctx context.Context, id string, fn func(*Review) error) (*Review, error)
	// ReviewItems, DecideItem and Unconfirmed fill in each item's ServiceAccount.
	//
	// ReviewItems lists a campaign's items by grant id after after: of one decision when
	// decision is set (pending: grant live at at; lapsed: grant ended), on orgs of the
	// subtree at path only when path is set.
	ReviewItems(ctx context.Context, id, decision, path, after string, limit int, at time.Time) ([]*Item, error)
	// CountReviewItems counts the items ReviewItems would list from the start, and those
	// of them at or before the grant id after: which of how many a page shows.
	CountReviewItems(ctx context.Context, id, decision, path, after string, at time.Time) (total, before int, err error)
	// ReviewMappings lists a campaign's mappings by mapping id after after, of one
	// decision when decision is set, on orgs of the subtree at path only when path is set.
	ReviewMappings(ctx context.Context, id, decision, path, after string, limit int) ([]*Mapping, error)
	// DecideMapping runs fn on the locked mapping item and stores its decision, counting
	// it on the campaign.
	DecideMapping(ctx context.Context, id, mappingID string, fn func(*Mapping) error) (*Mapping, error)
	// DecideItem runs fn on the locked item (with its grant) and stores its decision,
	// counting it on the campaign.
	DecideItem(ctx context.Context, id, grantID string, fn func(*Item) error) (*Item, error)
	// DueReviews returns the open campaigns whose deadline is at or before at.
	DueReviews(ctx context.Context, at time.Time) ([]*Review, error)
	// Unconfirmed returns up to limit pending items of the campaign whose grant is live
	// at at, by grant id after after.
	Unconfirmed(ctx context.Context, id string, at time.Time, after string, limit int) ([]*Item, error)
	// RevokeUnconfirmed marks those of the items still pending with a grant live at
	// asOf as revoked, revokes their grants at now, counts them on the campaign and
	// returns the grant ids: an item decided meanwhile, or revoked by an earlier
	// attempt, is left alone.
	RevokeUnconfirmed(ctx context.Context, id string, grantIDs []string, asOf, now time.Time, by, reason string) ([]string, error)
}

// Service is the service over access reviews.
type Service struct {
	Store  Store
	Access *orgs.Access // authorisation, grants, and the one path that revokes a grant by hand
	Tx     provisioning.Transactor
	Audit  orgs.AuditLog // optional
	Now    func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

func (s *Service) record(ctx context.Context, e audit.Event) error {
	return orgs.Record(ctx, s.Audit, e)
}

// StartReview opens a campaign over the subtree of orgID until deadline and snapshots
// the grants live there now into its items. Operators and delegates with approve on the
// org may start one.
//
// Grants a mapping materialises are reviewed like any other: confirming one attests the
// person's membership; revoking one records an exception against the mapping, which
// then does not grant it again whatever the IdP's group says (orgs.MappingException).
func (s *Service) StartReview(ctx context.Context, by orgs.Principal, orgID, name, description string, deadline time.Time) (*Review, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, orgscim.Errorf(orgscim.Invalid, "a review needs a name of at most 200 characters")
	}
	if len(description) > 2000 {
		return nil, orgscim.Errorf(orgscim.Invalid, "a review's description is at most 2000 characters")
	}
	now := s.now()
	deadline = deadline.UTC().Truncate(time.Millisecond)
	if !deadline.After(now) {
		return nil, orgscim.Errorf(orgscim.Invalid, "the deadline must be in the future")
	}
	if deadline.Sub(now) > MaxLength {
		return nil, orgscim.Errorf(orgscim.Invalid, "the deadline must be within %d days", int(MaxLength/(24*time.Hour)))
	}
	org, err := s.Access.Org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if err := s.Access.Authorize(ctx, by, orgs.CapApprove, org); err != nil {
		return nil, err
	}
	r := &Review{ID: provisioning.NewID(), Kind: KindSubtree, OrgID: org.ID, Name: name, Description: description,
		CreatedBy: by.Name(), Created: now, Deadline: deadline, State: Open}
	err = orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
		return s.open(ctx, r, Scope{Path: org.Path}, nil)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// open stores the campaign with its snapshot and records its start, in the caller's
// transaction.
func (s *Service) open(ctx context.Context, r *Review, scope Scope, detail map[string]any) error {
	if err := s.Store.CreateReview(ctx, r, scope); err != nil {
		return err
	}
	r.Counts.Pending = r.Counts.Items
	e := audit.New(ctx, r.Created, ActStart, "review", r.ID)
	e.OrgID = r.OrgID
	d := map[string]any{"name": r.Name, "kind": r.Kind, "deadline": r.Deadline, "items": r.Counts.Items, "mappings": r.Counts.Mappings}
	for k, v := range detail {
		d[k] = v
	}
	e.Diff = audit.Detail(d)
	return s.record(ctx, e)
}

// systemActor names who opens a campaign that a change, not a person, opens: the actor
// of the change when the context says, else "system".
func systemActor(ctx context.Context) string {
	if a := audit.SourceOf(ctx).Actor; a != "" {
		return a
	}
	return "system"
}

// Reattest opens, in the caller's transaction, a campaign over exactly the grants and
// mappings with these ids — those made under a revoked delegation and handed over — on
// the subtree of orgID, until deadline (zero: DefaultReattestation from now). Whoever
// administers their orgs confirms or revokes (retires) them; what is unconfirmed then
// is revoked (retired). It returns the campaign's id (orgs.Delegations.Reattest).
func (s *Service) Reattest(ctx context.Context, orgID string, grantIDs, mappingIDs []string, deadline time.Time, why string) (string, error) {
	now := s.now()
	if deadline.IsZero() {
		deadline = now.Add(DefaultReattestation)
	}
	if grantIDs == nil {
		grantIDs = []string{}
	}
	if mappingIDs == nil {
		mappingIDs = []string{}
	}
	r := &Review{ID: provisioning.NewID(), Kind: KindReattest, OrgID: orgID, Name: "re-attestation: " + why,
		Description: "The grants made under a revoked delegation, handed over: confirm each one that should stay.",
		CreatedBy:   systemActor(ctx), Created: now, Deadline: deadline.UTC().Truncate(time.Millisecond), State: Open}
	if err := s.open(ctx, r, Scope{GrantIDs: grantIDs, MappingIDs: mappingIDs}, map[string]any{"reason": why}); err != nil {
		return "", err
	}
	return r.ID, nil
}

// Revalidate opens, in the caller's transaction, a campaign over the subtree of org
// after a business event (why says which), for DefaultReattestation: the rights whose
// source no longer covers the org have stopped already (the authority rule); the rest
// are confirmed or revoked by the org's administrators as they are now. It returns the
// campaign's id (orgs.Directory.Revalidate).
func (s *Service) Revalidate(ctx context.Context, org *orgs.Org, why string) (string, error) {
	now := s.now()
	r := &Review{ID: provisioning.NewID(), Kind: KindRevalidate, OrgID: org.ID, Name: "revalidation: " + why,
		Description: "A business event changed who answers for this subtree: confirm each grant that should stay.",
		CreatedBy:   systemActor(ctx), Created: now, Deadline: now.Add(DefaultReattestation), State: Open}
	if err := s.open(ctx, r, Scope{Path: org.Path}, map[string]any{"reason": why}); err != nil {
		return "", err
	}
	return r.ID, nil
}

// visible returns the campaign to a caller who may see it: operators; a delegate whose
// subtree and the campaign's org lie on one path of the tree (it administers the whole
// campaign, or a part of it). path is the part of the campaign the caller reviews: ""
// for all of it. The campaign comes with its counts as of at, unless at is zero.
func (s *Service) visible(ctx context.Context, by orgs.Principal, id string, at time.Time) (r *Review, path string, err error) {
	r, err = s.Store.Review(ctx, id, at)
	if err != nil {
		return nil, "", err
	}
	if by.Operator != "" {
		return r, "", nil
	}
	notFound := orgscim.Errorf(orgscim.NotFound, "review %q not found", id)
	if by.Delegation == nil {
		return nil, "", notFound
	}
	m, err := s.Access.Store.OrgsByID(ctx, []string{r.OrgID, by.Delegation.OrgID})
	if err != nil {
		return nil, "", err
	}
	home, target := m[by.Delegation.OrgID], m[r.OrgID]
	if home == nil || target == nil {
		return nil, "", notFound
	}
	switch {
	case home.Contains(target):
		return r, "", nil
	case target.Contains(home):
		return r, home.Path, nil
	}
	return nil, "", notFound
}

// ReviewFor returns a campaign, with its counts, to a caller who may see it.
func (s *Service) ReviewFor(ctx context.Context, by orgs.Principal, id string) (*Review, error) {
	r, _, err := s.visible(ctx, by, id, s.now())
	return r, err
}

// List lists the campaigns on orgs of org's subtree; with org nil, the caller's whole
// view: every campaign for an operator, and for a delegate those on its subtree and
// those above it, in which it reviews its part.
func (s *Service) List(ctx context.Context, by orgs.Principal, org *orgs.Org, state, after string, limit int) ([]*Review, error) {
	switch state {
	case "", string(Open), string(Closed), string(Cancelled):
	default:
		return nil, orgscim.Errorf(orgscim.Invalid, "state must be open, closed or cancelled")
	}
	path, above := "", false
	if org != nil {
		if err := s.Access.Authorize(ctx, by, s.anyCapability(by), org); err != nil {
			return nil, err
		}
		path = org.Path
	} else if by.Operator == "" {
		if by.Delegation == nil {
			return nil, orgscim.Errorf(orgscim.Forbidden, "no authority here")
		}
		home, err := s.Access.Org(ctx, by.Delegation.OrgID)
		if err != nil {
			return nil, err
		}
		path, above = home.Path, true
	}
	return s.Store.Reviews(ctx, path, above, state, after, limit, s.now())
}

// anyCapability is a capability the principal holds, to ask whether it may see an org.
func (s *Service) anyCapability(by orgs.Principal) orgs.Capability {
	if by.Delegation != nil && len(by.Delegation.Capabilities) > 0 {
		return by.Delegation.Capabilities[0]
	}
	return orgs.CapManageMembers
}

// Items lists a campaign's items the caller reviews: all of them, or, for a delegate of
// a part of the campaign's subtree, those on that part.
func (s *Service) Items(ctx context.Context, by orgs.Principal, id, decision, after string, limit int) ([]*Item, error) {
	path, err := s.itemsOf(ctx, by, id, decision)
	if err != nil {
		return nil, err
	}
	return s.Store.ReviewItems(ctx, id, decision, path, after, limit, s.now())
}

// CountItems counts the items Items lists, all of them and those up to the grant id
// after, so that a page of them says which of how many it shows.
func (s *Service) CountItems(ctx context.Context, by orgs.Principal, id, decision, after string) (total, before int, err error) {
	path, err := s.itemsOf(ctx, by, id, decision)
	if err != nil {
		return 0, 0, err
	}
	return s.Store.CountReviewItems(ctx, id, decision, path, after, s.now())
}

// itemsOf checks a filter by decision and returns the part of the campaign's subtree
// whose items the caller reviews ("" for all of it).
func (s *Service) itemsOf(ctx context.Context, by orgs.Principal, id, decision string) (string, error) {
	switch decision {
	case "", ItemPending, ItemConfirmed, ItemRevoked, ItemLapsed:
	default:
		return "", orgscim.Errorf(orgscim.Invalid, "decision must be pending, confirmed, revoked or lapsed")
	}
	_, path, err := s.visible(ctx, by, id, time.Time{})
	return path, err
}

// Confirm attests that the grant of an item should stay.
func (s *Service) Confirm(ctx context.Context, by orgs.Principal, id, grantID, note string) (*Item, error) {
	return s.decide(ctx, by, id, grantID, ItemConfirmed, note)
}

// Revoke revokes the grant of an item at once, through the same path as DELETE
// /grants/{id}, with the campaign in its reason, in the decision's transaction.
func (s *Service) Revoke(ctx context.Context, by orgs.Principal, id, grantID, note string) (*Item, error) {
	return s.decide(ctx, by, id, grantID, ItemRevoked, note)
}

// decide records a reviewer's decision on a pending item. The reviewer is an operator
// or a delegate with manage_members on the grant's org — the authority to revoke it by
// hand — and never the grant's holder: nobody attests their own access.
func (s *Service) decide(ctx context.Context, by orgs.Principal, id, grantID, decision, note string) (*Item, error) {
	var out *Item
	err := s.deciding(ctx, by, id, note, func(ctx context.Context, r *Review, now time.Time) error {
		var g *orgs.Grant
		var sa *orgs.ServiceAccount
		var err error
		out, err = s.Store.DecideItem(ctx, id, grantID, func(it *Item) error {
			g, sa = it.Grant, it.ServiceAccount
			org, err := s.Access.Org(ctx, g.OrgID)
			if err != nil {
				return err
			}
			if err := s.Access.Authorize(ctx, by, orgs.CapManageMembers, org); err != nil {
				return err
			}
			if by.Holds(g.ConnectionID, g.UserID) {
				return orgscim.Errorf(orgscim.Forbidden, "nobody reviews their own grant")
			}
			if sa != nil && by.Holds(sa.OwnerConnectionID, sa.OwnerUserID) {
				// The owner answers for the account: attesting its access is attesting their own.
				return orgscim.Errorf(orgscim.Forbidden, "nobody reviews the grants of a service account they own")
			}
			if it.Decision != ItemPending {
				return orgscim.Errorf(orgscim.Conflict, "grant %s is %s in review %s already", g.ID, it.Decision, r.ID)
			}
			if !g.LiveAt(now) {
				return orgscim.Errorf(orgscim.Conflict, "grant %s has ended meanwhile: nothing is left to review", g.ID)
			}
			it.Decision, it.DecidedBy, it.Decided, it.Note = decision, by.Name(), &now, note
			return nil
		})
		if err != nil {
			return err
		}
		action := ActConfirm
		if decision == ItemRevoked {
			action = ActRevoke
			reason := fmt.Sprintf("access review %s: revoked by %s", r.ID, by.Name())
			if note != "" {
				reason += ": " + note
			}
			rg := onChain(g, sa)
			if err := s.Access.RevokeOne(ctx, rg, now, by.Name(), reason, map[string]any{"review": r.ID}); err != nil {
				return err
			}
			g.Revoked, g.RevokedBy, g.RevokeReason = rg.Revoked, rg.RevokedBy, rg.RevokeReason
			if g.Source == orgs.SourceMapping {
				// The reviewer overrides the IdP's membership: the mapping must not grant
				// it again at the next change of the group.
				if err := s.Access.Store.AddMappingException(ctx, orgs.MappingException{MappingID: g.SourceID, UserID: g.UserID,
					ConnectionID: g.ConnectionID, ReviewID: r.ID, CreatedBy: by.Name(), Created: now, Reason: reason}); err != nil {
					return err
				}
			}
		}
		e := audit.New(ctx, now, action, "review", r.ID)
		e.ConnectionID, e.OrgID = onChain(g, sa).ConnectionID, g.OrgID
		d := map[string]any{"grant_id": g.ID, "user_id": g.UserID, "role_id": g.RoleID, "decision": decision, "note": note}
		if sa != nil {
			d["service_account_id"], d["service_account"] = sa.ID, sa.Name
			d["owner_connection_id"], d["owner_user_id"] = sa.OwnerConnectionID, sa.OwnerUserID
		}
		e.Diff = audit.Detail(d)
		return s.record(ctx, e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// onChain is the grant as its events are recorded: a service account's grant (it has no
// connection) on its owner's connection, as the account's own events are, so that the
// partner's webhook subscribers hear of a review revoking it as they do of a person's.
func onChain(g *orgs.Grant, sa *orgs.ServiceAccount) *orgs.Grant {
	if sa == nil || g.ConnectionID != "" {
		return g
	}
	c := *g
	c.ConnectionID = sa.OwnerConnectionID
	return &c
}

// deciding runs decide, in one transaction, on campaign id as by sees it, open and before
// its deadline, with the time of the decision; a note longer than 2,000 characters is
// refused first.
func (s *Service) deciding(ctx context.Context, by orgs.Principal, id, note string,
	decide func(ctx context.Context, r *Review, now time.Time) error) error {
	if len(note) > 2000 {
		return orgscim.Errorf(orgscim.Invalid, "a note is at most 2000 characters")
	}
	return orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
		r, _, err := s.visible(ctx, by, id, time.Time{})
		if err != nil {
			return err
		}
		now := s.now()
		if r.State != Open {
			return orgscim.Errorf(orgscim.Conflict, "review %s is %s", r.ID, r.State)
		}
		if !now.Before(r.Deadline) {
			return orgscim.Errorf(orgscim.Conflict, "review %s passed its deadline (%s): what is unconfirmed is revoked",
				r.ID, r.Deadline.Format(time.RFC3339))
		}
		return decide(ctx, r, now)
	})
}

// Cancel ends an open campaign before its deadline; nothing is revoked, and what was
// decided stays decided. Operators and delegates with approve on its org may.
func (s *Service) Cancel(ctx context.Context, by orgs.Principal, id, reason string) (*Review, error) {
	var out *Review
	err := orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
		r, _, err := s.visible(ctx, by, id, time.Time{})
		if err != nil {
			return err
		}
		org, err := s.Access.Org(ctx, r.OrgID)
		if err != nil {
			return err
		}
		if err := s.Access.Authorize(ctx, by, orgs.CapApprove, org); err != nil {
			return err
		}
		now := s.now()
		if _, err := s.Store.EndReview(ctx, id, func(r *Review) error {
			if r.State != Open {
				return orgscim.Errorf(orgscim.Conflict, "review %s is %s", r.ID, r.State)
			}
			r.State, r.EndedBy, r.Ended = Cancelled, by.Name(), &now
			return nil
		}); err != nil {
			return err
		}
		e := audit.New(ctx, now, ActCancel, "review", r.ID)
		e.OrgID = r.OrgID
		e.Diff = audit.Detail(map[string]any{"reason": reason})
		if err := s.record(ctx, e); err != nil {
			return err
		}
		out, err = s.Store.Review(ctx, id, now)
		return err
	})
	return out, err
}

// CloseOptions steer CloseDue.
type CloseOptions struct {
	AsOf   time.Time // judge deadlines and liveness as of this time; zero is now
	DryRun bool      // report what would be revoked and closed; change nothing
	Batch  int       // grants revoked per transaction; 0 is 500
	// BeforeBatch runs before each transaction (the reconciler's leadership check); its
	// error stops CloseDue.
	BeforeBatch func(ctx context.Context) error
	// Detail is added to the detail of every audit event (the reconciler's rule and run).
	Detail map[string]any
	// Revoked is told of each grant revoked once its batch has committed (in a dry run,
	// of each that would be, up to 10,000 per campaign); Closed of each campaign closed.
	Revoked func(r *Review, g *orgs.Grant)
	Retired func(r *Review, m *orgs.Mapping)
	Closed  func(r *Review)
}

// CloseResult is what CloseDue did, or in a dry run would do.
type CloseResult struct {
	Closed          []string // campaign ids
	Revoked         int
	RetiredMappings int
}

// UnconfirmedReason is the reason recorded on a grant revoked at a review's deadline.
func UnconfirmedReason(reviewID string) string {
	return "access review " + reviewID + ": not confirmed by deadline"
}

// CloseDue closes every open campaign past its deadline: each item still pending whose
// grant is still live is revoked — the grant by "review:ID" with UnconfirmedReason, one
// grants.revoke event per tenant and batch targeting the campaign — and then the
// campaign is closed with a review.close event. Each batch is its own transaction and
// revokes only what is still pending and live, so CloseDue stopped at any point and run
// again ends where one uninterrupted call would have, and a second call does nothing.
func (s *Service) CloseDue(ctx context.Context, o CloseOptions) (CloseResult, error) {
	var res CloseResult
	asOf := o.AsOf
	if asOf.IsZero() {
		asOf = s.now()
	}
	batch := o.Batch
	if batch <= 0 {
		batch = 500
	}
	check := func(ctx context.Context) error {
		if o.BeforeBatch == nil {
			return nil
		}
		return o.BeforeBatch(ctx)
	}
	due, err := s.Store.DueReviews(ctx, asOf)
	if err != nil {
		return res, err
	}
	for _, r := range due {
		if o.DryRun {
			items, err := s.Store.Unconfirmed(ctx, r.ID, asOf, "", 10_000)
			if err != nil {
				return res, err
			}
			for _, it := range items {
				res.Revoked++
				if o.Revoked != nil {
					o.Revoked(r, it.Grant)
				}
			}
			ms, err := s.Store.ReviewMappings(ctx, r.ID, ItemPending, "", "", 10_000)
			if err != nil {
				return res, err
			}
			for _, m := range ms {
				if m.Mapping.State == orgs.MappingActive {
					res.RetiredMappings++
					if o.Retired != nil {
						o.Retired(r, m.Mapping)
					}
				}
			}
			res.Closed = append(res.Closed, r.ID)
			if o.Closed != nil {
				o.Closed(r)
			}
			continue
		}
		n, err := s.revokeUnconfirmed(ctx, r, asOf, batch, check, o)
		res.Revoked += n
		if err != nil {
			return res, err
		}
		n, err = s.retireUnconfirmed(ctx, r, check, o)
		res.RetiredMappings += n
		if err != nil {
			return res, err
		}
		if err := check(ctx); err != nil {
			return res, err
		}
		closed := false
		err = orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
			now := s.now()
			end, err := s.Store.EndReview(ctx, r.ID, func(r *Review) error {
				if r.State != Open {
					return nil // cancelled, or closed by another call, meanwhile
				}
				r.State, r.EndedBy, r.Ended = Closed, audit.SourceOf(ctx).Actor, &now
				if r.EndedBy == "" {
					r.EndedBy = "system"
				}
				closed = true
				return nil
			})
			if err != nil || !closed {
				return err
			}
			cur, err := s.Store.Review(ctx, r.ID, asOf)
			if err != nil {
				return err
			}
			detail := map[string]any{"reason": "deadline passed", "deadline": end.Deadline, "items": cur.Counts.Items,
				"confirmed": cur.Counts.Confirmed, "revoked": cur.Counts.Revoked,
				"revoked_at_deadline": cur.Counts.RevokedAtDeadline, "lapsed": cur.Counts.Lapsed}
			for k, v := range o.Detail {
				detail[k] = v
			}
			e := audit.New(ctx, now, ActClose, "review", r.ID)
			e.OrgID, e.Diff = r.OrgID, audit.Detail(detail)
			return s.record(ctx, e)
		})
		if err != nil {
			return res, err
		}
		if closed {
			res.Closed = append(res.Closed, r.ID)
			if o.Closed != nil {
				o.Closed(r)
			}
		}
	}
	return res, nil
}

// revokeUnconfirmed revokes the campaign's unconfirmed live grants, a batch per
// transaction, and returns how many.
func (s *Service) revokeUnconfirmed(ctx context.Context, r *Review, asOf time.Time, batch int,
	check func(context.Context) error, o CloseOptions) (int, error) {
	total := 0
	reason := UnconfirmedReason(r.ID)
	// One pass in grant id order: an item is never pending again once decided, so what
	// lies behind the cursor is done, and no batch re-reads what earlier ones revoked.
	after := ""
	for {
		if err := check(ctx); err != nil {
			return total, err
		}
		items, err := s.Store.Unconfirmed(ctx, r.ID, asOf, after, batch)
		if err != nil || len(items) == 0 {
			return total, err
		}
		after = items[len(items)-1].Grant.ID
		byID := map[string]*orgs.Grant{}
		chained := map[string]*orgs.Grant{} // the grants as their events are recorded
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i], byID[it.Grant.ID], chained[it.Grant.ID] = it.Grant.ID, it.Grant, onChain(it.Grant, it.ServiceAccount)
		}
		var revoked []string
		err = orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
			now := s.now()
			var err error
			if revoked, err = s.Store.RevokeUnconfirmed(ctx, r.ID, ids, asOf, now, "review:"+r.ID, reason); err != nil {
				return err
			}
			gone := make([]*orgs.Grant, len(revoked))
			for i, id := range revoked {
				gone[i] = chained[id]
			}
			detail := map[string]any{"review": r.ID, "reason": reason}
			for k, v := range o.Detail {
				detail[k] = v
			}
			// On the review's org, so that the administrators of its subtree see it.
			return orgs.RecordRevocations(ctx, s.Audit, s.Access.OwnerLookup(), now, "review", r.ID, r.OrgID, gone, detail)
		})
		if err != nil {
			return total, err
		}
		total += len(revoked)
		if o.Revoked != nil {
			for _, id := range revoked {
				o.Revoked(r, byID[id])
			}
		}
	}
}

// retireUnconfirmed retires the campaign's mappings nobody confirmed that are still
// active, each in its own transaction with its grants, and returns how many.
func (s *Service) retireUnconfirmed(ctx context.Context, r *Review, check func(context.Context) error, o CloseOptions) (int, error) {
	total := 0
	reason := UnconfirmedReason(r.ID)
	after := ""
	for {
		if err := check(ctx); err != nil {
			return total, err
		}
		pending, err := s.Store.ReviewMappings(ctx, r.ID, ItemPending, "", after, 100)
		if err != nil || len(pending) == 0 {
			return total, err
		}
		after = pending[len(pending)-1].Mapping.ID
		for _, p := range pending {
			if p.Mapping.State != orgs.MappingActive {
				continue // retired meanwhile by other means: nothing left to decide
			}
			retired := false
			err := orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
				now := s.now()
				if _, err := s.Store.DecideMapping(ctx, r.ID, p.Mapping.ID, func(it *Mapping) error {
					if it.Decision != ItemPending || it.Mapping.State != orgs.MappingActive {
						return nil
					}
					it.Decision, it.DecidedBy, it.Decided, it.Note = ItemRetired, "review:"+r.ID, &now, "not confirmed by deadline"
					retired = true
					return nil
				}); err != nil || !retired {
					return err
				}
				return s.Access.RetireOne(ctx, p.Mapping.ID, "review:"+r.ID, reason, now)
			})
			if err != nil {
				return total, err
			}
			if retired {
				total++
				if o.Retired != nil {
					o.Retired(r, p.Mapping)
				}
			}
		}
	}
}

// Mappings lists the mappings of a campaign the caller may see, of one decision when
// decision is set.
func (s *Service) Mappings(ctx context.Context, by orgs.Principal, id, decision, after string, limit int) ([]*Mapping, error) {
	switch decision {
	case "", ItemPending, ItemConfirmed, ItemRetired:
	default:
		return nil, orgscim.Errorf(orgscim.Invalid, "decision must be pending, confirmed or retired")
	}
	// A delegate of a part of the campaign's subtree sees the mappings on that part.
	_, path, err := s.visible(ctx, by, id, time.Time{})
	if err != nil {
		return nil, err
	}
	return s.Store.ReviewMappings(ctx, id, decision, path, after, limit)
}

// ConfirmMapping attests that a mapping should stay: its group's members keep what it
// gives.
func (s *Service) ConfirmMapping(ctx context.Context, by orgs.Principal, id, mappingID, note string) (*Mapping, error) {
	return s.decideMapping(ctx, by, id, mappingID, ItemConfirmed, note)
}

// RetireMapping retires a mapping at once, with its grants, the review in its reason.
func (s *Service) RetireMapping(ctx context.Context, by orgs.Principal, id, mappingID, note string) (*Mapping, error) {
	return s.decideMapping(ctx, by, id, mappingID, ItemRetired, note)
}

// decideMapping records a reviewer's decision on a pending mapping. The reviewer is an
// operator or a delegate with manage_mappings on the mapping's org, and neither its
// drafter nor its approver: nobody attests their own rule.
func (s *Service) decideMapping(ctx context.Context, by orgs.Principal, id, mappingID, decision, note string) (*Mapping, error) {
	var out *Mapping
	err := s.deciding(ctx, by, id, note, func(ctx context.Context, r *Review, now time.Time) error {
		var m *orgs.Mapping
		var err error
		out, err = s.Store.DecideMapping(ctx, id, mappingID, func(it *Mapping) error {
			m = it.Mapping
			org, err := s.Access.Org(ctx, m.OrgID)
			if err != nil {
				return err
			}
			if err := s.Access.Authorize(ctx, by, orgs.CapManageMappings, org); err != nil {
				return err
			}
			if name := by.Name(); name == m.DraftedBy || name == m.ApprovedBy {
				return orgscim.Errorf(orgscim.Forbidden, "nobody attests a mapping they drafted or approved")
			}
			if it.Decision != ItemPending {
				return orgscim.Errorf(orgscim.Conflict, "mapping %s is %s in review %s already", m.ID, it.Decision, r.ID)
			}
			if m.State != orgs.MappingActive {
				return orgscim.Errorf(orgscim.Conflict, "mapping %s is %s: nothing is left to review", m.ID, m.State)
			}
			it.Decision, it.DecidedBy, it.Decided, it.Note = decision, by.Name(), &now, note
			return nil
		})
		if err != nil {
			return err
		}
		action := ActConfirmMapping
		if decision == ItemRetired {
			action = ActRetireMapping
			reason := fmt.Sprintf("access review %s: retired by %s", r.ID, by.Name())
			if note != "" {
				reason += ": " + note
			}
			if err := s.Access.RetireOne(ctx, m.ID, by.Name(), reason, now); err != nil {
				return err
			}
		}
		e := audit.New(ctx, now, action, "review", r.ID)
		e.ConnectionID, e.OrgID = m.ConnectionID, m.OrgID
		e.Diff = audit.Detail(map[string]any{"mapping_id": m.ID, "decision": decision, "note": note})
		return s.record(ctx, e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AccountState is what a review line says of a service account holding a grant,
// from the account's own record: retired, expired, orphaned (the reconciler found its
// owner gone and set a deadline to reassign or retire it) or active. The authority rule
// still decides every access check; this tells the reviewer whom they are judging.
func AccountState(sa *orgs.ServiceAccount, now time.Time) string {
	switch {
	case sa.Retired != nil:
		return orgs.ServiceAccountRetired
	case !now.Before(sa.Expires):
		return orgs.ServiceAccountExpired
	case sa.OrphanDeadline != nil:
		return orgs.ServiceAccountOrphaned
	}
	return orgs.ServiceAccountActive
}
