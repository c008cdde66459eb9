package webhooks_test

import (
	"testing"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/webhooks"
)

// The test vector published with the Standard Webhooks reference libraries: a signer
// that reproduces it is one the ready-made verifiers accept.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = "1614265330"
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignStandardReproducesTheSpecVector(t *testing.T) {
	h, err := webhooks.SignStandard(vectorSecret, vectorID, []byte(vectorBody), time.Unix(1614265330, 0))
	if err != nil {
		t.Fatal(err)
	}
	if h[webhooks.StandardSignatureHeader] != vectorSig || h[webhooks.StandardIDHeader] != vectorID ||
		h[webhooks.StandardTimestampHeader] != vectorTS {
		t.Errorf("headers %v; want signature %s", h, vectorSig)
	}
}

func TestVerifyStandard(t *testing.T) {
	at := time.Unix(1614265330, 0)
	tests := []struct {
		name           string
		secret, id, ts string
		sig, body      string
		now            time.Time
		ok             bool
	}{
		{"the vector", vectorSecret, vectorID, vectorTS, vectorSig, vectorBody, at, true},
		{"one of several signatures", vectorSecret, vectorID, vectorTS, "v1,bm9wZQ== " + vectorSig, vectorBody, at, true},
		{"within the tolerance", vectorSecret, vectorID, vectorTS, vectorSig, vectorBody, at.Add(4 * time.Minute), true},
		{"tampered body", vectorSecret, vectorID, vectorTS, vectorSig, `{"test": 2432232315}`, at, false},
		{"another id", vectorSecret, "msg_other", vectorTS, vectorSig, vectorBody, at, false},
		{"timestamp moved", vectorSecret, vectorID, "1614265331", vectorSig, vectorBody, at, false},
		{"replayed later", vectorSecret, vectorID, vectorTS, vectorSig, vectorBody, at.Add(6 * time.Minute), false},
		{"from the future", vectorSecret, vectorID, vectorTS, vectorSig, vectorBody, at.Add(-6 * time.Minute), false},
		{"another secret", webhooks.NewStandardSecret(), vectorID, vectorTS, vectorSig, vectorBody, at, false},
		{"unknown version only", vectorSecret, vectorID, vectorTS, "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", vectorBody, at, false},
		{"no signature", vectorSecret, vectorID, vectorTS, "", vectorBody, at, false},
		{"malformed timestamp", vectorSecret, vectorID, "soon", vectorSig, vectorBody, at, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhooks.VerifyStandard(tt.secret, tt.id, tt.ts, tt.sig, []byte(tt.body), tt.now, 0)
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && orgscim.ErrorCode(err) != orgscim.Unauthorized {
				t.Fatalf("got %v; want Unauthorized", err)
			}
		})
	}
}

// A subscription switched from the orgscim format keeps its hex secret, which is valid
// base64 too: signer and verifier agree on the key it decodes to.
func TestStandardWithAnOrgscimSecret(t *testing.T) {
	secret, now := webhooks.NewSecret(), time.Now()
	h, err := webhooks.SignStandard(secret, "ev1", []byte("{}"), now)
	if err != nil {
		t.Fatal(err)
	}
	if err := webhooks.VerifyStandard(secret, "ev1", h[webhooks.StandardTimestampHeader], h[webhooks.StandardSignatureHeader], []byte("{}"), now, 0); err != nil {
		t.Fatal(err)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]string{"": webhooks.FormatStandard, "standard": webhooks.FormatStandard, "orgscim": webhooks.FormatOrgscim} {
		if got, err := webhooks.ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := webhooks.ParseFormat("svix"); orgscim.ErrorCode(err) != orgscim.Invalid {
		t.Errorf("ParseFormat(svix): %v", err)
	}
}
