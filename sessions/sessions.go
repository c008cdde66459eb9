package sessions

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// Kind is who a session belongs to.
type Kind string

const (
	KindOperator Kind = "operator"
	KindDelegate Kind = "delegate"
)

// Audit actions of sessions and sign-in configuration.
const (
	ActSignIn       = "console.sign_in"
	ActSignOut      = "console.sign_out"
	ActSignInConfig = "console_sign_in.update"
)

// Session is one sign-in of one person in one browser.
type Session struct {
	ID   string
	Hash string // of the cookie's secret
	// CSRF is the synchronizer token every form of the session carries.
	CSRF         string
	Kind         Kind
	Operator     string
	ConnectionID string
	UserID       string
	AuthAt       time.Time // when the person authenticated (at the IdP, or redeemed the link)
	IdleExpires  time.Time
	Expires      time.Time // absolute
	Revoked      *time.Time
	RevokeReason string
}

// Link is a one-time sign-in link of an operator.
type Link struct {
	Hash     string
	Operator string
	Created  time.Time
	Expires  time.Time
	Used     *time.Time
}

// Store keeps sessions, links and sign-in configurations.
type Store interface {
	CreateSession(ctx context.Context, s *Session) error
	// SessionByHash returns the session whose secret has this hash (NotFound when none).
	SessionByHash(ctx context.Context, hash string) (*Session, error)
	TouchSession(ctx context.Context, id string, idleExpires time.Time) error
	RevokeSession(ctx context.Context, id string, at time.Time, reason string) error
	CreateLink(ctx context.Context, l *Link) error
	// UseLink marks the unused, unexpired link with this hash used at at and returns
	// it; NotFound when there is no such link. Two redemptions at once: one wins.
	UseLink(ctx context.Context, hash string, at time.Time) (*Link, error)
	// PutSignIn stores c and returns what it replaced (nil when none).
	PutSignIn(ctx context.Context, c *SignIn) (*SignIn, error)
	// SignIn returns the connection's configuration (NotFound when none).
	SignIn(ctx context.Context, connectionID string) (*SignIn, error)
}

// UserDirectory finds the users of a connection.
type UserDirectory interface {
	Get(ctx context.Context, conn, id string) (*provisioning.User, error)
	List(ctx context.Context, conn string, q provisioning.Query) (provisioning.UserPage, error)
}

// Connections reads a connection by id.
type Connections interface {
	ConnectionByID(ctx context.Context, id string) (*orgs.Connection, error)
}

// Timeouts bound sessions and links.
type Timeouts struct {
	Idle     time.Duration // a session unused this long ends
	Absolute time.Duration // a session ends this long after sign-in, used or not
	Link     time.Duration // a one-time link expires this long after it is printed
}

// DefaultTimeouts are the console's unless configured.
var DefaultTimeouts = Timeouts{Idle: 30 * time.Minute, Absolute: 12 * time.Hour, Link: 10 * time.Minute}

// Service signs people in and re-checks them on every request.
type Service struct {
	Store       Store
	Users       UserDirectory
	Connections Connections
	Delegations *orgs.Delegations
	Tx          provisioning.Transactor
	Audit       orgs.AuditLog
	Timeouts    Timeouts
	Now         func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) timeouts() Timeouts {
	t := s.Timeouts
	if t.Idle <= 0 {
		t.Idle = DefaultTimeouts.Idle
	}
	if t.Absolute <= 0 {
		t.Absolute = DefaultTimeouts.Absolute
	}
	if t.Link <= 0 {
		t.Link = DefaultTimeouts.Link
	}
	return t
}

func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.Tx == nil {
		return fn(ctx)
	}
	return s.Tx.InTx(ctx, fn)
}

// LinkPrefix starts every one-time sign-in link's secret.
const LinkPrefix = "oscln_"

