package scim

import (
	"context"
	"log/slog"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim/orgs"
)

// Activator makes a pending connection active (orgs.Directory does).
type Activator interface {
	ActivatePending(ctx context.Context, conn *orgs.Connection) error
}

// activateAfter serves a request of a pending connection, and after the first one that
// changed something (a 2xx answer to POST, PUT, PATCH or DELETE) makes the connection
// active. Only pending connections come here, so the hot path pays nothing. A failed
// activation is logged, not answered: the change itself succeeded, and the next change
// tries again.
func (s *Server) activateAfter(c echo.Context, conn *orgs.Connection, next echo.HandlerFunc) error {
	err := next(c)
	if err != nil || s.Activator == nil {
		return err
	}
	req := c.Request()
	if st := c.Response().Status; st < 200 || st > 299 || !isPush(req.Method, req.URL.Path) {
		return nil
	}
	if aerr := s.Activator.ActivatePending(c.Request().Context(), conn); aerr != nil {
		s.logger().Warn("activating a pending connection failed", slog.String("connection", conn.Slug),
			slog.String("error", aerr.Error()))
	}
	return nil
}
