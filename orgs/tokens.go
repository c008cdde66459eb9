package orgs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"hash/crc32"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/provisioning"
)

// TokenPrefix starts every SCIM bearer token, so that secret scanners can find leaked
// ones; the last seven characters are a CRC-32 checksum, so a scanner can tell a real
// token from a look-alike without asking us.
const TokenPrefix = "oscim_"

// MaxActiveTokens is how many usable tokens a connection may hold at once: two, so that
// a rotation issues the new one, the IdP switches over, then the old one is revoked,
// with no moment without a valid token.
const MaxActiveTokens = 2

// Token is a SCIM bearer token of one connection. Only its SHA-256 hash is stored: the
// secret has 256 random bits, so a fast hash is as strong as a slow one, and lookup by
// hash is an index hit.
type Token struct {
	ID           string
	ConnectionID string
	Hash         string
	Hint         string // the first characters of the secret, to tell tokens apart in listings
	Created      time.Time
	Expires      *time.Time
	Revoked      *time.Time
	LastUsed     *time.Time
}

// Usable reports whether the token authenticates at time now.
func (t *Token) Usable(now time.Time) bool {
	return t.Revoked == nil && (t.Expires == nil || now.Before(*t.Expires))
}

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns prefix, 256 random bits in lower-case base32, and a CRC-32 of
// both: a secret that scanners can find by its prefix and verify by its checksum.
func NewSecret(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	body := strings.ToLower(tokenEncoding.EncodeToString(b[:]))
	var sum [4]byte
	c := crc32.ChecksumIEEE([]byte(prefix + body))
	sum[0], sum[1], sum[2], sum[3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	return prefix + body + strings.ToLower(tokenEncoding.EncodeToString(sum[:]))
}

// NewToken returns a fresh SCIM token for the connection and its secret, not yet stored.
func NewToken(connectionID string, now time.Time, expires *time.Time) (string, *Token) {
	secret := NewSecret(TokenPrefix)
	return secret, &Token{
		ID:           provisioning.NewID(),
		ConnectionID: connectionID,
		Hash:         HashToken(secret),
		Hint:         secret[:len(TokenPrefix)+6],
		Created:      now,
		Expires:      expires,
	}
}

// HashToken is how a token's secret is stored and looked up.
func HashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// wellFormed checks prefix and checksum before any database lookup, so garbage costs
// nothing.
func wellFormed(secret string) bool { return WellFormedSecret(TokenPrefix, secret) }

// WellFormedSecret checks a secret's prefix and checksum.
func WellFormedSecret(prefix, secret string) bool {
	if !strings.HasPrefix(secret, prefix) || len(secret) != len(prefix)+52+7 {
		return false
	}
	body, sum := secret[:len(secret)-7], secret[len(secret)-7:]
	c := crc32.ChecksumIEEE([]byte(body))
	want := strings.ToLower(tokenEncoding.EncodeToString([]byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)}))
	return subtle.ConstantTimeCompare([]byte(sum), []byte(want)) == 1
}

// IssueToken issues another token for the connection, valid until expires (nil: no
// expiry). It refuses when the connection already has MaxActiveTokens usable tokens.
func (d *Directory) IssueToken(ctx context.Context, connSlug string, expires *time.Time) (*Token, string, error) {
	return d.issueToken(ctx, connSlug, expires, nil)
}

