package adminapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/msp"
	"github.com/orgscim/orgscim/orgs"
)

// MSPEngagement is an MSP org's administration over a customer org.
type MSPEngagement struct {
	ID                string     `json:"id"`
	MSP               string     `json:"msp" doc:"slug of the MSP org"`
	Customer          string     `json:"customer" doc:"slug of the customer org: technicians reach its subtree"`
	Capabilities      []string   `json:"capabilities" enum:"manage_members,manage_mappings,approve" doc:"what technicians may be given; never delegate"`
	Reason            string     `json:"reason"`
	ProposedBy        string     `json:"proposed_by"`
	ProposedAt        time.Time  `json:"proposed_at"`
	ExpiresAt         *time.Time `json:"expires_at"`
	CustomerConsentBy string     `json:"customer_consent_by,omitempty" doc:"the customer's administrator who consented"`
	CustomerConsentAt *time.Time `json:"customer_consent_at,omitempty"`
	VendorConsentBy   string     `json:"vendor_consent_by,omitempty" doc:"the vendor's operator who consented"`
	VendorConsentAt   *time.Time `json:"vendor_consent_at,omitempty"`
	RevokedAt         *time.Time `json:"revoked_at,omitempty"`
	RevokedBy         string     `json:"revoked_by,omitempty"`
	RevokeReason      string     `json:"revoke_reason,omitempty"`
	State             string     `json:"state" enum:"proposed,active,expired,revoked" doc:"by the engagement's own fields; see in_force for the relationships"`
	InForce           bool       `json:"in_force" doc:"whether the authority rule holds for it now: both consents, not revoked or expired, both relationships active"`
	Standing          string     `json:"standing,omitempty" doc:"why it is not in force"`
}

// ProposeEngagementRequest proposes an engagement.
type ProposeEngagementRequest struct {
	MSP          string     `json:"msp" doc:"required: slug of the MSP org (a partner)"`
	Customer     string     `json:"customer" doc:"required: slug of the customer org, outside the MSP's subtree"`
	Capabilities []string   `json:"capabilities" enum:"manage_members,manage_mappings,approve" doc:"required: what technicians may be given"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	Reason       string     `json:"reason,omitempty"`
}

// RevokeEngagementRequest carries the reason of a revocation.
type RevokeEngagementRequest struct {
	Reason string `json:"reason,omitempty"`
}

// RevokedEngagement is what revoking an engagement did.
type RevokedEngagement struct {
	Engagement         MSPEngagement `json:"engagement"`
	TechniciansRevoked []string      `json:"technicians_revoked" doc:"the technician delegations revoked with it"`
	HandedOverTo       string        `json:"handed_over_to" doc:"the customer administrator's delegation that consented, which re-attests what technicians made; empty: the operators"`
	GrantsHandedOver   int           `json:"grants_handed_over"`
	MappingsHandedOver int           `json:"mappings_handed_over"`
}

// RemoveTechnicianRequest names the technician delegation to revoke.
type RemoveTechnicianRequest struct {
	Delegation string `json:"delegation" doc:"required: the id of a technician delegation of this engagement"`
	Reason     string `json:"reason,omitempty"`
}

// NameTechnicianRequest names one of the MSP's people as a technician for the customer.
type NameTechnicianRequest struct {
	Org          string     `json:"org,omitempty" doc:"slug of an org in the customer's subtree; the customer when absent"`
	Connection   string     `json:"connection" doc:"required: slug of the technician's connection, one of the MSP's"`
	UserID       string     `json:"user_id" doc:"required: the technician's SCIM user id"`
	Capabilities []string   `json:"capabilities" enum:"manage_members,manage_mappings,approve" doc:"required: within the engagement's and the caller's delegation's"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty" doc:"capped at the caller's delegation's and the engagement's expiry"`
}

func (s *Server) mspService() (*msp.Service, error) {
	if s.MSPs == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "MSP engagements are not served here")
	}
	return s.MSPs, nil
}

