package scim

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
)

// ContentType is the media type of every SCIM response (RFC 7644 §3.1).
const ContentType = "application/scim+json"

const errorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"

type errorDoc struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// status maps a domain error code to its HTTP status and RFC 7644 §3.12 scimType. This is
// the one place where the SCIM adapter decides what an error looks like on the wire.
func status(code orgscim.Code) (int, string) {
	switch code {
	case orgscim.Invalid:
		return http.StatusBadRequest, ""
	case orgscim.InvalidFilter:
		return http.StatusBadRequest, "invalidFilter"
	case orgscim.InvalidPath:
		return http.StatusBadRequest, "invalidPath"
	case orgscim.InvalidValue:
		return http.StatusBadRequest, "invalidValue"
	case orgscim.InvalidSyntax:
		return http.StatusBadRequest, "invalidSyntax"
	case orgscim.NoTarget:
		return http.StatusBadRequest, "noTarget"
	case orgscim.Mutability:
		return http.StatusBadRequest, "mutability"
	case orgscim.TooMany:
		return http.StatusBadRequest, "tooMany"
	case orgscim.Conflict:
		return http.StatusConflict, "uniqueness"
	case orgscim.NotFound:
		return http.StatusNotFound, ""
	case orgscim.Unauthorized:
		return http.StatusUnauthorized, ""
	case orgscim.Forbidden:
		return http.StatusForbidden, ""
	case orgscim.Precondition:
		return http.StatusPreconditionFailed, ""
	case orgscim.TooLarge:
		return http.StatusRequestEntityTooLarge, ""
	case orgscim.RateLimited:
		return http.StatusTooManyRequests, ""
	case orgscim.NotImplemented:
		return http.StatusNotImplemented, ""
	}
	return http.StatusInternalServerError, ""
}

// fromLibrary translates a validation error of elimity-com/scim into the domain's.
func fromLibrary(e *scimerrors.ScimError) error {
	code := orgscim.InvalidValue
	switch e.ScimType {
	case scimerrors.ScimTypeInvalidSyntax:
		code = orgscim.InvalidSyntax
	case scimerrors.ScimTypeMutability:
		code = orgscim.Mutability
	case scimerrors.ScimTypeInvalidPath:
		code = orgscim.InvalidPath
	case scimerrors.ScimTypeInvalidFilter:
		code = orgscim.InvalidFilter
	}
	return &orgscim.Error{Code: code, Message: e.Detail}
}

// retryAfterUnavailable is the Retry-After, in seconds, of a 503: the database cannot be
// reached or the request ran out of time. IdPs back off for that long instead of
// counting the request as failed for good.
const retryAfterUnavailable = "30"

func writeError(c echo.Context, httpStatus int, scimType, detail string) error {
	switch httpStatus {
	case http.StatusUnauthorized:
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="orgscim"`)
	case http.StatusServiceUnavailable:
		c.Response().Header().Set("Retry-After", retryAfterUnavailable)
	}
	return writeJSON(c, httpStatus, errorDoc{
		Schemas:  []string{errorSchema},
		Status:   strconv.Itoa(httpStatus),
		ScimType: scimType,
		Detail:   detail,
	})
}

// handleError answers err as a SCIM error document. Anything that is not a domain or
// routing error is logged with a fresh error id and answered as a generic 500 carrying
// only that id.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		detail := http.StatusText(he.Code)
		switch he.Code {
		case http.StatusNotFound:
			detail = "no such resource or endpoint"
		case http.StatusMethodNotAllowed:
			detail = "method not allowed on this endpoint"
		case http.StatusRequestEntityTooLarge:
			detail = "request body is larger than the server accepts"
		}
		if he.Code == http.StatusServiceUnavailable {
			// The request ran out of its time (the server's request timeout): the client
			// may retry, and nothing about the cause is its business.
			s.logger().LogAttrs(c.Request().Context(), slog.LevelWarn, "request timed out",
				slog.String("request_id", requestID(c)), slog.String("method", c.Request().Method),
				slog.String("route", c.Path()), slog.String("connection", ConnectionSlug(c)),
				slog.String("error", err.Error()))
			_ = writeError(c, he.Code, "", "the server could not answer in time; retry later")
			return
		}
		if he.Code >= 500 {
			s.internal(c, err)
			return
		}
		_ = writeError(c, he.Code, "", detail)
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
	st, scimType := status(code)
	_ = writeError(c, st, scimType, orgscim.ErrorMessage(err))
}

func (s *Server) internal(c echo.Context, err error) {
	id := s.logFailure(c, "internal error", err)
	_ = writeError(c, http.StatusInternalServerError, "", "internal error; error id "+id)
}

// unavailable answers a request that failed because the database cannot be reached:
// 503 with Retry-After, and an error id that the log line with the cause also carries.
func (s *Server) unavailable(c echo.Context, err error) {
	id := s.logFailure(c, "database unavailable", err)
	_ = writeError(c, http.StatusServiceUnavailable, "", "the service is temporarily unavailable; retry later (error id "+id+")")
}

// logFailure logs err under msg with a fresh error id and returns the id, which the
// answer carries so that a report can be matched to the log line.
func (s *Server) logFailure(c echo.Context, msg string, err error) string {
	id := orgscim.NewErrorID()
	s.logger().LogAttrs(c.Request().Context(), slog.LevelError, msg,
		slog.String("error_id", id), slog.String("request_id", requestID(c)),
		slog.String("method", c.Request().Method), slog.String("route", c.Path()),
		slog.String("connection", ConnectionSlug(c)), slog.String("error", err.Error()))
	return id
}

// requestID is the id the request-id middleware gave the request (its X-Request-ID).
func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}
