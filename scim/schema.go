package scim

import (
	"strings"

	"github.com/elimity-com/scim/schema"
	"github.com/orgscim/orgscim/provisioning"
)

// resourceType is one SCIM resource type this server offers: its core schema and the
// extensions it accepts. The schemas come from elimity-com/scim; resolution of attribute
// names (case-insensitive, optionally URN-qualified) lives here.
type resourceType struct {
	Name       string // "User"
	Endpoint   string // "/Users"
	Schema     schema.Schema
	Extensions []schema.Schema
}

func userType() *resourceType {
	return &resourceType{
		Name:       "User",
		Endpoint:   "/Users",
		Schema:     schema.CoreUserSchema(),
		Extensions: []schema.Schema{schema.ExtensionEnterpriseUser()},
	}
}

// attrRef is an attribute resolved against a resource type. URN is the schema that
// defines it; for the core schema it is the core URN, and the attribute lives at the
// top level of the resource, for an extension it lives under the URN key.
type attrRef struct {
	URN  string
	Attr schema.CoreAttribute
	Sub  *schema.CoreAttribute // the sub-attribute, when the path names one
	Meta string                // "id", "externalId", "created", "lastModified", "resourceType", "location", "version" for common attributes
}

// schemaFor returns the schema (core or extension) whose URN equals urn, ignoring case.
func (rt *resourceType) schemaFor(urn string) (schema.Schema, bool) {
	if strings.EqualFold(urn, rt.Schema.ID) {
		return rt.Schema, true
	}
	for _, e := range rt.Extensions {
		if strings.EqualFold(urn, e.ID) {
			return e, true
		}
	}
	return schema.Schema{}, false
}

// splitURN splits "urn:...:User:name.givenName" into the schema URN and the attribute
// path "name.givenName", for any schema of the resource type. A path with no URN
// prefix returns the core URN.
func (rt *resourceType) splitURN(path string) (urn, rest string, ok bool) {
	lower := strings.ToLower(path)
	all := append([]schema.Schema{rt.Schema}, rt.Extensions...)
	// The longest URN first: the enterprise URN starts like no core one, but be exact.
	for _, s := range all {
		id := strings.ToLower(s.ID)
		if lower == id {
			return s.ID, "", true
		}
		if strings.HasPrefix(lower, id+":") {
			return s.ID, path[len(id)+1:], true
		}
	}
	if strings.HasPrefix(lower, "urn:") {
		return "", "", false
	}
	return rt.Schema.ID, path, true
}

// resolve resolves "name" or "name.sub" (without URN) in the schema urn. Common
// attributes (id, externalId, meta.*) resolve in the core schema only.
func (rt *resourceType) resolve(urn, name, sub string) (attrRef, bool) {
	if strings.EqualFold(urn, rt.Schema.ID) {
		switch strings.ToLower(name) {
		case "id":
			if sub == "" {
				return attrRef{URN: urn, Meta: "id"}, true
			}
			return attrRef{}, false
		case "externalid":
			if sub == "" {
				return attrRef{URN: urn, Meta: "externalId"}, true
			}
			return attrRef{}, false
		case "meta":
			switch strings.ToLower(sub) {
			case "created":
				return attrRef{URN: urn, Meta: "created"}, true
			case "lastmodified":
				return attrRef{URN: urn, Meta: "lastModified"}, true
			case "resourcetype":
				return attrRef{URN: urn, Meta: "resourceType"}, true
			case "location":
				return attrRef{URN: urn, Meta: "location"}, true
			case "version":
				return attrRef{URN: urn, Meta: "version"}, true
			case "":
				return attrRef{URN: urn, Meta: "meta"}, true
			}
			return attrRef{}, false
		}
	}
	s, ok := rt.schemaFor(urn)
	if !ok {
		return attrRef{}, false
	}
	a, ok := s.Attributes.ContainsAttribute(name)
	if !ok {
		return attrRef{}, false
	}
	ref := attrRef{URN: s.ID, Attr: a}
	if sub != "" {
		if !a.HasSubAttributes() {
			return attrRef{}, false
		}
		sa, ok := a.SubAttributes().ContainsAttribute(sub)
		if !ok {
			return attrRef{}, false
		}
		ref.Sub = &sa
	}
	return ref, true
}

// path returns the canonical path of the attribute in the stored document.
func (r attrRef) path() []string {
	var p []string
	if r.Meta != "" {
		switch r.Meta {
		case "id", "externalId":
			return []string{r.Meta}
		case "meta": // the whole complex attribute, as in excludedAttributes=meta
			return []string{"meta"}
		default:
			return []string{"meta", r.Meta}
		}
	}
	if r.URN != "" && r.URN != schema.UserSchema && r.URN != schema.GroupSchema {
		p = append(p, r.URN)
	}
	p = append(p, r.Attr.Name())
	if r.Sub != nil {
		p = append(p, r.Sub.Name())
	}
	return p
}

// leaf is the attribute a path ends at: the sub-attribute if there is one.
func (r attrRef) leaf() schema.CoreAttribute {
	if r.Sub != nil {
		return *r.Sub
	}
	return r.Attr
}

// dataType maps the schema type of the leaf to the domain's.
func (r attrRef) dataType() provisioning.AttrType {
	switch r.Meta {
	case "id", "externalId", "resourceType", "location", "version":
		return provisioning.TypeString
	case "created", "lastModified":
		return provisioning.TypeDateTime
	case "meta":
		return provisioning.TypeComplex
	}
	return provisioning.AttrType(r.leaf().AttributeType())
}

// caseExact says how strings of the leaf compare. id and externalId are case-exact
// (RFC 7643 §3.1).
func (r attrRef) caseExact() bool {
	if r.Meta != "" {
		return r.Meta == "id" || r.Meta == "externalId"
	}
	return r.leaf().CaseExact()
}
