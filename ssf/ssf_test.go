package ssf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/redoclylint"
)

// The transmitter's OpenAPI document passes `redocly lint` with its recommended rules
// and no error.
func TestOpenAPIPassesRedoclyLint(t *testing.T) {
	redoclylint.Lint(t, OpenAPI())
}

// The key file is made readable by its owner only, a file others may read is refused,
// and a rotation keeps the old public key published for its keep time only; what the
// current key signs verifies against the JWKS.
func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "ssf.key")
	k, err := LoadKeyring(path, true, "")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	if _, err := LoadKeyring(filepath.Join(dir, "missing.key"), false, ""); err == nil {
		t.Fatal("a missing key file without create loaded")
	}
	loose := filepath.Join(dir, "loose.key")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(loose, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyring(loose, false, ""); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("a key file others may read: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.key"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyring(filepath.Join(dir, "junk.key"), false, ""); err == nil {
		t.Fatal("a file without a key loaded")
	}
	now := time.Now()
	verify := func(tok string, at time.Time) string {
		t.Helper()
		jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		set, err := k.JWKS(at)
		if err != nil {
			t.Fatal(err)
		}
		kid := jws.Signatures[0].Header.KeyID
		keys := set.Key(kid)
		if len(keys) != 1 {
			t.Fatalf("kid %s is not in the JWKS", kid)
		}
		if _, err := jws.Verify(keys[0]); err != nil {
			t.Fatal(err)
		}
		if typ := jws.Signatures[0].Header.ExtraHeaders["typ"]; typ != "secevent+jwt" {
			t.Fatalf("typ %v", typ)
		}
		return kid
	}
	first, err := k.Sign([]byte(`{"jti":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	oldKid := verify(first, now)
	if _, err := RotateKey(path, ES256, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	second, err := k.Sign([]byte(`{"jti":"2"}`))
	if err != nil {
		t.Fatal(err)
	}
	if newKid := verify(second, now); newKid == oldKid {
		t.Fatal("the running keyring did not pick up the rotated key")
	}
	verify(first, now.Add(59*time.Minute)) // still published
	set, _ := k.JWKS(now.Add(61 * time.Minute))
	if len(set.Keys) != 1 || set.Keys[0].KeyID == oldKid {
		t.Fatalf("the old key outlived its keep time: %v", set.Keys)
	}
	for _, key := range set.Keys {
		if !key.IsPublic() {
			t.Fatal("the JWKS holds a private key")
		}
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("rotated key file mode %v", st.Mode())
	}
}

// Each audit event gives the SETs the profiles name for it, in order, and no others.
func TestSETs(t *testing.T) {
	f := Facts{UserID: "u1", UserName: "ann@acme.example", ConnectionSlug: "acme", OrgSlug: "acme"}
	for _, c := range []struct {
		action, target, diff string
		facts                Facts
		want                 []string
	}{
		{"user.update", "u1", `{"active":{"before":true,"after":false}}`, f, []string{AccountDisabled, SessionRevoked}},
		{"user.update", "u1", `{"active":{"before":false,"after":true}}`, f, []string{AccountEnabled}},
		{"user.update", "u1", `{"userName":{"before":"a@x","after":"b@x"}}`, f, []string{IdentifierChanged}},
		{"user.update", "u1", `{"password":{"before":"set","after":"new"}}`, f, []string{CredentialChange}},
		{"user.update", "u1", `{"password":{"before":"set","after":"set"}}`, f, nil},
		{"user.update", "u1", `{"displayName":{"before":"A","after":"B"}}`, f, nil},
		{"user.delete", "u1", `{}`, f, []string{SessionRevoked, AccountPurged}},
		{"grant.revoke", "g1", `{"user_id":"u1","reason":"left"}`, f, []string{GrantRevoked}},
		{"org.update", "o1", `{"status":{"before":"active","after":"ended"}}`, f, []string{RelationshipEnded}},
		{"org.update", "o1", `{"status":{"before":"active","after":"suspended"}}`, f, []string{RelationshipEnded}},
		{"org.update", "o1", `{"status":{"before":"suspended","after":"active"}}`, f, nil},
		{"user.create", "u1", `{}`, f, nil},
	} {
		e := &audit.Event{ID: "e1", Action: c.action, TargetID: c.target, Diff: json.RawMessage(c.diff), Time: time.Unix(100, 0)}
		var got []string
		for _, s := range SETs(e, c.facts) {
			got = append(got, s.Type)
			if s.Claims["txn"] != "e1" || s.Claims["iat"] != int64(100) {
				t.Errorf("%s %s: claims %v", c.action, c.diff, s.Claims)
			}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s: %v, want %v", c.action, c.diff, got, c.want)
		}
	}
	// A user without an e-mail-like identifier is named by its opaque SCIM id.
	e := &audit.Event{ID: "e1", Action: "user.update", TargetID: "u2", Diff: json.RawMessage(`{"active":{"after":false}}`)}
	sets := SETs(e, Facts{UserID: "u2", UserName: "jdoe", ConnectionSlug: "acme"})
	if got := sets[0].Claims["sub_id"].(map[string]any)["user"]; !reflect.DeepEqual(got, map[string]any{"format": "opaque", "id": "u2"}) {
		t.Errorf("user without e-mail: %v", got)
	}
}

// A service account that stops being an orphan is enabled again, whether its event is a
// diff (adopted: its owner came back) or a detail with the account before and after
// (reassigned with a reason); a reassignment of an account that was no orphan, and an
// event about an account the store did not find, give nothing.
func TestServiceAccountEnabledAgain(t *testing.T) {
	deadline := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	type view struct {
		Name           string     `json:"name"`
		OrphanDeadline *time.Time `json:"orphan_deadline"`
	}
	f := Facts{UserID: "sa1", ServiceAccount: "billing-sync", ConnectionSlug: "acme"}
	for _, c := range []struct {
		name   string
		action string
		diff   json.RawMessage
		f      Facts
		want   []string
	}{
		{"adopted", "service_account.adopt", audit.Diff(view{"b", &deadline}, view{"b", nil}), f, []string{AccountEnabled}},
		{"reassigned out of orphanhood", "service_account.reassign",
			audit.Detail(map[string]any{"reason": "r", "before": view{"b", &deadline}, "after": view{"b", nil}}), f, []string{AccountEnabled}},
		{"reassigned, no orphan", "service_account.reassign", audit.Diff(view{"a", nil}, view{"b", nil}), f, nil},
		{"reassigned with a reason, no orphan", "service_account.reassign",
			audit.Detail(map[string]any{"reason": "r", "before": view{"a", nil}, "after": view{"b", nil}}), f, nil},
		{"not a service account", "service_account.adopt", audit.Diff(view{"b", &deadline}, view{"b", nil}), Facts{UserID: "sa1"}, nil},
	} {
		e := &audit.Event{ID: "e1", Time: deadline, Actor: "operator:ops", Action: c.action, TargetType: "service_account", TargetID: "sa1", Diff: c.diff}
		var got []string
		for _, s := range SETs(e, c.f) {
			got = append(got, s.Type)
			sub := s.Claims["sub_id"].(map[string]any)
			if !reflect.DeepEqual(sub["user"], map[string]any{"format": "opaque", "id": "sa1"}) {
				t.Errorf("%s: subject %v", c.name, sub)
			}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
