package adminapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

// RevokeGrantRequest says why a grant ends.
type RevokeGrantRequest struct {
	Reason string `json:"reason" doc:"required; recorded on the grant and in the audit trail"`
}

func (s *Server) getGrant(c echo.Context) error {
	ctx := c.Request().Context()
	gs, ok := s.Access.Store.(orgs.GrantStore)
	if !ok {
		return orgscim.Errorf(orgscim.NotImplemented, "grants cannot be read one by one here")
	}
	g, err := gs.Grant(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	org, err := r.org(g.OrgID)
	if err != nil {
		return err
	}
	if err := s.canSee(ctx, principal(c), org); err != nil {
		return err
	}
	out, err := r.grantJSON(g)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) revokeGrant(c echo.Context) error {
	ctx := c.Request().Context()
	var req RevokeGrantRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	g, err := s.Access.RevokeGrant(ctx, principal(c), c.Param("id"), req.Reason)
	if err != nil {
		return err
	}
	out, err := s.resolver(ctx).grantJSON(g)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
