package console

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

// stepUpForRole asks for a step-up when approving a mapping to role would hand out a
// privileged role; it returns nil when the request has been answered with the
// re-authentication page.
func (s *Server) stepUpForRole(c echo.Context, ctx context.Context, roleID, back string) (context.Context, error) {
	r, err := s.Access.Store.RoleByID(ctx, roleID)
	if err != nil {
		return nil, err
	}
	if !r.Privileged {
		return ctx, nil
	}
	fresh, ok, err := s.StepUp(c, back)
	if !ok || err != nil {
		return nil, err
	}
	return fresh, nil
}

// rejectMapping refuses a draft with orgs.Access.RejectMapping: the people who may
// approve it, with a reason.
func (s *Server) rejectMapping(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	m, err := s.Access.Store.Mapping(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	org, err := s.Directory.Store.OrgByID(ctx, m.OrgID)
	if err != nil {
		return err
	}
	if !p.Sees(org) {
		return orgscim.Errorf(orgscim.NotFound, "mapping %q not found", m.ID)
	}
	by, ok, err := s.may(ctx, p, orgs.CapApprove, org)
	if err != nil {
		return err
	}
	if !ok {
		return orgscim.Errorf(orgscim.Forbidden, "you may not decide mappings on org %s", org.Slug)
	}
	if _, err := s.Access.RejectMapping(ctx, by, m.ID, strings.TrimSpace(c.FormValue("reason"))); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, orgURL(org)+"?done=rejected#mappings-h")
}
