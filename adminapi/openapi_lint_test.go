package adminapi

import (
	"testing"

	"github.com/orgscim/orgscim/authzen"
	"github.com/orgscim/orgscim/internal/redoclylint"
)

// The admin API's OpenAPI document, as the server serves it with the AuthZEN PDP's
// endpoints, passes `redocly lint` with its recommended rules and no error.
func TestOpenAPIPassesRedoclyLint(t *testing.T) {
	srv := &Server{Extra: ExtraOpenAPI{Paths: authzen.OpenAPIPaths("adminKey"), Schemas: authzen.OpenAPISchemas(),
		Tags: [][2]string{{authzen.Tag, authzen.TagDescription}}}}
	redoclylint.Lint(t, srv.OpenAPI())
}
