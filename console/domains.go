package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/domains"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sessions"
	"github.com/orgscim/orgscim/support"
)

// Trust serves the pages of who may be trusted with a partner's data: the org's verified
// e-mail domains and the vendor's support sessions on it. A nil service leaves its pages
// out (they answer 501), as in the admin API.
type Trust struct {
	Domains *domains.Service
	Support *support.Service
	// Quarantine lists the users a connection's domain policy holds and decides on
	// them (release or reject) with the calls of /api/v1/connections/{slug}/quarantine,
	// under the same rule of who may; nil: not listed.
	Quarantine *domains.Quarantine
}

// heldUser is a user a connection's domain policy holds, for review.
type heldUser struct {
	ID, UserName, Domain, URL string
	Since                     time.Time
}

func (s *Server) registerTrust(g *echo.Group) {
	g.GET("/orgs/:slug/domains", s.authed(s.domainsPage))
	g.POST("/orgs/:slug/domains", s.authed(s.claimDomain))
	g.POST("/orgs/:slug/domains/:id/verify", s.authed(s.verifyDomain))
	g.POST("/orgs/:slug/domains/:id/release", s.authed(s.releaseDomain))
	g.POST("/orgs/:slug/domains/policy/:conn", s.authed(s.setDomainPolicy))
	g.POST("/orgs/:slug/domains/held/:conn/:id/release", s.authed(s.decideHeld("release")))
	g.POST("/orgs/:slug/domains/held/:conn/:id/reject", s.authed(s.decideHeld("reject")))
	g.GET("/orgs/:slug/support", s.authed(s.supportPage))
	g.POST("/orgs/:slug/support", s.authed(s.openSupport))
	g.POST("/support/:id/approve", s.authed(s.decideSupport("approve")))
	g.POST("/support/:id/refuse", s.authed(s.decideSupport("refuse")))
	g.POST("/support/:id/end", s.authed(s.decideSupport("end")))
	g.POST("/support/:id/review", s.authed(s.decideSupport("review")))
}

// Administers reports whether the person holds the delegate capability over org, as
// far as the session tells: what the domain and support services ask of a partner's
// administrator. The org page offers the trust pages on it; the services judge again.
func (v view) Administers(org *orgs.Org) bool {
	return administers(v.Person, org)
}

func administers(p *sessions.Person, org *orgs.Org) bool {
	if p == nil || org == nil {
		return false
	}
	if p.Operator != "" {
		return true
	}
	for _, h := range p.Delegations {
		if h.Home != nil && h.Home.Contains(org) && h.Delegation.Has(orgs.CapDelegate) {
			return true
		}
	}
	return false
}

type claimRow struct {
	C            *domains.Claim
	DNSRecord    string
	DNSValue     string
	WellKnownURL string
}

// connPolicy is a connection of the org with what its domain policy does to a user
// outside the org's verified domains: refuse or quarantine.
type connPolicy struct {
	Conn            *orgs.Connection
	Policy          string
	RequireVerified bool
	// Held are its quarantined users, shown to those who manage its members.
	Held []heldUser
}

type domainsView struct {
	Org      *orgs.Org
	Claims   []claimRow
	Policies []connPolicy
	// Operates: the person may change a connection's policy (operators only, as in the API).
	Operates bool
	Notice   string
	Values   map[string]string
	Problems map[string]string
}

func (s *Server) domainService() (*domains.Service, error) {
	if s.Trust.Domains == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "domain verification is not configured")
	}
	return s.Trust.Domains, nil
}

// trustOrg is the org of the page, for a person who may see it, with the authority its
// administration takes: refused before anything is shown to one who lacks it.
func (s *Server) trustOrg(c echo.Context) (*orgs.Org, orgs.Principal, error) {
	org, err := s.visibleOrg(c, "slug")
	if err != nil {
		return nil, orgs.Principal{}, err
	}
	pr, ok, err := s.may(c.Request().Context(), person(c), orgs.CapDelegate, org)
	if err != nil {
		return nil, orgs.Principal{}, err
	}
	if !ok {
		return nil, orgs.Principal{}, orgscim.Errorf(orgscim.Forbidden, "you do not administer org %s (the delegate capability)", org.Slug)
	}
	return org, pr, nil
}

func (s *Server) domainsPage(c echo.Context) error {
	return s.renderDomains(c, http.StatusOK, nil, nil)
}

