package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/internal/httpstatus"
	"github.com/orgscim/orgscim/internal/keyauth"
)

func serve(t *testing.T, s *Server, e *echo.Echo, method, path string) (int, ErrorBody, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	var body ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, path, rec.Body.String(), err)
	}
	return rec.Code, body, rec.Body.String()
}

// An error that is not the domain's is answered generically with an id, and the cause
// is logged under that id only.
func TestInternalErrorsAreGenericAndLogged(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	e := echo.New()
	e.HTTPErrorHandler = s.HandleError
	e.GET(Prefix+"/boom", func(c echo.Context) error { return errors.New(`pq: relation "admin_keys" does not exist`) })
	e.GET(Prefix+"/forbidden", func(c echo.Context) error { return orgscim.Errorf(orgscim.Forbidden, "outside the subtree") })
	e.GET(Prefix+"/unauthorized", func(c echo.Context) error { return orgscim.Errorf(orgscim.Unauthorized, "key revoked") })

	st, body, raw := serve(t, s, e, "GET", Prefix+"/boom")
	if st != http.StatusInternalServerError || body.Error.Code != "internal" || body.Error.ID == "" ||
		!strings.Contains(body.Error.Message, body.Error.ID) || strings.Contains(raw, "admin_keys") {
		t.Fatalf("500: %s", raw)
	}
	if !strings.Contains(logs.String(), `"error_id":"`+body.Error.ID+`"`) || !strings.Contains(logs.String(), "admin_keys") {
		t.Fatalf("the cause is not logged under the id:\n%s", logs.String())
	}

	st, body, _ = serve(t, s, e, "GET", Prefix+"/forbidden")
	if st != http.StatusForbidden || body.Error.Code != "forbidden" || body.Error.Message != "outside the subtree" || body.Error.ID != "" {
		t.Fatalf("403: %+v", body)
	}
	// Every failed authentication reads the same, whatever the domain said.
	st, body, _ = serve(t, s, e, "GET", Prefix+"/unauthorized")
	if st != http.StatusUnauthorized || body.Error.Message != keyauth.Message {
		t.Fatalf("401: %+v", body)
	}
	st, body, _ = serve(t, s, e, "GET", Prefix+"/nope")
	if st != http.StatusNotFound || body.Error.Code != "not_found" {
		t.Fatalf("404: %+v", body)
	}
	st, body, _ = serve(t, s, e, "POST", Prefix+"/boom")
	if st != http.StatusMethodNotAllowed || body.Error.Code != "method_not_allowed" {
		t.Fatalf("405: %+v", body)
	}
}

// Every domain code has a status, and only Internal is a 500.
func TestEveryCodeHasAStatus(t *testing.T) {
	for _, c := range []orgscim.Code{orgscim.Invalid, orgscim.InvalidFilter, orgscim.InvalidPath, orgscim.InvalidValue,
		orgscim.InvalidSyntax, orgscim.NoTarget, orgscim.Mutability, orgscim.TooMany, orgscim.Conflict, orgscim.NotFound,
		orgscim.Unauthorized, orgscim.Forbidden, orgscim.Precondition, orgscim.TooLarge, orgscim.RateLimited,
		orgscim.NotImplemented} {
		if st := httpstatus.Of(c); st < 400 || st == http.StatusInternalServerError {
			t.Errorf("%s answers %d", c, st)
		}
	}
	if httpstatus.Of(orgscim.Internal) != http.StatusInternalServerError {
		t.Error("internal is not a 500")
	}
}

// The document is generated from the route table: every route is in it once, and every
// schema it names is defined.
func TestOpenAPIFromTheRouteTable(t *testing.T) {
	s := &Server{}
	doc := s.OpenAPI()
	paths := doc["paths"].(map[string]any)
	seen := map[string]bool{}
	for _, rp := range s.RoutePaths() {
		if seen[rp] {
			t.Errorf("route %s twice", rp)
		}
		seen[rp] = true
		method, path, _ := strings.Cut(rp, " ")
		item, _ := paths[path].(map[string]any)
		if item[strings.ToLower(method)] == nil {
			t.Errorf("%s is not in the document", rp)
		}
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, m := range strings.Split(string(raw), `"$ref":"#/components/schemas/`)[1:] {
		name, _, _ := strings.Cut(m, `"`)
		if schemas[name] == nil {
			t.Errorf("$ref to undefined %s", name)
		}
	}
}
