package sqlstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/provisioning"
)

// column is an attribute that has a column of its own beside the JSON document.
type column struct {
	expr   string // SQL of the column
	folded bool   // holds provisioning.FoldKey of the value: compare with folded values
	kind   provisioning.AttrType
}

// columns maps canonical attribute paths (joined with '.') to columns, per table.
type columns map[string]column

var userColumns = columns{
	"id":                {expr: "id", kind: provisioning.TypeString},
	"externalId":        {expr: "external_id", kind: provisioning.TypeString},
	"userName":          {expr: "user_name_key", folded: true, kind: provisioning.TypeString},
	"displayName":       {expr: "display_name", kind: provisioning.TypeString},
	"name.givenName":    {expr: "given_name", kind: provisioning.TypeString},
	"name.familyName":   {expr: "family_name", kind: provisioning.TypeString},
	"active":            {expr: "active", kind: provisioning.TypeBoolean},
	"meta.created":      {expr: "created_at", kind: provisioning.TypeDateTime},
	"meta.lastModified": {expr: "updated_at", kind: provisioning.TypeDateTime},
}

// relation is a multi-valued attribute kept in a table of its own (a group's members, a
// user's groups): a filter over its elements becomes an EXISTS over that table.
type relation struct {
	from string  // FROM and join condition, correlated with the outer table
	cols columns // element sub-attributes, e.g. "value"
}

// whereBuilder turns a provisioning.Filter into a parameterised SQL condition. Values are
// always bound as arguments; only identifiers from the schema catalogue reach the text.
type whereBuilder struct {
	d         dialect
	cols      columns
	relations map[string]relation
	doc       string // the JSON document column
	args      []any
	aliases   int
}

// scope is where a filter's attributes live: columns and a JSON document (the resource's
// at the top, an element's inside an Any); doc is empty inside a relation.
type scope struct {
	doc  string
	cols columns
	top  bool
}

func (b *whereBuilder) build(f provisioning.Filter) (string, error) {
	return b.node(f, scope{doc: b.doc, cols: b.cols, top: true})
}

// node renders f with its attributes resolved in sc.
func (b *whereBuilder) node(f provisioning.Filter, sc scope) (string, error) {
	switch f := f.(type) {
	case provisioning.And:
		l, err := b.node(f.Left, sc)
		if err != nil {
			return "", err
		}
		r, err := b.node(f.Right, sc)
		if err != nil {
			return "", err
		}
		return "(" + l + " AND " + r + ")", nil
	case provisioning.Or:
		l, err := b.node(f.Left, sc)
		if err != nil {
			return "", err
		}
		r, err := b.node(f.Right, sc)
		if err != nil {
			return "", err
		}
		return "(" + l + " OR " + r + ")", nil
	case provisioning.Not:
		in, err := b.node(f.Filter, sc)
		if err != nil {
			return "", err
		}
		// A NULL inside must count as "does not match", so that not(...) matches it.
		return "(NOT COALESCE(" + in + ", FALSE))", nil
	case provisioning.Any:
		if rel, ok := b.relations[strings.Join(f.Path, ".")]; ok && sc.top {
			if f.Filter == nil {
				return "EXISTS (SELECT 1 FROM " + rel.from + ")", nil
			}
			in, err := b.node(f.Filter, scope{cols: rel.cols})
			if err != nil {
				return "", err
			}
			return "EXISTS (SELECT 1 FROM " + rel.from + " AND " + in + ")", nil
		}
		if sc.doc == "" {
			return "", orgscim.Errorf(orgscim.InvalidFilter, "unsupported filter on %s", strings.Join(f.Path, "."))
		}
		b.aliases++
		from, e := b.d.elements(sc.doc, f.Path, fmt.Sprintf("e%d", b.aliases))
		if f.Filter == nil {
			return "EXISTS (SELECT 1 FROM " + from + ")", nil
		}
		in, err := b.node(f.Filter, scope{doc: e})
		if err != nil {
			return "", err
		}
		return "EXISTS (SELECT 1 FROM " + from + " WHERE " + in + ")", nil
	case provisioning.Compare:
		if c, ok := sc.cols[strings.Join(f.Attr.Path, ".")]; ok {
			return b.compareColumn(c, f)
		}
		if sc.doc == "" {
			return "", orgscim.Errorf(orgscim.InvalidFilter, "%s cannot be filtered here", strings.Join(f.Attr.Path, "."))
		}
		return b.compareJSON(sc.doc, f)
	case nil:
		return "TRUE", nil
	}
	return "", orgscim.Errorf(orgscim.InvalidFilter, "unsupported filter")
}

func (b *whereBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return "?"
}

// likePattern escapes LIKE's wildcards in s and wraps it for the operator.
func likePattern(op provisioning.Op, s string) string {
	s = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
	switch op {
	case provisioning.OpCo:
		return "%" + s + "%"
	case provisioning.OpSw:
		return s + "%"
	default:
		return "%" + s
	}
}

var sqlOps = map[provisioning.Op]string{
	provisioning.OpEq: "=", provisioning.OpNe: "<>",
	provisioning.OpGt: ">", provisioning.OpGe: ">=", provisioning.OpLt: "<", provisioning.OpLe: "<=",
}

