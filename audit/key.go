package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Key signs the log's checkpoints. It lives in a file, never in the database: whoever
// can write the database can then rewrite history, but cannot sign a checkpoint that a
// holder of an earlier one would accept as its continuation.
type Key struct {
	Signer note.Signer
	// PublicKey is the verifier key ("<name>+<hash>+<base64>") that checks its
	// signatures: what auditors and witnesses are given.
	PublicKey string
}

// DefaultKeyName names the keys orgscim generates.
const DefaultKeyName = "orgscim-audit"

// ParseKey reads a private key in signed-note form ("PRIVATE+KEY+<name>+<hash>+<data>").
func ParseKey(skey string) (*Key, error) {
	skey = strings.TrimSpace(skey)
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, errors.New("not an audit signing key (want a PRIVATE+KEY+... line)")
	}
	// The key data is the algorithm byte and the Ed25519 seed; the public key follows.
	parts := strings.SplitN(skey, "+", 5) // the key data's base64 may hold '+' too
	data, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(data) != 1+ed25519.SeedSize || data[0] != 1 {
		return nil, errors.New("not an Ed25519 audit signing key")
	}
	pub := ed25519.NewKeyFromSeed(data[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, err
	}
	return &Key{Signer: s, PublicKey: vkey}, nil
}

// GenerateKey makes a new signing key named name, returning its private form.
func GenerateKey(name string) (string, error) {
	skey, _, err := note.GenerateKey(rand.Reader, name)
	return skey, err
}

// LoadKey reads the signing key in path. With create, a missing file is created with a
// new key, readable by its owner only; an existing file readable by others is refused,
// since a copy of the key lets its holder sign a rewritten history.
func LoadKey(path string, create bool) (*Key, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		skey, err := GenerateKey(DefaultKeyName)
		if err != nil {
			return nil, err
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, err
			}
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadKey(path, false) // another process made it first
		}
		if err != nil {
			return nil, fmt.Errorf("audit key %s: %w", path, err)
		}
		_, err = f.WriteString(skey + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("audit key %s: %w", path, err)
		}
		return ParseKey(skey)
	}
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("audit key %s is readable by others (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	return k, nil
}
