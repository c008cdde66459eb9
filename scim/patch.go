package scim

// PATCH (RFC 7644 §3.5.2) applied to a stored document. The elimity library validates
// PATCH requests but does not apply them, and Entra ID and Okta send requests that a
// literal reading of the RFC would reject; the leniencies below are the ones they need,
// each marked where it is made.

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elimity-com/scim/schema"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/orgscim/orgscim"
)

// patchOp is one operation of a PatchOp request. Value is decoded JSON (objects as
// map[string]any, arrays as []any, numbers preferably as json.Number).
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

const (
	opAdd     = "add"
	opReplace = "replace"
	opRemove  = "remove"
)

// applyPatch applies ops in order to doc, the stored attributes of one resource:
// canonical attribute names, extension attributes under their URN key, and no id, meta
// or schemas. It mutates doc; the caller passes a deep copy and discards it on error,
// which makes a PATCH atomic. Errors are *orgscim.Error.
func applyPatch(rt *resourceType, doc map[string]any, ops []patchOp) error {
	p := patching{rt: rt, doc: doc}
	for i, op := range ops {
		if err := p.apply(op); err != nil {
			var e *orgscim.Error
			if errors.As(err, &e) {
				return orgscim.Errorf(e.Code, "Operations[%d]: %s", i, e.Message)
			}
			return err
		}
	}
	// An extension whose last attribute was removed should not linger as "{}".
	for _, ext := range rt.Extensions {
		if m, ok := doc[ext.ID].(map[string]any); ok && len(m) == 0 {
			delete(doc, ext.ID)
		}
	}
	return nil
}

// deepCopy copies a decoded JSON document so that changes to the copy leave m untouched.
func deepCopy(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return deepCopy(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopyValue(e)
		}
		return out
	case []map[string]any:
		out := make([]map[string]any, len(v))
		for i, e := range v {
			out[i] = deepCopy(e)
		}
		return out
	case []string:
		return slices.Clone(v)
	default:
		return v
	}
}

// patching is one PATCH request being applied to one document.
type patching struct {
	rt  *resourceType
	doc map[string]any
}

// patchTarget is a path resolved against the resource type.
type patchTarget struct {
	urn    string                // the schema of the attribute; for an extension also its key in the document
	attr   *schema.CoreAttribute // nil when the path names a whole schema (its URN)
	sub    *schema.CoreAttribute // the sub-attribute after ".", with or without a filter
	filter *valueFilter          // which elements of a multi-valued attribute the path selects
}

// externalIDAttribute describes the one writable common attribute (RFC 7643 §3.1), so
// that it is patched like any core string attribute.
var externalIDAttribute = schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
	Name:       "externalId",
	CaseExact:  true,
	Mutability: schema.AttributeMutabilityReadWrite(),
}))

// everyElement selects all elements: "emails.type" without a filter addresses each
// e-mail, and creates one when there is none (replace of a missing target is an add).
var everyElement = &valueFilter{match: func(any) bool { return true }, seed: map[string]any{}}

func (p *patching) apply(op patchOp) error {
	kind := strings.ToLower(op.Op) // Entra sends "Add", "Replace", "Remove"
	if kind != opAdd && kind != opReplace && kind != opRemove {
		return orgscim.Errorf(orgscim.InvalidSyntax, "unknown op %q: expected add, replace or remove", op.Op)
	}
	path := strings.TrimSpace(op.Path)
	if kind == opRemove {
		if path == "" {
			return orgscim.Errorf(orgscim.NoTarget, "remove requires a path")
		}
		t, readOnly, err := p.target(path, p.rt.Schema.ID)
		if err != nil {
			return err
		}
		if readOnly {
			return orgscim.Errorf(orgscim.Mutability, "%q is read-only", path)
		}
		return p.remove(t, op.Value)
	}
	if op.Value == nil {
		return orgscim.Errorf(orgscim.InvalidValue, "%s requires a value", kind)
	}
	if path == "" {
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return orgscim.Errorf(orgscim.InvalidValue, "%s without a path requires an object value", kind)
		}
		return p.setObject(kind, p.rt.Schema.ID, obj)
	}
	t, readOnly, err := p.target(path, p.rt.Schema.ID)
	if err != nil {
		return err
	}
	if readOnly {
		return orgscim.Errorf(orgscim.Mutability, "%q is read-only", path)
	}
	return p.set(kind, t, op.Value)
}

