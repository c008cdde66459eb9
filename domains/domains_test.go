package domains

import "testing"

// One domain, one stored form: case, a trailing dot, surrounding space and Unicode
// forms all compare equal, so a claim cannot be dodged by spelling.
func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"acme.example", "acme.example", true},
		{"ACME.Example.", "acme.example", true},
		{"  acme.example ", "acme.example", true},
		{"bücher.example", "xn--bcher-kva.example", true},
		{"BÜCHER.example", "xn--bcher-kva.example", true},
		{"ａｃｍｅ.example", "acme.example", true}, // full-width letters map to ASCII
		{"localhost", "", false},
		{"", "", false},
		{"not a domain", "", false},
		{"acme..example", "", false},
	} {
		got, err := Normalize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