// secret is 256 random bits, URL-safe.
func secret(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// IssueLink makes a one-time sign-in link for operator and returns its secret, shown
// once.
func (s *Service) IssueLink(ctx context.Context, operator string) (string, *Link, error) {
	if operator == "" {
		return "", nil, orgscim.Errorf(orgscim.Invalid, "an operator name is needed")
	}
	now := s.now()
	sec := secret(LinkPrefix)
	l := &Link{Hash: orgs.HashToken(sec), Operator: operator, Created: now, Expires: now.Add(s.timeouts().Link)}
	if err := s.Store.CreateLink(ctx, l); err != nil {
		return "", nil, err
	}
	return sec, l, nil
}

// errLinkGone is the one answer for a link that is unknown, used or expired: it says
// nothing about which.
var errLinkGone = orgscim.Errorf(orgscim.Unauthorized, "this sign-in link cannot be used: it is unknown, used already or expired")

// RedeemLink uses a link once and starts its operator's session; it returns the session
// and the cookie's secret.
func (s *Service) RedeemLink(ctx context.Context, linkSecret string) (*Session, string, error) {
	if len(linkSecret) < len(LinkPrefix) || linkSecret[:len(LinkPrefix)] != LinkPrefix {
		return nil, "", errLinkGone
	}
	now := s.now()
	var out *Session
	var cookie string
	err := s.inTx(ctx, func(ctx context.Context) error {
		l, err := s.Store.UseLink(ctx, orgs.HashToken(linkSecret), now)
		if orgscim.ErrorCode(err) == orgscim.NotFound {
			return errLinkGone
		}
		if err != nil {
			return err
		}
		out, cookie, err = s.start(ctx, &Session{Kind: KindOperator, Operator: l.Operator}, now, now, "one-time link")
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, cookie, nil
}

// SessionPrefix starts every session cookie's secret.
const SessionPrefix = "oscss_"

// start stores a new session and records the sign-in.
func (s *Service) start(ctx context.Context, sess *Session, authAt, now time.Time, how string) (*Session, string, error) {
	t := s.timeouts()
	cookie := secret(SessionPrefix)
	sess.ID = provisioning.NewID()
	sess.Hash = orgs.HashToken(cookie)
	sess.CSRF = secret("")
	sess.AuthAt = authAt
	sess.Expires = now.Add(t.Absolute)
	sess.IdleExpires = minTime(now.Add(t.Idle), sess.Expires)
	if err := s.Store.CreateSession(ctx, sess); err != nil {
		return nil, "", err
	}
	e := audit.New(ctx, now, ActSignIn, "console_session", sess.ID)
	e.ConnectionID = sess.ConnectionID
	e.Diff = audit.Diff(nil, map[string]any{"kind": sess.Kind, "person": Name(sess), "how": how,
		"expires_at": sess.Expires})
	if s.Audit != nil {
		if err := s.Audit.Record(ctx, e); err != nil {
			return nil, "", err
		}
	}
	return sess, cookie, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Name is how records name the session's person, as orgs.Principal.Name does.
func Name(s *Session) string {
	if s.Kind == KindOperator {
		return "operator:" + s.Operator
	}
	return "user:" + s.ConnectionID + "/" + s.UserID
}

// Actor is how the audit trail names what a person does in the console.
func Actor(s *Session) string {
	return "console_session:" + s.ID + " " + Name(s)
}

// Held is one of a delegate's delegations that holds now, with the root of its subtree.
type Held struct {
	Delegation *orgs.Delegation
	Home       *orgs.Org
}

// Person is who a resumed session acts for, as they stand now.
type Person struct {
	Session *Session
	// Operator is set for an operator; Connection, User and Delegations for a delegate.
	Operator    string
	Connection  *orgs.Connection
	User        *provisioning.User
	Delegations []Held
}

// SignedOut is the error of a session that no longer works; its message says why, in
// words for the person.
func signedOut(format string, args ...any) error {
	return orgscim.Errorf(orgscim.Unauthorized, format, args...)
}

// Resume finds the session of a cookie's secret and re-checks its person now. A session
// that has timed out, was revoked, or whose person no longer stands is refused
// (Unauthorized, saying why) and, when it was live until now, revoked with the reason.
func (s *Service) Resume(ctx context.Context, cookie string) (*Person, error) {
	if !strings.HasPrefix(cookie, SessionPrefix) {
		return nil, signedOut("you are not signed in")
	}
	now := s.now()
	sess, err := s.Store.SessionByHash(ctx, orgs.HashToken(cookie))
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil, signedOut("you are not signed in")
	}
	if err != nil {
		return nil, err
	}
	switch {
	case sess.Revoked != nil:
		return nil, signedOut("%s", sess.RevokeReason)
	case !now.Before(sess.Expires):
		return nil, signedOut("your session reached its maximum length; sign in again")
	case !now.Before(sess.IdleExpires):
		return nil, signedOut("your session ended after a period without activity; sign in again")
	}
	p, why, err := s.stand(ctx, sess)
	if err != nil {
		return nil, err
	}
	if why != "" {
		if err := s.end(ctx, sess, now, why); err != nil {
			return nil, err
		}
		return nil, signedOut("%s", why)
	}
	t := s.timeouts()
	// Touch at most once a minute: a page's clicks should not each be a write.
	if idle := minTime(now.Add(t.Idle), sess.Expires); idle.Sub(sess.IdleExpires) >= time.Minute {
		if err := s.Store.TouchSession(ctx, sess.ID, idle); err != nil {
			return nil, err
		}
		sess.IdleExpires = idle
	}
	return p, nil
}

// stand re-checks the person of sess: why they no longer stand ("" when they do).
func (s *Service) stand(ctx context.Context, sess *Session) (*Person, string, error) {
	p := &Person{Session: sess}
	if sess.Kind == KindOperator {
		p.Operator = sess.Operator
		return p, "", nil
	}
	conn, user, held, why, err := s.delegate(ctx, sess.ConnectionID, sess.UserID)
	if err != nil || why != "" {
		return nil, why, err
	}
	p.Connection, p.User, p.Delegations = conn, user, held
	return p, "", nil
}

// delegate evaluates a delegate now: their connection active, their user active, and
// the delegations that hold by the authority rule. why says, for the person, what
// failed.
func (s *Service) delegate(ctx context.Context, connID, userID string) (*orgs.Connection, *provisioning.User, []Held, string, error) {
	conn, err := s.Connections.ConnectionByID(ctx, connID)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil, nil, nil, "your organisation's connection no longer exists", nil
	}
	if err != nil {
		return nil, nil, nil, "", err
	}
	if conn.Status != "active" {
		return nil, nil, nil, "your organisation's connection is " + conn.Status, nil
	}
	user, err := s.Users.Get(ctx, connID, userID)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil, nil, nil, "your identity provider has deleted your account", nil
	}
	if err != nil {
		return nil, nil, nil, "", err
	}
	if !user.Active {
		return nil, nil, nil, "your identity provider has deactivated your account", nil
	}
	ds, err := s.Delegations.Store.DelegationsHeldBy(ctx, connID, userID)
	if err != nil {
		return nil, nil, nil, "", err
	}
	var held []Held
	why := "you hold no delegated administration in orgscim"
	for _, d := range ds {
		cur, home, err := s.Delegations.DelegationHolds(ctx, d.ID)
		if c := orgscim.ErrorCode(err); c == orgscim.Forbidden || c == orgscim.NotFound {
			why = "your delegated administration no longer holds: " + orgscim.ErrorMessage(err)
			continue
		}
		if err != nil {
			return nil, nil, nil, "", err
		}
		held = append(held, Held{Delegation: cur, Home: home})
	}
	if len(held) == 0 {
		return nil, nil, nil, why, nil
	}
	return conn, user, held, "", nil
}

func (s *Service) end(ctx context.Context, sess *Session, now time.Time, why string) error {
	return s.inTx(ctx, func(ctx context.Context) error {
		if err := s.Store.RevokeSession(ctx, sess.ID, now, why); err != nil {
			return err
		}
		if s.Audit == nil {
			return nil
		}
		e := audit.New(ctx, now, ActSignOut, "console_session", sess.ID)
		e.ConnectionID = sess.ConnectionID
		e.Diff = audit.Diff(map[string]any{"revoked": false}, map[string]any{"revoked": true, "reason": why})
		return s.Audit.Record(ctx, e)
	})
}

// SignOut revokes the session of a cookie; an unknown or ended one is already out.
func (s *Service) SignOut(ctx context.Context, cookie string) error {
	if cookie == "" {
		return nil
	}
	sess, err := s.Store.SessionByHash(ctx, orgs.HashToken(cookie))
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil
	}
	if err != nil || sess.Revoked != nil {
		return err
	}
	return s.end(ctx, sess, s.now(), "you signed out")
}

// Principal is the authority the person acts with on org with capability c: an
// operator's own, or the first of the delegate's holding delegations that confers c on
// a subtree containing org (decided by orgs.Delegations.Authorize). ok is false when
// none does.
func (s *Service) Principal(ctx context.Context, p *Person, c orgs.Capability, org *orgs.Org) (orgs.Principal, bool, error) {
	if p.Operator != "" {
		return orgs.Principal{Operator: p.Operator}, true, nil
	}
	for _, h := range p.Delegations {
		pr := orgs.Principal{Delegation: h.Delegation}
		err := s.Delegations.Authorize(ctx, pr, c, org)
		if err == nil {
			return pr, true, nil
		}
		if code := orgscim.ErrorCode(err); code != orgscim.Forbidden && code != orgscim.NotFound {
			return orgs.Principal{}, false, err
		}
	}
	return orgs.Principal{}, false, nil
}

// Sees reports whether the person may read what concerns org: an operator anything, a
// delegate what lies inside one of their delegated subtrees.
func (p *Person) Sees(org *orgs.Org) bool {
	if p.Operator != "" {
		return true
	}
	for _, h := range p.Delegations {
		if h.Home != nil && org != nil && h.Home.Contains(org) {
			return true
		}
	}
	return false
}