// target resolves a path, or a key of a path-less value, which is a path relative to
// urn unless it carries its own URN. readOnly reports a path naming a read-only
// attribute (id, meta, schemas, groups, manager.displayName): an error for a path, but
// skipped in a value object, because clients echo such attributes back.
func (p *patching) target(path, urn string) (t patchTarget, readOnly bool, err error) {
	rest := path
	if len(path) >= 4 && strings.EqualFold(path[:4], "urn:") {
		var ok bool
		if urn, rest, ok = p.rt.splitURN(path); !ok {
			return t, false, orgscim.Errorf(orgscim.InvalidPath, "%q names an unknown schema", path)
		}
	}
	if rest == "" {
		return patchTarget{urn: urn}, false, nil
	}
	parsed, err := parsePatchPath(rest)
	if err != nil {
		return t, false, orgscim.Errorf(orgscim.InvalidPath, "%q is not a valid path", path)
	}
	ap := parsed.AttributePath
	if ap.URIPrefix != nil || (ap.SubAttribute != nil && parsed.ValueExpression != nil) {
		return t, false, orgscim.Errorf(orgscim.InvalidPath, "%q is not a valid path", path)
	}
	if urn == p.rt.Schema.ID && strings.EqualFold(ap.AttributeName, "schemas") {
		return t, true, nil
	}
	sub := ap.SubAttributeName()
	if parsed.SubAttribute != nil {
		sub = *parsed.SubAttribute
	}
	ref, ok := p.rt.resolve(urn, ap.AttributeName, sub)
	if !ok {
		return t, false, orgscim.Errorf(orgscim.InvalidPath, "%q names an unknown attribute", path)
	}
	switch ref.Meta {
	case "":
	case "externalId":
		ref.Attr = externalIDAttribute
	default:
		return t, true, nil
	}
	if ref.Attr.Mutability() == "readOnly" || (ref.Sub != nil && ref.Sub.Mutability() == "readOnly") {
		return t, true, nil
	}
	t = patchTarget{urn: ref.URN, attr: &ref.Attr, sub: ref.Sub}
	switch {
	case parsed.ValueExpression != nil:
		if !t.attr.MultiValued() {
			return t, false, orgscim.Errorf(orgscim.InvalidPath, "%q filters a single-valued attribute", path)
		}
		f, err := compileValueFilter(*t.attr, parsed.ValueExpression)
		if err != nil {
			return t, false, err
		}
		t.filter = &f
	case t.sub != nil && t.attr.MultiValued():
		t.filter = everyElement
	}
	return t, false, nil
}

// parsePatchPath parses attrPath, attrPath[valFilter] and attrPath[valFilter].subAttr.
// The parser's grammar for value filters is narrower than its filter grammar (no
// grouping, at most one and/or), so a bracketed filter it rejects is parsed as a filter
// on its own.
func parsePatchPath(raw string) (filter.Path, error) {
	path, err := filter.ParsePathNumber([]byte(raw))
	if err == nil {
		return path, nil
	}
	open := strings.IndexByte(raw, '[')
	if open < 0 {
		return filter.Path{}, err
	}
	end := closingBracket(raw, open)
	if end < 0 {
		return filter.Path{}, err
	}
	ap, err := filter.ParseAttrPath([]byte(raw[:open]))
	if err != nil {
		return filter.Path{}, err
	}
	expr, err := filter.ParseFilterNumber([]byte(raw[open+1 : end]))
	if err != nil {
		return filter.Path{}, err
	}
	path = filter.Path{AttributePath: ap, ValueExpression: expr}
	if after := raw[end+1:]; after != "" {
		sub, err := filter.ParseAttrPath([]byte(strings.TrimPrefix(after, ".")))
		if err != nil || after[0] != '.' || sub.URIPrefix != nil || sub.SubAttribute != nil {
			return filter.Path{}, orgscim.Errorf(orgscim.InvalidPath, "invalid sub-attribute")
		}
		path.SubAttribute = &sub.AttributeName
	}
	return path, nil
}

// closingBracket returns the index of the "]" that closes the "[" at open, skipping
// brackets inside quoted strings, or -1.
func closingBracket(s string, open int) int {
	quoted := false
	for i := open + 1; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ']':
			return i
		}
	}
	return -1
}

