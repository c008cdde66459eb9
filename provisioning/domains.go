package provisioning

import (
	"context"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
)

// Audit actions of quarantine.
const (
	ActionUserQuarantine = "user.quarantine"
	ActionUserRelease    = "user.release"
)

// DomainRule decides which e-mail domains a connection may provision (package domains
// implements it): a refusal is an InvalidValue error naming the domain.
type DomainRule interface {
	// Admit checks the user's addresses (userName when it is one, and every e-mail);
	// creating is true for a new user, which a lapsed domain refuses. A non-empty
	// quarantine names the domain for which the connection's policy stores the user
	// quarantined instead of refusing it.
	Admit(ctx context.Context, conn string, addresses []string, creating bool) (quarantine string, err error)
	// Linkable reports whether an address may link this connection's user to another
	// record by e-mail: only in a domain the connection's org holds verified.
	Linkable(ctx context.Context, conn, address string) (bool, error)
}

// Quarantine is a user its connection's domain policy holds: stored, inactive for every
// access decision, until its address moves into a verified domain, an administrator
// releases it (for that domain) or deletes it.
type Quarantine struct {
	ConnectionID string
	UserID       string
	Domain       string
	State        string // held or released
	Since        time.Time
	DecidedBy    string
}

// Quarantine states.
const (
	QuarantineHeld     = "held"
	QuarantineReleased = "released"
)

// QuarantineStore keeps quarantined users.
type QuarantineStore interface {
	// Quarantine returns the user's record, nil when it has none.
	Quarantine(ctx context.Context, conn, userID string) (*Quarantine, error)
	// SetQuarantine inserts or replaces the user's record.
	SetQuarantine(ctx context.Context, q *Quarantine) error
	ClearQuarantine(ctx context.Context, conn, userID string) error
	// Quarantined lists the connection's held users, oldest first.
	Quarantined(ctx context.Context, conn string, limit int) ([]*Quarantine, error)
}

