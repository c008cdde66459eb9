package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
)

// Signature formats of a subscription.
const (
	// FormatStandard is Standard Webhooks (https://www.standardwebhooks.com): the
	// default of a new subscription, because receivers verify it with ready-made
	// libraries instead of code written for orgscim.
	FormatStandard = "standard"
	// FormatOrgscim is orgscim's own Orgscim-Signature, kept for a migration window so
	// that existing receivers do not break; subscriptions made before the standard
	// format existed keep it until switched.
	FormatOrgscim = "orgscim"
)

// Headers of a Standard Webhooks delivery.
const (
	StandardIDHeader        = "Webhook-Id"
	StandardTimestampHeader = "Webhook-Timestamp"
	StandardSignatureHeader = "Webhook-Signature"
)

// ParseFormat checks a format given by an operator; "" means FormatStandard.
func ParseFormat(s string) (string, error) {
	switch s {
	case "", FormatStandard:
		return FormatStandard, nil
	case FormatOrgscim:
		return FormatOrgscim, nil
	}
	return "", orgscim.Errorf(orgscim.Invalid, "format must be %q or %q", FormatStandard, FormatOrgscim)
}

// NewStandardSecret returns a fresh secret in the Standard Webhooks shape: "whsec_" and
// the base64 of 32 random bytes, the bytes being the HMAC key.
func NewStandardSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// standardKey is the HMAC key of secret as Standard Webhooks defines it: the base64
// decoding of what follows "whsec_". A secret made for the orgscim format (hex after
// the prefix) is valid base64 too, so a subscription switched to the standard format
// keeps its secret and standard verifiers still agree with the signer.
func standardKey(secret string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
}

func standardMAC(key []byte, id string, t int64, body []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(strconv.FormatInt(t, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// SignStandard returns the three Standard Webhooks headers of body, message id id (the
// event id: the same on every attempt), sent at now.
func SignStandard(secret, id string, body []byte, now time.Time) (map[string]string, error) {
	key, err := standardKey(secret)
	if err != nil {
		return nil, orgscim.Errorf(orgscim.Invalid, "the subscription's secret is not base64 after %s", SecretPrefix)
	}
	t := now.Unix()
	return map[string]string{
		StandardIDHeader:        id,
		StandardTimestampHeader: strconv.FormatInt(t, 10),
		StandardSignatureHeader: "v1," + standardMAC(key, id, t, body),
	}, nil
}

// VerifyStandard checks a Standard Webhooks delivery as its receiver gets it: the three
// header values, the raw body and the receiver's clock. The timestamp must be within
// tolerance of now (DefaultTolerance when 0) and one of the space-separated "v1,"
// signatures must match. Errors are *orgscim.Error with code Unauthorized.
func VerifyStandard(secret, id, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if id == "" || timestamp == "" || signature == "" {
		return orgscim.Errorf(orgscim.Unauthorized, "webhook-id, webhook-timestamp and webhook-signature are required")
	}
	t, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return orgscim.Errorf(orgscim.Unauthorized, "malformed webhook-timestamp")
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return orgscim.Errorf(orgscim.Unauthorized, "webhook-timestamp outside the tolerated window (replayed or clock skew)")
	}
	key, err := standardKey(secret)
	if err != nil {
		return orgscim.Errorf(orgscim.Unauthorized, "secret is not base64 after %s", SecretPrefix)
	}
	want := []byte(standardMAC(key, id, t, body))
	for _, s := range strings.Fields(signature) {
		v, sig, ok := strings.Cut(s, ",")
		if ok && v == "v1" && hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return orgscim.Errorf(orgscim.Unauthorized, "signature does not match")
}
