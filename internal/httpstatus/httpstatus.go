// Package httpstatus is the one table from the domain's error codes to HTTP statuses,
// for every adapter that answers over HTTP with its own body (the admin API's JSON, the
// console's pages, the AuthZEN PDP's JSON): a code means the same status wherever a
// client meets it. SCIM maps codes in its own package, since its errors also carry a
// scimType.
package httpstatus

import (
	"net/http"

	"github.com/orgscim/orgscim"
)

// Of returns the HTTP status of a domain error code; an unknown code is a 500.
func Of(code orgscim.Code) int {
	switch code {
	case orgscim.Invalid, orgscim.InvalidFilter, orgscim.InvalidPath, orgscim.InvalidValue,
		orgscim.InvalidSyntax, orgscim.NoTarget, orgscim.Mutability, orgscim.TooMany:
		return http.StatusBadRequest
	case orgscim.Conflict:
		return http.StatusConflict
	case orgscim.NotFound:
		return http.StatusNotFound
	case orgscim.Unauthorized:
		return http.StatusUnauthorized
	case orgscim.Forbidden:
		return http.StatusForbidden
	case orgscim.Precondition:
		return http.StatusPreconditionFailed
	case orgscim.TooLarge:
		return http.StatusRequestEntityTooLarge
	case orgscim.RateLimited:
		return http.StatusTooManyRequests
	case orgscim.NotImplemented:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}