// addresses lists what a domain rule looks at: userName, and every e-mail value.
func (u *User) addresses() []string {
	out := []string{u.UserName}
	emails, _ := u.Attributes["emails"].([]any)
	for _, e := range emails {
		m, _ := e.(map[string]any)
		if v := str(m["value"]); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// verdict is what admit decided of one write: hold names the domain to quarantine the
// user for; clear, that the user is inside its domains and any record of it goes.
type verdict struct {
	hold  string
	clear bool
	// linkKnown says that the rule already answered Linkable of the user's e-mail
	// (linkable), from the same read as the admission.
	linkKnown, linkable bool
}

// linkingRule is a DomainRule that answers Linkable of one address with Admit, from one
// read of the claims (package domains does): a creation asks both.
type linkingRule interface {
	AdmitLinking(ctx context.Context, conn string, addresses []string, creating bool, link string) (quarantine string, linkable bool, err error)
}

// admit is the one domain check every user write calls (create, replace, patch,
// restore, adoption), after the write's attributes are indexed. A user to hold is made
// inactive here, so that every access decision, grant and delegation treats it as the
// IdP had deactivated it; its attributes keep what the IdP sent.
func (s *Users) admit(ctx context.Context, conn string, u *User, creating bool) (verdict, error) {
	if s.Domains == nil {
		return verdict{}, nil
	}
	var (
		hold string
		link verdict
		err  error
	)
	if lr, ok := s.Domains.(linkingRule); ok && creating && s.Links != nil && u.Email != "" {
		hold, link.linkable, err = lr.AdmitLinking(ctx, conn, u.addresses(), creating, u.Email)
		link.linkKnown = true
	} else {
		hold, err = s.Domains.Admit(ctx, conn, u.addresses(), creating)
	}
	if err != nil {
		return verdict{}, err
	}
	if hold == "" {
		return verdict{clear: true, linkKnown: link.linkKnown, linkable: link.linkable}, nil
	}
	if s.Quarantine == nil {
		return verdict{}, orgscim.Errorf(orgscim.InvalidValue, "the domain %s is not a verified domain of this organisation", hold)
	}
	if u.ID != "" {
		q, err := s.Quarantine.Quarantine(ctx, conn, u.ID)
		if err != nil {
			return verdict{}, err
		}
		if q != nil && q.State == QuarantineReleased && q.Domain == hold {
			return verdict{}, nil // an administrator admitted this user in this domain
		}
	}
	u.Active = false
	return verdict{hold: hold, linkKnown: link.linkKnown, linkable: link.linkable}, nil
}

// settle records admit's verdict for the stored user, with an event when it is newly
// held, in the write's transaction.
func (s *Users) settle(ctx context.Context, conn string, u *User, v verdict, now time.Time) error {
	if s.Quarantine == nil || (v.hold == "" && !v.clear) || (v.clear && u.NoQuarantine) {
		return nil // the user's own read in this transaction found no record to clear
	}
	q, err := s.Quarantine.Quarantine(ctx, conn, u.ID)
	if err != nil {
		return err
	}
	if v.clear {
		if q == nil {
			return nil
		}
		return s.Quarantine.ClearQuarantine(ctx, conn, u.ID)
	}
	if q != nil && q.State == QuarantineHeld && q.Domain == v.hold {
		return nil
	}
	if err := s.Quarantine.SetQuarantine(ctx, &Quarantine{ConnectionID: conn, UserID: u.ID, Domain: v.hold,
		State: QuarantineHeld, Since: now}); err != nil {
		return err
	}
	if s.Audit == nil {
		return nil
	}
	return record(ctx, s.Audit, now, ActionUserQuarantine, "user", u.ID, conn, u.OrgID, audit.Detail(map[string]string{"domain": v.hold}))
}

// Release admits a quarantined user in the domain it was held for: it becomes as
// active as its IdP says, and stays admitted while its address stays in that domain.
func (s *Users) Release(ctx context.Context, conn, id, by string) (*User, error) {
	if s.Quarantine == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "no quarantine")
	}
	now := s.now()
	var out *User
	err := inTx(ctx, s.Tx, func(ctx context.Context) error {
		q, err := s.Quarantine.Quarantine(ctx, conn, id)
		if err != nil {
			return err
		}
		if q == nil || q.State != QuarantineHeld {
			return orgscim.Errorf(orgscim.NotFound, "user %q is not quarantined", id)
		}
		q.State, q.DecidedBy = QuarantineReleased, by
		if err := s.Quarantine.SetQuarantine(ctx, q); err != nil {
			return err
		}
		out, err = s.update(ctx, conn, ActionUserRelease, now, s.call(conn, id), func(u *User) error {
			u.Index() // active again as the IdP sent it
			u.Version++
			u.LastModified = now
			return nil
		})
		return err
	})
	return out, err
}

// Quarantined lists the connection's held users.
func (s *Users) Quarantined(ctx context.Context, conn string, limit int) ([]*Quarantine, error) {
	if s.Quarantine == nil {
		return []*Quarantine{}, nil
	}
	return s.Quarantine.Quarantined(ctx, conn, limit)
}

// DeleteQuarantined deletes a held user, as its IdP's DELETE would.
func (s *Users) DeleteQuarantined(ctx context.Context, conn, id string) error {
	if s.Quarantine == nil {
		return orgscim.Errorf(orgscim.NotImplemented, "no quarantine")
	}
	return inTx(ctx, s.Tx, func(ctx context.Context) error {
		q, err := s.Quarantine.Quarantine(ctx, conn, id)
		if err != nil {
			return err
		}
		if q == nil || q.State != QuarantineHeld {
			return orgscim.Errorf(orgscim.NotFound, "user %q is not quarantined", id)
		}
		if err := s.Delete(ctx, conn, id, nil); err != nil {
			return err
		}
		return s.Quarantine.ClearQuarantine(ctx, conn, id)
	})
}
