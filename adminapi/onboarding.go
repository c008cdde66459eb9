package adminapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/onboarding"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/setuppage"
)

// OnboardingMapping asks that members of an IdP group hold a role on the new org.
type OnboardingMapping struct {
	Group string `json:"group" doc:"the group's displayName as the IdP will push it; approval creates it, empty, so the draft has a group"`
	Role  string `json:"role" doc:"role key"`
}

// ProposeOnboardingRequest proposes a partner org with its connection, first
// administrator and mappings.
type ProposeOnboardingRequest struct {
	Parent            string              `json:"parent" doc:"slug of the parent org"`
	Name              string              `json:"name" doc:"the partner's name"`
	Slug              string              `json:"slug,omitempty" doc:"the new org's slug; derived from the name when absent"`
	ConnectionSlug    string              `json:"connection_slug,omitempty" doc:"the connection's slug; the org's slug when absent"`
	IdP               string              `json:"idp,omitempty" enum:"entra,okta,generic" doc:"default generic"`
	ContractStart     *time.Time          `json:"contract_start,omitempty"`
	ContractEnd       *time.Time          `json:"contract_end,omitempty" doc:"in the future; the first administrator's delegation ends with it"`
	Owner             string              `json:"owner" doc:"the accountable owner, e.g. an e-mail address"`
	AdminUserName     string              `json:"admin_user_name" doc:"the partner's first administrator: the userName its IdP will push (usually an e-mail address)"`
	AdminDisplayName  string              `json:"admin_display_name,omitempty"`
	AdminCapabilities []string            `json:"admin_capabilities,omitempty" enum:"manage_members,manage_mappings,approve,delegate" doc:"default all four"`
	Mappings          []OnboardingMapping `json:"mappings,omitempty" doc:"drafted on approval; someone approves each draft later"`
	Reason            string              `json:"reason,omitempty"`
}

// Onboarding is a request to onboard a partner, and its decision.
type Onboarding struct {
	ID                string              `json:"id"`
	State             string              `json:"state" enum:"proposed,approved,rejected"`
	Parent            string              `json:"parent" doc:"slug of the parent org"`
	Name              string              `json:"name"`
	Slug              string              `json:"slug"`
	ConnectionSlug    string              `json:"connection_slug"`
	IdP               string              `json:"idp" enum:"entra,okta,generic"`
	ContractStart     *time.Time          `json:"contract_start"`
	ContractEnd       *time.Time          `json:"contract_end"`
	Owner             string              `json:"owner"`
	AdminUserName     string              `json:"admin_user_name"`
	AdminDisplayName  string              `json:"admin_display_name"`
	AdminCapabilities []string            `json:"admin_capabilities" enum:"manage_members,manage_mappings,approve,delegate"`
	Mappings          []OnboardingMapping `json:"mappings"`
	Reason            string              `json:"reason"`
	ProposedBy        string              `json:"proposed_by"`
	ProposedAt        time.Time           `json:"proposed_at"`
	DecidedBy         string              `json:"decided_by"`
	DecidedAt         *time.Time          `json:"decided_at"`
	DecisionReason    string              `json:"decision_reason"`
	OrgID             string              `json:"org_id" doc:"the org an approval created"`
	ConnectionID      string              `json:"connection_id" doc:"the connection an approval created (pending until its first push)"`
	DelegationID      string              `json:"delegation_id" doc:"the first administrator's delegation"`
}

// CreateSetupLinkRequest says how long a setup link lives.
type CreateSetupLinkRequest struct {
	TTLSeconds int64 `json:"ttl_seconds,omitempty" doc:"default 259200 (72 hours), at most 30 days"`
}

