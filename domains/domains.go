package domains

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"golang.org/x/net/idna"
)

// Status of a claim.
type Status string

const (
	Pending  Status = "pending"
	Verified Status = "verified"
	// Lapsed: the domain verified once and no longer does (the record was removed, the
	// domain changed hands). New users in it are refused until it verifies again.
	Lapsed Status = "lapsed"
)

// Audit actions of claims.
const (
	ActClaim  = "domain.claim"
	ActVerify = "domain.verify"
	ActLapse  = "domain.lapse"
	ActRemove = "domain.remove"
)

// Claim is an org's claim on an e-mail domain.
type Claim struct {
	ID     string
	OrgID  string
	Domain string // lower-case, IDNA (punycode) form
	// Token is what the org publishes; it proves control of the domain, not a secret
	// of orgscim, so it is kept as it is and shown again when asked.
	Token         string
	Status        Status
	Method        string // the proof that last verified it: "dns" or "https"
	Created       time.Time
	VerifiedAt    *time.Time
	LastCheckedAt *time.Time
}

// Store keeps claims.
type Store interface {
	CreateClaim(ctx context.Context, c *Claim) error
	Claim(ctx context.Context, id string) (*Claim, error)
	ClaimsOf(ctx context.Context, orgIDs []string) ([]*Claim, error)
	// ClaimsUnder returns the claims of the orgs whose path starts with orgPath.
	ClaimsUnder(ctx context.Context, orgPath string) ([]*Claim, error)
	// ClaimsOfConnection returns the claims of the orgs inside the connection's org.
	ClaimsOfConnection(ctx context.Context, conn string) ([]*Claim, error)
	// ClaimsOn returns every claim, of any org, on these domains.
	ClaimsOn(ctx context.Context, domains []string) ([]*Claim, error)
	// UpdateClaim runs fn on the claim inside the transaction and stores the result; a
	// second org's verification of a verified domain fails with Conflict.
	UpdateClaim(ctx context.Context, id string, fn func(*Claim) error) (*Claim, error)
	DeleteClaim(ctx context.Context, id string) error
	// VerifiedClaims returns the verified claims after the id, for the re-check.
	VerifiedClaims(ctx context.Context, afterID string, limit int) ([]*Claim, error)
}

// Proof checks one way of publishing the token.
type Proof interface {
	Method() string
	// Proves reports whether domain publishes token; an error is a failure to ask
	// (the resolver unreachable), not a negative answer.
	Proves(ctx context.Context, domain, token string) (bool, error)
}

// Authorizer is the delegation check of orgs (Delegations.Authorize).
type Authorizer interface {
	Authorize(ctx context.Context, p orgs.Principal, c orgs.Capability, org *orgs.Org) error
}

// OrgLookup finds orgs and connections.
type OrgLookup interface {
	OrgBySlug(ctx context.Context, slug string) (*orgs.Org, error)
	OrgsByID(ctx context.Context, ids []string) (map[string]*orgs.Org, error)
}

// PolicyLookup reads a connection's policy (orgs.PolicyStore).
type PolicyLookup interface {
	Policy(ctx context.Context, connectionID string) (orgs.Policy, error)
}

// Transactor runs fn in one transaction.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// AuditLog records an event in the change's transaction.
type AuditLog interface {
	Record(ctx context.Context, e audit.Event) error
}

