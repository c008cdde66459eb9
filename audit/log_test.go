package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// memTree is a tree with every stored hash kept, as tlog's own tests build one.
type memTree []tlog.Hash

func (m memTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = m[x]
	}
	return out, nil
}

// The Builder, which keeps only the frontier, gives the root tlog gives with every hash.
func TestBuilderKeepsTheFrontierOnly(t *testing.T) {
	b := NewBuilder()
	var full memTree
	for n := int64(0); n < 1500; n++ {
		leaf := tlog.RecordHash(fmt.Appendf(nil, "record %d", n))
		hs, err := tlog.StoredHashesForRecordHash(n, leaf, full)
		if err != nil {
			t.Fatal(err)
		}
		full = append(full, hs...)
		if err := b.Add(leaf); err != nil {
			t.Fatal(err)
		}
		want, _ := tlog.TreeHash(n+1, full)
		got, err := b.Root()
		if err != nil || got != want {
			t.Fatalf("size %d: root %x, %v; want %x", n+1, got, err, want)
		}
		if len(b.hashes) > 300 {
			t.Fatalf("size %d: %d hashes kept", n+1, len(b.hashes))
		}
	}
}

// A checkpoint verifies with the key that signed it, even after a rotation, and with no
// other; a changed body fails.
func TestCheckpointsVerifyWithTheirOwnKeyAcrossARotation(t *testing.T) {
	dir := t.TempDir()
	oldKey, err := LoadKey(filepath.Join(dir, "old.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := LoadKey(filepath.Join(dir, "new.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "old.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %o; want 0600", st.Mode().Perm())
	}
	again, err := LoadKey(filepath.Join(dir, "old.key"), true)
	if err != nil || again.PublicKey != oldKey.PublicKey {
		t.Fatalf("reloading the key: %v", err)
	}
	cp := Checkpoint{Origin: "orgscim.audit/test", Size: 42, Root: tlog.RecordHash([]byte("x"))}
	signed, err := cp.Sign(oldKey.Signer)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		note    []byte
		keys    []string
		wantErr string
	}{
		{"old key", signed, []string{oldKey.PublicKey}, ""},
		{"both keys after the rotation", signed, []string{newKey.PublicKey, oldKey.PublicKey}, ""},
		{"new key only", signed, []string{newKey.PublicKey}, "signature"},
		{"changed size", []byte(strings.Replace(string(signed), "\n42\n", "\n43\n", 1)), []string{oldKey.PublicKey}, "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OpenCheckpoint(tt.note, tt.keys)
			if tt.wantErr == "" {
				if err != nil || got != cp {
					t.Fatalf("%+v, %v; want %+v", got, err, cp)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v; want one about %q", err, tt.wantErr)
			}
		})
	}
	if err := os.Chmod(filepath.Join(dir, "old.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(filepath.Join(dir, "old.key"), false); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("a key readable by others: %v", err)
	}
}
