package audit

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// The shortcut must give the round trip's answer for every value, or a diff (and the
// audit event's hash over it) would differ by which path built it.
func TestGenericAgreesWithTheRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		v        any
		shortcut bool // decoded takes it without the round trip
	}{
		{"user document", map[string]any{"userName": "a@x", "active": true, "name": map[string]any{"givenName": "Ä"},
			"emails": []any{map[string]any{"value": "a@x", "primary": true}}, "title": nil}, true},
		{"numbers", map[string]any{"f": 1.5, "big": 1e21, "tiny": 1e-7, "i": 3, "n": json.Number("1.50"), "e": json.Number(""),
			"f32": float32(0.1), "neg": -0.0}, true},
		{"escapes", map[string]any{"s": "<a&b>\"\\\n\u2028", "k\"ey": "v"}, true},
		{"nil map and slice", map[string]any{"m": map[string]any(nil), "a": []any(nil), "empty": []any{}}, true},
		{"nested arrays", []any{[]any{1, "x"}, map[string]any{}}, true},
		{"invalid UTF-8 value", map[string]any{"s": "a\xffb"}, false},
		{"invalid UTF-8 key", map[string]any{"k\xff": "v"}, false},
		{"typed slice", map[string]any{"added": []string{"u1"}}, false},
		{"struct", struct{ A string }{"x"}, false},
		{"not a number", map[string]any{"x": math.NaN()}, false},
		{"invalid json.Number", map[string]any{"x": json.Number("1e")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := decoded(tc.v); ok != tc.shortcut {
				t.Errorf("decoded took it: %v, want %v", ok, tc.shortcut)
			}
			got, want := generic(tc.v), roundTrip(tc.v)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("generic %#v\n  round trip %#v", got, want)
			}
		})
	}
}
