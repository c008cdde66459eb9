// Package orgscim holds what every layer shares: the one error type and its codes.
//
// Domain packages return *Error with a Code; each adapter (SCIM, admin API, CLI) maps
// codes to its protocol in exactly one function. Anything that is not an *Error is an
// internal failure: adapters answer it generically and log it with an error id, so a
// driver's message never reaches a client.
package orgscim

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// Code classifies an error for adapters. The set is small on purpose: a new code is a
// new row in every adapter's mapping.
type Code string

const (
	Invalid        Code = "invalid"         // malformed or semantically wrong input
	InvalidFilter  Code = "invalid_filter"  // a filter that cannot be parsed or names an unknown attribute
	InvalidPath    Code = "invalid_path"    // a PATCH path that is malformed or names an unknown attribute
	InvalidValue   Code = "invalid_value"   // a value of the wrong type, or a required value missing
	InvalidSyntax  Code = "invalid_syntax"  // a body that is not the JSON the request requires
	NoTarget       Code = "no_target"       // a PATCH path filter that matched nothing
	Mutability     Code = "mutability"      // an attempt to change an immutable attribute
	TooMany        Code = "too_many"        // a query that would return too much, or a body over a count cap
	Conflict       Code = "conflict"        // a uniqueness violation
	NotFound       Code = "not_found"       // no such resource in this tenant
	Unauthorized   Code = "unauthorized"    // missing or wrong credentials
	Forbidden      Code = "forbidden"       // authenticated, but not allowed
	Precondition   Code = "precondition"    // If-Match did not match the current version
	TooLarge       Code = "too_large"       // request body over the limit
	RateLimited    Code = "rate_limited"    // too many requests
	NotImplemented Code = "not_implemented" // a feature the server does not offer
	Internal       Code = "internal"        // everything else; never carries driver text
)

// ErrUnavailable marks a failure to reach the database: the connection refused, closed
// or lost (storage wraps its cause with it). To the domain it is an internal failure like
// any other — ErrorCode answers Internal, so every check that passes internal failures on
// passes it on — and each adapter's error mapping recognises it with errors.Is and
// answers "unavailable, retry later" (HTTP 503 with Retry-After) instead of a 500, so
// that IdPs back off and retry rather than give up.
var ErrUnavailable = errors.New("the database is unavailable")

// Error is the error type of the domain. Message is safe to show to the caller.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and a formatted, client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or Internal when err is not an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// ErrorMessage returns the client-safe message of err, or a generic one when err is not
// an *Error.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// NewErrorID returns a random id for an internal error: adapters give it to the client
// and log it with the cause, so that a report can be matched to the log line.
func NewErrorID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
