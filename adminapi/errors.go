package adminapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/internal/httpstatus"
	"github.com/orgscim/orgscim/internal/keyauth"
)

// routingCodes name the errors of the router and middleware, which carry an HTTP
// status rather than a domain code.
var routingCodes = map[int]struct{ code, message string }{
	http.StatusNotFound:              {"not_found", "no such endpoint"},
	http.StatusMethodNotAllowed:      {"method_not_allowed", "method not allowed on this endpoint"},
	http.StatusRequestEntityTooLarge: {string(orgscim.TooLarge), "request body is larger than the server accepts"},
	http.StatusTooManyRequests:       {string(orgscim.RateLimited), "too many requests"},
	http.StatusUnsupportedMediaType:  {"unsupported_media_type", "the request body must be JSON (Content-Type: application/json)"},
	http.StatusBadRequest:            {string(orgscim.Invalid), "bad request"},
	http.StatusUnauthorized:          {string(orgscim.Unauthorized), keyauth.Message},
	http.StatusForbidden:             {string(orgscim.Forbidden), "forbidden"},
}

// HandleError answers err as a JSON error document. Anything that is neither a domain
// error nor a routing error is logged with a fresh error id and answered as a generic
// 500 carrying only that id.
func (s *Server) HandleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch {
		case he.Code == http.StatusServiceUnavailable:
			s.logger().LogAttrs(c.Request().Context(), slog.LevelWarn, "request timed out",
				slog.String("request_id", requestID(c)), slog.String("method", c.Request().Method),
				slog.String("route", c.Path()), slog.String("error", err.Error()))
			s.write(c, he.Code, "unavailable", "the server could not answer in time; retry later", "")
		case he.Code >= 500:
			s.internal(c, err)
		default:
			r, ok := routingCodes[he.Code]
			if !ok {
				r.code, r.message = "error", http.StatusText(he.Code)
			}
			s.write(c, he.Code, r.code, r.message, "")
		}
		return
	}
	code := orgscim.ErrorCode(err)
	if code == orgscim.Internal {
		if errors.Is(err, orgscim.ErrUnavailable) {
			s.unavailable(c, err)
			return
		}
		s.internal(c, err)
		return
	}
	msg := orgscim.ErrorMessage(err)
	if code == orgscim.Unauthorized {
		msg = keyauth.Message // one answer to every failed authentication
		if c.Path() == Prefix+integrationCheckPath {
			msg = integrationTokenMessage
		}
	}
	s.write(c, httpstatus.Of(code), string(code), msg, "")
}

func (s *Server) internal(c echo.Context, err error) {
	id := s.logFailure(c, "internal error", err)
	s.write(c, http.StatusInternalServerError, string(orgscim.Internal), "internal error; error id "+id, id)
}

// unavailable answers a request that failed because the database cannot be reached:
// 503 with Retry-After, and an error id that the log line with the cause also carries.
func (s *Server) unavailable(c echo.Context, err error) {
	id := s.logFailure(c, "database unavailable", err)
	s.write(c, http.StatusServiceUnavailable, "unavailable", "the service is temporarily unavailable; retry later (error id "+id+")", "")
}

// logFailure logs err under msg with a fresh error id and returns the id, which the
// answer carries so that a report can be matched to the log line.
func (s *Server) logFailure(c echo.Context, msg string, err error) string {
	id := orgscim.NewErrorID()
	s.logger().LogAttrs(c.Request().Context(), slog.LevelError, msg,
		slog.String("error_id", id), slog.String("request_id", requestID(c)),
		slog.String("method", c.Request().Method), slog.String("route", c.Path()),
		slog.String("error", err.Error()))
	return id
}

// retryAfterUnavailable is the Retry-After, in seconds, of a 503 (the database cannot be
// reached, or the request ran out of time).
const retryAfterUnavailable = "30"

func (s *Server) write(c echo.Context, st int, code, message, id string) {
	switch st {
	case http.StatusUnauthorized:
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="orgscim-admin"`)
	case http.StatusServiceUnavailable:
		c.Response().Header().Set("Retry-After", retryAfterUnavailable)
	}
	_ = c.JSON(st, ErrorBody{Error: ErrorDetail{Code: code, Message: message, ID: id}})
}

// requestID is the id the request-id middleware gave the request (its X-Request-ID).
func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}
