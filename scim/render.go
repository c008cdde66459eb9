package scim

import (
	"strconv"
	"strings"
	"time"

	"github.com/elimity-com/scim/schema"
	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/provisioning"
)

const listSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

// etag is the entity tag of a resource version, weak because the representation
// depends on attribute projection.
func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// renderUser builds the SCIM representation of u with its groups (direct and through
// nested groups), which are read-only and derived from memberships.
func renderUser(c echo.Context, u *provisioning.User, groups []provisioning.GroupRef) map[string]any {
	out := make(map[string]any, len(u.Attributes)+4)
	schemas := []string{schema.UserSchema}
	for k, v := range u.Attributes {
		if k == provisioning.EnterpriseURN {
			schemas = append(schemas, provisioning.EnterpriseURN)
		}
		out[k] = v
	}
	out["schemas"] = schemas
	out["id"] = u.ID
	if len(groups) > 0 {
		base := c.Scheme() + "://" + c.Request().Host + Prefix + connection(c).Slug + "/Groups/"
		list := make([]any, len(groups))
		for i, g := range groups {
			typ := "indirect"
			if g.Direct {
				typ = "direct"
			}
			list[i] = map[string]any{"value": g.ID, "display": g.DisplayName, "type": typ, "$ref": base + g.ID}
		}
		out["groups"] = list
	}
	out["meta"] = map[string]any{
		"resourceType": "User",
		"created":      timestamp(u.Created),
		"lastModified": timestamp(u.LastModified),
		"location":     location(c, "/Users", u.ID),
		"version":      etag(u.Version),
	}
	return out
}

// projection is the attributes / excludedAttributes selection of RFC 7644 §3.4.2.5.
// Paths are lower-cased and fully qualified; "id" and "schemas" are always returned.
type projection struct {
	include map[string]bool
	exclude map[string]bool
}

func (s *Server) parseProjection(rt *resourceType, attributes, excluded []string) (projection, error) {
	var p projection
	var err error
	if p.include, err = projectionSet(rt, attributes); err != nil {
		return p, err
	}
	if p.exclude, err = projectionSet(rt, excluded); err != nil {
		return p, err
	}
	return p, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// projectionSet resolves attribute names to fully qualified lower-case keys, "urn:attr"
// or "urn:attr.sub". A value filter in brackets, which Entra's tests send
// (emails[type eq "work"]), selects the whole attribute.
func projectionSet(rt *resourceType, names []string) (map[string]bool, error) {
	if len(names) == 0 {
		return nil, nil
	}
	set := map[string]bool{}
	for _, n := range names {
		if i := strings.IndexByte(n, '['); i >= 0 {
			j := strings.LastIndexByte(n, ']')
			if j < i {
				return nil, orgscim.Errorf(orgscim.InvalidValue, "attribute %q is malformed", n)
			}
			n = n[:i] + n[j+1:]
		}
		if strings.EqualFold(n, "schemas") { // always returned, like id
			continue
		}
		urn, rest, ok := rt.splitURN(n)
		if !ok {
			return nil, orgscim.Errorf(orgscim.InvalidValue, "unknown attribute %q", n)
		}
		if rest == "" { // a whole extension
			set[strings.ToLower(urn)] = true
			continue
		}
		name, sub, _ := strings.Cut(rest, ".")
		ref, ok := rt.resolve(urn, name, sub)
		if !ok {
			return nil, orgscim.Errorf(orgscim.InvalidValue, "unknown attribute %q", n)
		}
		set[strings.ToLower(strings.Join(qualified(ref), "."))] = true
	}
	return set, nil
}

// qualified is the path of ref with its schema URN first, also for the core schema.
func qualified(ref attrRef) []string {
	p := ref.path()
	if ref.Meta != "" || ref.URN == schema.UserSchema || ref.URN == schema.GroupSchema {
		return append([]string{ref.URN}, p...)
	}
	return p
}

// wants says whether the projection returns the core attribute name of rt, so that
// derived attributes that cost a query are computed only when returned.
func (p projection) wants(rt *resourceType, name string) bool {
	key := strings.ToLower(rt.Schema.ID + "." + name)
	if p.exclude[key] {
		return false
	}
	return p.include == nil || p.include[key] || p.anyInclude(key+".")
}

// apply returns the projected copy of a rendered resource.
func (p projection) apply(rt *resourceType, res map[string]any) map[string]any {
	if p.include == nil && p.exclude == nil {
		return res
	}
	core := strings.ToLower(rt.Schema.ID)
	out := map[string]any{}
	for k, v := range res {
		lk := strings.ToLower(k)
		switch lk {
		case "id", "schemas":
			out[k] = v
			continue
		}
		if _, isExt := rt.schemaFor(k); isExt && lk != core {
			if sub, ok := v.(map[string]any); ok {
				if kept := p.filterObject(lk, sub); len(kept) > 0 {
					out[k] = kept
				}
			}
			continue
		}
		if kept, ok := p.value(core+"."+lk, v); ok {
			out[k] = kept
		}
	}
	return out
}

// value projects the value v of the attribute at key; ok is false when the projection
// leaves the attribute out.
func (p projection) value(key string, v any) (kept any, ok bool) {
	if p.include != nil && !p.include[key] {
		if !p.anyInclude(key + ".") {
			return nil, false
		}
		kept = p.subset(key, v)
		return kept, kept != nil
	}
	if p.exclude[key] {
		return nil, false
	}
	if p.anyExclude(key + ".") {
		kept = p.subset(key, v)
		return kept, kept != nil
	}
	return v, true
}

// subset projects the sub-attributes of a complex value, or of each element of a
// multi-valued complex value (attributes=emails.value); nil when nothing is left.
func (p projection) subset(key string, v any) any {
	switch v := v.(type) {
	case map[string]any:
		if kept := p.filterObject(key, v); len(kept) > 0 {
			return kept
		}
	case []any:
		var out []any
		for _, e := range v {
			if m, ok := e.(map[string]any); ok {
				if kept := p.filterObject(key, m); len(kept) > 0 {
					out = append(out, kept)
				}
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

// filterObject projects the members of one complex attribute or extension at prefix.
func (p projection) filterObject(prefix string, obj map[string]any) map[string]any {
	if p.exclude[prefix] {
		return nil
	}
	if p.include != nil && p.include[prefix] {
		p2 := projection{exclude: p.exclude}
		return p2.filterObject(prefix, obj)
	}
	out := map[string]any{}
	for k, v := range obj {
		if kept, ok := p.value(prefix+"."+strings.ToLower(k), v); ok {
			out[k] = kept
		}
	}
	return out
}

func (p projection) anyInclude(prefix string) bool {
	for k := range p.include {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func (p projection) anyExclude(prefix string) bool {
	for k := range p.exclude {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
