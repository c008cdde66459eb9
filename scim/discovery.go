package scim

import (
	"net/http"
	"strings"

	"github.com/elimity-com/scim/schema"
	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
)

// The discovery documents of RFC 7644 §4 say exactly what this server does. The library's
// own ServiceProviderConfig cannot announce sorting or ETags, so it is written here.

func (s *Server) resourceTypeList() []*resourceType { return []*resourceType{s.users, s.groups} }

func (s *Server) serviceProviderConfig(c echo.Context) error {
	return writeJSON(c, http.StatusOK, map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://github.com/orgscim/orgscim#readme",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": s.Limits.MaxResults},
		"changePassword":   map[string]any{"supported": true},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []map[string]any{{
			"type":        "oauthbearertoken",
			"name":        "Bearer token",
			"description": "A per-connection bearer token issued by `orgscim connection create` or `orgscim token create`.",
			"specUri":     "https://www.rfc-editor.org/rfc/rfc6750",
			"primary":     true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": c.Scheme() + "://" + c.Request().Host + Prefix + connection(c).Slug + "/ServiceProviderConfig"},
	})
}

func (s *Server) renderResourceType(c echo.Context, rt *resourceType) map[string]any {
	ext := make([]map[string]any, 0, len(rt.Extensions))
	for _, e := range rt.Extensions {
		ext = append(ext, map[string]any{"schema": e.ID, "required": false})
	}
	return map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
		"id":               rt.Name,
		"name":             rt.Name,
		"endpoint":         rt.Endpoint,
		"description":      rt.Schema.Description.Value(),
		"schema":           rt.Schema.ID,
		"schemaExtensions": ext,
		"meta": map[string]any{"resourceType": "ResourceType",
			"location": c.Scheme() + "://" + c.Request().Host + Prefix + connection(c).Slug + "/ResourceTypes/" + rt.Name},
	}
}

func listResponse(items []map[string]any) map[string]any {
	return map[string]any{
		"schemas": []string{listSchema}, "totalResults": len(items), "startIndex": 1,
		"itemsPerPage": len(items), "Resources": items,
	}
}

func (s *Server) resourceTypes(c echo.Context) error {
	var items []map[string]any
	for _, rt := range s.resourceTypeList() {
		items = append(items, s.renderResourceType(c, rt))
	}
	return writeJSON(c, http.StatusOK, listResponse(items))
}

func (s *Server) resourceTypeByID(c echo.Context) error {
	for _, rt := range s.resourceTypeList() {
		if strings.EqualFold(rt.Name, c.Param("id")) {
			return writeJSON(c, http.StatusOK, s.renderResourceType(c, rt))
		}
	}
	return orgscim.Errorf(orgscim.NotFound, "no resource type %q", c.Param("id"))
}

func (s *Server) allSchemas() []schema.Schema {
	var out []schema.Schema
	for _, rt := range s.resourceTypeList() {
		out = append(out, rt.Schema)
		out = append(out, rt.Extensions...)
	}
	return out
}

// renderAttribute describes one attribute with every characteristic of RFC 7643 §7.
func renderAttribute(a schema.CoreAttribute) map[string]any {
	m := map[string]any{
		"name":        a.Name(),
		"type":        a.AttributeType(),
		"multiValued": a.MultiValued(),
		"description": a.Description(),
		"required":    a.Required(),
		"caseExact":   a.CaseExact(),
		"mutability":  a.Mutability(),
		"returned":    a.Returned(),
		"uniqueness":  a.Uniqueness(),
	}
	if cv := a.CanonicalValues(); len(cv) > 0 {
		m["canonicalValues"] = cv
	}
	if rt := a.ReferenceTypes(); len(rt) > 0 {
		m["referenceTypes"] = rt
	}
	if a.HasSubAttributes() {
		var subs []map[string]any
		for _, sa := range a.SubAttributes() {
			subs = append(subs, renderAttribute(sa))
		}
		m["subAttributes"] = subs
	}
	return m
}

func renderSchema(c echo.Context, sc schema.Schema) map[string]any {
	attrs := make([]map[string]any, 0, len(sc.Attributes))
	for _, a := range sc.Attributes {
		attrs = append(attrs, renderAttribute(a))
	}
	return map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
		"id":          sc.ID,
		"name":        sc.Name.Value(),
		"description": sc.Description.Value(),
		"attributes":  attrs,
		"meta": map[string]any{"resourceType": "Schema",
			"location": c.Scheme() + "://" + c.Request().Host + Prefix + connection(c).Slug + "/Schemas/" + sc.ID},
	}
}

func (s *Server) schemas(c echo.Context) error {
	var items []map[string]any
	for _, sc := range s.allSchemas() {
		items = append(items, renderSchema(c, sc))
	}
	return writeJSON(c, http.StatusOK, listResponse(items))
}

func (s *Server) schemaByID(c echo.Context) error {
	for _, sc := range s.allSchemas() {
		if strings.EqualFold(sc.ID, c.Param("id")) {
			return writeJSON(c, http.StatusOK, renderSchema(c, sc))
		}
	}
	return orgscim.Errorf(orgscim.NotFound, "no schema %q", c.Param("id"))
}