// container returns the object that holds the attributes of schema urn: the document for
// the core schema, the extension's object otherwise (made when create is set).
func (p *patching) container(urn string, create bool) map[string]any {
	if urn == p.rt.Schema.ID {
		return p.doc
	}
	m, ok := p.doc[urn].(map[string]any)
	if !ok && create {
		m = map[string]any{}
		p.doc[urn] = m
	}
	return m
}

// setObject applies a path-less add or replace: each key of obj is a path relative to
// urn, or a schema URN whose object value holds that schema's attributes.
func (p *patching) setObject(kind, urn string, obj map[string]any) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	// "name" and "name.givenName" in one object must not apply in random order.
	slices.Sort(keys)
	for _, k := range keys {
		v := obj[k]
		if strings.EqualFold(k, "schemas") {
			// Clients echo the resource's schemas into a value object, also into one
			// aimed at an extension; PUT ignores them there, and so does PATCH.
			continue
		}
		t, readOnly, err := p.target(k, urn)
		if err != nil {
			return err
		}
		if readOnly {
			continue
		}
		if t.attr == nil && v == nil {
			if kind == opReplace {
				if err := p.remove(t, nil); err != nil {
					return err
				}
			}
			continue
		}
		if err := p.set(kind, t, v); err != nil {
			return err
		}
	}
	return nil
}

// set applies add or replace of raw at t. A nil raw (a JSON null inside a value object)
// unassigns on replace and changes nothing on add (RFC 7643 §2.5: null is unassigned).
func (p *patching) set(kind string, t patchTarget, raw any) error {
	if t.attr == nil {
		obj, ok := raw.(map[string]any)
		if !ok {
			return orgscim.Errorf(orgscim.InvalidValue, "the value of %q must be an object", t.urn)
		}
		return p.setObject(kind, t.urn, obj)
	}
	c := p.container(t.urn, true)
	switch {
	case t.filter != nil:
		return setSelected(kind, c, t, raw)
	case t.sub != nil:
		parent, _ := c[t.attr.Name()].(map[string]any)
		if parent == nil {
			parent = map[string]any{}
		}
		if err := setField(kind, *t.sub, parent, raw); err != nil {
			return err
		}
		storeObject(c, t.attr.Name(), parent)
		return nil
	default:
		return setField(kind, *t.attr, c, raw)
	}
}

// setField writes raw to obj under a's canonical name. Multi-valued values are appended
// by add and replaced by replace; complex singular values are merged sub-attribute by
// sub-attribute for both, because replace "name" with {"givenName"} must keep familyName.
func setField(kind string, a schema.CoreAttribute, obj map[string]any, raw any) error {
	name := a.Name()
	if raw == nil {
		if kind == opAdd {
			return nil
		}
		if err := checkImmutable(a, obj[name], nil); err != nil {
			return err
		}
		delete(obj, name)
		return nil
	}
	switch {
	case a.MultiValued():
		elems, err := coerceList(a, raw)
		if err != nil {
			return err
		}
		if kind == opAdd {
			list, winner := mergeElements(a, listOf(obj[name]), elems)
			onePrimary(list, winner)
			storeList(obj, name, list)
			return nil
		}
		if err := checkImmutable(a, obj[name], elems); err != nil {
			return err
		}
		winner := -1
		for i, e := range elems {
			if isPrimary(e) {
				winner = i
			}
		}
		onePrimary(elems, winner)
		storeList(obj, name, elems)
		return nil
	case a.AttributeType() == "complex":
		fields, err := complexFields(a, raw)
		if err != nil {
			return err
		}
		current, _ := obj[name].(map[string]any)
		if current == nil {
			current = map[string]any{}
		}
		for k, v := range fields {
			sub, _ := a.SubAttributes().ContainsAttribute(k)
			if err := setField(kind, sub, current, v); err != nil {
				return err
			}
		}
		storeObject(obj, name, current)
		return nil
	default:
		v, err := coerceScalar(a, raw)
		if err != nil {
			return err
		}
		if err := checkImmutable(a, obj[name], v); err != nil {
			return err
		}
		obj[name] = v
		return nil
	}
}

