package sessions

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// SignIn is a connection's OpenID Connect sign-in: the IdP that provisions the
// connection's users signs its administrators in to the console.
type SignIn struct {
	ConnectionID string
	Issuer       string
	ClientID     string
	ClientSecret string // write-only: never shown, logged or recorded
	// Claim names the ID token claim that finds the SCIM user: sub or oid match the
	// user's externalId, email or preferred_username its userName.
	Claim   string
	Updated time.Time
}

// Claims maps each supported ID token claim to the SCIM attribute it matches.
var Claims = map[string]string{"sub": "externalId", "oid": "externalId", "email": "userName", "preferred_username": "userName"}

// signInView is what the audit trail shows of a configuration: never the secret.
type signInView struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
	Claim    string `json:"claim"`
}

// Configure sets the connection's sign-in, with its audit event. Only operators
// configure how a partner signs in: it decides who may act as the partner's
// administrators.
func (s *Service) Configure(ctx context.Context, by orgs.Principal, conn *orgs.Connection, c SignIn) (*SignIn, error) {
	if by.Operator == "" {
		return nil, orgscim.Errorf(orgscim.Forbidden, "only the vendor's operators may configure a connection's console sign-in")
	}
	c.Issuer, c.ClientID, c.Claim = strings.TrimSpace(c.Issuer), strings.TrimSpace(c.ClientID), strings.TrimSpace(c.Claim)
	var missing []string
	for _, f := range [][2]string{{"issuer", c.Issuer}, {"client_id", c.ClientID}, {"client_secret", c.ClientSecret}, {"claim", c.Claim}} {
		if f[1] == "" {
			missing = append(missing, f[0])
		}
	}
	if len(missing) > 0 {
		return nil, orgscim.Errorf(orgscim.Invalid, "missing %s", strings.Join(missing, ", "))
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && !loopback(u)) || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return nil, orgscim.Errorf(orgscim.InvalidValue, "issuer must be an https URL without query or fragment (http only on 127.0.0.1 or localhost)")
	}
	if _, ok := Claims[c.Claim]; !ok {
		return nil, orgscim.Errorf(orgscim.InvalidValue, "claim must be one of sub, oid (matched to externalId), email, preferred_username (matched to userName)")
	}
	if len(c.ClientID) > 512 || len(c.ClientSecret) > 1024 || len(c.Issuer) > 1024 {
		return nil, orgscim.Errorf(orgscim.InvalidValue, "issuer, client_id or client_secret is too long")
	}
	now := s.now()
	c.ConnectionID, c.Updated = conn.ID, now
	err := s.inTx(ctx, func(ctx context.Context) error {
		before, err := s.Store.PutSignIn(ctx, &c)
		if err != nil {
			return err
		}
		if s.Audit == nil {
			return nil
		}
		e := audit.New(ctx, now, ActSignInConfig, "connection", conn.ID)
		e.ConnectionID = conn.ID
		var was any
		if before != nil {
			was = signInView{before.Issuer, before.ClientID, before.Claim}
		}
		e.Diff = audit.Diff(was, signInView{c.Issuer, c.ClientID, c.Claim})
		return s.Audit.Record(ctx, e)
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// loopback allows http for an issuer on this machine: an IdP in a test or a demo.
func loopback(u *url.URL) bool {
	h := u.Hostname()
	return u.Scheme == "http" && (h == "127.0.0.1" || h == "localhost" || h == "::1")
}

// SignInOf returns the connection's sign-in configuration.
func (s *Service) SignInOf(ctx context.Context, conn *orgs.Connection) (*SignIn, error) {
	c, err := s.Store.SignIn(ctx, conn.ID)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil, orgscim.Errorf(orgscim.NotFound, "connection %s has no console sign-in", conn.Slug)
	}
	return c, err
}

// NoStanding is the refusal of a sign-in whose person may not use the console; its
// message says why, for the person.
func noStanding(why string) error { return orgscim.Errorf(orgscim.Forbidden, "%s", why) }

// SignInDelegate starts the session of the person an IdP vouched for: value is the ID
// token's configured claim, authAt when the IdP authenticated them. The person is the
// SCIM user of conn that the claim names; they need an active account and a delegation
// that holds, or the sign-in is refused (Forbidden) saying which.
func (s *Service) SignInDelegate(ctx context.Context, conn *orgs.Connection, cfg *SignIn, value string, authAt time.Time) (*Session, string, error) {
	attr, ok := Claims[cfg.Claim]
	if !ok {
		return nil, "", orgscim.Errorf(orgscim.Internal, "connection %s: unknown claim %q", conn.Slug, cfg.Claim)
	}
	if strings.TrimSpace(value) == "" {
		return nil, "", noStanding("your identity provider did not send the " + cfg.Claim + " claim orgscim needs to find you")
	}
	page, err := s.Users.List(ctx, conn.ID, provisioning.Query{Count: 2, Filter: provisioning.Compare{
		Attr: provisioning.Attr{Path: []string{attr}, Type: provisioning.TypeString, CaseExact: attr == "externalId"},
		Op:   provisioning.OpEq, Value: value}})
	if err != nil {
		return nil, "", err
	}
	if len(page.Users) != 1 {
		return nil, "", noStanding("your identity provider has not provisioned you to orgscim")
	}
	user := page.Users[0]
	_, _, _, why, err := s.delegate(ctx, conn.ID, user.ID)
	if err != nil {
		return nil, "", err
	}
	if why != "" {
		return nil, "", noStanding(why)
	}
	now := s.now()
	var out *Session
	var cookie string
	err = s.inTx(ctx, func(ctx context.Context) error {
		out, cookie, err = s.start(ctx, &Session{Kind: KindDelegate, ConnectionID: conn.ID, UserID: user.ID}, authAt, now, "openid connect")
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, cookie, nil
}