// issueToken issues a token for the connection, valid until expires (nil: no expiry),
// and records it; also, when set, runs in the same transaction after that.
func (d *Directory) issueToken(ctx context.Context, connSlug string, expires *time.Time,
	also func(ctx context.Context, t *Token) error) (*Token, string, error) {
	c, err := d.Store.ConnectionBySlug(ctx, connSlug)
	if err != nil {
		return nil, "", err
	}
	now := d.now()
	if expires != nil && !expires.After(now) {
		return nil, "", orgscim.Errorf(orgscim.Invalid, "expiry must be in the future")
	}
	secret, t := NewToken(c.ID, now, expires)
	err = d.inTx(ctx, func(ctx context.Context) error {
		// AddToken locks the connection: two issues at once queue there.
		if err := d.Store.AddToken(ctx, t, MaxActiveTokens); err != nil {
			return err
		}
		if err := d.RecordToken(ctx, ActTokenCreate, t, now); err != nil {
			return err
		}
		if also != nil {
			return also(ctx, t)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return t, secret, nil
}

// RecordToken records a token's issue or revocation in its connection's chain: its id
// and expiry, never its secret, hash or hint.
func (d *Directory) RecordToken(ctx context.Context, action string, t *Token, now time.Time) error {
	e := audit.New(ctx, now, action, "token", t.ID)
	e.ConnectionID = t.ConnectionID
	if action == ActTokenCreate {
		e.Diff = audit.Diff(nil, tokenView{ConnectionID: t.ConnectionID, ExpiresAt: t.Expires})
	}
	return Record(ctx, d.Audit, e)
}

// Tokens lists the connection's tokens, usable or not.
func (d *Directory) Tokens(ctx context.Context, connSlug string) ([]*Token, error) {
	c, err := d.Store.ConnectionBySlug(ctx, connSlug)
	if err != nil {
		return nil, err
	}
	return d.Store.Tokens(ctx, c.ID)
}

// RevokeToken revokes one token of the connection at once.
func (d *Directory) RevokeToken(ctx context.Context, connSlug, tokenID string) error {
	c, err := d.Store.ConnectionBySlug(ctx, connSlug)
	if err != nil {
		return err
	}
	now := d.now()
	return d.inTx(ctx, func(ctx context.Context) error {
		if err := d.Store.RevokeToken(ctx, c.ID, tokenID, now); err != nil {
			return err
		}
		return d.RecordToken(ctx, ActTokenRevoke, &Token{ID: tokenID, ConnectionID: c.ID}, now)
	})
}

// errUnauthorized is the one answer to every failed authentication: a wrong token, an
// unknown connection and another connection's token are indistinguishable.
var errUnauthorized = orgscim.Errorf(orgscim.Unauthorized, "invalid bearer token for this connection")

// touchEvery bounds how often a token's last-used time is written: once a minute is
// precise enough for audits and keeps hot paths free of writes.
const touchEvery = time.Minute

// Authenticate returns the connection that connSlug names if secret is one of its usable
// tokens, and records the token's use.
func (d *Directory) Authenticate(ctx context.Context, connSlug, secret string) (*Connection, error) {
	c, _, err := d.AuthenticateToken(ctx, connSlug, secret)
	return c, err
}

// AuthenticateToken is Authenticate that also returns the token, so that the changes a
// request makes are attributed to the very token that made them.
func (d *Directory) AuthenticateToken(ctx context.Context, connSlug, secret string) (*Connection, *Token, error) {
	if !wellFormed(secret) {
		return nil, nil, errUnauthorized
	}
	t, c, byID, err := d.Store.TokenByHash(ctx, HashToken(secret))
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil, nil, errUnauthorized
	}
	if err != nil {
		return nil, nil, err
	}
	now := d.now()
	// A pending connection (onboarded, not yet pushed to) authenticates: its first
	// successful change is what makes it active.
	if c.Slug != connSlug || (c.Status != "active" && c.Status != ConnectionPending) || !t.Usable(now) {
		return nil, nil, errUnauthorized
	}
	// A suspended or ended relationship anywhere above the connection stops its tokens
	// at once, not when a nightly job gets to it.
	if inactiveOnPath(pathIDs(c.OrgPath), byID, now) != "" {
		return nil, nil, errUnauthorized
	}
	if t.LastUsed == nil || now.Sub(*t.LastUsed) >= touchEvery {
		if err := d.Store.TouchToken(ctx, t.ID, now); err != nil {
			return nil, nil, err
		}
	}
	return c, t, nil
}
