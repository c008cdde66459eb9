package audit

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// LogState is where the log stands, as the store records it.
type LogState struct {
	Origin string `json:"origin"`
	// Size is the number of sealed events; SealedSeq the highest event number sealed.
	Size      int64 `json:"size"`
	SealedSeq int64 `json:"sealedSeq"`
	// LegacyMax is the highest Seq of the events written before the log (hash-chained
	// per connection); events above it carry their leaf hash in Hash.
	LegacyMax int64 `json:"legacyMax"`
	// Checkpoint is the latest signed checkpoint stored (nil before the first seal).
	Checkpoint []byte `json:"-"`
}

// LogReader reads the log for verification, from one consistent snapshot.
type LogReader interface {
	LogState(ctx context.Context) (LogState, error)
	// ScanLog calls fn with each position from 0 in order, the leaf hash stored for it,
	// and its event (nil when the event is gone).
	ScanLog(ctx context.Context, fn func(position int64, leaf tlog.Hash, e *Event) error) error
	// ScanPending calls fn with each event that is not in the log yet.
	ScanPending(ctx context.Context, fn func(e *Event) error) error
}

// Exported is a signed checkpoint held outside the database (by a witness, an auditor,
// the checkpoint directory), named for the report.
type Exported struct {
	Name   string
	Signed []byte
}

// VerifyOptions are what a verification trusts besides the database.
type VerifyOptions struct {
	// PublicKeys verify checkpoint signatures. Without any, the stored checkpoint's
	// signature is not checked (its root still is) and exported checkpoints cannot be.
	PublicKeys []string
	// Checkpoints must each be a prefix of the log: same origin, no larger than it,
	// and the root of its first Size events equal to theirs.
	Checkpoints []Exported
}

// Report is the outcome of a verification.
type Report struct {
	Chains  int     `json:"chains"`  // tenants (connections, and the control plane) seen
	Events  int64   `json:"events"`  // events checked, sealed and pending
	LogSize int64   `json:"logSize"` // events in the log
	Pending int64   `json:"pending"` // committed events not sealed yet
	Root    string  `json:"root"`    // hex root hash of the rebuilt log
	Breaks  []Break `json:"breaks"`
	// Checkpoints are the checkpoints checked: the latest stored, then those given.
	Checkpoints []CheckpointCheck `json:"checkpoints"`
}

// CheckpointCheck is one checkpoint a verification compared the log with.
type CheckpointCheck struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Signed bool   `json:"signatureChecked"`
	OK     bool   `json:"ok"`
}

// OK reports whether nothing is broken.
func (r Report) OK() bool { return len(r.Breaks) == 0 }

// VerifyAll verifies the log without outside checkpoints or keys: every event against
// its leaf, the tree rebuilt against the latest stored checkpoint.
func VerifyAll(ctx context.Context, r LogReader) (Report, error) {
	return Verify(ctx, r, VerifyOptions{})
}

