package support

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// State is where a session stands.
type State string

const (
	Requested State = "requested" // waiting for a partner administrator's decision
	Active    State = "active"    // approved, or opened as break-glass; until Expires
	Refused   State = "refused"
	Ended     State = "ended" // at expiry, by the staff member or by the partner
)

// Audit actions.
const (
	ActRequest    = "support.request"
	ActBreakGlass = "support.break_glass" // the partner's notice: delivered like every event, by webhook
	ActApprove    = "support.approve"
	ActRefuse     = "support.refuse"
	ActEnd        = "support.end"
	ActExpire     = "support.expire"
	ActReview     = "support.review"
	ActPolicy     = "support.policy"
)

// DefaultMaxDuration is the longest session a new deployment allows.
const DefaultMaxDuration = 8 * time.Hour

// Session is one support session.
type Session struct {
	ID         string
	OrgID      string
	Staff      string // the operator's name
	Ticket     string
	Reason     string
	Write      bool
	BreakGlass bool
	State      State
	Duration   time.Duration
	Requested  time.Time
	// DecidedBy is the partner administrator who approved or refused ("" for break-glass).
	DecidedBy    string
	Decided      *time.Time
	DecisionNote string
	Expires      *time.Time // set once active
	EndedAt      *time.Time
	EndedBy      string
	EndReason    string
	ReviewedBy   string
	Reviewed     *time.Time
	ReviewNote   string
}

// LiveAt reports whether the session authorises anything at t.
func (s *Session) LiveAt(t time.Time) bool {
	return s.State == Active && s.Expires != nil && t.Before(*s.Expires)
}

// ReviewOwed reports whether the session is a break-glass not reviewed yet.
func (s *Session) ReviewOwed() bool { return s.BreakGlass && s.Reviewed == nil }

// Policy is the deployment's support policy.
type Policy struct {
	// Required: operator keys act on a partner's data only in a support session.
	Required    bool
	MaxDuration time.Duration
	Updated     time.Time
	UpdatedBy   string
}

// Store keeps sessions and the policy.
type Store interface {
	CreateSession(ctx context.Context, s *Session) error
	Session(ctx context.Context, id string) (*Session, error)
	// UpdateSession runs fn on the locked session and stores the result.
	UpdateSession(ctx context.Context, id string, fn func(*Session) error) (*Session, error)
	// SessionsOf lists the sessions on an org, by id after after.
	SessionsOf(ctx context.Context, orgID, after string, limit int) ([]*Session, error)
	// ExpiredSessions lists up to limit active sessions whose expiry is at or before t.
	ExpiredSessions(ctx context.Context, t time.Time, limit int) ([]*Session, error)
	SupportPolicy(ctx context.Context) (Policy, error)
	SetSupportPolicy(ctx context.Context, p Policy) error
}

// OrgLookup finds orgs.
type OrgLookup interface {
	OrgBySlug(ctx context.Context, slug string) (*orgs.Org, error)
	OrgByID(ctx context.Context, id string) (*orgs.Org, error)
}

// Authorizer is the authority rule over delegations (orgs.Delegations).
type Authorizer interface {
	Authorize(ctx context.Context, p orgs.Principal, c orgs.Capability, org *orgs.Org) error
}

// Transactor runs fn in one transaction.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// AuditLog records an event in the change's transaction.
type AuditLog interface {
	Record(ctx context.Context, e audit.Event) error
}

// Service opens, decides and ends support sessions, and admits requests made in them.
type Service struct {
	Store      Store
	Orgs       OrgLookup
	Authorizer Authorizer
	Tx         Transactor
	Audit      AuditLog
	Now        func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.Tx == nil {
		return fn(ctx)
	}
	return s.Tx.InTx(ctx, fn)
}

