package orgs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/orgscim/orgscim"
)

// The authority rule: a right — a grant, a delegation, an admin key, a SCIM token —
// holds only while every link of its chain holds: its holder is an active user of an
// active connection; every org on its path is active and inside its contract (with its
// grace period); its source is valid (an active mapping and the membership behind it,
// the unrevoked delegation chain it was made under, an approved elevation); and its org
// lies inside its source's scope.
//
// The rule is evaluated at each decision, from the rows as they are at that moment, by
// the functions in this file: DelegationHolds for delegations (and through them admin
// keys and delegated administration; for an MSP technician's delegation, reachHolds
// adds its engagement's link, msp.go), grantStanding for grants, ServiceAccountHolds for
// service accounts (whose holder link is their accountable owner, and through them
// integration tokens), and Directory.AuthenticateToken for SCIM tokens. Ending, suspending, moving or revoking
// therefore takes effect for every decision at the commit of that change; the reconciler
// records the consequences as state, notifies and cleans up, but no right waits for it.

// ChainLink is one delegation of a chain, with what the authority rule asks of it.
type ChainLink struct {
	Delegation *Delegation
	// OrgPath is the path of the delegation's org, as it is now.
	OrgPath string
	// HolderActive: the holder exists, is not deleted and is active.
	HolderActive bool
	// HolderConnectionStatus is the status of the holder's connection ("" when gone).
	HolderConnectionStatus string
	// Reach is set for an MSP technician's delegation (EngagementID): what its
	// engagement link asks.
	Reach *MSPReach
}

// Org paths are "/root/.../id/"; pathIDs returns the ids, root first.
func pathIDs(path string) []string {
	return strings.Split(strings.Trim(path, "/"), "/")
}

// inactiveOnPath names (by slug, or by id when it is gone) the first org of path, ids
// root first, whose relationship gives no access at now: not active, or outside its
// contract plus grace. "" when every org on the path is in an active relationship.
func inactiveOnPath(path []string, byID map[string]*Org, now time.Time) string {
	for _, id := range path {
		o := byID[id]
		if o == nil {
			return id
		}
		if !o.GrantsAccessAt(now) {
			return o.Slug
		}
	}
	return ""
}

// brokenLink says why a right does not hold: Forbidden, with the first link that broke.
func brokenLink(format string, args ...any) error {
	return orgscim.Errorf(orgscim.Forbidden, "%s", fmt.Sprintf(format, args...))
}

// chainHolds applies the rule to a delegation chain, the delegation first and then each
// one it was made under, with byID holding every org on their paths. It returns nil when
// every link holds, or a Forbidden error naming the first link that does not.
func chainHolds(chain []ChainLink, byID map[string]*Org, now time.Time) error {
	if len(chain) == 0 {
		return brokenLink("no such delegation")
	}
	for i, l := range chain {
		d := l.Delegation
		name := "delegation " + d.ID
		if i > 0 {
			name = "delegation " + d.ID + " (which " + chain[i-1].Delegation.ID + " was made under)"
		}
		switch {
		case d.Revoked != nil:
			return brokenLink("%s was revoked", name)
		case d.Expires != nil && !now.Before(*d.Expires):
			return brokenLink("%s has expired", name)
		case !l.HolderActive:
			return brokenLink("the holder of %s is no longer an active user", name)
		case l.HolderConnectionStatus != "active":
			return brokenLink("the holder of %s belongs to a connection that is not active", name)
		}
		if slug := inactiveOnPath(pathIDs(l.OrgPath), byID, now); slug != "" {
			return brokenLink("%s: the relationship with org %s is not active (status, contract or grace period)", name, slug)
		}
		if d.EngagementID != "" {
			// An MSP's reach lies outside its parent's subtree by design: the engagement
			// is the link that takes the subtree check's place.
			var parent *ChainLink
			if i+1 < len(chain) {
				parent = &chain[i+1]
			}
			if err := reachHolds(name, l, parent, byID, now); err != nil {
				return err
			}
			continue
		}
		if d.ParentID == "" {
			if i != len(chain)-1 {
				return brokenLink("%s: its chain is inconsistent", name)
			}
			continue
		}
		if i+1 >= len(chain) || chain[i+1].Delegation.ID != d.ParentID {
			return brokenLink("%s: the delegation it was made under is missing", name)
		}
		if !strings.HasPrefix(l.OrgPath, chain[i+1].OrgPath) {
			return brokenLink("%s: its org has moved outside the subtree of the delegation it was made under", name)
		}
	}
	return nil
}