// Verify rebuilds the log's tree from the stored events, in constant memory, and checks:
//   - each sealed event still hashes to its leaf (a modified event is named);
//   - no position is empty (a deleted event is named);
//   - the rebuilt root at the latest stored checkpoint's size is the checkpoint's root,
//     and the checkpoint is signed by a trusted key when keys are given;
//   - every exported checkpoint is a prefix of the log: the database holds at least as
//     many events (else it was rolled back or truncated) and the root of that many is
//     the checkpoint's (else history was rewritten, or forked);
//   - pending events still match their content hash, and none sits below what the
//     sealer has passed (which only an insertion behind orgscim's back leaves).
func Verify(ctx context.Context, r LogReader, opts VerifyOptions) (Report, error) {
	rep := Report{Breaks: []Break{}, Checkpoints: []CheckpointCheck{}}
	st, err := r.LogState(ctx)
	if err != nil {
		return rep, err
	}
	logBreak := func(format string, args ...any) {
		rep.Breaks = append(rep.Breaks, Break{Problem: fmt.Sprintf(format, args...)})
	}

	// The checkpoints to compare the rebuilt tree with, by size.
	type target struct {
		check *CheckpointCheck
		cp    Checkpoint
	}
	var targets []target
	addTarget := func(name string, signed []byte, mustSign bool) {
		c := CheckpointCheck{Name: name}
		var cp Checkpoint
		var err error
		switch {
		case len(opts.PublicKeys) > 0:
			cp, err = OpenCheckpoint(signed, opts.PublicKeys)
			c.Signed = err == nil
		case mustSign:
			err = fmt.Errorf("no public key to check its signature with (give --public-key or --audit-key)")
		default:
			cp, err = ParseCheckpoint(noteText(signed))
		}
		if err == nil && cp.Origin != st.Origin {
			err = fmt.Errorf("it is of log %q, this database holds log %q", cp.Origin, st.Origin)
		}
		c.Size = cp.Size
		rep.Checkpoints = append(rep.Checkpoints, c)
		if err != nil {
			logBreak("checkpoint %s: %v", name, err)
			return
		}
		targets = append(targets, target{&rep.Checkpoints[len(rep.Checkpoints)-1], cp})
	}
	if st.Checkpoint != nil {
		addTarget("latest stored", st.Checkpoint, false)
	} else if st.Size > 0 {
		logBreak("the log holds %d events but no checkpoint", st.Size)
	}
	for _, x := range opts.Checkpoints {
		addTarget(x.Name, x.Signed, true)
	}
	roots := map[int64]tlog.Hash{}
	want := map[int64]bool{}
	for _, t := range targets {
		want[t.cp.Size] = true
	}

	chains := map[string]bool{}
	b := NewBuilder()
	if want[0] {
		roots[0], _ = b.Root()
	}
	err = r.ScanLog(ctx, func(pos int64, leaf tlog.Hash, e *Event) error {
		if pos != b.Size() {
			logBreak("log position %d is missing: positions jump from %d to %d", b.Size(), b.Size()-1, pos)
			return errStop
		}
		p := pos
		if e == nil {
			rep.Breaks = append(rep.Breaks, Break{Position: &p,
				Problem: "the event sealed at this position is gone (deleted)"})
		} else {
			rep.Events++
			chains[e.Chain] = true
			got := LeafHash(e)
			switch {
			case got != leaf:
				rep.Breaks = append(rep.Breaks, Break{Chain: e.Chain, Seq: e.Seq, EventID: e.ID, Position: &p,
					Problem: "content does not match its leaf in the log (modified)"})
			case e.Seq > st.LegacyMax && e.Hash != hex.EncodeToString(got[:]):
				rep.Breaks = append(rep.Breaks, Break{Chain: e.Chain, Seq: e.Seq, EventID: e.ID, Position: &p,
					Problem: "content does not match its hash (modified)"})
			}
			leaf = got // the tree is rebuilt from the events as they are now
		}
		if err := b.Add(leaf); err != nil {
			return err
		}
		if want[b.Size()] {
			roots[b.Size()], err = b.Root()
		}
		return err
	})
	if err != nil && err != errStop {
		return rep, err
	}
	rep.LogSize = b.Size()
	if b.Size() != st.Size {
		logBreak("the log holds %d events, its state records %d", b.Size(), st.Size)
	}
	root, err := b.Root()
	if err != nil {
		return rep, err
	}
	rep.Root = hex.EncodeToString(root[:])

	for _, t := range targets {
		got, ok := roots[t.cp.Size]
		switch {
		case !ok:
			logBreak("checkpoint %s is of %d events, the database holds %d: events were removed (rolled back or truncated)",
				t.check.Name, t.cp.Size, b.Size())
		case got != t.cp.Root:
			what := "history was rewritten"
			if t.cp.Size < b.Size() {
				what = "history was rewritten or forked"
			}
			logBreak("checkpoint %s: the root of the log's first %d events differs from the checkpoint's: %s",
				t.check.Name, t.cp.Size, what)
		default:
			t.check.OK = true
		}
	}

	err = r.ScanPending(ctx, func(e *Event) error {
		rep.Events++
		rep.Pending++
		chains[e.Chain] = true
		brk := func(problem string) {
			rep.Breaks = append(rep.Breaks, Break{Chain: e.Chain, Seq: e.Seq, EventID: e.ID, Problem: problem})
		}
		legacy := e.Seq <= st.LegacyMax
		if legacy && ComputeHash(e) != e.Hash || !legacy && ContentHash(e) != e.Hash {
			brk("content does not match its hash (modified)")
		}
		if !legacy && e.Seq <= st.SealedSeq {
			brk("not in the log although the sealer has passed it (inserted outside orgscim)")
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Chains = len(chains)
	return rep, nil
}

type stop struct{}

func (stop) Error() string { return "stop" }

var errStop error = stop{}

// noteText is the text of a signed note: what comes before the blank line and the
// signatures.
func noteText(signed []byte) string {
	s := string(signed)
	if i := strings.LastIndex(s, "\n\n"); i >= 0 {
		return s[:i+1]
	}
	return s
}
