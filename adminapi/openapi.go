package adminapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// Version is the admin API's version in its OpenAPI document.
const Version = "1.0.0"

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// OpenAPI returns the OpenAPI 3.0 document of the admin API, generated from the route
// table and the wire types.
func (s *Server) OpenAPI() map[string]any {
	g := &schemas{components: map[string]any{}}
	errRef := g.ref(reflect.TypeFor[ErrorBody]())
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": errRef}}}
	}
	paths := map[string]any{}
	for _, r := range s.routes() {
		op := map[string]any{
			"operationId": operationID(r),
			"summary":     firstSentence(r.summary),
			"description": strings.TrimSpace(r.summary + " " + r.who),
			"tags":        []string{r.tag},
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(r.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
				"description": pathParams[m[1]], "schema": map[string]any{"type": "string"}})
		}
		for _, q := range r.query {
			params = append(params, map[string]any{"name": q.name, "in": "query", "required": q.required,
				"description": q.doc, "schema": map[string]any{"type": "string"}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if r.body != nil {
			var content map[string]any
			if r.bodyMedia != "" {
				content = map[string]any{r.bodyMedia: map[string]any{"schema": map[string]any{"type": "string"}}}
			} else {
				content = map[string]any{"application/json": map[string]any{"schema": g.ref(reflect.TypeOf(r.body))}}
			}
			op["requestBody"] = map[string]any{"required": !r.bodyOptional, "content": content}
		}
		ok := map[string]any{"description": http.StatusText(r.status)}
		switch {
		case r.respMedia != "":
			ok["content"] = map[string]any{r.respMedia: map[string]any{"schema": map[string]any{"type": "string"}}}
		case r.resp != nil:
			content := map[string]any{"application/json": map[string]any{"schema": g.ref(reflect.TypeOf(r.resp))}}
			if r.stream != nil {
				// OpenAPI 3.0 cannot say "a sequence of"; the schema is that of each line.
				content["application/x-ndjson"] = map[string]any{"schema": g.ref(reflect.TypeOf(r.stream))}
			}
			ok["content"] = content
		case r.path == "/openapi.json":
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
		}
		responses := map[string]any{strconv.Itoa(r.status): ok}
		switch {
		case r.integration:
			op["security"] = []any{map[string]any{"integrationToken": []any{}}}
			responses["401"] = errResp("No usable integration token; the same answer for every failure.")
		case r.public:
			op["security"] = []any{}
		default:
			responses["401"] = errResp("No valid admin API key; the same answer for every failure.")
			responses["403"] = errResp("Authenticated, but outside the caller's subtree or capabilities.")
		}
		if r.body != nil || len(r.query) > 0 || strings.Contains(r.path, "{") {
			responses["400"] = errResp("Invalid input (also NUL or invalid UTF-8 in any string, path segment or query value); nothing changed.")
		}
		if strings.Contains(r.path, "{") || r.body != nil || len(r.query) > 0 {
			responses["404"] = errResp("No such org, connection, user, role, mapping or delegation.")
		}
		if r.conflict != "" {
			responses["409"] = errResp(r.conflict)
		} else if r.method != http.MethodGet {
			responses["409"] = errResp("Conflicts with the current state (a slug taken, the last administrator without a successor, ...).")
		}
		responses["500"] = errResp("Internal error: a generic message with the id under which the cause was logged.")
		responses["503"] = errResp("The database is unreachable or the request ran out of time; retry after the Retry-After seconds.")
		op["responses"] = responses
		item, _ := paths[Prefix+r.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[Prefix+r.path] = item
		}
		item[strings.ToLower(r.method)] = op
	}
	for p, item := range s.Extra.Paths {
		paths[p] = item
	}
	for n, sc := range s.Extra.Schemas {
		g.components[n] = sc
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":   "orgscim admin API",
			"version": Version,
			"description": "Organisation-aware access administration for the vendor's operators and partners' delegated administrators. " +
				"Authenticate with an admin API key: `Authorization: Bearer oscadm_...`. Operator keys come from the CLI " +
				"(`orgscim apikey create --operator NAME`); delegate keys from POST /api/v1/delegations/{id}/keys. " +
				"A delegate acts only inside its delegation's subtree and with its capabilities. Orgs and connections are " +
				"addressed by slug, users and groups by their SCIM ids. Errors are `{\"error\":{\"code\",\"message\",\"id\"}}`.",
		},
		// The API is served by the server that serves this document: paths are absolute
		// on it.
		"servers": []any{map[string]any{"url": "/", "description": "the orgscim server serving this document"}},
		"paths":   paths,
		"components": map[string]any{
			"schemas": g.components,
			"securitySchemes": map[string]any{
				"adminKey":         map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "oscadm_ admin API key"},
				"integrationToken": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "osint_ integration token of a service account"},
			},
		},
		"security": []any{map[string]any{"adminKey": []any{}}},
		"tags":     tags(s.Extra.Tags),
	}
}