func (s *Server) engagementJSON(c echo.Context, e *orgs.Engagement) (MSPEngagement, error) {
	ctx := c.Request().Context()
	r := s.resolver(ctx)
	msp, err := r.orgSlug(e.MSPOrgID)
	if err != nil {
		return MSPEngagement{}, err
	}
	customer, err := r.orgSlug(e.CustomerOrgID)
	if err != nil {
		return MSPEngagement{}, err
	}
	caps := make([]string, len(e.Capabilities))
	for i, c := range e.Capabilities {
		caps[i] = string(c)
	}
	out := MSPEngagement{ID: e.ID, MSP: msp, Customer: customer, Capabilities: caps, Reason: e.Reason, ProposedBy: e.ProposedBy,
		ProposedAt: e.Proposed, ExpiresAt: e.Expires, CustomerConsentBy: e.CustomerConsentBy, CustomerConsentAt: e.CustomerConsent,
		VendorConsentBy: e.VendorConsentBy, VendorConsentAt: e.VendorConsent, RevokedAt: e.Revoked, RevokedBy: e.RevokedBy,
		RevokeReason: e.RevokeReason, State: e.State(s.now())}
	switch err := s.MSPs.Holds(ctx, e); {
	case err == nil:
		out.InForce = true
	case orgscim.ErrorCode(err) == orgscim.Forbidden:
		out.Standing = orgscim.ErrorMessage(err)
	default:
		return MSPEngagement{}, err
	}
	return out, nil
}

func (s *Server) answerEngagement(c echo.Context, status int, e *orgs.Engagement, err error) error {
	if err != nil {
		return err
	}
	out, err := s.engagementJSON(c, e)
	if err != nil {
		return err
	}
	return c.JSON(status, out)
}

func (s *Server) proposeEngagement(c echo.Context) error {
	m, err := s.mspService()
	if err != nil {
		return err
	}
	var req ProposeEngagementRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	e, err := m.Propose(c.Request().Context(), principal(c), msp.EngagementRequest{MSP: req.MSP, Customer: req.Customer,
		Capabilities: capabilities(req.Capabilities), Expires: req.ExpiresAt, Reason: req.Reason})
	if err == nil {
		c.Response().Header().Set(echo.HeaderLocation, Prefix+"/msp-engagements/"+e.ID)
	}
	return s.answerEngagement(c, http.StatusCreated, e, err)
}

func (s *Server) listEngagements(c echo.Context) error {
	m, err := s.mspService()
	if err != nil {
		return err
	}
	if err := required("org", c.QueryParam("org")); err != nil {
		return err
	}
	after, limit, err := pageOf(c)
	if err != nil {
		return err
	}
	items, err := m.List(c.Request().Context(), principal(c), c.QueryParam("org"), after, limit)
	if err != nil {
		return err
	}
	return reply(c, items, limit, func(e *orgs.Engagement) string { return e.ID },
		func(e *orgs.Engagement) (MSPEngagement, error) { return s.engagementJSON(c, e) })
}

func (s *Server) engagementAct(act func(m *msp.Service, c echo.Context, id string) (*orgs.Engagement, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		m, err := s.mspService()
		if err != nil {
			return err
		}
		var req struct{}
		if err := decode(c, &req, true); err != nil {
			return err
		}
		e, err := act(m, c, c.Param("id"))
		return s.answerEngagement(c, http.StatusOK, e, err)
	}
}

func (s *Server) revokeEngagement(c echo.Context) error {
	m, err := s.mspService()
	if err != nil {
		return err
	}
	var req RevokeEngagementRequest
	if err := decode(c, &req, true); err != nil {
		return err
	}
	rv, err := m.Revoke(c.Request().Context(), principal(c), c.Param("id"), req.Reason)
	if err != nil {
		return err
	}
	e, err := s.engagementJSON(c, rv.Engagement)
	if err != nil {
		return err
	}
	techs := rv.Technicians
	if techs == nil {
		techs = []string{}
	}
	return c.JSON(http.StatusOK, RevokedEngagement{Engagement: e, TechniciansRevoked: techs, HandedOverTo: rv.To,
		GrantsHandedOver: rv.Grants, MappingsHandedOver: rv.Mappings})
}

