package scim

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/provisioning"
	filter "github.com/scim2/filter-parser/v2"
)

// parseFilter turns a SCIM filter (RFC 7644 §3.4.2.2) into a domain filter resolved
// against rt. An unknown attribute or a malformed filter is invalidFilter, never "match
// everything".
func (s *Server) parseFilter(rt *resourceType, raw string) (provisioning.Filter, error) {
	if !utf8.ValidString(raw) {
		return nil, orgscim.Errorf(orgscim.InvalidFilter, "the filter is not valid UTF-8")
	}
	if len(raw) > s.Limits.MaxFilterBytes {
		return nil, orgscim.Errorf(orgscim.InvalidFilter, "the filter is longer than %d bytes", s.Limits.MaxFilterBytes)
	}
	if depth(raw) > s.Limits.MaxFilterDepth {
		return nil, orgscim.Errorf(orgscim.InvalidFilter, "the filter nests deeper than %d levels", s.Limits.MaxFilterDepth)
	}
	expr, ok := simpleComparison(raw)
	if !ok {
		var err error
		if expr, err = filter.ParseFilter([]byte(quoteBareLiterals(raw))); err != nil {
			return nil, orgscim.Errorf(orgscim.InvalidFilter, "the filter is not valid SCIM filter syntax")
		}
	}
	t := filterTranslator{rt: rt, limit: s.Limits.MaxFilterDepth}
	return t.expr(expr, nil, 0)
}

// depth bounds the nesting of a filter before parsing, so that a hostile filter cannot
// make the parser recurse without end: parentheses and brackets, plus the and/or
// operators (which nest in the parse tree), all counted outside quoted strings.
func depth(raw string) int {
	d, max, ops := 0, 0, 0
	inString := false
	for i := 0; i < len(raw); i++ {
		switch ch := raw[i]; {
		case inString && ch == '\\':
			i++
		case ch == '"':
			inString = !inString
		case inString:
		case ch == '(' || ch == '[':
			d++
			if d > max {
				max = d
			}
		case ch == ')' || ch == ']':
			d--
		case ch == ' ' && i+4 < len(raw):
			w := strings.ToLower(raw[i+1 : min(i+5, len(raw))])
			if strings.HasPrefix(w, "and ") || strings.HasPrefix(w, "or ") {
				ops++
			}
		}
	}
	return max + ops
}

var compareOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "ge": true, "lt": true, "le": true}

