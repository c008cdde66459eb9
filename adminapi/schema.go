package adminapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"time"
)

// Opt is a request field that distinguishes "absent" (leave as is) from "null" (clear)
// and from a value: {"contract_end": null} clears the contract's end, a missing
// contract_end keeps it.
type Opt[T any] struct {
	Set   bool // the field was present, null or not
	Null  bool // it was null
	Value T
}

// UnmarshalJSON is called for null too, which is what tells null from absent.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // as strict inside as the body around it
	return dec.Decode(&o.Value)
}

// Ptr returns nil for null, else a pointer to the value.
func (o Opt[T]) Ptr() *T {
	if o.Null {
		return nil
	}
	v := o.Value
	return &v
}

func (Opt[T]) optElem() reflect.Type { return reflect.TypeFor[T]() }

type optional interface{ optElem() reflect.Type }

var (
	timeType     = reflect.TypeFor[time.Time]()
	optionalType = reflect.TypeFor[optional]()
	rawType      = reflect.TypeFor[map[string]any]()
	rawJSONType  = reflect.TypeFor[json.RawMessage]()
)

// schemas derives OpenAPI 3.0 schemas from the Go types the handlers encode and decode,
// so the document cannot drift from the wire. Struct types become components named
// after the type; a field's json tag gives its name, omitempty makes it optional, a
// pointer or Opt makes it nullable, and the tags doc and enum describe it.
type schemas struct {
	components map[string]any
}

func (g *schemas) ref(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return g.of(t)
}

func (g *schemas) of(t reflect.Type) map[string]any {
	if reflect.PointerTo(t).Implements(optionalType) && t.Kind() == reflect.Struct {
		elem := reflect.New(t).Interface().(optional).optElem()
		return nullable(g.of(elem))
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType, t == rawJSONType:
		return map[string]any{"type": "object"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(g.of(t.Elem()))
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Struct:
		name := schemaName(t)
		if _, done := g.components[name]; !done {
			g.components[name] = nil // a placeholder against recursion
			g.components[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	panic("adminapi: no schema for " + t.String())
}

// schemaName names a component: the type's name, and for an instance of a generic
// type its argument's name before it (Page[adminapi.Org] is OrgPage), since a
// reference cannot carry brackets and slashes.
func schemaName(t reflect.Type) string {
	name := t.Name()
	i := strings.IndexByte(name, '[')
	if i < 0 {
		return name
	}
	arg := strings.TrimSuffix(name[i+1:], "]")
	arg = arg[strings.LastIndexByte(arg, '.')+1:]
	return arg + name[:i]
}

func nullable(s map[string]any) map[string]any {
	// OpenAPI 3.0 lets nullable add null only to a type named beside it, and a $ref
	// takes no siblings: a nullable component is an object that is all of it. Every
	// component is a struct, so an object.
	if _, isRef := s["$ref"]; isRef {
		return map[string]any{"type": "object", "allOf": []any{s}, "nullable": true}
	}
	out := map[string]any{"nullable": true}
	for k, v := range s {
		out[k] = v
	}
	return out
}

func (g *schemas) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	obj := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		obj["required"] = required
	}
	return obj
}

func (g *schemas) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			g.fields(f.Type, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := g.of(f.Type)
		if d := f.Tag.Get("doc"); d != "" || f.Tag.Get("enum") != "" {
			if _, isRef := s["$ref"]; isRef {
				s = map[string]any{"allOf": []any{s}}
			}
			if d != "" {
				s["description"] = d
			}
			if e := f.Tag.Get("enum"); e != "" {
				var vals []any
				for _, v := range strings.Split(e, ",") {
					vals = append(vals, v)
				}
				if s["type"] == "array" {
					items := map[string]any{}
					for k, v := range s["items"].(map[string]any) {
						items[k] = v
					}
					items["enum"] = vals
					s["items"] = items
				} else {
					s["enum"] = vals
				}
			}
		}
		if f.Tag.Get("nullable") == "false" {
			delete(s, "nullable")
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") && !reflect.PointerTo(f.Type).Implements(optionalType) {
			*required = append(*required, name)
		}
	}
}
