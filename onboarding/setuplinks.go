package onboarding

import (
	"context"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// Audit actions of setup links.
const (
	ActSetupLinkCreate = "setup_link.create"
	ActSetupLinkReveal = "setup_link.reveal"
)

// SetupLinkPrefix starts every setup link secret, so that scanners can find leaked ones.
const SetupLinkPrefix = "oscset_"

// Setup link lifetimes: three days unless asked otherwise, at most thirty.
const (
	DefaultSetupLinkTTL = 72 * time.Hour
	MaxSetupLinkTTL     = 30 * 24 * time.Hour
)

// SetupLink gives a partner's IT administrator one look at a connection's SCIM base URL
// and one fresh token. Only the hash of its secret is stored; it works once, until it
// expires.
type SetupLink struct {
	ID           string
	ConnectionID string
	Hash         string
	CreatedBy    string
	Created      time.Time
	Expires      time.Time
	Used         *time.Time
	TokenID      string // the token its reveal issued
}

// SetupLinkStore keeps setup links.
type SetupLinkStore interface {
	CreateSetupLink(ctx context.Context, l *SetupLink) error
	// SetupLinkByHash returns the link with this hash, used or not.
	SetupLinkByHash(ctx context.Context, hash string) (*SetupLink, error)
	// ConsumeSetupLink marks the unused, unexpired link with this hash used at now by
	// the token, atomically: of two concurrent calls one gets the link, the other
	// NotFound, as does a call for a used, expired or unknown link.
	ConsumeSetupLink(ctx context.Context, hash string, now time.Time, tokenID string) (*SetupLink, error)
}

// CreateSetupLink issues a setup link for the connection, valid for ttl (0: the
// default). It returns the link's secret, which is shown once. Operators may for any
// connection; a delegate with the delegate capability on the connection's org only for a
// pending one, since the link reveals a fresh token and issuing tokens to a running
// connection is the operators'.
func (s *Onboarding) CreateSetupLink(ctx context.Context, by orgs.Principal, connSlug string, ttl time.Duration) (*SetupLink, string, error) {
	if ttl == 0 {
		ttl = DefaultSetupLinkTTL
	}
	if ttl < time.Minute || ttl > MaxSetupLinkTTL {
		return nil, "", orgscim.Errorf(orgscim.Invalid, "a setup link lives between a minute and %s", MaxSetupLinkTTL)
	}
	conn, err := s.Dir.Store.ConnectionBySlug(ctx, connSlug)
	if err != nil {
		return nil, "", err
	}
	org, err := s.Dir.Store.OrgByID(ctx, conn.OrgID)
	if err != nil {
		return nil, "", err
	}
	// A pending connection's setup link is part of onboarding the partner, which is the
	// vendor's own act: no partner data exists behind it yet.
	if conn.Status == orgs.ConnectionPending {
		by = by.Unconfined()
	}
	if err := s.Delegations.Authorize(ctx, by, orgs.CapDelegate, org); err != nil {
		return nil, "", err
	}
	if by.Operator == "" && conn.Status != orgs.ConnectionPending {
		return nil, "", orgscim.Errorf(orgscim.Forbidden, "connection %s is %s: only operators create setup links for a connection that is not pending", conn.Slug, conn.Status)
	}
	if conn.Status == "suspended" {
		return nil, "", orgscim.Errorf(orgscim.Conflict, "connection %s is suspended", conn.Slug)
	}
	now := s.now()
	secret := orgs.NewSecret(SetupLinkPrefix)
	l := &SetupLink{ID: provisioning.NewID(), ConnectionID: conn.ID, Hash: orgs.HashToken(secret), CreatedBy: by.Name(),
		Created: now, Expires: now.Add(ttl)}
	err = orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
		if err := s.Store.CreateSetupLink(ctx, l); err != nil {
			return err
		}
		e := audit.New(ctx, now, ActSetupLinkCreate, "setup_link", l.ID)
		e.ConnectionID, e.OrgID = conn.ID, conn.OrgID
		e.Diff = audit.Detail(map[string]any{"expires_at": l.Expires})
		return orgs.Record(ctx, s.Audit, e)
	})
	if err != nil {
		return nil, "", err
	}
	return l, secret, nil
}

