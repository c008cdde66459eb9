package scim

// Fuzz targets of the security suite (issue 8): the filter translator and the PATCH
// applier take hostile input straight from the wire.
//
//	go test -run '^$' -fuzz '^FuzzParseFilter$' -fuzztime 30s ./scim/
//	go test -run '^$' -fuzz '^FuzzApplyPatch$' -fuzztime 30s ./scim/
//
// Without -fuzz, `go test` runs the seeds below and the corpus in testdata/fuzz/ as
// ordinary tests.

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/provisioning"
)

var fuzzFilterSeeds = []string{
	`userName eq "bjensen"`,
	`userName Eq "BJensen" and not (active eq false)`,
	`name.familyName co "O'Malley"`,
	`userName sw "J"`,
	`userName sw J`,
	`title pr`,
	`meta.lastModified gt "2011-05-13T04:42:34Z"`,
	`meta.lastModified gt 2015-10-10T14:38:21.86-07:00`,
	`meta.created ge "2011-05-13T04:42:34Z" and meta.created lt "2031-01-01T00:00:00.000Z"`,
	`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
	`emails co "example.com"`,
	`emails.value ew ".org"`,
	`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7"`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`,
	`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"`,
	`id eq "2819c223-7f76-453a-919d-413861904646" or externalId eq "ext"`,
	`groups.value eq "g1"`,
	`members[value eq "u1"]`,
	`displayName eq "Group \"A\" \\ \u00e9"`,
	`x509Certificates.value pr`,
	`not(userName eq "a") and not(userName eq "b")`,
	`((((userName eq "a"))))`,
	`active eq True`,
	`emails[not (type eq "work")]`,
	`userName eq ""`,
	`userName eq null`,
	`meta.version eq "W/\"1\""`,
	`' OR 1=1 --`,
	`userName eq "' OR 1=1 --"`,
	`userName eq "x" or userName pr or ""`,
	`emails[value eq "a"]]`,
	`name[givenName eq "a"]`,
	`emails[type eq "a"].value eq "b"`,
	"userName eq \"\x00\"",
	"userName eq \"\xff\"",
	strings.Repeat("(", 40) + `userName pr` + strings.Repeat(")", 40),
	strings.Repeat(`userName pr and `, 30) + `userName pr`,
	strings.Repeat("not ", 50) + `(userName pr)`,
}

func fuzzServer() *Server {
	s := &Server{}
	s.Limits = s.Limits.withDefaults()
	s.users = userType()
	s.groups = groupType()
	return s
}

// FuzzParseFilter: any input gives a filter or an invalidFilter error, never a panic, and
// the filter names only attributes of the schema catalogue (the stores quote them into
// SQL and panic on a quote).
func FuzzParseFilter(f *testing.F) {
	for _, s := range fuzzFilterSeeds {
		f.Add(s)
	}
	s := fuzzServer()
	f.Fuzz(func(t *testing.T, raw string) {
		for _, rt := range []*resourceType{s.users, s.groups} {
			got, err := s.parseFilter(rt, raw)
			if err != nil {
				e, ok := err.(*orgscim.Error)
				if !ok || e.Code != orgscim.InvalidFilter {
					t.Fatalf("%s: parseFilter(%q): %T %v, want an *orgscim.Error with code %s", rt.Name, raw, err, err, orgscim.InvalidFilter)
				}
				if got != nil {
					t.Fatalf("%s: parseFilter(%q) returned a filter and an error", rt.Name, raw)
				}
				continue
			}
			if got == nil {
				t.Fatalf("%s: parseFilter(%q) returned neither a filter nor an error", rt.Name, raw)
			}
			fuzzCheckFilter(t, raw, got, false, 0)
			again, err := s.parseFilter(rt, raw)
			if err != nil || !reflect.DeepEqual(got, again) {
				t.Fatalf("%s: parseFilter(%q) is not deterministic: %#v then %#v, %v", rt.Name, raw, got, again, err)
			}
		}
	})
}