// ExtraOpenAPI is what other adapters served by the same server add to the document
// (the AuthZEN PDP), under their own tags. Their operations name the admin key's
// security scheme, "adminKey".
type ExtraOpenAPI struct {
	Paths   map[string]any
	Schemas map[string]any
	Tags    [][2]string // name, description
}

func tags(extra [][2]string) []any {
	out := []any{}
	for _, t := range [][2]string{
		{"orgs", "The organisation tree and its relationships."},
		{"connections", "SCIM connections and their bearer tokens."},
		{"roles", "The vendor's role catalogue."},
		{"mappings", "Group-to-role mappings: drafted, approved, retired."},
		{"grants", "Direct role assignments."},
		{"delegations", "Delegated administration and admin API keys."},
		{"access", "Access questions: check, who has access, what can a user do."},
		{"audit", "The audit trail of every change."},
		{"meta", "This document and the caller."},
		{"webhooks", "Signed webhook subscriptions of downstream applications."},
		{"reviews", "Access reviews: reviewers confirm or revoke each grant of a subtree by a deadline."},
		{"imports", "Spreadsheet imports of orgs, people and their roles."},
		{"onboarding", "Partner onboarding, approved by a second person, and setup links for the partner's IT administrator."},
		{"domains", "Verified partner domains: an org proves its e-mail domains, and other orgs' connections may not provision them."},
		{"support", "Support sessions: the vendor's staff reach a partner's data only in a session the partner approved (or a break-glass " +
			"it is told of and reviews), sending its id in the Orgscim-Support-Session header, while the support policy requires it."},
		{"service-accounts", "Service accounts and integration tokens: non-human identities of an org, answerable to a human owner."},
		{"msp", "Managed service providers: an MSP org administers a customer org outside its subtree once the customer's administrator " +
			"and the vendor consent, each technician through their own delegation, until either side revokes or either relationship ends."},
	} {
		out = append(out, map[string]any{"name": t[0], "description": t[1]})
	}
	for _, t := range extra {
		out = append(out, map[string]any{"name": t[0], "description": t[1]})
	}
	return out
}

func operationID(r route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.method))
	for _, part := range strings.Split(r.path, "/") {
		part = strings.Trim(part, "{}")
		part = strings.NewReplacer(".", "_").Replace(part)
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

func (s *Server) openAPI(c echo.Context) error {
	s.docOnce.Do(func() {
		s.doc, s.docErr = json.MarshalIndent(s.OpenAPI(), "", "  ")
	})
	if s.docErr != nil {
		return s.docErr
	}
	return c.JSONBlob(http.StatusOK, s.doc)
}

// RoutePaths lists "METHOD /api/v1/path" of every route, sorted.
func (s *Server) RoutePaths() []string {
	var out []string
	for _, r := range s.routes() {
		out = append(out, r.method+" "+Prefix+r.path)
	}
	sort.Strings(out)
	return out
}
