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
	policy, err := s.policy(ctx, conn)
	if err != nil {
		return "", err
	}
	if len(want) == 0 && !policy.RequireVerifiedDomain {
		return "", nil
	}
	// One query for the subtree's claims: this runs on every SCIM user write.
	own, err := s.Store.ClaimsOfConnection(ctx, conn)
	if err != nil {
		return "", err
	}
	ours := map[string]Status{}
	anyVerified := false
	for _, cl := range own {
		if ours[cl.Domain] != Verified {
			ours[cl.Domain] = cl.Status
		}
		anyVerified = anyVerified || cl.Status == Verified
	}
	if policy.RequireVerifiedDomain && !anyVerified {
		return "", errDomainRequired
	}
	domains := make([]string, 0, len(want))
	for d := range want {
		domains = append(domains, d)
	}
	sort.Strings(domains) // one answer for one request, whichever domain is refused
	on, err := s.Store.ClaimsOn(ctx, domains)
	if err != nil {
		return "", err
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
			return "", err
		}
	}
	outside := ""
	for _, d := range domains {
		switch {
		case held[d]:
			return "", orgscim.Errorf(orgscim.InvalidValue, "the domain %s is verified by another organisation; this connection may not provision users in it", d)
		case ours[d] == Lapsed && creating:
			return "", orgscim.Errorf(orgscim.InvalidValue, "the domain %s no longer verifies; new users in it are refused until it verifies again", d)
		case anyVerified && ours[d] != Verified && ours[d] != Lapsed && outside == "":
			outside = d
		}
	}
	if outside == "" {
		return "", nil
	}
	if policy.DomainPolicy == orgs.DomainQuarantine {
		return outside, nil
	}
	return "", orgscim.Errorf(orgscim.InvalidValue, "the domain %s is not a verified domain of this organisation", outside)
}

// Linkable reports whether an address of the connection's user may link it to another
// record by e-mail (import adoption): only when its domain is verified for the
// connection's org. An org with no verified domain links nothing by e-mail, and a
// lapsed domain stops every link at once.
func (s *Service) Linkable(ctx context.Context, conn, address string) (bool, error) {
	i := strings.LastIndexByte(address, '@')
	if i < 0 {
		return false, nil
	}
	d, err := Normalize(address[i+1:])
	if err != nil {
		return false, nil
	}
	own, err := s.Store.ClaimsOfConnection(ctx, conn)
	if err != nil {
		return false, err
	}
	for _, cl := range own {
		if cl.Domain == d && cl.Status == Verified {
			return true, nil
		}
	}
	return false, nil
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
