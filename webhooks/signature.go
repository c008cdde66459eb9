package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
)

// Headers of a delivery.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>".
	SignatureHeader = "Orgscim-Signature"
	// IdempotencyHeader carries the event id: the same on every attempt of one event to
	// one subscriber, so that a receiver can drop what it already processed.
	IdempotencyHeader = "Idempotency-Key"
)

// DefaultTolerance is how far a signature's timestamp may be from a receiver's clock.
const DefaultTolerance = 5 * time.Minute

// SecretPrefix starts every signing secret, so that one found in a log or a repository
// is recognisable for what it is.
const SecretPrefix = "whsec_"

// NewSecret returns a fresh signing secret with 256 bits of randomness.
func NewSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return SecretPrefix + hex.EncodeToString(b[:])
}

// mac is hex HMAC-SHA256(secret, "<t>.<body>"). The timestamp is inside the MAC so that a
// captured delivery cannot be replayed later under a fresh timestamp.
func mac(secret string, t int64, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(strconv.FormatInt(t, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Sign returns the value of SignatureHeader for body sent at now.
func Sign(secret string, body []byte, now time.Time) string {
	t := now.Unix()
	return "t=" + strconv.FormatInt(t, 10) + ",v1=" + mac(secret, t, body)
}

// Verify checks a delivery as its receiver gets it: header is the value of
// SignatureHeader, body the raw request body (before any JSON decoding), now the
// receiver's clock. It accepts the delivery when one v1 signature is the HMAC of body
// under secret and the signed timestamp is within tolerance of now (DefaultTolerance
// when tolerance is 0); a delivery outside the window is refused as a possible replay.
// Several v1 entries are allowed so that a sender can sign with an old and a new secret
// while they are rotated. Errors are *orgscim.Error with code Unauthorized.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if header == "" {
		return orgscim.Errorf(orgscim.Unauthorized, "no %s header", SignatureHeader)
	}
	var (
		t    int64
		seen bool
		sigs []string
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return orgscim.Errorf(orgscim.Unauthorized, "malformed %s header", SignatureHeader)
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || seen {
				return orgscim.Errorf(orgscim.Unauthorized, "malformed %s timestamp", SignatureHeader)
			}
			t, seen = n, true
		case "v1":
			sigs = append(sigs, v)
		}
		// Other schemes are ignored, so that a sender can add one without breaking
		// receivers that do not know it yet.
	}
	if !seen || len(sigs) == 0 {
		return orgscim.Errorf(orgscim.Unauthorized, "%s header lacks t or v1", SignatureHeader)
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return orgscim.Errorf(orgscim.Unauthorized, "signature timestamp outside the tolerated window (replayed or clock skew)")
	}
	want := []byte(mac(secret, t, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return orgscim.Errorf(orgscim.Unauthorized, "signature does not match")
}