// setSelected applies add or replace to the elements t.filter selects. When none match
// and the filter is a conjunction of eq tests, the element it describes is created:
// Entra replaces emails[type eq "work"].value for users who have no work e-mail.
func setSelected(kind string, c map[string]any, t patchTarget, raw any) error {
	a := *t.attr
	list := listOf(c[a.Name()])
	var hits []int
	for i, e := range list {
		if t.filter.match(e) {
			hits = append(hits, i)
		}
	}
	created := false
	if len(hits) == 0 {
		if raw == nil {
			return nil // unassigning what is not there
		}
		if t.filter.seed == nil {
			return orgscim.Errorf(orgscim.NoTarget, "no value of %q matches the filter", a.Name())
		}
		list = append(list, deepCopy(t.filter.seed))
		hits = []int{len(list) - 1}
		created = true
	}
	winner := -1
	for _, i := range hits {
		wrotePrimary, err := setElement(kind, a, t.sub, list, i, raw, created)
		if err != nil {
			return err
		}
		if (wrotePrimary || created) && isPrimary(list[i]) {
			winner = i
		}
	}
	onePrimary(list, winner)
	// Unassigning a sub-attribute can leave an element with nothing in it.
	list = slices.DeleteFunc(list, isEmpty)
	storeList(c, a.Name(), list)
	return nil
}

// setElement writes raw into list[i], a selected element of a, or into its sub-attribute
// sub. It reports whether the write set "primary".
func setElement(kind string, a schema.CoreAttribute, sub *schema.CoreAttribute, list []any, i int, raw any, created bool) (bool, error) {
	switch {
	case sub != nil:
		elem, ok := list[i].(map[string]any)
		if !ok {
			return false, nil
		}
		return sub.Name() == "primary", setField(kind, *sub, elem, raw)
	case a.AttributeType() == "complex":
		if arr, ok := raw.([]any); ok && len(arr) == 1 {
			raw = arr[0]
		}
		fields, err := complexFields(a, raw)
		if err != nil {
			return false, err
		}
		_, wrotePrimary := fields["primary"]
		old, _ := list[i].(map[string]any)
		if kind == opReplace && !created {
			// RFC 7644 §3.5.2.3: matching values are replaced, not merged.
			elem, err := coerceElement(a, raw)
			if err != nil {
				return false, err
			}
			next, _ := elem.(map[string]any)
			for _, s := range a.SubAttributes() {
				if err := checkImmutable(s, old[s.Name()], next[s.Name()]); err != nil {
					return false, err
				}
			}
			list[i] = elem
			return wrotePrimary, nil
		}
		if old == nil {
			old = map[string]any{}
			list[i] = old
		}
		for k, v := range fields {
			s, _ := a.SubAttributes().ContainsAttribute(k)
			if err := setField(kind, s, old, v); err != nil {
				return false, err
			}
		}
		return wrotePrimary, nil
	default:
		v, err := coerceScalar(a, raw)
		if err != nil {
			return false, err
		}
		if err := checkImmutable(a, list[i], v); err != nil {
			return false, err
		}
		list[i] = v
		return false, nil
	}
}

// mergeElements appends elems to list, skipping elements equal to an existing one. An
// element with a "value" equal to an existing one's is merged into it, so re-adding a
// member with a newer display name does not create a second member. Immutable sub-attributes (a member's
// value, type, display) keep their existing value: a re-add is not an update.
func mergeElements(a schema.CoreAttribute, list, elems []any) ([]any, int) {
	winner := -1
	for _, e := range elems {
		i := slices.IndexFunc(list, func(x any) bool { return sameElement(a, x, e) })
		m, ok := e.(map[string]any)
		switch {
		case i < 0:
			list = append(list, e)
			i = len(list) - 1
		case ok && m["value"] != nil:
			current := list[i].(map[string]any)
			for k, v := range m {
				s, _ := a.SubAttributes().ContainsAttribute(k)
				if s.Mutability() == "immutable" && !isEmpty(current[k]) {
					continue
				}
				current[k] = v
			}
		}
		if isPrimary(e) {
			winner = i
		}
	}
	return list, winner
}

// sameElement reports whether existing and e are one element of a: by "value" when e
// has one, else by equality.
func sameElement(a schema.CoreAttribute, existing, e any) bool {
	m, ok := e.(map[string]any)
	if !ok {
		return sameValue(a, existing, e)
	}
	x, ok := existing.(map[string]any)
	if !ok {
		return false
	}
	if v, has := m["value"]; has {
		vs, _ := a.SubAttributes().ContainsAttribute("value")
		return sameValue(vs, x["value"], v)
	}
	return sameValue(a, x, m)
}

