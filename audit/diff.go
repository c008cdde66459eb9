package audit

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Redacted replaces the value of a secret in a diff: that it changed is evidence, the
// value is not.
const Redacted = "[redacted]"

// secret reports whether a field holds a credential, whatever its case.
func secret(name string) bool {
	switch strings.ToLower(name) {
	case "password", "passwordhash", "password_hash", "token", "tokenhash", "token_hash",
		"secret", "hash", "keyhash", "key_hash":
		return true
	}
	return false
}

// Change is one field of a diff.
type Change struct {
	Before any `json:"before,omitempty"`
	After  any `json:"after,omitempty"`
}

// Diff is the difference between two states of a target, as JSON: an object from the
// dotted path of each changed field to its before and after value. A nil before is a
// creation (every field is new), a nil after a deletion. Nested objects are compared
// field by field, arrays as a whole; secrets are redacted. before and after are any
// values that marshal to JSON objects (structs, maps).
func Diff(before, after any) json.RawMessage {
	changes := map[string]Change{}
	diffValues("", generic(before), generic(after), changes)
	return encode(changes)
}

// Detail is a record of a change that is not a before and after (members added to a
// group, grants revoked by a cascade): v as JSON, secrets redacted.
func Detail(v any) json.RawMessage {
	return encode(redact(generic(v)))
}

func encode(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // the values come from JSON
	}
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n"))
}

// generic turns v into what encoding/json decodes into an any.
func generic(v any) any {
	if v == nil {
		return nil
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil
	}
	if out, ok := decoded(v); ok {
		return out
	}
	return roundTrip(v)
}

// roundTrip encodes v and decodes it into an any with numbers as json.Number: what a
// value is made of once it has been through JSON.
func roundTrip(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	if d.Decode(&out) != nil {
		return nil
	}
	return out
}

// decoded is what generic returns for v when v is made only of what a JSON decoder
// produces (maps of strings to values, slices of values, strings, booleans, numbers),
// built without the round trip through JSON, which was most of an audited user write's
// diff (docs/PERFORMANCE.md); ok is false for anything else, which takes the round trip.
// The answer is the round trip's: numbers become the json.Number of their encoding, a
// nil map or slice becomes nil, and a string that is not valid UTF-8 (which encoding
// would change) is refused.
func decoded(v any) (out any, ok bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case bool:
		return v, true
	case string:
		return v, utf8.ValidString(v)
	case json.Number, float64, float32, int, int64, int32, uint, uint64, uint32:
		b, err := json.Marshal(v)
		return json.Number(b), err == nil
	case map[string]any:
		if v == nil {
			return nil, true
		}
		m := make(map[string]any, len(v))
		for k, x := range v {
			d, ok := decoded(x)
			if !ok || !utf8.ValidString(k) {
				return nil, false
			}
			m[k] = d
		}
		return m, true
	case []any:
		if v == nil {
			return nil, true
		}
		a := make([]any, len(v))
		for i, x := range v {
			d, ok := decoded(x)
			if !ok {
				return nil, false
			}
			a[i] = d
		}
		return a, true
	}
	return nil, false
}

func diffValues(path string, before, after any, out map[string]Change) {
	bm, bok := before.(map[string]any)
	am, aok := after.(map[string]any)
	if (bok || before == nil) && (aok || after == nil) && (bok || aok) {
		for k, bv := range bm {
			diffValues(join(path, k), bv, am[k], out)
		}
		for k, av := range am {
			if _, seen := bm[k]; !seen {
				diffValues(join(path, k), nil, av, out)
			}
		}
		return
	}
	if reflect.DeepEqual(before, after) {
		return
	}
	if secret(last(path)) {
		c := Change{}
		if before != nil {
			c.Before = Redacted
		}
		if after != nil {
			c.After = Redacted
		}
		out[path] = c
		return
	}
	out[path] = Change{Before: redact(before), After: redact(after)}
}

func redact(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if secret(k) {
				out[k] = Redacted
			} else {
				out[k] = redact(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = redact(x)
		}
		return out
	}
	return v
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func last(path string) string {
	return path[strings.LastIndexByte(path, '.')+1:]
}
