package adminapi

import "github.com/labstack/echo/v4"

// rejectMapping refuses a draft with orgs.Access.RejectMapping, as the console does.
func (s *Server) rejectMapping(c echo.Context) error {
	var req ReasonRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	m, err := s.Access.RejectMapping(c.Request().Context(), principal(c), c.Param("id"), req.Reason)
	if err != nil {
		return err
	}
	return s.mappingReply(c, m, false)
}