// CreatedSetupLink is a new setup link; its URL is shown once.
type CreatedSetupLink struct {
	ID         string    `json:"id"`
	Connection string    `json:"connection" doc:"connection slug"`
	URL        string    `json:"url" doc:"shown once: send it to the partner's IT administrator; it reveals one fresh token, once"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// Proposal is the request as the domain takes it (the CLI reads the same JSON).
func (req ProposeOnboardingRequest) Proposal() onboarding.OnboardingRequest {
	caps := make([]orgs.Capability, len(req.AdminCapabilities))
	for i, c := range req.AdminCapabilities {
		caps[i] = orgs.Capability(c)
	}
	maps := make([]onboarding.OnboardingMapping, len(req.Mappings))
	for i, m := range req.Mappings {
		maps[i] = onboarding.OnboardingMapping(m)
	}
	return onboarding.OnboardingRequest{OrgName: req.Name, OrgSlug: req.Slug, ConnectionSlug: req.ConnectionSlug, IdP: req.IdP,
		ContractStart: req.ContractStart, ContractEnd: req.ContractEnd, Owner: req.Owner, AdminUserName: req.AdminUserName,
		AdminDisplayName: req.AdminDisplayName, AdminCapabilities: caps, Mappings: maps, Reason: req.Reason}
}

// OnboardingOf is the request as the API shows it; parent is the slug of its parent org.
// The CLI prints the same.
func OnboardingOf(r *onboarding.OnboardingRequest, parent string) Onboarding {
	caps := make([]string, len(r.AdminCapabilities))
	for i, c := range r.AdminCapabilities {
		caps[i] = string(c)
	}
	maps := make([]OnboardingMapping, len(r.Mappings))
	for i, m := range r.Mappings {
		maps[i] = OnboardingMapping(m)
	}
	return Onboarding{ID: r.ID, State: r.State, Parent: parent, Name: r.OrgName, Slug: r.OrgSlug, ConnectionSlug: r.ConnectionSlug,
		IdP: r.IdP, ContractStart: r.ContractStart, ContractEnd: r.ContractEnd, Owner: r.Owner, AdminUserName: r.AdminUserName,
		AdminDisplayName: r.AdminDisplayName, AdminCapabilities: caps, Mappings: maps, Reason: r.Reason, ProposedBy: r.ProposedBy,
		ProposedAt: r.Proposed, DecidedBy: r.DecidedBy, DecidedAt: r.Decided, DecisionReason: r.DecisionReason, OrgID: r.OrgID,
		ConnectionID: r.ConnectionID, DelegationID: r.DelegationID}
}

func (r *resolver) onboardingJSON(x *onboarding.OnboardingRequest) (Onboarding, error) {
	parent, err := r.orgSlug(x.ParentID)
	if err != nil {
		return Onboarding{}, err
	}
	return OnboardingOf(x, parent), nil
}

func (s *Server) onboardingReply(c echo.Context, code int, r *onboarding.OnboardingRequest) error {
	out, err := s.resolver(c.Request().Context()).onboardingJSON(r)
	if err != nil {
		return err
	}
	return c.JSON(code, out)
}

func (s *Server) onboarding() (*onboarding.Onboarding, error) {
	if s.Onboarding == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "onboarding is not configured")
	}
	return s.Onboarding, nil
}

func (s *Server) proposeOnboarding(c echo.Context) error {
	svc, err := s.onboarding()
	if err != nil {
		return err
	}
	var req ProposeOnboardingRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("parent", req.Parent, "name", req.Name, "owner", req.Owner, "admin_user_name", req.AdminUserName); err != nil {
		return err
	}
	r, err := svc.Propose(c.Request().Context(), principal(c), req.Proposal(), req.Parent)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, Prefix+"/onboarding/"+r.ID)
	return s.onboardingReply(c, http.StatusCreated, r)
}

func (s *Server) getOnboarding(c echo.Context) error {
	svc, err := s.onboarding()
	if err != nil {
		return err
	}
	r, err := svc.OnboardingFor(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return s.onboardingReply(c, http.StatusOK, r)
}

func (s *Server) listOnboarding(c echo.Context) error {
	svc, err := s.onboarding()
	if err != nil {
		return err
	}
	after, limit, err := pageOf(c)
	if err != nil {
		return err
	}
	rs, err := svc.List(c.Request().Context(), principal(c), c.QueryParam("state"), after, limit)
	if err != nil {
		return err
	}
	// One resolver for the page, with every parent read in one query.
	r := s.resolver(c.Request().Context())
	parents := make([]string, len(rs))
	for i, x := range rs {
		parents[i] = x.ParentID
	}
	if err := r.preloadOrgs(parents); err != nil {
		return err
	}
	return reply(c, rs, limit, onboarding.OnboardingCursor, r.onboardingJSON)
}

func (s *Server) decideOnboarding(approve bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		svc, err := s.onboarding()
		if err != nil {
			return err
		}
		var req DecisionRequest
		if err := decode(c, &req, true); err != nil {
			return err
		}
		decide := svc.Reject
		if approve {
			decide = svc.Approve
		}
		r, err := decide(c.Request().Context(), principal(c), c.Param("id"), req.Reason)
		if err != nil {
			return err
		}
		return s.onboardingReply(c, http.StatusOK, r)
	}
}

func (s *Server) createSetupLink(c echo.Context) error {
	svc, err := s.onboarding()
	if err != nil {
		return err
	}
	var req CreateSetupLinkRequest
	if err := decode(c, &req, true); err != nil {
		return err
	}
	if req.TTLSeconds < 0 {
		return orgscim.Errorf(orgscim.Invalid, "ttl_seconds must not be negative")
	}
	l, secret, err := svc.CreateSetupLink(c.Request().Context(), principal(c), c.Param("slug"), time.Duration(req.TTLSeconds)*time.Second)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusCreated, CreatedSetupLink{ID: l.ID, Connection: c.Param("slug"),
		URL: c.Scheme() + "://" + c.Request().Host + setuppage.Prefix + secret, ExpiresAt: l.Expires})
}