// fuzzCheckFilter checks the shape of a translated filter: every node complete, every path
// made of names from the schema catalogue, every value of the type the operator needs.
func fuzzCheckFilter(t *testing.T, raw string, f provisioning.Filter, inAny bool, level int) {
	t.Helper()
	if level > 200 {
		t.Fatalf("parseFilter(%q): the filter nests deeper than 200", raw)
	}
	checkPath := func(path []string, emptyOK bool) {
		t.Helper()
		if len(path) == 0 && !emptyOK {
			t.Fatalf("parseFilter(%q): empty attribute path in %#v", raw, f)
		}
		for _, p := range path {
			if p == "" || strings.ContainsAny(p, "'\"\\\x00 ") {
				t.Fatalf("parseFilter(%q): path segment %q is not a schema name", raw, p)
			}
		}
	}
	switch f := f.(type) {
	case provisioning.And:
		fuzzCheckFilter(t, raw, f.Left, inAny, level+1)
		fuzzCheckFilter(t, raw, f.Right, inAny, level+1)
	case provisioning.Or:
		fuzzCheckFilter(t, raw, f.Left, inAny, level+1)
		fuzzCheckFilter(t, raw, f.Right, inAny, level+1)
	case provisioning.Not:
		fuzzCheckFilter(t, raw, f.Filter, inAny, level+1)
	case provisioning.Any:
		if inAny {
			t.Fatalf("parseFilter(%q): nested Any %#v", raw, f)
		}
		checkPath(f.Path, false)
		if f.Filter != nil {
			fuzzCheckFilter(t, raw, f.Filter, true, level+1)
		}
	case provisioning.Compare:
		checkPath(f.Attr.Path, inAny)
		switch f.Op {
		case provisioning.OpPresent:
		case provisioning.OpCo, provisioning.OpSw, provisioning.OpEw:
			if _, ok := f.Value.(string); !ok {
				t.Fatalf("parseFilter(%q): %s with a %T value", raw, f.Op, f.Value)
			}
		case provisioning.OpEq, provisioning.OpNe, provisioning.OpGt, provisioning.OpGe, provisioning.OpLt, provisioning.OpLe:
			switch f.Value.(type) {
			case string, float64, bool, time.Time:
			default:
				t.Fatalf("parseFilter(%q): %s with a %T value", raw, f.Op, f.Value)
			}
		default:
			t.Fatalf("parseFilter(%q): unknown operator %q", raw, f.Op)
		}
	default:
		t.Fatalf("parseFilter(%q): unexpected node %#v", raw, f)
	}
}

// fuzzUserDoc is a stored user as applyPatch receives it: canonical names, extension
// under its URN, no id, meta or schemas.
const fuzzUserDoc = `{
	"userName": "bjensen", "externalId": "ext-1", "displayName": "Babs Jensen", "active": true,
	"name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen III"},
	"emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
	"phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
	"addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "primary": true}],
	"roles": [{"value": "admin"}],
	"x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
		"employeeNumber": "701984", "department": "Tour Operations",
		"manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
	}
}`

const fuzzGroupDoc = `{"displayName": "Tour Guides", "externalId": "ext-g",
	"members": [{"value": "2819c223-7f76-453a-919d-413861904646", "type": "User"}]}`

func decodeFuzzDoc(s string) map[string]any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		panic(err)
	}
	return m
}

// fuzzValue decodes a PATCH value as readPatch does (JSON, numbers kept exact); input
// that is not JSON is taken as a string value, and empty input as no value.
func fuzzValue(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return string(b)
	}
	return v
}

