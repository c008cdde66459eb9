// Package keyauth authenticates an HTTP request by its admin API key (Authorization:
// Bearer oscadm_...), for every adapter that admin keys reach (the admin API and the
// AuthZEN PDP), so that a key is judged the same way wherever it is presented.
package keyauth

import (
	"context"
	"net/http"
	"strings"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

// Message is the one answer to a request whose key does not work, whatever the reason:
// a caller learns nothing about keys it does not hold.
const Message = "a valid admin API key is required (Authorization: Bearer oscadm_...)"

// Authenticator resolves a key's secret into its principal (orgs.AdminKeys does).
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (orgs.Principal, error)
}

// Principal returns the principal of r's bearer key and r's context marked as one
// decision (orgs.WithDecision): the caller's authority is evaluated once, now, and every
// question the request asks of it gets that answer. Any failure but an internal one is
// Unauthorized with Message.
func Principal(r *http.Request, keys Authenticator) (context.Context, orgs.Principal, error) {
	scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		secret = ""
	}
	ctx := orgs.WithDecision(r.Context())
	p, err := keys.Authenticate(ctx, strings.TrimSpace(secret))
	if err != nil {
		if orgscim.ErrorCode(err) == orgscim.Internal {
			return ctx, orgs.Principal{}, err
		}
		return ctx, orgs.Principal{}, orgscim.Errorf(orgscim.Unauthorized, Message)
	}
	return ctx, p, nil
}