// describes reports whether g, an element given with a remove, names element e: by
// "value" when g has one (the client's display may be stale), else by every
// sub-attribute g gives.
func describes(a schema.CoreAttribute, g, e any) bool {
	gm, ok := g.(map[string]any)
	if !ok {
		return sameValue(a, g, e)
	}
	em, ok := e.(map[string]any)
	if !ok {
		return false
	}
	if v, has := gm["value"]; has {
		vs, _ := a.SubAttributes().ContainsAttribute("value")
		return sameValue(vs, em["value"], v)
	}
	for k, v := range gm {
		s, _ := a.SubAttributes().ContainsAttribute(k)
		if !sameValue(s, em[k], v) {
			return false
		}
	}
	return true
}

// remove applies a remove at t. Removing what is not there succeeds: IdPs retry, and a
// retried remove must not fail.
func (p *patching) remove(t patchTarget, raw any) error {
	if t.attr == nil && t.urn == p.rt.Schema.ID {
		return orgscim.Errorf(orgscim.InvalidPath, "the core schema cannot be removed")
	}
	if t.attr == nil {
		ext, _ := p.doc[t.urn].(map[string]any)
		s, _ := p.rt.schemaFor(t.urn)
		for _, a := range s.Attributes {
			if err := checkImmutable(a, ext[a.Name()], nil); err != nil {
				return err
			}
		}
		delete(p.doc, t.urn)
		return nil
	}
	c := p.container(t.urn, false)
	if c == nil {
		return nil
	}
	a := *t.attr
	name := a.Name()
	switch {
	case t.filter != nil:
		list := listOf(c[name])
		keep := make([]any, 0, len(list))
		for _, e := range list {
			if !t.filter.match(e) {
				keep = append(keep, e)
				continue
			}
			if t.sub == nil {
				continue
			}
			if elem, ok := e.(map[string]any); ok {
				if err := checkImmutable(*t.sub, elem[t.sub.Name()], nil); err != nil {
					return err
				}
				delete(elem, t.sub.Name())
				if len(elem) == 0 {
					continue
				}
			}
			keep = append(keep, e)
		}
		if len(keep) != len(list) {
			if err := checkImmutable(a, list, keep); err != nil {
				return err
			}
		}
		storeList(c, name, keep)
	case t.sub != nil:
		parent, _ := c[name].(map[string]any)
		if parent == nil {
			return nil
		}
		if err := checkImmutable(*t.sub, parent[t.sub.Name()], nil); err != nil {
			return err
		}
		delete(parent, t.sub.Name())
		storeObject(c, name, parent)
	case a.MultiValued() && raw != nil:
		// Entra removes a member with {"path":"members","value":[{"value":"ID"}]}: only
		// the named elements go, never the whole attribute.
		gone, err := coerceList(a, raw)
		if err != nil {
			return err
		}
		list := listOf(c[name])
		keep := slices.DeleteFunc(slices.Clone(list), func(e any) bool {
			return slices.ContainsFunc(gone, func(g any) bool { return describes(a, g, e) })
		})
		if len(keep) != len(list) {
			if err := checkImmutable(a, list, keep); err != nil {
				return err
			}
		}
		storeList(c, name, keep)
	default:
		if err := checkImmutable(a, c[name], nil); err != nil {
			return err
		}
		delete(c, name)
	}
	return nil
}

// checkImmutable refuses a change of an immutable attribute that already has a value.
// Writing the value it already has is no change, so a retried request succeeds.
func checkImmutable(a schema.CoreAttribute, old, next any) error {
	if a.Mutability() != "immutable" || isEmpty(old) || sameValue(a, old, next) {
		return nil
	}
	return orgscim.Errorf(orgscim.Mutability, "%q is immutable", a.Name())
}