// DelegationHolds evaluates the authority rule for the delegation with this id now, and
// returns the delegation as stored and its org. The error is Forbidden, naming the
// broken link, when the rule does not hold.
func (s *Delegations) DelegationHolds(ctx context.Context, id string) (*Delegation, *Org, error) {
	return s.delegationHoldsAt(ctx, id, s.now())
}

// decisionKey keys a request's memo of the chains it has evaluated.
type decisionKey struct{}

type decisionMemo struct {
	mu     sync.Mutex
	chains map[string]heldChain
}

type heldChain struct {
	d    *Delegation
	home *Org
	err  error
}

// WithDecision marks ctx as one decision — one request of an adapter: a delegation's
// chain is evaluated once, at the request's first question, and every later question
// of the same request gets the same answer instead of reading the chain again.
func WithDecision(ctx context.Context) context.Context {
	return context.WithValue(ctx, decisionKey{}, &decisionMemo{chains: map[string]heldChain{}})
}

func (s *Delegations) delegationHoldsAt(ctx context.Context, id string, now time.Time) (*Delegation, *Org, error) {
	if h, ok := recalled(ctx, id); ok {
		return h.d, h.home, h.err
	}
	chain, byID, err := s.Store.DelegationChain(ctx, id)
	if err != nil && orgscim.ErrorCode(err) != orgscim.NotFound {
		return nil, nil, err
	}
	return s.judge(ctx, id, chain, byID, now)
}

// judge evaluates the rule over the chain of delegation id, read by the caller (an empty
// chain: there is no such delegation), and makes it the request's answer.
func (s *Delegations) judge(ctx context.Context, id string, chain []ChainLink, byID map[string]*Org, now time.Time) (*Delegation, *Org, error) {
	var h heldChain
	if len(chain) == 0 {
		h.err = orgscim.Errorf(orgscim.NotFound, "no delegation %q", id)
	} else if h.err = chainHolds(chain, byID, now); h.err == nil {
		h.d, h.home = chain[0].Delegation, byID[chain[0].Delegation.OrgID]
	}
	if memo, _ := ctx.Value(decisionKey{}).(*decisionMemo); memo != nil {
		memo.mu.Lock()
		memo.chains[id] = h
		memo.mu.Unlock()
	}
	return h.d, h.home, h.err
}

func recalled(ctx context.Context, id string) (heldChain, bool) {
	memo, _ := ctx.Value(decisionKey{}).(*decisionMemo)
	if memo == nil {
		return heldChain{}, false
	}
	memo.mu.Lock()
	defer memo.mu.Unlock()
	h, ok := memo.chains[id]
	return h, ok
}

// forgetDecisions drops what the request has evaluated: it has just changed a
// delegation, so later questions of the same request read the chains again.
func forgetDecisions(ctx context.Context) {
	if memo, _ := ctx.Value(decisionKey{}).(*decisionMemo); memo != nil {
		memo.mu.Lock()
		clear(memo.chains)
		memo.mu.Unlock()
	}
}

// AuthorityRule evaluates the rule for a delegation (Delegations does).
type AuthorityRule interface {
	DelegationHolds(ctx context.Context, id string) (*Delegation, *Org, error)
}

func (a *Access) authority() AuthorityRule {
	if a.Authority != nil {
		return a.Authority
	}
	r, _ := a.Authz.(AuthorityRule)
	return r
}

// grantStanding evaluates, for a batch of grants, the links of the rule that lie beyond
// a grant's holder and its org path (which callers check once per path): see
// standing.of. byID must hold each grant's org; conns are connections the caller has
// read already. It returns why each grant that does not hold does not; grants missing
// from the map hold.
func (a *Access) grantStanding(ctx context.Context, grants []*Grant, byID map[string]*Org, now time.Time, conns ...*Connection) (map[string]string, error) {
	out := map[string]string{}
	st := a.newStanding(now)
	for _, c := range conns {
		st.conns[c.ID] = c
	}
	for _, g := range grants {
		why, err := st.of(ctx, g, byID[g.OrgID])
		if err != nil {
			return nil, err
		}
		if why != "" {
			out[g.ID] = why
		}
	}
	return out, nil
}

// standing evaluates grants one by one, reading each connection and each delegation
// chain once.
type standing struct {
	a      *Access
	now    time.Time
	conns  map[string]*Connection
	chains map[string]chainVerdict
}

type chainVerdict struct {
	home *Org
	why  string
}

func (a *Access) newStanding(now time.Time) *standing {
	return &standing{a: a, now: now, conns: map[string]*Connection{}, chains: map[string]chainVerdict{}}
}