// Service is the claims service and the domain rule of provisioning.
type Service struct {
	Store Store
	Orgs  OrgLookup
	// Policies gives a connection's domain policy (refuse or quarantine); nil refuses.
	Policies   PolicyLookup
	Authorizer Authorizer
	Tx         Transactor
	Audit      AuditLog
	Proofs     []Proof
	Now        func() time.Time
	// Reach, when set, gives the customers an MSP's connection reaches now through an
	// engagement in force (msp.Service): their verified domains are not another org's to it.
	Reach interface {
		EngagedCustomers(ctx context.Context, connectionID string) ([]*orgs.Org, error)
	}
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

func (s *Service) record(ctx context.Context, action string, c *Claim, before, after any) error {
	if s.Audit == nil {
		return nil
	}
	e := audit.New(ctx, s.now(), action, "domain_claim", c.ID)
	e.OrgID = c.OrgID
	e.Diff = audit.Diff(before, after)
	return s.Audit.Record(ctx, e)
}

// claimView is what an event shows of a claim: never the token, which would let a
// reader of the trail publish it for a domain of theirs.
type claimView struct {
	Domain string `json:"domain"`
	Status Status `json:"status"`
	Method string `json:"method,omitempty"`
}

func view(c *Claim) *claimView {
	if c == nil {
		return nil
	}
	return &claimView{c.Domain, c.Status, c.Method}
}

// Normalize returns the domain in the form it is stored and compared in: IDNA
// (punycode), lower-case, without a trailing dot.
func Normalize(domain string) (string, error) {
	d := strings.TrimSuffix(strings.TrimSpace(domain), ".")
	a, err := lookup.ToASCII(d)
	if err != nil || a == "" || !strings.Contains(a, ".") || len(a) > 253 {
		return "", orgscim.Errorf(orgscim.Invalid, "%q is not a domain name", domain)
	}
	return strings.ToLower(a), nil
}

// lookup is IDNA's lookup profile that also refuses empty and over-long labels.
var lookup = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.VerifyDNSLength(true))

// RecordName is where the DNS proof is published.
func RecordName(domain string) string { return "_orgscim-challenge." + domain }

// RecordValue is the TXT value of the DNS proof.
func RecordValue(token string) string { return "orgscim-verification=" + token }

// WellKnownPath is where the HTTPS proof is published.
const WellKnownPath = "/.well-known/orgscim-domain-verification"

func newToken() string {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// authorize loads the org and checks that p may administer claims on it: operators,
// and delegates whose subtree holds it with the delegate capability (a claim decides who
// the org's connections may provision, as much as a delegation does).
func (s *Service) authorize(ctx context.Context, p orgs.Principal, org *orgs.Org) error {
	if s.Authorizer == nil {
		if p.Operator != "" {
			return nil
		}
		return orgscim.Errorf(orgscim.Forbidden, "no authority here")
	}
	return s.Authorizer.Authorize(ctx, p, orgs.CapDelegate, org)
}

// ClaimDomain records org's claim on domain and returns it with the token to publish.
// Claiming again returns the existing claim.
func (s *Service) ClaimDomain(ctx context.Context, p orgs.Principal, orgSlug, domain string) (*Claim, error) {
	d, err := Normalize(domain)
	if err != nil {
		return nil, err
	}
	org, err := s.Orgs.OrgBySlug(ctx, orgSlug)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, org); err != nil {
		return nil, err
	}
	var out *Claim
	err = s.inTx(ctx, func(ctx context.Context) error {
		on, err := s.Store.ClaimsOn(ctx, []string{d})
		if err != nil {
			return err
		}
		for _, c := range on {
			if c.OrgID == org.ID {
				out = c
				return nil
			}
		}
		c := &Claim{ID: newID(), OrgID: org.ID, Domain: d, Token: newToken(), Status: Pending, Created: s.now()}
		if err := s.Store.CreateClaim(ctx, c); err != nil {
			return err
		}
		out = c
		return s.record(ctx, ActClaim, c, nil, view(c))
	})
	return out, err
}

// Claims lists the claims of an org and of its subtree.
func (s *Service) Claims(ctx context.Context, p orgs.Principal, orgSlug string) ([]*Claim, error) {
	org, err := s.Orgs.OrgBySlug(ctx, orgSlug)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, org); err != nil {
		return nil, err
	}
	return s.Store.ClaimsOf(ctx, []string{org.ID})
}