// complexFields maps the keys of a complex value to a's canonical sub-attribute names,
// values still raw. Read-only sub-attributes are dropped: clients echo them back.
func complexFields(a schema.CoreAttribute, raw any) (map[string]any, error) {
	obj, ok := raw.(map[string]any)
	if !ok {
		// Entra sends manager, and sometimes members, as the bare id.
		if vs, has := a.SubAttributes().ContainsAttribute("value"); has && isScalar(raw) {
			return map[string]any{vs.Name(): raw}, nil
		}
		return nil, orgscim.Errorf(orgscim.InvalidValue, "the value of %q must be an object", a.Name())
	}
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		s, ok := a.SubAttributes().ContainsAttribute(k)
		if !ok {
			return nil, orgscim.Errorf(orgscim.InvalidValue, "%q has no sub-attribute %q", a.Name(), k)
		}
		if s.Mutability() == "readOnly" {
			continue
		}
		if _, dup := out[s.Name()]; dup {
			return nil, orgscim.Errorf(orgscim.InvalidValue, "%q gives %q twice", a.Name(), s.Name())
		}
		out[s.Name()] = v
	}
	return out, nil
}

// coerceList turns the value for a multi-valued attribute, an array or a single
// element, into its elements. Nulls and empty objects are no elements.
func coerceList(a schema.CoreAttribute, raw any) ([]any, error) {
	items, ok := raw.([]any)
	if !ok {
		items = []any{raw}
	}
	out := make([]any, 0, len(items))
	for _, item := range items {
		if item == nil {
			continue
		}
		e, err := coerceElement(a, item)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// coerceElement coerces one element of a multi-valued attribute; nil when it is empty.
func coerceElement(a schema.CoreAttribute, raw any) (any, error) {
	if a.AttributeType() != "complex" {
		return coerceScalar(a, raw)
	}
	fields, err := complexFields(a, raw)
	if err != nil {
		return nil, err
	}
	elem := make(map[string]any, len(fields))
	for k, v := range fields {
		if v == nil {
			continue
		}
		s, _ := a.SubAttributes().ContainsAttribute(k)
		if elem[k], err = coerceScalar(s, v); err != nil {
			return nil, err
		}
	}
	if len(elem) == 0 {
		return nil, nil
	}
	return elem, nil
}

// coerceScalar checks raw against a's type. Booleans and numbers sent as strings are
// converted, because Entra sends "True" and "False".
func coerceScalar(a schema.CoreAttribute, raw any) (any, error) {
	switch a.AttributeType() {
	case "boolean":
		switch v := raw.(type) {
		case bool:
			return v, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
	case "integer":
		if n, ok := numberText(raw); ok {
			if i, err := strconv.ParseInt(n, 10, 64); err == nil {
				return json.Number(strconv.FormatInt(i, 10)), nil
			}
		}
	case "decimal":
		if n, ok := numberText(raw); ok {
			if f, err := strconv.ParseFloat(n, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return json.Number(n), nil
			}
		}
	case "complex":
	default:
		// string, reference, binary, dateTime: the library knows their formats.
		if v, err := a.ValidateSingular(raw); err == nil {
			return v, nil
		}
	}
	return nil, orgscim.Errorf(orgscim.InvalidValue, "the value of %q must be a %s", a.Name(), a.AttributeType())
}

// numberText returns a number, or a string holding one, as text.
func numberText(raw any) (string, bool) {
	switch v := raw.(type) {
	case json.Number:
		return v.String(), true
	case string:
		return strings.TrimSpace(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	}
	return "", false
}

func toFloat(v any) (float64, bool) {
	switch v.(type) {
	case json.Number, float64, int, int64:
		n, _ := numberText(v)
		f, err := strconv.ParseFloat(n, 64)
		return f, err == nil
	}
	return 0, false
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, json.Number, float64, int, int64:
		return true
	}
	return false
}

// isEmpty reports an unassigned value: null, "", or an empty array or object
// (RFC 7643 §2.5 treats them alike).
func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case map[string]any:
		return len(v) == 0
	}
	if l, ok := asList(v); ok {
		return len(l) == 0
	}
	return false
}

// sameValue compares two values of attribute a, strings by a's caseExact.
func sameValue(a schema.CoreAttribute, x, y any) bool {
	if isEmpty(x) || isEmpty(y) {
		return isEmpty(x) && isEmpty(y)
	}
	if xl, ok := asList(x); ok {
		yl, ok := asList(y)
		if !ok || len(xl) != len(yl) {
			return false
		}
		for i := range xl {
			if !sameValue(a, xl[i], yl[i]) {
				return false
			}
		}
		return true
	}
	switch xv := x.(type) {
	case map[string]any:
		yv, ok := y.(map[string]any)
		if !ok {
			return false
		}
		for k := range yv {
			if _, ok := xv[k]; !ok && !isEmpty(yv[k]) {
				return false
			}
		}
		for k := range xv {
			s, ok := a.SubAttributes().ContainsAttribute(k)
			if !ok {
				if !reflect.DeepEqual(xv[k], yv[k]) {
					return false
				}
				continue
			}
			if !sameValue(s, xv[k], yv[k]) {
				return false
			}
		}
		return true
	case string:
		ys, ok := y.(string)
		if a.CaseExact() {
			return ok && xv == ys
		}
		return ok && strings.EqualFold(xv, ys)
	case bool:
		yb, ok := y.(bool)
		return ok && xv == yb
	}
	if fx, ok := toFloat(x); ok {
		fy, ok := toFloat(y)
		return ok && fx == fy
	}
	return reflect.DeepEqual(x, y)
}

// asList returns v as []any when it is an array.
func asList(v any) ([]any, bool) {
	switch v := v.(type) {
	case []any:
		return v, true
	case []map[string]any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = e
		}
		return out, true
	case []string:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = e
		}
		return out, true
	}
	return nil, false
}