// quoteBareLiterals quotes a comparison value written without quotes, which Entra sends
// (userName sw O, meta.created gt 2015-10-10T14:38:21.86-07:00). Keywords and numbers
// stay as they are.
func quoteBareLiterals(raw string) string {
	var b strings.Builder
	i := 0
	prevOp := false
	for i < len(raw) {
		ch := raw[i]
		if ch == '"' {
			j := i + 1
			for j < len(raw) && raw[j] != '"' {
				if raw[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(raw) {
				j = len(raw) - 1
			}
			b.WriteString(upperHexEscapes(raw[i : j+1]))
			i = j + 1
			prevOp = false
			continue
		}
		if ch == ' ' || ch == '(' || ch == ')' || ch == '[' || ch == ']' {
			b.WriteByte(ch)
			i++
			continue
		}
		j := i
		for j < len(raw) && !strings.ContainsRune(` ()[]"`, rune(raw[j])) {
			j++
		}
		word := raw[i:j]
		if prevOp && !isKeywordOrNumber(word) {
			q, _ := json.Marshal(word) // a JSON string, as quoted literals are
			b.Write(q)
		} else {
			b.WriteString(word)
		}
		prevOp = compareOps[strings.ToLower(word)]
		i = j
	}
	return b.String()
}

// upperHexEscapes upper-cases the hex digits of \uXXXX escapes in a quoted literal: JSON
// allows either case (and Go's encoder writes lower case), the filter parser only upper.
func upperHexEscapes(lit string) string {
	if !strings.Contains(lit, `\u`) {
		return lit
	}
	b := []byte(lit)
	for i := 0; i+5 < len(b); i++ {
		if b[i] == '\\' {
			if b[i+1] == 'u' {
				for k := i + 2; k < i+6; k++ {
					if b[k] >= 'a' && b[k] <= 'f' {
						b[k] -= 'a' - 'A'
					}
				}
			}
			i++ // skip the escaped character
		}
	}
	return string(b)
}

func isKeywordOrNumber(w string) bool {
	switch strings.ToLower(w) {
	case "true", "false", "null":
		return true
	}
	_, err := strconv.ParseFloat(w, 64)
	return err == nil
}

type filterTranslator struct {
	rt    *resourceType
	limit int
}

// expr translates e. Inside a value path, parent is the multi-valued attribute whose
// elements the attributes of e belong to.
func (t filterTranslator) expr(e filter.Expression, parent *attrRef, level int) (provisioning.Filter, error) {
	if level > t.limit {
		return nil, orgscim.Errorf(orgscim.InvalidFilter, "the filter nests too deeply")
	}
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := t.expr(e.Left, parent, level+1)
		if err != nil {
			return nil, err
		}
		r, err := t.expr(e.Right, parent, level+1)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(string(e.Operator), "or") {
			return provisioning.Or{Left: l, Right: r}, nil
		}
		return provisioning.And{Left: l, Right: r}, nil
	case *filter.NotExpression:
		in, err := t.expr(e.Expression, parent, level+1)
		if err != nil {
			return nil, err
		}
		return provisioning.Not{Filter: in}, nil
	case *filter.ValuePath:
		if parent != nil {
			return nil, orgscim.Errorf(orgscim.InvalidFilter, "value paths do not nest")
		}
		ref, err := t.attr(e.AttributePath, nil)
		if err != nil {
			return nil, err
		}
		if ref.Sub != nil || !ref.Attr.MultiValued() || !ref.Attr.HasSubAttributes() {
			return nil, orgscim.Errorf(orgscim.InvalidFilter, "%s is not a multi-valued complex attribute", e.AttributePath)
		}
		in, err := t.expr(e.ValueFilter, &ref, level+1)
		if err != nil {
			return nil, err
		}
		return provisioning.Any{Path: ref.path(), Filter: in}, nil
	case *filter.AttributeExpression:
		return t.compare(e, parent)
	}
	return nil, orgscim.Errorf(orgscim.InvalidFilter, "unsupported filter expression")
}

// attr resolves an attribute path, relative to parent's elements inside a value path.
func (t filterTranslator) attr(p filter.AttributePath, parent *attrRef) (attrRef, error) {
	unknown := orgscim.Errorf(orgscim.InvalidFilter, "unknown attribute %q", p.String())
	if parent != nil {
		if p.URIPrefix != nil || p.SubAttribute != nil {
			return attrRef{}, unknown
		}
		sa, ok := parent.Attr.SubAttributes().ContainsAttribute(p.AttributeName)
		if !ok {
			return attrRef{}, unknown
		}
		r := *parent
		r.Sub = &sa
		return r, nil
	}
	urn := t.rt.Schema.ID
	name := p.AttributeName
	if p.URIPrefix != nil {
		var ok bool
		// The parser splits "urn:...:User:name" at its last colon; re-join and split by
		// the known schema URNs, which is exact.
		if urn, name, ok = t.rt.splitURN(*p.URIPrefix + ":" + p.AttributeName); !ok || name == "" {
			return attrRef{}, unknown
		}
	}
	ref, ok := t.rt.resolve(urn, name, p.SubAttributeName())
	if !ok {
		return attrRef{}, unknown
	}
	return ref, nil
}

func (t filterTranslator) compare(e *filter.AttributeExpression, parent *attrRef) (provisioning.Filter, error) {
	ref, err := t.attr(e.AttributePath, parent)
	if err != nil {
		return nil, err
	}
	switch ref.Meta {
	case "resourceType", "location", "version", "meta":
		return nil, orgscim.Errorf(orgscim.InvalidFilter, "%s cannot be filtered", e.AttributePath.String())
	}
	op := provisioning.Op(strings.ToLower(string(e.Operator)))
	if ref.Meta == "" && parent == nil && ref.Attr.MultiValued() {
		// "emails co x" and "emails.value co x" both mean: some element matches.
		elem := ref
		if ref.Sub == nil && ref.Attr.HasSubAttributes() {
			sa, ok := ref.Attr.SubAttributes().ContainsAttribute("value")
			if !ok {
				return nil, orgscim.Errorf(orgscim.InvalidFilter, "name a sub-attribute of %s", ref.Attr.Name())
			}
			elem.Sub = &sa
		}
		var rel []string
		if elem.Sub != nil {
			rel = []string{elem.Sub.Name()}
		}
		if op == provisioning.OpPresent && ref.Sub == nil {
			return provisioning.Any{Path: ref.path()}, nil
		}
		c, err := t.comparison(elem, rel, op, e.CompareValue)
		if err != nil {
			return nil, err
		}
		base := ref
		base.Sub = nil
		return provisioning.Any{Path: base.path(), Filter: c}, nil
	}
	path := ref.path()
	if parent != nil {
		path = []string{ref.Sub.Name()}
	}
	return t.comparison(ref, path, op, e.CompareValue)
}

func (t filterTranslator) comparison(ref attrRef, path []string, op provisioning.Op, v any) (provisioning.Filter, error) {
	attr := provisioning.Attr{Path: path, Type: ref.dataType(), CaseExact: ref.caseExact()}
	if op == provisioning.OpPresent {
		return provisioning.Compare{Attr: attr, Op: op}, nil
	}
	if ref.Sub == nil && ref.Meta == "" && ref.Attr.HasSubAttributes() {
		return nil, orgscim.Errorf(orgscim.InvalidFilter, "%s is complex: name one of its sub-attributes", ref.Attr.Name())
	}
	if raw, ok := v.(string); ok {
		// The parser keeps a literal's escapes; RFC 7644 literals are JSON strings.
		s, err := unescapeLiteral(raw)
		if err != nil {
			return nil, err
		}
		v = s
	}
	val, err := coerceFilterValue(attr.Type, v)
	if err != nil {
		return nil, err
	}
	switch op {
	case provisioning.OpCo, provisioning.OpSw, provisioning.OpEw:
		if _, ok := val.(string); !ok {
			return nil, orgscim.Errorf(orgscim.InvalidFilter, "%s needs a string attribute", op)
		}
	}
	return provisioning.Compare{Attr: attr, Op: op, Value: val}, nil
}

// unescapeLiteral decodes the JSON escapes of a string literal's body.
func unescapeLiteral(raw string) (string, error) {
	if !strings.ContainsRune(raw, '\\') {
		return raw, nil
	}
	var s string
	if err := json.Unmarshal([]byte(`"`+raw+`"`), &s); err != nil {
		return "", orgscim.Errorf(orgscim.InvalidFilter, "a string literal has an invalid escape")
	}
	if strings.ContainsRune(s, 0) {
		// No stored value holds NUL (bodies are refused with one), and SQLite would cut
		// the parameter short at it, turning "co" into "match everything".
		return "", orgscim.Errorf(orgscim.InvalidFilter, "a string literal cannot contain NUL")
	}
	return s, nil
}

func coerceFilterValue(typ provisioning.AttrType, v any) (any, error) {
	bad := orgscim.Errorf(orgscim.InvalidFilter, "the value does not fit an attribute of type %s", typ)
	switch typ {
	case provisioning.TypeBoolean:
		switch v := v.(type) {
		case bool:
			return v, nil
		case string:
			b, err := strconv.ParseBool(strings.ToLower(v))
			if err != nil {
				return nil, bad
			}
			return b, nil
		}
		return nil, bad
	case provisioning.TypeInteger, provisioning.TypeDecimal:
		switch v := v.(type) {
		case int:
			return float64(v), nil
		case float64:
			return v, nil
		case json.Number:
			return v.Float64()
		case string:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, bad
			}
			return f, nil
		}
		return nil, bad
	case provisioning.TypeDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, bad
		}
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, orgscim.Errorf(orgscim.InvalidFilter, "%q is not an xsd:dateTime", s)
		}
		return ts, nil
	default:
		switch v := v.(type) {
		case string:
			return v, nil
		case int:
			return strconv.Itoa(v), nil
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64), nil
		case nil:
			return nil, bad
		}
		return nil, bad
	}
}
