package domains

import (
	"context"
	"sort"
	"strings"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

var errDomainRequired = orgscim.Errorf(orgscim.Forbidden, "this connection provisions users once its organisation has verified an e-mail domain")

func (s *Service) policy(ctx context.Context, conn string) (orgs.Policy, error) {
	if s.Policies == nil {
		return orgs.DefaultPolicy, nil
	}
	return s.Policies.Policy(ctx, conn)
}

// MayActivate is the activation gate of a pending connection (orgs.Directory's
// ActivationGate): where the connection's policy requires a verified domain, it stays
// pending until its subtree holds one, whatever it pushes (a group too). Forbidden
// says not yet.
func (s *Service) MayActivate(ctx context.Context, conn *orgs.Connection) error {
	policy, err := s.policy(ctx, conn.ID)
	if err != nil || !policy.RequireVerifiedDomain {
		return err
	}
	own, err := s.Store.ClaimsOfConnection(ctx, conn.ID)
	if err != nil {
		return err
	}
	for _, cl := range own {
		if cl.Status == Verified {
			return nil
		}
	}
	return errDomainRequired
}

// Admit is the domain rule of a SCIM write (provisioning.DomainRule): it refuses a
// user whose userName or e-mail is in a domain verified by an org outside the
// connection's subtree, in a domain outside the subtree's verified ones when it has
// any, and, for a new user, in a domain of the subtree that has lapsed. The detail
// names the domain, never the org that holds it.
func (s *Service) Admit(ctx context.Context, conn string, addresses []string, creating bool) (quarantine string, err error) {
	quarantine, _, err = s.AdmitLinking(ctx, conn, addresses, creating, "")
	return quarantine, err
}

// Admission is what the domain rule of one user write reads: the connection's domain
// policy, the claims of the orgs inside the connection's org, and every claim of any
// org on the domains the write names.
type Admission struct {
	DomainPolicy          string // "" when the connection has no policy of its own
	RequireVerifiedDomain bool
	Own, On               []*Claim
}

// AdmissionReader is a Store that reads an Admission in one round trip (sqlstore
// does): every SCIM user write asks the rule, so its three reads are one.
type AdmissionReader interface {
	Admission(ctx context.Context, conn string, domains []string) (*Admission, error)
}

// AdmitLinking is Admit, and Linkable of link (when not empty), decided from one read:
// a creation asks both of the same claims.
func (s *Service) AdmitLinking(ctx context.Context, conn string, addresses []string, creating bool, link string) (quarantine string, linkable bool, err error) {
	want := map[string]bool{}
	for _, a := range addresses {
		i := strings.LastIndexByte(a, '@')
		if i < 0 || i == len(a)-1 {
			continue
		}
		if d, err := Normalize(a[i+1:]); err == nil {
			want[d] = true
		} else {
			// Not a domain name: it matches no claim, so an org with verified domains
			// refuses it as outside them.
			want[strings.ToLower(strings.TrimSpace(a[i+1:]))] = true
		}
	}
	domains := make([]string, 0, len(want))
	for d := range want {
		domains = append(domains, d)
	}
	sort.Strings(domains) // one answer for one request, whichever domain is refused
	var (
		policy  orgs.Policy
		own, on []*Claim
	)
	// The policy and the claims from one statement where the store can, when the
	// policy comes from the same database (production wiring); else read apart.
	if r, ok := s.Store.(AdmissionReader); ok && s.Policies != nil {
		adm, err := r.Admission(ctx, conn, domains)
		if err != nil {
			return "", false, err
		}
		policy = orgs.DefaultPolicy
		if adm.DomainPolicy != "" {
			policy.DomainPolicy, policy.RequireVerifiedDomain = adm.DomainPolicy, adm.RequireVerifiedDomain
		}
		own, on = adm.Own, adm.On
		if len(want) == 0 && !policy.RequireVerifiedDomain {
			return "", linkableIn(own, link), nil
		}
	} else {
		if policy, err = s.policy(ctx, conn); err != nil {
			return "", false, err
		}
		if len(want) == 0 && !policy.RequireVerifiedDomain && link == "" {
			return "", false, nil
		}
		// One query for the subtree's claims: this runs on every SCIM user write.
		if own, err = s.Store.ClaimsOfConnection(ctx, conn); err != nil {
			return "", false, err
		}
		if len(want) == 0 && !policy.RequireVerifiedDomain {
			return "", linkableIn(own, link), nil
		}
		if on, err = s.Store.ClaimsOn(ctx, domains); err != nil {
			return "", false, err
		}
	}
	linkable = linkableIn(own, link)
	ours := map[string]Status{}
	anyVerified := false
	for _, cl := range own {
		if ours[cl.Domain] != Verified {
			ours[cl.Domain] = cl.Status
		}
		anyVerified = anyVerified || cl.Status == Verified
	}
	if policy.RequireVerifiedDomain && !anyVerified {
		return "", false, errDomainRequired
	}
	held := map[string]bool{}
	var foreign []*Claim
	for _, cl := range on {
		if cl.Status == Verified && ours[cl.Domain] != Verified {
			held[cl.Domain] = true
			foreign = append(foreign, cl)
		}
	}
	if len(foreign) > 0 && s.Reach != nil {
		// An MSP's delegated reach aside: a domain its customer verified is not another
		// org's to the MSP's connections while their engagement is in force.
		if err := s.engagedDomains(ctx, conn, foreign, held, ours); err != nil {
			return "", false, err
		}
	}
	outside := ""
	for _, d := range domains {
		switch {
		case held[d]:
			return "", false, orgscim.Errorf(orgscim.InvalidValue, "the domain %s is verified by another organisation; this connection may not provision users in it", d)
		case ours[d] == Lapsed && creating:
			return "", false, orgscim.Errorf(orgscim.InvalidValue, "the domain %s no longer verifies; new users in it are refused until it verifies again", d)
		case anyVerified && ours[d] != Verified && ours[d] != Lapsed && outside == "":
			outside = d
		}
	}
	if outside == "" {
		return "", linkable, nil
	}
	if policy.DomainPolicy == orgs.DomainQuarantine {
		return outside, linkable, nil
	}
	return "", false, orgscim.Errorf(orgscim.InvalidValue, "the domain %s is not a verified domain of this organisation", outside)
}

// Linkable reports whether an address of the connection's user may link it to another
// record by e-mail (import adoption): only when its domain is verified for the
// connection's org. An org with no verified domain links nothing by e-mail, and a
// lapsed domain stops every link at once.
func (s *Service) Linkable(ctx context.Context, conn, address string) (bool, error) {
	if _, ok := linkDomain(address); !ok {
		return false, nil
	}
	own, err := s.Store.ClaimsOfConnection(ctx, conn)
	if err != nil {
		return false, err
	}
	return linkableIn(own, address), nil
}

func linkDomain(address string) (string, bool) {
	i := strings.LastIndexByte(address, '@')
	if i < 0 {
		return "", false
	}
	d, err := Normalize(address[i+1:])
	return d, err == nil
}

// linkableIn is Linkable's rule over the subtree's claims own.
func linkableIn(own []*Claim, address string) bool {
	d, ok := linkDomain(address)
	if !ok {
		return false
	}
	for _, cl := range own {
		if cl.Domain == d && cl.Status == Verified {
			return true
		}
	}
	return false
}

// HoldsVerified reports whether any org of the subtree at orgPath holds a verified
// domain: a connection into it is "verified", else "unverified".
func (s *Service) HoldsVerified(ctx context.Context, orgPath string) (bool, error) {
	own, err := s.Store.ClaimsUnder(ctx, orgPath)
	if err != nil {
		return false, err
	}
	for _, cl := range own {
		if cl.Status == Verified {
			return true, nil
		}
	}
	return false, nil
}

// engagedDomains treats as the connection's own each foreign verified claim made by an
// org inside a customer the connection's MSP reaches now: it is no longer held by
// another org, nor outside the connection's verified domains.
func (s *Service) engagedDomains(ctx context.Context, conn string, foreign []*Claim, held map[string]bool, ours map[string]Status) error {
	customers, err := s.Reach.EngagedCustomers(ctx, conn)
	if err != nil || len(customers) == 0 {
		return err
	}
	ids := make([]string, len(foreign))
	for i, cl := range foreign {
		ids[i] = cl.OrgID
	}
	byID, err := s.Orgs.OrgsByID(ctx, ids)
	if err != nil {
		return err
	}
	for _, cl := range foreign {
		o := byID[cl.OrgID]
		for _, c := range customers {
			if o != nil && c.Contains(o) {
				delete(held, cl.Domain)
				ours[cl.Domain] = Verified
			}
		}
	}
	return nil
}