// of says why g does not hold now, or "" when these links hold: the grant is live; its
// org (org, as stored now) lies inside the subtree of its holder's connection, so that
// an org moved away takes no foreign grant along; and the delegation it was made under,
// if any, holds now and covers its org.
func (st *standing) of(ctx context.Context, g *Grant, org *Org) (string, error) {
	if !g.LiveAt(st.now) {
		return "grant " + g.ID + " is not in force now (revoked, expired or not yet valid)", nil
	}
	if org == nil {
		return "the org of grant " + g.ID + " no longer exists", nil
	}
	if g.ConnectionID != "" {
		c, ok := st.conns[g.ConnectionID]
		if !ok {
			var err error
			if c, err = st.a.Store.ConnectionByID(ctx, g.ConnectionID); err != nil && orgscim.ErrorCode(err) != orgscim.NotFound {
				return "", err
			}
			st.conns[g.ConnectionID] = c
		}
		if c == nil || !strings.Contains(org.Path, "/"+c.OrgID+"/") {
			slug := g.ConnectionID
			if c != nil {
				slug = c.Slug
			}
			return fmt.Sprintf("org %s lies outside the subtree of connection %s, whose user holds grant %s", org.Slug, slug, g.ID), nil
		}
	}
	if g.GrantedUnder == "" {
		return "", nil
	}
	v, ok := st.chains[g.GrantedUnder]
	if !ok {
		rule := st.a.authority()
		if rule == nil {
			v.why = "the delegation it was made under cannot be evaluated here"
		} else if _, home, err := rule.DelegationHolds(ctx, g.GrantedUnder); err == nil {
			v.home = home
		} else if c := orgscim.ErrorCode(err); c == orgscim.Forbidden || c == orgscim.NotFound {
			v.why = orgscim.ErrorMessage(err)
		} else {
			return "", err
		}
		st.chains[g.GrantedUnder] = v
	}
	switch {
	case v.why != "":
		return fmt.Sprintf("grant %s was made under delegation %s, which no longer holds: %s", g.ID, g.GrantedUnder, v.why), nil
	case v.home == nil || !v.home.Contains(org):
		return fmt.Sprintf("org %s lies outside the subtree of delegation %s, under which grant %s was made", org.Slug, g.GrantedUnder, g.ID), nil
	}
	return "", nil
}

// ServiceAccountStanding is what the authority rule asks of a service account, read as
// it is now: the account, its org and every org on that org's path, its owner and the
// owner's connection with that connection's org.
type ServiceAccountStanding struct {
	Account         *ServiceAccount
	Org             *Org            // nil when gone
	Orgs            map[string]*Org // the orgs on Org's path
	OwnerActive     bool            // the owner exists, is not deleted and is active
	OwnerConnection *Connection     // nil when gone
	OwnerHome       *Org            // the owner connection's org
}

// ownerGone says why the owner can no longer answer for the account, "" when it can:
// the owner is an active user of an active connection whose org still contains the
// account's org.
func (st *ServiceAccountStanding) ownerGone() string {
	sa := st.Account
	switch {
	case st.OwnerConnection == nil:
		return "the owner's connection of service account " + sa.Name + " no longer exists"
	case !st.OwnerActive:
		return "the owner of service account " + sa.Name + " is no longer an active user"
	case st.OwnerConnection.Status != "active":
		return "the owner of service account " + sa.Name + " belongs to a connection that is not active"
	case st.Org == nil || st.OwnerHome == nil || !st.OwnerHome.Contains(st.Org):
		return "the org of service account " + sa.Name + " lies outside its owner's connection"
	}
	return ""
}

// ServiceAccountHolds applies the rule to a service account at now: it is not retired
// and not past its expiry; its owner answers for it (ownerGone); and every org on its
// org's path is in an active relationship, inside its contract and grace. nil when it
// holds, else Forbidden naming the first link that broke.
func ServiceAccountHolds(st *ServiceAccountStanding, now time.Time) error {
	sa := st.Account
	switch {
	case sa.Retired != nil:
		return brokenLink("service account %s was retired", sa.Name)
	case !now.Before(sa.Expires):
		return brokenLink("service account %s has expired", sa.Name)
	}
	if why := st.ownerGone(); why != "" {
		return brokenLink("%s", why)
	}
	if slug := inactiveOnPath(pathIDs(st.Org.Path), st.Orgs, now); slug != "" {
		return brokenLink("service account %s: the relationship with org %s is not active (status, contract or grace period)", sa.Name, slug)
	}
	return nil
}
