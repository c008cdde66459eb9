package authzen

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/internal/httpstatus"
)

// HandleError answers err as a JSON error document. An error that is not the domain's
// is logged with a fresh id and answered as a generic 500 (503 when the database is
// unavailable) carrying only that id.
func (s *Server) HandleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code < 500 {
		write(c, he.Code, "error", http.StatusText(he.Code))
		return
	}
	code := orgscim.ErrorCode(err)
	if code != orgscim.Internal && (he == nil) {
		write(c, httpstatus.Of(code), string(code), orgscim.ErrorMessage(err))
		return
	}
	id := orgscim.NewErrorID()
	s.logger().LogAttrs(c.Request().Context(), slog.LevelError, "authzen request failed",
		slog.String("error_id", id), slog.String("route", c.Path()), slog.String("error", err.Error()))
	if errors.Is(err, orgscim.ErrUnavailable) {
		c.Response().Header().Set("Retry-After", "1")
		write(c, http.StatusServiceUnavailable, "unavailable", "the database is unavailable; retry later (error id "+id+")")
		return
	}
	write(c, http.StatusInternalServerError, string(orgscim.Internal), "internal error (error id "+id+")")
}

func write(c echo.Context, st int, code, msg string) {
	_ = c.JSON(st, map[string]any{"error": map[string]any{"status": st, "code": code, "message": msg}})
}
