package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// LeafData is what the log commits to for e: every field of the event but its hash, as
// canonical JSON (fixed field order, time in milliseconds, the diff as the exact bytes
// stored). PrevHash is kept so that events sealed from the old per-connection chains
// carry their link into the log.
func LeafData(e *Event) []byte {
	return canonical(e, 2)
}

// LeafHash is e's leaf in the log: RFC 6962 SHA-256(0x00 || LeafData(e)).
func LeafHash(e *Event) tlog.Hash { return tlog.RecordHash(LeafData(e)) }

// ContentHash is what the store keeps in Event.Hash of an event written since the log:
// the hex of its leaf hash, computed when the event is written, so that a modified
// event shows before it is sealed too.
func ContentHash(e *Event) string {
	h := LeafHash(e)
	return hex.EncodeToString(h[:])
}

func canonical(e *Event, v int) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(hashed{
		V: v, ID: e.ID, Chain: e.Chain, Seq: e.Seq, Time: e.Time.UnixMilli(), Actor: e.Actor,
		ConnectionID: e.ConnectionID, OrgID: e.OrgID, OrgPath: e.OrgPath, Action: e.Action,
		TargetType: e.TargetType, TargetID: e.TargetID, Diff: string(e.Diff),
		RequestID: e.RequestID, ClientAddr: e.ClientAddr, PrevHash: e.PrevHash,
	})
	if err != nil {
		panic(err) // strings and integers always marshal
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// Checkpoint is the state of the log a signature vouches for: its origin (the log's
// name), its size and its root hash, in the C2SP tlog-checkpoint format.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text is the checkpoint's body as signed: "<origin>\n<size>\n<base64 root>\n".
func (c Checkpoint) Text() string {
	return c.Origin + "\n" + strconv.FormatInt(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Root[:]) + "\n"
}

// Sign returns the checkpoint as a signed note.
func (c Checkpoint) Sign(s note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: c.Text()}, s)
}

// ParseCheckpoint reads a checkpoint's body (the text of its note).
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return Checkpoint{}, fmt.Errorf("not a checkpoint: want origin, size and root hash lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("not a checkpoint: bad tree size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("not a checkpoint: bad root hash %q", lines[2])
	}
	c := Checkpoint{Origin: lines[0], Size: size}
	copy(c.Root[:], root)
	return c, nil
}

// OpenCheckpoint checks a signed checkpoint against the trusted public keys and reads it.
// A checkpoint signed by none of them is refused, naming the key that signed it.
func OpenCheckpoint(signed []byte, trusted []string) (Checkpoint, error) {
	var vs []note.Verifier
	for _, k := range trusted {
		v, err := note.NewVerifier(k)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("public key %q: %w", k, err)
		}
		vs = append(vs, v)
	}
	n, err := note.Open(signed, note.VerifierList(vs...))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	return ParseCheckpoint(n.Text)
}

// Frontier is the set of stored hash indexes (tlog.StoredHashIndex) of the complete
// subtrees a tree of size n is made of, one per bit set in n: all that extending the
// tree, or computing its root, reads. Rebuilding a tree, a reader that keeps only these
// keeps constant memory however many records pass through it.
func Frontier(n int64) map[int64]bool {
	out := map[int64]bool{}
	for level := 0; n>>level > 0; level++ {
		if (n>>level)&1 == 1 {
			out[tlog.StoredHashIndex(level, (n>>level)-1)] = true
		}
	}
	return out
}

// Builder rebuilds a log's tree record by record in constant memory: the hashing and
// the tree are tlog's; Builder only keeps the frontier.
type Builder struct {
	size   int64
	hashes map[int64]tlog.Hash
}

// NewBuilder starts an empty tree.
func NewBuilder() *Builder { return &Builder{hashes: map[int64]tlog.Hash{}} }

// Size is the number of records added.
func (b *Builder) Size() int64 { return b.size }

// Add appends a record by its leaf hash.
func (b *Builder) Add(leaf tlog.Hash) error {
	hs, err := tlog.StoredHashesForRecordHash(b.size, leaf, b)
	if err != nil {
		return err
	}
	base := tlog.StoredHashIndex(0, b.size)
	for i, h := range hs {
		b.hashes[base+int64(i)] = h
	}
	b.size++
	if len(b.hashes) > 256 {
		keep := Frontier(b.size)
		for k := range b.hashes {
			if !keep[k] {
				delete(b.hashes, k)
			}
		}
	}
	return nil
}

// Root is the root hash of the tree so far.
func (b *Builder) Root() (tlog.Hash, error) {
	return tlog.TreeHash(b.size, b)
}

// ReadHashes serves tlog from the kept hashes.
func (b *Builder) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return HashesAt(b.hashes, indexes)
}

// HashesAt returns the stored hashes at indexes from m, or an error naming the first
// one m lacks.
func HashesAt(m map[int64]tlog.Hash, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := m[x]
		if !ok {
			return nil, fmt.Errorf("audit: the tree lacks stored hash %d", x)
		}
		out[i] = h
	}
	return out, nil
}
