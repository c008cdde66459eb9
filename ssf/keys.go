package ssf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Signing algorithms of the SET signing key.
const (
	EdDSA = "EdDSA" // Ed25519, the default
	ES256 = "ES256"
)

// DefaultKeep is how long a rotated-out public key stays in the JWKS: longer than the
// retries of a push (about five hours) and than a poll receiver plausibly waits before
// it verifies what it fetched.
const DefaultKeep = 7 * 24 * time.Hour

// keyFile is the signing key file: the current private key, and the public keys it
// replaced with the time until which the JWKS still publishes each.
type keyFile struct {
	Current  jose.JSONWebKey `json:"current"`
	Previous []retiredKey    `json:"previous,omitempty"`
}

type retiredKey struct {
	Key   jose.JSONWebKey `json:"key"`
	Until time.Time       `json:"until"`
}

// Keyring is the SET signing key kept in a file, never in the database. It re-reads the
// file when the file changes, so that `orgscim ssf key rotate` takes effect in a running
// server without a restart.
type Keyring struct {
	Path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	file    *keyFile
}

// LoadKeyring reads the key file in path. With create, a missing file is made with a new
// key of alg ("" for EdDSA), readable by its owner only; a file others may read is
// refused, since a copy of the key lets its holder forge SETs.
func LoadKeyring(path string, create bool, alg string) (*Keyring, error) {
	k := &Keyring{Path: path}
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		kf, err := newKeyFile(alg)
		if err != nil {
			return nil, err
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, err
			}
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		switch {
		case errors.Is(err, fs.ErrExist): // another process made it first
		case err != nil:
			return nil, fmt.Errorf("ssf key %s: %w", path, err)
		default:
			b, _ := json.MarshalIndent(kf, "", "  ")
			_, err = f.Write(append(b, '\n'))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, fmt.Errorf("ssf key %s: %w", path, err)
			}
		}
	}
	if _, err := k.current(); err != nil {
		return nil, err
	}
	return k, nil
}

func newKey(alg string) (jose.JSONWebKey, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case "", EdDSA:
		alg = EdDSA
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return jose.JSONWebKey{}, fmt.Errorf("unsupported signing algorithm %q: want %s or %s", alg, EdDSA, ES256)
	}
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	jwk := jose.JSONWebKey{Key: priv, Algorithm: alg, Use: "sig"}
	pub := jwk.Public()
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	return jwk, nil
}

func newKeyFile(alg string) (*keyFile, error) {
	k, err := newKey(alg)
	if err != nil {
		return nil, err
	}
	return &keyFile{Current: k}, nil
}

// current returns the key file, re-read when it changed on disk.
func (k *Keyring) current() (*keyFile, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, err := os.Stat(k.Path)
	if err != nil {
		if k.file != nil {
			return k.file, nil // keep signing with what was read: a moved file is an operator's slip
		}
		return nil, fmt.Errorf("ssf key %s: %w", k.Path, err)
	}
	if k.file != nil && st.ModTime().Equal(k.modTime) && st.Size() == k.size {
		return k.file, nil
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("ssf key %s is readable by others (mode %v): chmod 600 it", k.Path, st.Mode().Perm())
	}
	b, err := os.ReadFile(k.Path)
	if err != nil {
		return nil, fmt.Errorf("ssf key %s: %w", k.Path, err)
	}
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil || kf.Current.Key == nil || kf.Current.IsPublic() {
		return nil, fmt.Errorf("ssf key %s: not an orgscim SET signing key file", k.Path)
	}
	k.file, k.modTime, k.size = &kf, st.ModTime(), st.Size()
	return k.file, nil
}

// Sign signs payload as a SET (JWS compact serialization, typ secevent+jwt) with the
// current key.
func (k *Keyring) Sign(payload []byte) (string, error) {
	kf, err := k.current()
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(kf.Current.Algorithm), Key: kf.Current},
		(&jose.SignerOptions{}).WithType("secevent+jwt"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// JWKS is the published key set at now: the current public key, then the rotated-out
// ones still within their keep time.
func (k *Keyring) JWKS(now time.Time) (jose.JSONWebKeySet, error) {
	kf, err := k.current()
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{kf.Current.Public()}}
	for _, p := range kf.Previous {
		if now.Before(p.Until) {
			set.Keys = append(set.Keys, p.Key)
		}
	}
	return set, nil
}

// RotateKey replaces the key in path with a new one of alg ("" keeps the current
// algorithm). The old public key stays in the JWKS for keep, so that SETs already sent
// still verify; keys whose time is up are dropped. The file is replaced atomically.
func RotateKey(path, alg string, keep time.Duration, now time.Time) (newKID string, err error) {
	k := &Keyring{Path: path}
	kf, err := k.current()
	if err != nil {
		return "", err
	}
	if alg == "" {
		alg = kf.Current.Algorithm
	}
	next, err := newKey(alg)
	if err != nil {
		return "", err
	}
	out := keyFile{Current: next, Previous: []retiredKey{{Key: kf.Current.Public(), Until: now.Add(keep).UTC()}}}
	for _, p := range kf.Previous {
		if now.Before(p.Until) {
			out.Previous = append(out.Previous, p)
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ssf-key-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return next.KeyID, nil
}

// KeyID is the kid of the current key.
func (k *Keyring) KeyID() (string, error) {
	kf, err := k.current()
	if err != nil {
		return "", err
	}
	return kf.Current.KeyID, nil
}