// compareString compares the string expression x per op, case-insensitively unless
// caseExact. folded says x already holds folded values.
func (b *whereBuilder) compareString(x string, folded, caseExact bool, op provisioning.Op, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", orgscim.Errorf(orgscim.InvalidFilter, "%s needs a string value", op)
	}
	lhs := x
	switch {
	case folded && (op == provisioning.OpCo || op == provisioning.OpSw || op == provisioning.OpEw):
		s = provisioning.Fold(s)
	case folded:
		s = provisioning.FoldKey(s)
	case !caseExact:
		lhs = b.d.lower(x)
		s = strings.ToLower(s)
	}
	switch op {
	case provisioning.OpCo, provisioning.OpSw, provisioning.OpEw:
		return "(" + lhs + " LIKE " + b.arg(likePattern(op, s)) + " ESCAPE '\\')", nil
	case provisioning.OpNe:
		return "(" + x + " IS NULL OR " + lhs + " <> " + b.arg(s) + ")", nil
	default:
		return "(" + lhs + " " + sqlOps[op] + " " + b.arg(s) + ")", nil
	}
}

func (b *whereBuilder) compareColumn(c column, f provisioning.Compare) (string, error) {
	if f.Op == provisioning.OpPresent {
		if c.kind == provisioning.TypeString {
			return "(" + c.expr + " IS NOT NULL AND " + c.expr + " <> '')", nil
		}
		return "(" + c.expr + " IS NOT NULL)", nil
	}
	switch c.kind {
	case provisioning.TypeBoolean:
		v, ok := f.Value.(bool)
		if !ok || (f.Op != provisioning.OpEq && f.Op != provisioning.OpNe) {
			return "", orgscim.Errorf(orgscim.InvalidFilter, "a boolean compares only with eq or ne and true or false")
		}
		return "(" + c.expr + " " + sqlOps[f.Op] + " " + b.arg(v) + ")", nil
	case provisioning.TypeDateTime:
		t, ok := f.Value.(time.Time)
		if !ok || !ordered(f.Op) {
			return "", orgscim.Errorf(orgscim.InvalidFilter, "a dateTime compares with eq, ne, gt, ge, lt or le and a date-time value")
		}
		return "(" + c.expr + " " + sqlOps[f.Op] + " " + b.arg(micros(t)) + ")", nil
	default:
		return b.compareString(c.expr, c.folded, f.Attr.CaseExact, f.Op, f.Value)
	}
}

func ordered(op provisioning.Op) bool { _, ok := sqlOps[op]; return ok }

func (b *whereBuilder) compareJSON(elem string, f provisioning.Compare) (string, error) {
	path := f.Attr.Path
	if f.Op == provisioning.OpPresent {
		t := b.d.jsonType(elem, path)
		if len(path) == 0 && b.d.name == "sqlite" {
			return "(" + elem + " IS NOT NULL AND " + elem + " <> '')", nil
		}
		return "(" + t + " IS NOT NULL AND " + t + " <> 'null' AND NOT (" + t + " = 'string' AND " +
			b.d.jsonText(elem, path) + " = '') AND NOT (" + t + " = 'array' AND " + b.d.jsonText(elem, path) + " = '[]'))", nil
	}
	switch f.Attr.Type {
	case provisioning.TypeBoolean:
		v, ok := f.Value.(bool)
		if !ok || (f.Op != provisioning.OpEq && f.Op != provisioning.OpNe) {
			return "", orgscim.Errorf(orgscim.InvalidFilter, "a boolean compares only with eq or ne and true or false")
		}
		x := b.d.jsonBoolText(elem, path)
		if f.Op == provisioning.OpNe {
			return "(" + x + " IS NULL OR " + x + " <> " + b.arg(fmt.Sprint(v)) + ")", nil
		}
		return "(" + x + " = " + b.arg(fmt.Sprint(v)) + ")", nil
	case provisioning.TypeInteger, provisioning.TypeDecimal:
		v, ok := f.Value.(float64)
		if !ok || !ordered(f.Op) {
			return "", orgscim.Errorf(orgscim.InvalidFilter, "a number compares with eq, ne, gt, ge, lt or le and a number")
		}
		x := b.d.jsonNumber(elem, path)
		if f.Op == provisioning.OpNe {
			return "(" + x + " IS NULL OR " + x + " <> " + b.arg(v) + ")", nil
		}
		return "(" + x + " " + sqlOps[f.Op] + " " + b.arg(v) + ")", nil
	case provisioning.TypeDateTime:
		// dateTimes inside the document are stored as the IdP sent them, in xsd:dateTime;
		// they compare as text, which orders correctly for one time zone notation.
		if t, ok := f.Value.(time.Time); ok {
			f.Value = t.UTC().Format(time.RFC3339Nano)
		}
		return b.compareString(b.d.jsonText(elem, path), false, true, f.Op, f.Value)
	case provisioning.TypeComplex:
		return "", orgscim.Errorf(orgscim.InvalidFilter, "a complex attribute cannot be compared; name one of its sub-attributes")
	default:
		return b.compareString(b.d.jsonText(elem, path), false, f.Attr.CaseExact, f.Op, f.Value)
	}
}

// orderBy renders the sort key of attr the same way on both engines. Resources without
// a value sort last when ascending and first when descending (RFC 7644 §3.4.2.3).
func (b *whereBuilder) orderBy(attr *provisioning.Attr, desc bool) string {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	var x string
	if attr.Elements != nil {
		x = b.d.firstElement(b.doc, attr.Elements, attr.Path)
		if !attr.CaseExact {
			x = b.d.lower(x)
		}
	} else if c, ok := b.cols[strings.Join(attr.Path, ".")]; ok {
		x = c.expr
		if c.kind == provisioning.TypeString && !c.folded && !attr.CaseExact {
			x = b.d.lower(x)
		}
	} else {
		x = b.d.jsonText(b.doc, attr.Path)
		if !attr.CaseExact {
			x = b.d.lower(x)
		}
	}
	return "(" + x + " IS NULL)" + dir + ", " + x + dir
}