func (s *Server) nameTechnician(c echo.Context) error {
	m, err := s.mspService()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var req NameTechnicianRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("connection", req.Connection, "user_id", req.UserID); err != nil {
		return err
	}
	conn, err := s.Directory.Connection(ctx, req.Connection)
	if err != nil {
		return err
	}
	d, err := m.NameTechnician(ctx, principal(c), c.Param("id"), msp.TechnicianRequest{Org: req.Org, HolderConnectionID: conn.ID,
		HolderUserID: req.UserID, Capabilities: capabilities(req.Capabilities), Expires: req.ExpiresAt})
	if err != nil {
		return err
	}
	out, err := s.resolver(ctx).delegationJSON(d)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, Prefix+"/delegations/"+d.ID)
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) listTechnicians(c echo.Context) error {
	m, err := s.mspService()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ds, err := m.Technicians(ctx, principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	out := Page[Delegation]{Items: make([]Delegation, 0, len(ds))}
	for _, d := range ds {
		v, err := r.delegationJSON(d)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, v)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) removeTechnician(c echo.Context) error {
	m, err := s.mspService()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var req RemoveTechnicianRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("delegation", req.Delegation); err != nil {
		return err
	}
	d, err := m.RemoveTechnician(ctx, principal(c), c.Param("id"), req.Delegation, req.Reason)
	if err != nil {
		return err
	}
	out, err := s.resolver(ctx).delegationJSON(d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) mspRoutes() []route {
	const parties = "Operators; the customer's or the MSP's administrators (a delegate with the delegate capability on that org, not a technician)."
	return []route{
		{method: http.MethodPost, path: "/msp-engagements", tag: "msp", body: ProposeEngagementRequest{}, status: http.StatusCreated,
			resp: MSPEngagement{}, summary: "Propose that an MSP org administer a customer org outside its own subtree, with these capabilities " +
				"(never delegate). It holds nothing until the customer's administrator and the vendor both consent. One unrevoked engagement per pair (409). Audited on the customer.",
			who: "Operators; the MSP's administrators (the delegate capability on the MSP org).", handle: s.proposeEngagement},
		{method: http.MethodGet, path: "/msp-engagements", tag: "msp", status: http.StatusOK, resp: Page[MSPEngagement]{},
			query:   append([]param{{"org", "slug of an org: the engagements in which it is the MSP or the customer", true}}, pageParams...),
			summary: "List an org's engagements, as MSP or as customer, by id, with whether each is in force now.",
			who:     "Operators; the org's administrators.", handle: s.listEngagements},
		{method: http.MethodGet, path: "/msp-engagements/{id}", tag: "msp", status: http.StatusOK, resp: MSPEngagement{},
			summary: "Read an engagement, with whether the authority rule holds for it now and, if not, why.", who: parties,
			handle: s.engagementAct(func(m *msp.Service, c echo.Context, id string) (*orgs.Engagement, error) {
				return m.Get(c.Request().Context(), principal(c), id)
			})},
		{method: http.MethodPost, path: "/msp-engagements/{id}/consent-customer", tag: "msp", status: http.StatusOK, resp: MSPEngagement{},
			summary: "Consent, for the customer, to the engagement. 409 when revoked, expired or consented already. Audited.",
			who:     "The customer's administrators (the delegate capability on the customer org). Never the vendor's operators, never the MSP's.",
			handle: s.engagementAct(func(m *msp.Service, c echo.Context, id string) (*orgs.Engagement, error) {
				return m.ConsentCustomer(c.Request().Context(), principal(c), id)
			})},
		{method: http.MethodPost, path: "/msp-engagements/{id}/consent-vendor", tag: "msp", status: http.StatusOK, resp: MSPEngagement{},
			summary: "Consent, for the vendor, to the engagement. 409 when revoked, expired or consented already. Audited.",
			who:     whoOperators,
			handle: s.engagementAct(func(m *msp.Service, c echo.Context, id string) (*orgs.Engagement, error) {
				return m.ConsentVendor(c.Request().Context(), principal(c), id)
			})},
		{method: http.MethodPost, path: "/msp-engagements/{id}/revoke", tag: "msp", body: RevokeEngagementRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: RevokedEngagement{}, summary: "Revoke the engagement now: every technician stops at the next request. " +
				"Their delegations are revoked with it, and what they made on the customer goes to the administrator who consented for re-attestation. Audited.",
			who: parties, handle: s.revokeEngagement},
		{method: http.MethodPost, path: "/msp-engagements/{id}/technicians", tag: "msp", body: NameTechnicianRequest{}, status: http.StatusCreated,
			resp: Delegation{}, summary: "Name one of the MSP's people a technician for the customer: their own delegation on the customer (or an org of its subtree), " +
				"made under the caller's delegation on the MSP, delegating nothing further. It holds only while the engagement does; issue its key with POST /delegations/{id}/keys. " +
				"Everything done through it is audited as that person, naming the MSP and the customer.",
			who: "The MSP's administrators: a delegate with the delegate capability on the MSP org and depth of at least 1.", handle: s.nameTechnician},
		{method: http.MethodGet, path: "/msp-engagements/{id}/technicians", tag: "msp", status: http.StatusOK, resp: Page[Delegation]{},
			summary: "List the technician delegations of the engagement, revoked ones too.", who: parties, handle: s.listTechnicians},
		{method: http.MethodPost, path: "/msp-engagements/{id}/technicians/revoke", tag: "msp", body: RemoveTechnicianRequest{},
			status: http.StatusOK, resp: Delegation{}, summary: "Revoke one technician's delegation now, with its keys. Audited.",
			who: parties, handle: s.removeTechnician},
	}
}