// listOf returns the stored value of a multi-valued attribute as a list, tolerating a
// single value stored where an array belongs.
func listOf(v any) []any {
	if l, ok := asList(v); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func storeList(obj map[string]any, name string, list []any) {
	if len(list) == 0 {
		delete(obj, name)
		return
	}
	obj[name] = list
}

func storeObject(obj map[string]any, name string, m map[string]any) {
	if len(m) == 0 {
		delete(obj, name)
		return
	}
	obj[name] = m
}

func isPrimary(e any) bool {
	m, _ := e.(map[string]any)
	p, _ := m["primary"].(bool)
	return p
}

// onePrimary keeps "primary" on list[winner] only: RFC 7643 §2.4 allows one primary
// value, and the one just written is the one the client means.
func onePrimary(list []any, winner int) {
	if winner < 0 {
		return
	}
	for i, e := range list {
		if m, ok := e.(map[string]any); ok && i != winner && isPrimary(m) {
			delete(m, "primary")
		}
	}
}

// valueFilter is a compiled value filter of a path (the part in brackets).
type valueFilter struct {
	match func(elem any) bool
	// seed is the element a conjunction of eq tests describes (type eq "work" gives
	// {"type":"work"}), which add and replace create when nothing matches; nil for any
	// other filter.
	seed map[string]any
}

// compileValueFilter compiles a filter on the elements of multi-valued attribute a.
func compileValueFilter(a schema.CoreAttribute, e filter.Expression) (valueFilter, error) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		return compileComparison(a, e)
	case *filter.LogicalExpression:
		l, err := compileValueFilter(a, e.Left)
		if err != nil {
			return valueFilter{}, err
		}
		r, err := compileValueFilter(a, e.Right)
		if err != nil {
			return valueFilter{}, err
		}
		if e.Operator == filter.OR {
			return valueFilter{match: func(x any) bool { return l.match(x) || r.match(x) }}, nil
		}
		f := valueFilter{match: func(x any) bool { return l.match(x) && r.match(x) }}
		if l.seed != nil && r.seed != nil {
			f.seed = deepCopy(l.seed)
			for k, v := range r.seed {
				if old, ok := f.seed[k]; ok && old != v {
					f.seed = nil // type eq "a" and type eq "b" describes nothing
					break
				}
				f.seed[k] = v
			}
		}
		return f, nil
	case *filter.NotExpression:
		inner, err := compileValueFilter(a, e.Expression)
		if err != nil {
			return valueFilter{}, err
		}
		return valueFilter{match: func(x any) bool { return !inner.match(x) }}, nil
	default:
		return valueFilter{}, orgscim.Errorf(orgscim.InvalidFilter, "unsupported value filter %v", e)
	}
}

