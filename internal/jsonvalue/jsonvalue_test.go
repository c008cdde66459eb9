package jsonvalue

import (
	"encoding/json"
	"testing"
)

func TestHasNUL(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{`"plain"`, false},
		{`"a\u0000b"`, true},
		{`"a\\u0000b"`, false}, // an escaped backslash: the text \u0000, no NUL
		{`{"k":"v","n":1,"b":true,"z":null}`, false},
		{`{"k\u0000":"v"}`, true},
		{`{"outer":{"inner":["x","\u0000"]}}`, true},
		{`[[[{"deep":"\u0000"}]]]`, true},
		{`[1, 2.5, false, null, "é"]`, false},
	} {
		var v any
		if err := json.Unmarshal([]byte(tc.doc), &v); err != nil {
			t.Fatalf("%s: %v", tc.doc, err)
		}
		if got := HasNUL(v); got != tc.want {
			t.Errorf("HasNUL(%s) = %v, want %v", tc.doc, got, tc.want)
		}
	}
}
