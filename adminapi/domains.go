package adminapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/domains"
)

// DomainClaim is an org's claim on an e-mail domain and how to prove it.
type DomainClaim struct {
	ID            string     `json:"id"`
	Domain        string     `json:"domain" doc:"lower-case; internationalised names in their IDNA (xn--) form"`
	Status        string     `json:"status" enum:"pending,verified,lapsed"`
	Method        string     `json:"method" doc:"the proof that last verified it: dns or https; empty before"`
	Token         string     `json:"token" doc:"the verification token to publish"`
	DNSRecord     string     `json:"dns_record" doc:"publish a TXT record at this name ..."`
	DNSValue      string     `json:"dns_value" doc:"... with this value; or"`
	WellKnownURL  string     `json:"well_known_url" doc:"serve the token as the body of this URL"`
	CreatedAt     time.Time  `json:"created_at"`
	VerifiedAt    *time.Time `json:"verified_at"`
	LastCheckedAt *time.Time `json:"last_checked_at"`
}

// DomainClaimList is an org's claims.
type DomainClaimList struct {
	Claims []DomainClaim `json:"claims"`
}

// ClaimDomainRequest claims a domain.
type ClaimDomainRequest struct {
	Domain string `json:"domain" doc:"required: an e-mail domain such as acme.example"`
}

func domainClaimJSON(c *domains.Claim) DomainClaim {
	return DomainClaim{ID: c.ID, Domain: c.Domain, Status: string(c.Status), Method: c.Method, Token: c.Token,
		DNSRecord: domains.RecordName(c.Domain), DNSValue: domains.RecordValue(c.Token),
		WellKnownURL: "https://" + c.Domain + domains.WellKnownPath, CreatedAt: c.Created,
		VerifiedAt: c.VerifiedAt, LastCheckedAt: c.LastCheckedAt}
}

func (s *Server) domainService() (*domains.Service, error) {
	if s.Domains == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "domain verification is not configured")
	}
	return s.Domains, nil
}

func (s *Server) claimDomain(c echo.Context) error {
	d, err := s.domainService()
	if err != nil {
		return err
	}
	var req ClaimDomainRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	cl, err := d.ClaimDomain(c.Request().Context(), principal(c), c.Param("slug"), req.Domain)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, domainClaimJSON(cl))
}

func (s *Server) listDomains(c echo.Context) error {
	d, err := s.domainService()
	if err != nil {
		return err
	}
	cs, err := d.Claims(c.Request().Context(), principal(c), c.Param("slug"))
	if err != nil {
		return err
	}
	out := DomainClaimList{Claims: make([]DomainClaim, len(cs))}
	for i, cl := range cs {
		out.Claims[i] = domainClaimJSON(cl)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) verifyDomain(c echo.Context) error {
	d, err := s.domainService()
	if err != nil {
		return err
	}
	cl, err := d.Verify(c.Request().Context(), principal(c), c.Param("slug"), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, domainClaimJSON(cl))
}

func (s *Server) removeDomain(c echo.Context) error {
	d, err := s.domainService()
	if err != nil {
		return err
	}
	if err := d.Remove(c.Request().Context(), principal(c), c.Param("slug"), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) domainRoutes() []route {
	const who = "Operators; a delegate with the delegate capability on the org."
	return []route{
		{method: http.MethodPost, path: "/orgs/{slug}/domains", tag: "domains", body: ClaimDomainRequest{}, status: http.StatusCreated,
			resp: DomainClaim{}, summary: "Claim an e-mail domain for the org and get the token that proves it (a DNS TXT record or an " +
				"HTTPS well-known file). Claiming again returns the claim. Audited.", who: who, handle: s.claimDomain},
		{method: http.MethodGet, path: "/orgs/{slug}/domains", tag: "domains", status: http.StatusOK, resp: DomainClaimList{},
			summary: "The org's domain claims with their status.", who: who, handle: s.listDomains},
		{method: http.MethodPost, path: "/orgs/{slug}/domains/{id}/verify", tag: "domains", status: http.StatusOK, resp: DomainClaim{},
			summary: "Check the claim's proofs now: it verifies, or a verified claim that no longer proves lapses. 409 when the domain " +
				"is verified by another organisation, or when neither DNS nor HTTPS could be asked. Audited.", who: who, handle: s.verifyDomain},
		{method: http.MethodDelete, path: "/orgs/{slug}/domains/{id}", tag: "domains", status: http.StatusNoContent,
			summary: "Remove a claim; a verified domain is then free. Audited.", who: who, handle: s.removeDomain},
	}
}
