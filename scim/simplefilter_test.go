package scim

import (
	"reflect"
	"testing"

	filter "github.com/scim2/filter-parser/v2"
)

// FuzzSimpleComparison: whatever simpleComparison accepts, the general parser parses
// to the same expression; so the fast path changes what a filter costs, never what it
// means.
//
//	go test -run '^$' -fuzz '^FuzzSimpleComparison$' -fuzztime 30s ./scim/
func FuzzSimpleComparison(f *testing.F) {
	for _, s := range append(fuzzFilterSeeds,
		`userName eq "bjensen@example.com"`, `externalId eq "00u1abc"`, `emails.value eq "a@b.c"`,
		`displayName eq "Émile Zola"`, `userName eq ""`, `userName eq "a b"`, `userName  eq "x"`,
		`userName eq "x" `, `userName EQ "x"`, `user_name-2 eq "x"`, `a.b.c eq "x"`, `userName eq "a\"b"`,
		`userName eq "a\\b"`, `userName eq "tab	x"`, `userName eq "x" or title pr`, `9ame eq "x"`) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		fast, ok := simpleComparison(raw)
		if !ok {
			return
		}
		slow, err := filter.ParseFilter([]byte(quoteBareLiterals(raw)))
		if err != nil {
			t.Fatalf("simpleComparison accepts %q, the parser refuses it: %v", raw, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: simpleComparison gives %#v, the parser %#v", raw, fast, slow)
		}
	})
}

// The fast path takes the shapes IdPs send and leaves the rest to the parser.
func TestSimpleComparisonShapes(t *testing.T) {
	for raw, want := range map[string]bool{
		`userName eq "bjensen@example.com"`: true,
		`externalId eq "00u1abc"`:           true,
		`emails.value eq "a@b.c"`:           true,
		`userName eq ""`:                    true,
		`userName EQ "x"`:                   false,
		`userName eq x`:                     false,
		`userName eq "a\"b"`:                false,
		`userName eq "x" or title pr`:       false,
		`emails[type eq "work"]`:            false,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"`: false,
	} {
		if _, ok := simpleComparison(raw); ok != want {
			t.Errorf("simpleComparison(%q) ok = %v, want %v", raw, ok, want)
		}
	}
}