// sessionView is what an event shows of a session.
type sessionView struct {
	OrgID      string     `json:"org_id"`
	Staff      string     `json:"staff"`
	Ticket     string     `json:"ticket"`
	Reason     string     `json:"reason"`
	Write      bool       `json:"write"`
	BreakGlass bool       `json:"break_glass"`
	State      State      `json:"state"`
	Seconds    int64      `json:"duration_seconds"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	DecidedBy  string     `json:"decided_by,omitempty"`
	EndedBy    string     `json:"ended_by,omitempty"`
	EndReason  string     `json:"end_reason,omitempty"`
	ReviewedBy string     `json:"reviewed_by,omitempty"`
	ReviewNote string     `json:"review_note,omitempty"`
}

func view(ss *Session) *sessionView {
	if ss == nil {
		return nil
	}
	return &sessionView{OrgID: ss.OrgID, Staff: ss.Staff, Ticket: ss.Ticket, Reason: ss.Reason, Write: ss.Write,
		BreakGlass: ss.BreakGlass, State: ss.State, Seconds: int64(ss.Duration / time.Second), ExpiresAt: ss.Expires,
		DecidedBy: ss.DecidedBy, EndedBy: ss.EndedBy, EndReason: ss.EndReason, ReviewedBy: ss.ReviewedBy, ReviewNote: ss.ReviewNote}
}

// record appends the session's event on its org, so the partner's administrators see it
// in their audit trail and their webhooks deliver it.
func (s *Service) record(ctx context.Context, now time.Time, action string, before, after *Session) error {
	if s.Audit == nil {
		return nil
	}
	e := audit.New(ctx, now, action, "support_session", after.ID)
	e.OrgID = after.OrgID
	e.Diff = audit.Diff(view(before), view(after))
	return s.Audit.Record(ctx, e)
}

// Policy returns the deployment's support policy.
func (s *Service) Policy(ctx context.Context) (Policy, error) { return s.Store.SupportPolicy(ctx) }

// SetPolicy changes the support policy; it is for the CLI, run by whoever runs the
// server (no API call turns the policy off). A nil field stays.
func (s *Service) SetPolicy(ctx context.Context, by string, required *bool, maxDuration *time.Duration) (Policy, error) {
	var out Policy
	err := s.inTx(ctx, func(ctx context.Context) error {
		cur, err := s.Store.SupportPolicy(ctx)
		if err != nil {
			return err
		}
		before := cur
		if required != nil {
			cur.Required = *required
		}
		if maxDuration != nil {
			if *maxDuration < time.Minute || *maxDuration > 30*24*time.Hour {
				return orgscim.Errorf(orgscim.Invalid, "the maximum duration must be between 1 minute and 30 days")
			}
			cur.MaxDuration = *maxDuration
		}
		now := s.now()
		cur.Updated, cur.UpdatedBy = now, by
		if err := s.Store.SetSupportPolicy(ctx, cur); err != nil {
			return err
		}
		out = cur
		if s.Audit == nil {
			return nil
		}
		e := audit.New(ctx, now, ActPolicy, "support_policy", "deployment")
		e.Diff = audit.Diff(policyView(before), policyView(cur))
		return s.Audit.Record(ctx, e)
	})
	return out, err
}

func policyView(p Policy) map[string]any {
	return map[string]any{"required": p.Required, "max_duration_seconds": int64(p.MaxDuration / time.Second)}
}

// OpenRequest asks for a session.
type OpenRequest struct {
	Org        string // slug
	Ticket     string
	Reason     string
	Write      bool
	Duration   time.Duration
	BreakGlass bool
}

// Open requests a session for the staff member behind an operator key, or opens it at
// once as break-glass. The partner learns of either from the event on its org.
func (s *Service) Open(ctx context.Context, by orgs.Principal, r OpenRequest) (*Session, error) {
	if by.Operator == "" {
		return nil, orgscim.Errorf(orgscim.Forbidden, "support sessions are for the vendor's staff (operator keys)")
	}
	if by.Support != nil {
		return nil, orgscim.Errorf(orgscim.Forbidden, "a support session is not opened from inside another")
	}
	var missing []string
	for _, f := range [][2]string{{"org", r.Org}, {"ticket", r.Ticket}, {"reason", r.Reason}} {
		if strings.TrimSpace(f[1]) == "" {
			missing = append(missing, f[0])
		}
	}
	if len(missing) > 0 {
		return nil, orgscim.Errorf(orgscim.Invalid, "missing %s", strings.Join(missing, ", "))
	}
	if len(r.Ticket) > 200 || len(r.Reason) > 2000 {
		return nil, orgscim.Errorf(orgscim.Invalid, "ticket is at most 200 characters, reason at most 2000")
	}
	pol, err := s.Store.SupportPolicy(ctx)
	if err != nil {
		return nil, err
	}
	if r.Duration <= 0 || r.Duration > pol.MaxDuration {
		return nil, orgscim.Errorf(orgscim.Invalid, "duration must be positive and at most the policy's maximum, %d seconds",
			int64(pol.MaxDuration/time.Second))
	}
	if r.Duration%time.Second != 0 {
		return nil, orgscim.Errorf(orgscim.Invalid, "duration is a whole number of seconds")
	}
	org, err := s.Orgs.OrgBySlug(ctx, r.Org)
	if err != nil {
		return nil, err
	}
	if !org.PartnerData() {
		return nil, orgscim.Errorf(orgscim.Invalid, "org %s is the vendor's own: operators need no support session there", org.Slug)
	}
	now := s.now()
	ss := &Session{ID: provisioning.NewID(), OrgID: org.ID, Staff: by.Operator, Ticket: r.Ticket, Reason: r.Reason,
		Write: r.Write, BreakGlass: r.BreakGlass, State: Requested, Duration: r.Duration, Requested: now}
	action := ActRequest
	if r.BreakGlass {
		exp := now.Add(r.Duration)
		ss.State, ss.Expires, action = Active, &exp, ActBreakGlass
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		if err := s.Store.CreateSession(ctx, ss); err != nil {
			return err
		}
		return s.record(ctx, now, action, nil, ss)
	})
	if err != nil {
		return nil, err
	}
	return ss, nil
}

// partnerAdmin checks that by administers the session's org for the partner: a
// delegate with the delegate capability there. The vendor never approves its own access.
func (s *Service) partnerAdmin(ctx context.Context, by orgs.Principal, ss *Session, what string) error {
	if by.Delegation == nil {
		return orgscim.Errorf(orgscim.Forbidden, "only the partner's administrators %s a support session", what)
	}
	org, err := s.Orgs.OrgByID(ctx, ss.OrgID)
	if err != nil {
		return err
	}
	return s.Authorizer.Authorize(ctx, by, orgs.CapDelegate, org)
}

func (s *Service) update(ctx context.Context, id, action string, fn func(ctx context.Context, ss *Session, now time.Time) error) (*Session, error) {
	var out *Session
	err := s.inTx(ctx, func(ctx context.Context) error {
		now := s.now()
		var before Session
		ss, err := s.Store.UpdateSession(ctx, id, func(ss *Session) error {
			before = *ss
			return fn(ctx, ss, now)
		})
		if err != nil {
			return err
		}
		out = ss
		return s.record(ctx, now, action, &before, ss)
	})
	return out, err
}

// Approve makes a requested session active from now for its duration.
func (s *Service) Approve(ctx context.Context, by orgs.Principal, id, note string) (*Session, error) {
	return s.update(ctx, id, ActApprove, func(ctx context.Context, ss *Session, now time.Time) error {
		if err := s.partnerAdmin(ctx, by, ss, "approve"); err != nil {
			return err
		}
		if ss.State != Requested {
			return orgscim.Errorf(orgscim.Conflict, "support session %s is %s, not waiting for a decision", ss.ID, ss.State)
		}
		exp := now.Add(ss.Duration)
		ss.State, ss.DecidedBy, ss.Decided, ss.DecisionNote, ss.Expires = Active, by.Name(), &now, note, &exp
		return nil
	})
}

// Refuse refuses a requested session.
func (s *Service) Refuse(ctx context.Context, by orgs.Principal, id, note string) (*Session, error) {
	return s.update(ctx, id, ActRefuse, func(ctx context.Context, ss *Session, now time.Time) error {
		if err := s.partnerAdmin(ctx, by, ss, "refuse"); err != nil {
			return err
		}
		if ss.State != Requested {
			return orgscim.Errorf(orgscim.Conflict, "support session %s is %s, not waiting for a decision", ss.ID, ss.State)
		}
		ss.State, ss.DecidedBy, ss.Decided, ss.DecisionNote = Refused, by.Name(), &now, note
		return nil
	})
}

// End ends a requested or active session now: the vendor's staff or the partner's
// administrators may.
func (s *Service) End(ctx context.Context, by orgs.Principal, id, reason string) (*Session, error) {
	return s.update(ctx, id, ActEnd, func(ctx context.Context, ss *Session, now time.Time) error {
		if by.Operator == "" {
			if err := s.partnerAdmin(ctx, by, ss, "end"); err != nil {
				return err
			}
		}
		if ss.State != Requested && !ss.LiveAt(now) {
			return orgscim.Errorf(orgscim.Conflict, "support session %s has already ended", ss.ID)
		}
		ss.State, ss.EndedAt, ss.EndedBy, ss.EndReason = Ended, &now, by.Name(), reason
		if ss.Expires != nil && ss.Expires.After(now) {
			ss.Expires = &now
		}
		return nil
	})
}

// Review records the review every break-glass session owes once it is over: by one of
// the partner's administrators, or by an operator other than the staff member who broke
// the glass.
func (s *Service) Review(ctx context.Context, by orgs.Principal, id, note string) (*Session, error) {
	return s.update(ctx, id, ActReview, func(ctx context.Context, ss *Session, now time.Time) error {
		if by.Operator != "" {
			if by.Operator == ss.Staff {
				return orgscim.Errorf(orgscim.Forbidden, "a break-glass session is reviewed by someone other than who opened it")
			}
		} else if err := s.partnerAdmin(ctx, by, ss, "review"); err != nil {
			return err
		}
		switch {
		case !ss.BreakGlass:
			return orgscim.Errorf(orgscim.Conflict, "support session %s was approved, not opened as break-glass: it owes no review", ss.ID)
		case ss.Reviewed != nil:
			return orgscim.Errorf(orgscim.Conflict, "support session %s has been reviewed already", ss.ID)
		case ss.LiveAt(now):
			return orgscim.Errorf(orgscim.Conflict, "support session %s is still active: end it first", ss.ID)
		case strings.TrimSpace(note) == "":
			return orgscim.Errorf(orgscim.Invalid, "a review needs a note: what was done, and whether it was justified")
		}
		if ss.State == Active { // expired, not yet swept
			ss.State, ss.EndedAt, ss.EndedBy, ss.EndReason = Ended, ss.Expires, "system:expiry", "expired"
		}
		ss.ReviewedBy, ss.Reviewed, ss.ReviewNote = by.Name(), &now, note
		return nil
	})
}

// Get returns a session to the vendor's operators and the partner's administrators.
func (s *Service) Get(ctx context.Context, by orgs.Principal, id string) (*Session, error) {
	ss, err := s.Store.Session(ctx, id)
	if err != nil {
		return nil, err
	}
	if by.Operator != "" {
		return ss, nil
	}
	if err := s.partnerAdmin(ctx, by, ss, "read"); err != nil {
		return nil, orgscim.Errorf(orgscim.NotFound, "no support session %q", id)
	}
	return ss, nil
}

// List lists the sessions on an org: for the vendor's operators, and for the partner's
// administrators of it.
func (s *Service) List(ctx context.Context, by orgs.Principal, orgSlug, after string, limit int) ([]*Session, error) {
	org, err := s.Orgs.OrgBySlug(ctx, orgSlug)
	if err != nil {
		return nil, err
	}
	if by.Operator == "" {
		if err := s.Authorizer.Authorize(ctx, by, orgs.CapDelegate, org); err != nil {
			return nil, err
		}
	}
	return s.Store.SessionsOf(ctx, org.ID, after, limit)
}

// EndExpired records the end of every active session past its expiry (the reconciler's
// rule; the sessions stopped authorising at their expiry already). A dry run only lists.
func (s *Service) EndExpired(ctx context.Context, dryRun bool) ([]string, error) {
	ended := []string{}
	for {
		now := s.now()
		batch, err := s.Store.ExpiredSessions(ctx, now, 100)
		if err != nil || len(batch) == 0 {
			return ended, err
		}
		for _, ss := range batch {
			ended = append(ended, ss.ID)
		}
		if dryRun {
			return ended, nil
		}
		for _, x := range batch {
			_, err := s.update(audit.WithSource(ctx, audit.Source{Actor: "system:reconcile"}), x.ID, ActExpire,
				func(ctx context.Context, ss *Session, now time.Time) error {
					if ss.State != Active || ss.Expires == nil || ss.Expires.After(now) {
						return errSkip
					}
					ss.State, ss.EndedAt, ss.EndedBy, ss.EndReason = Ended, ss.Expires, "system:expiry", "expired"
					return nil
				})
			if err != nil && !errors.Is(err, errSkip) {
				return ended, err
			}
		}
	}
}

var errSkip = orgscim.Errorf(orgscim.Conflict, "ended already")

// Admit applies the support policy to the principal of an admin API request: an operator
// key is confined when the policy requires sessions, and a request naming a session
// (sessionID, "" for none) acts in it — confined to its scope whatever the policy, as the
// staff member it was opened for. A session that is not active now, or is another staff
// member's, is refused.
func (s *Service) Admit(ctx context.Context, p orgs.Principal, sessionID string) (orgs.Principal, error) {
	if p.Operator == "" {
		if sessionID != "" {
			return p, orgscim.Errorf(orgscim.Forbidden, "support sessions are for the vendor's staff: a partner's key acts through its delegation")
		}
		return p, nil
	}
	if sessionID == "" {
		pol, err := s.Store.SupportPolicy(ctx)
		if err != nil {
			return p, err
		}
		p.Confined = pol.Required
		return p, nil
	}
	ss, err := s.Store.Session(ctx, sessionID)
	if orgscim.ErrorCode(err) == orgscim.NotFound || (err == nil && ss.Staff != p.Operator) {
		return p, orgscim.Errorf(orgscim.Forbidden, "support session %q is not one of yours", sessionID)
	}
	if err != nil {
		return p, err
	}
	if !ss.LiveAt(s.now()) {
		return p, orgscim.Errorf(orgscim.Forbidden, "support session %s is not active (it is %s, or has expired)", ss.ID, ss.State)
	}
	org, err := s.Orgs.OrgByID(ctx, ss.OrgID)
	if err != nil {
		return p, err
	}
	p.Confined = true
	p.Support = &orgs.SupportScope{SessionID: ss.ID, Staff: ss.Staff, Ticket: ss.Ticket, OrgID: org.ID, OrgSlug: org.Slug,
		OrgPath: org.Path, Write: ss.Write, Expires: *ss.Expires}
	return p, nil
}
