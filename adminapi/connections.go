package adminapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
)

// UpdateConnectionRequest changes a connection.
type UpdateConnectionRequest struct {
	Status string `json:"status" enum:"active,suspended" doc:"suspended: the connection's tokens stop working at once; its data stays"`
}

func (s *Server) updateConnection(c echo.Context) error {
	ctx := c.Request().Context()
	if err := operatorOnly(principal(c)); err != nil {
		return err
	}
	var req UpdateConnectionRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if req.Status == "" {
		return orgscim.Errorf(orgscim.Invalid, "missing status")
	}
	conn, err := s.Directory.SetConnectionStatus(ctx, c.Param("slug"), req.Status)
	if err != nil {
		return err
	}
	out, err := s.resolver(ctx).connectionJSON(conn)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