// compileComparison compiles one "attr op value" test on the elements of a.
func compileComparison(a schema.CoreAttribute, e *filter.AttributeExpression) (valueFilter, error) {
	s, key, err := filterOperand(a, e.AttributePath)
	if err != nil {
		return valueFilter{}, err
	}
	get := func(x any) any {
		if key == "" {
			return x
		}
		m, _ := x.(map[string]any)
		return m[key]
	}
	invalid := orgscim.Errorf(orgscim.InvalidFilter, "%q cannot be compared with %s %v", s.Name(), e.Operator, e.CompareValue)
	if e.Operator == filter.PR {
		return valueFilter{match: func(x any) bool { return !isEmpty(get(x)) }}, nil
	}
	if e.CompareValue == nil {
		switch e.Operator {
		case filter.EQ:
			return valueFilter{match: func(x any) bool { return isEmpty(get(x)) }}, nil
		case filter.NE:
			return valueFilter{match: func(x any) bool { return !isEmpty(get(x)) }}, nil
		}
		return valueFilter{}, invalid
	}
	lit, err := coerceScalar(s, e.CompareValue)
	if err != nil {
		return valueFilter{}, invalid
	}
	typ := s.AttributeType()
	switch e.Operator {
	case filter.EQ:
		f := valueFilter{match: func(x any) bool { return sameValue(s, get(x), lit) }}
		if key != "" {
			f.seed = map[string]any{key: lit}
		}
		return f, nil
	case filter.NE:
		return valueFilter{match: func(x any) bool { return !sameValue(s, get(x), lit) }}, nil
	case filter.CO, filter.SW, filter.EW:
		if typ != "string" && typ != "reference" && typ != "binary" {
			return valueFilter{}, invalid
		}
		test := map[filter.CompareOperator]func(string, string) bool{
			filter.CO: strings.Contains, filter.SW: strings.HasPrefix, filter.EW: strings.HasSuffix,
		}[e.Operator]
		want := foldFor(s, lit.(string))
		return valueFilter{match: func(x any) bool {
			v, ok := get(x).(string)
			return ok && test(foldFor(s, v), want)
		}}, nil
	case filter.GT, filter.GE, filter.LT, filter.LE:
		if typ == "boolean" || typ == "binary" {
			return valueFilter{}, invalid
		}
		test := map[filter.CompareOperator]func(int) bool{
			filter.GT: func(c int) bool { return c > 0 }, filter.GE: func(c int) bool { return c >= 0 },
			filter.LT: func(c int) bool { return c < 0 }, filter.LE: func(c int) bool { return c <= 0 },
		}[e.Operator]
		return valueFilter{match: func(x any) bool {
			c, ok := compareOrdered(s, get(x), lit)
			return ok && test(c)
		}}, nil
	}
	return valueFilter{}, orgscim.Errorf(orgscim.InvalidFilter, "unknown operator %q", e.Operator)
}

// filterOperand resolves an attribute named inside a value filter: a sub-attribute of
// a ("type", or "emails.type"), or "value" for the elements of a simple attribute
// (key "").
func filterOperand(a schema.CoreAttribute, p filter.AttributePath) (schema.CoreAttribute, string, error) {
	name := p.AttributeName
	if p.SubAttribute != nil && strings.EqualFold(name, a.Name()) {
		name = *p.SubAttribute
	} else if p.SubAttribute != nil || p.URIPrefix != nil {
		return a, "", orgscim.Errorf(orgscim.InvalidFilter, "%q is not a sub-attribute of %q", p.String(), a.Name())
	}
	if a.AttributeType() != "complex" {
		if strings.EqualFold(name, "value") {
			return a, "", nil
		}
	} else if s, ok := a.SubAttributes().ContainsAttribute(name); ok {
		return s, s.Name(), nil
	}
	return a, "", orgscim.Errorf(orgscim.InvalidFilter, "%q is not a sub-attribute of %q", name, a.Name())
}

func foldFor(a schema.CoreAttribute, s string) string {
	if a.CaseExact() {
		return s
	}
	return strings.ToLower(s)
}

// compareOrdered orders two values of a for gt/ge/lt/le.
func compareOrdered(a schema.CoreAttribute, x, y any) (int, bool) {
	if fx, ok := toFloat(x); ok {
		fy, ok := toFloat(y)
		if !ok {
			return 0, false
		}
		switch {
		case fx < fy:
			return -1, true
		case fx > fy:
			return 1, true
		}
		return 0, true
	}
	xs, ok := x.(string)
	ys, ok2 := y.(string)
	if !ok || !ok2 {
		return 0, false
	}
	if a.AttributeType() == "dateTime" {
		tx, err := time.Parse(time.RFC3339Nano, xs)
		ty, err2 := time.Parse(time.RFC3339Nano, ys)
		if err == nil && err2 == nil {
			return tx.Compare(ty), true
		}
	}
	return strings.Compare(foldFor(a, xs), foldFor(a, ys)), true
}