// FuzzApplyPatch: up to two operations built from the input, applied to a copy of a
// stored user (or group), never panic, fail only with an *orgscim.Error, leave the
// original untouched, give the same result every time, and leave a document that can be
// stored: JSON-encodable, with only attribute names of the schemas at its top level and
// none of the read-only ones.
func FuzzApplyPatch(f *testing.F) {
	seeds := []struct {
		op, path, value string
		op2, path2      string
		value2          string
		group           bool
	}{
		{"replace", "displayName", `"Babs"`, "", "", "", false},
		{"Replace", "", `{"displayName": "Babs", "name.givenName": "B", "id": "x", "meta": {"created": "2000-01-01T00:00:00Z"}}`, "", "", "", false},
		{"add", "emails", `[{"value": "new@example.com", "type": "other", "primary": true}]`, "remove", `emails[type eq "home"]`, "", false},
		{"replace", `emails[type eq "work"].value`, `"work@example.com"`, "replace", `emails[type eq "fax"].value`, `"x"`, false},
		{"remove", `emails[value co "example"]`, "", "add", "emails.type", `"other"`, false},
		{"replace", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", `"boss-id"`, "", "", "", false},
		{"add", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", `{"department": "D", "manager": {"value": "m", "displayName": "forged"}}`, "", "", "", false},
		{"remove", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "", "", "", "", false},
		{"replace", "active", `"False"`, "replace", "active", `"True"`, false},
		{"add", "x509Certificates", `[{"value": "AAAA"}]`, "", "", "", false},
		{"replace", "id", `"forged"`, "", "", "", false},
		{"replace", "meta.created", `"2000-01-01T00:00:00Z"`, "", "", "", false},
		{"replace", "groups", `[{"value": "g"}]`, "", "", "", false},
		{"remove", "userName", "", "", "", "", false},
		{"replace", "emails[type eq \"work\" and not (value pr)]", `{"value": "a"}`, "", "", "", false},
		{"replace", "addresses[type eq \"work\"].locality", `null`, "", "", "", false},
		{"replace", "name", `{"givenName": null, "familyName": "J"}`, "", "", "", false},
		{"add", "members", `[{"value": "u2"}, "u3"]`, "remove", `members[value eq "u2"]`, "", true},
		{"replace", "displayName", `42`, "", "", "", true},
		{"remove", "", "", "", "", "", true},
		{"bogus", "' OR 1=1 --", `"x"`, "", "", "", false},
		{"add", `emails[value eq "\"]`, `"x"`, "", "", "", false},
	}
	for _, s := range seeds {
		f.Add(s.op, s.path, []byte(s.value), s.op2, s.path2, []byte(s.value2), s.group)
	}
	f.Fuzz(func(t *testing.T, op1, path1 string, value1 []byte, op2, path2 string, value2 []byte, group bool) {
		rt, seed := userType(), fuzzUserDoc
		if group {
			rt, seed = groupType(), fuzzGroupDoc
		}
		ops := func() []patchOp {
			ops := []patchOp{{Op: op1, Path: path1, Value: fuzzValue(value1)}}
			if op2 != "" {
				ops = append(ops, patchOp{Op: op2, Path: path2, Value: fuzzValue(value2)})
			}
			return ops
		}
		orig := decodeFuzzDoc(seed)
		doc := deepCopy(orig)
		err := applyPatch(rt, doc, ops())
		if err != nil {
			e, ok := err.(*orgscim.Error)
			if !ok || e.Code == "" || e.Code == orgscim.Internal {
				t.Fatalf("applyPatch(%+v): %T %v, want an *orgscim.Error", ops(), err, err)
			}
		}
		if !reflect.DeepEqual(orig, decodeFuzzDoc(seed)) {
			t.Fatalf("applyPatch(%+v) changed the original document: %v", ops(), orig)
		}
		doc2 := deepCopy(decodeFuzzDoc(seed))
		err2 := applyPatch(rt, doc2, ops())
		if (err == nil) != (err2 == nil) || err == nil && !reflect.DeepEqual(doc, doc2) {
			t.Fatalf("applyPatch(%+v) is not deterministic:\n%v %v\n%v %v", ops(), doc, err, doc2, err2)
		}
		if err != nil {
			return
		}
		if _, err := json.Marshal(doc); err != nil {
			t.Fatalf("applyPatch(%+v) left a document that cannot be stored: %v", ops(), err)
		}
		for k, v := range doc {
			if ext, ok := rt.schemaFor(k); ok && ext.ID != rt.Schema.ID {
				if k != ext.ID {
					t.Fatalf("applyPatch(%+v): extension stored under %q, not %q", ops(), k, ext.ID)
				}
				m, ok := v.(map[string]any)
				if !ok {
					t.Fatalf("applyPatch(%+v): extension %s holds %T", ops(), k, v)
				}
				for sk := range m {
					if a, ok := ext.Attributes.ContainsAttribute(sk); !ok || a.Name() != sk || a.Mutability() == "readOnly" {
						t.Fatalf("applyPatch(%+v): extension key %q is not a writable attribute name", ops(), sk)
					}
				}
				continue
			}
			if k == "externalId" {
				continue
			}
			a, ok := rt.Schema.Attributes.ContainsAttribute(k)
			if !ok || a.Name() != k || a.Mutability() == "readOnly" {
				t.Fatalf("applyPatch(%+v): top-level key %q is not a writable attribute name: %v", ops(), k, doc)
			}
		}
	})
}