// claimOf loads a claim of the org, as NotFound when it belongs to another: a caller
// learns nothing about other orgs' claims.
func (s *Service) claimOf(ctx context.Context, p orgs.Principal, orgSlug, id string) (*orgs.Org, *Claim, error) {
	org, err := s.Orgs.OrgBySlug(ctx, orgSlug)
	if err != nil {
		return nil, nil, err
	}
	if err := s.authorize(ctx, p, org); err != nil {
		return nil, nil, err
	}
	c, err := s.Store.Claim(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if c.OrgID != org.ID {
		return nil, nil, orgscim.Errorf(orgscim.NotFound, "no domain claim %q", id)
	}
	return org, c, nil
}

// Verify checks the claim's proofs now. A claim that proves becomes verified; a
// verified one that does not lapses. The answer is the claim as stored; a domain
// verified by another org is a Conflict.
func (s *Service) Verify(ctx context.Context, p orgs.Principal, orgSlug, id string) (*Claim, error) {
	_, c, err := s.claimOf(ctx, p, orgSlug, id)
	if err != nil {
		return nil, err
	}
	return s.check(ctx, c)
}

// check asks the proofs outside any transaction (they wait on the network), then
// stores the outcome.
func (s *Service) check(ctx context.Context, c *Claim) (*Claim, error) {
	method, reached := s.prove(ctx, c)
	if !reached {
		return nil, errUnreachable
	}
	now := s.now()
	var out *Claim
	err := s.inTx(ctx, func(ctx context.Context) error {
		var before claimView
		u, err := s.Store.UpdateClaim(ctx, c.ID, func(cur *Claim) error {
			before = *view(cur)
			cur.LastCheckedAt = &now
			switch {
			case method != "":
				if cur.Status != Verified {
					cur.VerifiedAt = &now
				}
				cur.Status, cur.Method = Verified, method
			case cur.Status == Verified:
				cur.Status = Lapsed
			}
			return nil
		})
		if err != nil {
			return err
		}
		out = u
		switch {
		case before.Status != Verified && u.Status == Verified:
			return s.record(ctx, ActVerify, u, before, view(u))
		case before.Status == Verified && u.Status == Lapsed:
			return s.record(ctx, ActLapse, u, before, view(u))
		}
		return nil
	})
	return out, err
}

// prove returns the method of the first proof that holds, "" when none does.
// reached is false when every proof failed to ask (the resolver is down): that must
// not lapse a domain.
func (s *Service) prove(ctx context.Context, c *Claim) (method string, reached bool) {
	for _, pr := range s.Proofs {
		ok, err := pr.Proves(ctx, c.Domain, c.Token)
		if err != nil {
			continue
		}
		reached = true
		if ok {
			return pr.Method(), true
		}
	}
	return "", reached
}

// errUnreachable: no proof could be asked. A Conflict, as the claim's state cannot be
// decided now; the caller tries again.
var errUnreachable = orgscim.Errorf(orgscim.Conflict, "the domain could not be checked now (DNS and HTTPS unreachable); try again")

// Remove deletes a claim; a verified domain is then free for users of any org.
func (s *Service) Remove(ctx context.Context, p orgs.Principal, orgSlug, id string) error {
	_, c, err := s.claimOf(ctx, p, orgSlug, id)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		if err := s.Store.DeleteClaim(ctx, c.ID); err != nil {
			return err
		}
		return s.record(ctx, ActRemove, c, view(c), nil)
	})
}

// Lapse is the re-verification rule of the reconciler: every verified claim is
// checked again, and those that no longer prove lapse (audited, and so delivered as a
// webhook event). A claim that cannot be checked now (resolver down) keeps its status.
// A dry run asks the network and changes nothing.
func (s *Service) Lapse(ctx context.Context, dryRun bool) ([]string, error) {
	lapsed := []string{}
	after := ""
	for {
		cs, err := s.Store.VerifiedClaims(ctx, after, 100)
		if err != nil || len(cs) == 0 {
			return lapsed, err
		}
		for _, c := range cs {
			after = c.ID
			if dryRun {
				if method, reached := s.prove(ctx, c); reached && method == "" {
					lapsed = append(lapsed, c.Domain)
				}
				continue
			}
			u, err := s.check(ctx, c)
			if err == errUnreachable {
				continue
			}
			if err != nil {
				return lapsed, err
			}
			if u.Status == Lapsed {
				lapsed = append(lapsed, u.Domain)
			}
		}
	}
}