// errSetupLinkGone is the one answer for a link that is unknown, used or expired: the
// page says no more than that.
var errSetupLinkGone = orgscim.Errorf(orgscim.NotFound, "this setup link is unknown, used or expired")

// usableLink returns the unused link with this secret that is unexpired at now, and its
// connection; anything else is errSetupLinkGone.
func (s *Onboarding) usableLink(ctx context.Context, secret string, now time.Time) (*SetupLink, *orgs.Connection, error) {
	if !orgs.WellFormedSecret(SetupLinkPrefix, secret) {
		return nil, nil, errSetupLinkGone
	}
	l, err := s.Store.SetupLinkByHash(ctx, orgs.HashToken(secret))
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil, nil, errSetupLinkGone
	}
	if err != nil {
		return nil, nil, err
	}
	if l.Used != nil || !now.Before(l.Expires) {
		return nil, nil, errSetupLinkGone
	}
	conn, err := s.Access.Store.ConnectionByID(ctx, l.ConnectionID)
	if err != nil {
		return nil, nil, err
	}
	return l, conn, nil
}

// SetupLinkConnection returns the connection of an unused, unexpired link, without using
// it: what the page shows before the administrator asks for the token.
func (s *Onboarding) SetupLinkConnection(ctx context.Context, secret string) (*orgs.Connection, error) {
	_, conn, err := s.usableLink(ctx, secret, s.now())
	return conn, err
}

// RevealSetupLink uses the link: in one transaction it marks the link used and issues a
// fresh token for its connection, whose secret it returns to be shown once. Of two
// reveals at once, one gets the token and the other the same refusal as a used link.
func (s *Onboarding) RevealSetupLink(ctx context.Context, secret string) (*orgs.Connection, string, error) {
	// A malformed secret costs no transaction.
	if !orgs.WellFormedSecret(SetupLinkPrefix, secret) {
		return nil, "", errSetupLinkGone
	}
	now := s.now()
	var conn *orgs.Connection
	var tokenSecret string
	err := orgs.InTx(ctx, s.Tx, func(ctx context.Context) error {
		l0, c, err := s.usableLink(ctx, secret, now)
		if err != nil {
			return err
		}
		conn = c
		if conn.Status == "suspended" {
			return orgscim.Errorf(orgscim.Conflict, "this connection is suspended; ask your contact for a new link")
		}
		// The token first (the link records which), then the link: the conditional
		// update that uses it decides between concurrent reveals, and the loser's token
		// rolls back with it.
		tokSecret, tok := orgs.NewToken(conn.ID, now, nil)
		if err := s.Dir.Store.AddToken(ctx, tok, orgs.MaxActiveTokens); err != nil {
			return err
		}
		l, err := s.Store.ConsumeSetupLink(ctx, l0.Hash, now, tok.ID)
		if orgscim.ErrorCode(err) == orgscim.NotFound {
			return errSetupLinkGone
		}
		if err != nil {
			return err
		}
		// What the link does is the link's: its id is the actor, with the request's
		// address and id.
		src := audit.SourceOf(ctx)
		src.Actor = "setup_link:" + l.ID
		ctx = audit.WithSource(ctx, src)
		e := audit.New(ctx, now, ActSetupLinkReveal, "setup_link", l.ID)
		e.ConnectionID, e.OrgID = conn.ID, conn.OrgID
		e.Diff = audit.Detail(map[string]any{"token_id": tok.ID})
		if err := orgs.Record(ctx, s.Audit, e); err != nil {
			return err
		}
		tokenSecret = tokSecret
		return s.Dir.RecordToken(ctx, orgs.ActTokenCreate, tok, now)
	})
	if err != nil {
		return nil, "", err
	}
	return conn, tokenSecret, nil
}