func (s *Server) renderDomains(c echo.Context, code int, values, problems map[string]string) error {
	d, err := s.domainService()
	if err != nil {
		return err
	}
	org, pr, err := s.trustOrg(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	claims, err := d.Claims(ctx, pr, org.Slug)
	if err != nil {
		return err
	}
	v := domainsView{Org: org, Notice: c.QueryParam("done"), Values: values, Problems: problems}
	if v.Values == nil {
		v.Values = map[string]string{}
	}
	if v.Problems == nil {
		v.Problems = map[string]string{}
	}
	for _, cl := range claims {
		v.Claims = append(v.Claims, claimRow{C: cl, DNSRecord: domains.RecordName(cl.Domain), DNSValue: domains.RecordValue(cl.Token),
			WellKnownURL: "https://" + cl.Domain + domains.WellKnownPath})
	}
	conns, err := s.Lists.Connections(ctx, org.ID, "", maxListed)
	if err != nil {
		return err
	}
	for _, cn := range conns {
		pol, err := s.Directory.ConnectionPolicy(ctx, cn.Slug)
		if orgscim.ErrorCode(err) == orgscim.NotImplemented {
			break
		}
		if err != nil {
			return err
		}
		row := connPolicy{Conn: cn, Policy: pol.DomainPolicy, RequireVerified: pol.RequireVerifiedDomain}
		if row.Held, err = s.held(c, cn, org); err != nil {
			return err
		}
		v.Policies = append(v.Policies, row)
	}
	v.Operates = person(c).Operator != ""
	page := view{Title: "Domains of " + org.Name, Page: v}
	if err := s.wear(ctx, &page, org); err != nil {
		return err
	}
	return s.render(c, code, "domains", page)
}

func domainsURL(org *orgs.Org, done string) string {
	return Prefix + "/orgs/" + url.PathEscape(org.Slug) + "/domains?done=" + url.QueryEscape(done)
}

// claimDomain claims a domain with the call of POST /api/v1/orgs/{slug}/domains.
func (s *Server) claimDomain(c echo.Context) error {
	d, err := s.domainService()
	if err != nil {
		return err
	}
	org, pr, err := s.trustOrg(c)
	if err != nil {
		return err
	}
	domain := strings.TrimSpace(c.FormValue("domain"))
	values := map[string]string{"domain": domain}
	if domain == "" {
		return s.renderDomains(c, http.StatusBadRequest, values, map[string]string{"domain": "missing domain"})
	}
	cl, err := d.ClaimDomain(c.Request().Context(), pr, org.Slug, domain)
	if err != nil {
		if code, pr, ok := formProblem(err, "domain"); ok {
			return s.renderDomains(c, code, values, pr)
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, domainsURL(org, "claimed "+cl.Domain+": publish the record below, then verify")+"#claim-"+cl.ID)
}

// verifyDomain asks the proofs now, as POST /api/v1/orgs/{slug}/domains/{id}/verify.
func (s *Server) verifyDomain(c echo.Context) error {
	d, err := s.domainService()
	if err != nil {
		return err
	}
	org, pr, err := s.trustOrg(c)
	if err != nil {
		return err
	}
	cl, err := d.Verify(c.Request().Context(), pr, org.Slug, c.Param("id"))
	if err != nil {
		if code := orgscim.ErrorCode(err); code == orgscim.Conflict || code == orgscim.Invalid {
			// The claim's row is where the answer belongs: the proof was not found, the
			// resolver did not answer, or another org holds the domain.
			return s.renderDomains(c, http.StatusConflict, nil, map[string]string{"claim-" + c.Param("id"): orgscim.ErrorMessage(err)})
		}
		return err
	}
	done := cl.Domain + " is verified"
	if cl.Status != domains.Verified {
		done = "checked " + cl.Domain + ": the token was not found, so it is " + string(cl.Status)
	}
	return c.Redirect(http.StatusSeeOther, domainsURL(org, done)+"#claim-"+cl.ID)
}

// releaseDomain removes a claim, as DELETE /api/v1/orgs/{slug}/domains/{id}.
func (s *Server) releaseDomain(c echo.Context) error {
	d, err := s.domainService()
	if err != nil {
		return err
	}
	org, pr, err := s.trustOrg(c)
	if err != nil {
		return err
	}
	if err := d.Remove(c.Request().Context(), pr, org.Slug, c.Param("id")); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, domainsURL(org, "claim released"))
}

// setDomainPolicy sets what a connection of the org does with a user outside the org's
// verified domains, with the call of PATCH /api/v1/connections/{slug}/policy: operators
// only, audited.
func (s *Server) setDomainPolicy(c echo.Context) error {
	org, _, err := s.trustOrg(c)
	if err != nil {
		return err
	}
	if err := operatorOnly(person(c)); err != nil {
		return err
	}
	ctx := c.Request().Context()
	cn, err := s.Directory.Store.ConnectionBySlug(ctx, c.Param("conn"))
	if err != nil {
		return err
	}
	if cn.OrgID != org.ID {
		return orgscim.Errorf(orgscim.NotFound, "no connection %q on org %s", c.Param("conn"), org.Slug)
	}
	policy := c.FormValue("domain_policy")
	if _, err := s.Directory.SetConnectionPolicy(ctx, cn.Slug, audit.SourceOf(ctx).Actor, orgs.PolicyUpdate{DomainPolicy: &policy}); err != nil {
		if code, _, ok := formProblem(err, ""); ok {
			return s.renderDomains(c, code, nil, map[string]string{"policy-" + cn.Slug: orgscim.ErrorMessage(err)})
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, domainsURL(org, cn.Slug+" now answers a user outside the verified domains with "+policy)+"#policy-"+cn.Slug)
}

// maxHeldListed bounds the held users listed per connection, as the admin API does.
const maxHeldListed = 1000

// held lists the connection's quarantined users when the person may review its people:
// an operator, or a delegate who manages members of the org (the admin API's rule).
func (s *Server) held(c echo.Context, cn *orgs.Connection, org *orgs.Org) ([]heldUser, error) {
	q := s.Trust.Quarantine
	if q == nil {
		return nil, nil
	}
	ctx := c.Request().Context()
	pr, ok, err := s.may(ctx, person(c), orgs.CapManageMembers, org)
	if err != nil || !ok {
		return nil, err
	}
	_, qs, err := q.Held(ctx, pr, cn.Slug, maxHeldListed)
	if err != nil {
		return nil, err
	}
	var out []heldUser
	for _, h := range qs {
		row := heldUser{ID: h.UserID, Domain: h.Domain, Since: h.Since, UserName: h.UserID,
			URL: connURL(cn) + "/people/" + url.PathEscape(h.UserID)}
		if u, err := q.Users.Get(ctx, cn.ID, h.UserID); err == nil {
			row.UserName = u.UserName
		} else if orgscim.ErrorCode(err) != orgscim.NotFound {
			return nil, err
		}
		out = append(out, row)
	}
	return out, nil
}

// decideHeld releases a held user into its connection, or rejects (deletes) it, with
// the calls of POST /api/v1/connections/{slug}/quarantine/{id}/release and DELETE
// .../quarantine/{id}: domains.Quarantine decides who may (manage_members on the
// connection's org) and records the same events.
func (s *Server) decideHeld(decision string) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := s.Trust.Quarantine
		if q == nil {
			return orgscim.Errorf(orgscim.NotImplemented, "quarantine is not configured")
		}
		ctx := c.Request().Context()
		org, err := s.visibleOrg(c, "slug")
		if err != nil {
			return err
		}
		pr, ok, err := s.may(ctx, person(c), orgs.CapManageMembers, org)
		if err != nil {
			return err
		}
		if !ok {
			return orgscim.Errorf(orgscim.Forbidden, "you may not manage the members of org %s", org.Slug)
		}
		conn, err := q.Connection(ctx, pr, c.Param("conn"))
		if err != nil {
			return err
		}
		if conn.OrgID != org.ID {
			return orgscim.Errorf(orgscim.NotFound, "org %s has no connection %q", org.Slug, c.Param("conn"))
		}
		id := c.Param("id")
		name := id
		if u, err := q.Users.Get(ctx, conn.ID, id); err == nil {
			name = u.UserName
		}
		done := "released " + name + " into " + conn.Slug
		if decision == "release" {
			_, err = q.Release(ctx, pr, conn.Slug, id)
		} else {
			err, done = q.Reject(ctx, pr, conn.Slug, id), "rejected "+name+": deleted from "+conn.Slug
		}
		if err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, domainsURL(org, done)+"#policy-"+url.PathEscape(conn.Slug))
	}
}
