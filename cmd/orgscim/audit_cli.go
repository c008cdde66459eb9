package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/sqlstore"
	"golang.org/x/mod/sumdb/tlog"
)

// errBroken makes `audit verify` and `audit verify-bundle` exit 1 after printing what
// they found.
var errBroken = errors.New("the audit trail is broken")

// auditKeyFlag is --audit-key, the file of the audit log's signing key.
type auditKeyFlag struct {
	AuditKey string `name:"audit-key" env:"ORGSCIM_AUDIT_KEY_FILE" placeholder:"FILE" help:"The file of the audit log's signing key, kept outside the database (default: audit.key next to the SQLite database; PostgreSQL deployments must name one)."`
}

// auditKeyPath is where the signing key lives: the flag, else audit.key beside a SQLite
// database; PostgreSQL deployments must name one ("" then).
func auditKeyPath(flagValue, dbURL string) string {
	if flagValue != "" {
		return flagValue
	}
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		return filepath.Join(filepath.Dir(path), "audit.key")
	}
	return ""
}

// loadAuditKey loads (with create, makes on first start) the signing key.
func loadAuditKey(flagValue, dbURL string, create bool) (*audit.Key, error) {
	path := auditKeyPath(flagValue, dbURL)
	if path == "" {
		return nil, errors.New("a PostgreSQL deployment must name the audit log's signing key file: " +
			"--audit-key FILE or ORGSCIM_AUDIT_KEY_FILE (kept outside the database; created with mode 0600 if missing)")
	}
	return audit.LoadKey(path, create)
}

// newSealer wires the log's sealer over db.
func newSealer(db *sqlstore.DB, key *audit.Key, sinks ...audit.Sink) *audit.Sealer {
	return &audit.Sealer{Store: db.Audit(), Key: key, Audit: db.Audit(), Chains: db.Audit(), Sinks: sinks}
}

type auditVerifyCmd struct {
	jsonFlag
	auditKeyFlag
	Checkpoint []string `placeholder:"FILE" help:"A signed checkpoint held outside the database (a witness's, an auditor's, the checkpoint directory's); repeatable."`
	PublicKey  []string `name:"public-key" placeholder:"KEY" help:"A trusted public key of the log (as audit public-key prints it; older keys after a rotation); repeatable."`
}

func (auditVerifyCmd) Help() string {
	return `Rebuilds the audit log's Merkle tree from the stored events, from one consistent snapshot
and in constant memory, and checks that every sealed event still matches its leaf, that
none is gone, and that the tree's root is the one of the latest stored checkpoint. Each
--checkpoint (one kept by a witness, an auditor or the checkpoint directory) must be
signed by a trusted key and be a prefix of the log: the database must hold at least as
many events (else it was rolled back or truncated) with the same root over them (else
history was rewritten or forked). Events not sealed yet are checked against their hash.
Trusted keys: each --public-key, and the public key of the signing key file if present.
Exits 1, naming what is wrong, when anything is. On a terminal, progress goes to stderr.

Example:

    orgscim audit verify
    orgscim audit verify --checkpoint witness/checkpoint-1024 --public-key "$(cat audit.pub)"`
}

func (c *auditVerifyCmd) Run(env *cliEnv) error {
	opts := audit.VerifyOptions{PublicKeys: c.PublicKey}
	if path := auditKeyPath(c.AuditKey, env.database); path != "" {
		if k, err := audit.LoadKey(path, false); err == nil {
			opts.PublicKeys = append(opts.PublicKeys, k.PublicKey)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	for _, f := range c.Checkpoint {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		opts.Checkpoints = append(opts.Checkpoints, audit.Exported{Name: f, Signed: b})
	}
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	var rep audit.Report
	err = db.Snapshot(env.ctx, func(ctx context.Context) error {
		var r audit.LogReader = db.Audit()
		if isTerminal(env.stderr) && !c.JSON {
			cr := &countingReader{LogReader: r, stderr: env.stderr}
			defer func() { cr.bar.Done() }()
			r = cr
		}
		rep, err = audit.Verify(ctx, r, opts)
		return err
	})
	if err != nil {
		return err
	}
	if c.JSON {
		if err := printJSON(env.stdout, rep); err != nil {
			return err
		}
	} else {
		w := env.stdout
		for _, b := range rep.Breaks {
			fmt.Fprintln(w, "BROKEN", b)
		}
		for _, c := range rep.Checkpoints {
			state := "consistent"
			if !c.OK {
				state = "NOT consistent"
			}
			sig := "signature checked"
			if !c.Signed {
				sig = "signature not checked (no public key)"
			}
			fmt.Fprintf(w, "checkpoint %s (%d events): %s, %s\n", c.Name, c.Size, state, sig)
		}
		fmt.Fprintf(w, "%d events checked (%d in the log, %d pending), %d chains, root %s: ",
			rep.Events, rep.LogSize, rep.Pending, rep.Chains, rep.Root)
		if rep.OK() {
			fmt.Fprintln(w, "intact")
		} else {
			fmt.Fprintf(w, "%d breaks\n", len(rep.Breaks))
		}
	}
	if !rep.OK() {
		return errBroken
	}
	return nil
}

// countingReader advances a progress bar by each event verify reads; the log's size
// gives the total (events not sealed yet come on top).
type countingReader struct {
	audit.LogReader
	stderr io.Writer
	bar    *progress
}

func (c *countingReader) LogState(ctx context.Context) (audit.LogState, error) {
	st, err := c.LogReader.LogState(ctx)
	c.bar = progressTo(c.stderr, st.Size, "audit verify", "events")
	return st, err
}

func (c *countingReader) ScanLog(ctx context.Context, fn func(int64, tlog.Hash, *audit.Event) error) error {
	return c.LogReader.ScanLog(ctx, func(pos int64, leaf tlog.Hash, e *audit.Event) error {
		c.bar.Add(1)
		return fn(pos, leaf, e)
	})
}

type auditCheckpointCmd struct{}

func (auditCheckpointCmd) Help() string {
	return `Prints the audit log's latest signed checkpoint (C2SP signed note: origin, size, root
hash, Ed25519 signature). Keep a copy outside the database; orgscim audit verify
--checkpoint FILE proves the log still extends it.

Example:

    orgscim audit checkpoint > checkpoint-$(date +%F)`
}

func (auditCheckpointCmd) Run(env *cliEnv) error {
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	cp, err := db.Audit().LatestCheckpoint(env.ctx)
	if err != nil {
		return cliError(err)
	}
	_, err = env.stdout.Write(cp)
	return err
}

type auditPublicKeyCmd struct {
	auditKeyFlag
}

func (auditPublicKeyCmd) Help() string {
	return `Prints the public key of the audit log's signing key, for auditors and witnesses to
verify checkpoints and bundles with.

Example:

    orgscim audit public-key --audit-key /etc/orgscim/audit.key`
}

func (c *auditPublicKeyCmd) Run(env *cliEnv) error {
	k, err := loadAuditKey(c.AuditKey, env.database, false)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(env.stdout, k.PublicKey)
	return err
}

type auditSealCmd struct {
	auditKeyFlag
	CheckpointDir string `name:"checkpoint-dir" env:"ORGSCIM_AUDIT_CHECKPOINT_DIR" placeholder:"DIR" help:"Also publish the checkpoint to this append-only directory."`
}

func (auditSealCmd) Help() string {
	return `Seals the events written since the last checkpoint into the log now and prints the new
signed checkpoint (serve does this every --seal-interval).

Example:

    orgscim audit seal`
}

func (c *auditSealCmd) Run(env *cliEnv) error {
	k, err := loadAuditKey(c.AuditKey, env.database, true)
	if err != nil {
		return err
	}
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	var sinks []audit.Sink
	if c.CheckpointDir != "" {
		sinks = append(sinks, audit.DirSink{Dir: c.CheckpointDir})
	}
	sealed, err := newSealer(db, k, sinks...).Once(env.ctx)
	if err != nil {
		return cliError(err)
	}
	if sealed == nil {
		_, err = fmt.Fprintln(env.stdout, "nothing to seal")
		return err
	}
	_, err = env.stdout.Write(sealed.Signed)
	return err
}

// Bundle is the evidence `audit export` writes: an org's events in a time range, each
// with its inclusion proof against one signed checkpoint, and the public key.
type Bundle struct {
	Format     string        `json:"format"`
	Org        string        `json:"org"`
	From       time.Time     `json:"from"`
	To         time.Time     `json:"to"`
	PublicKey  string        `json:"publicKey"`
	Checkpoint string        `json:"checkpoint"`
	Events     []BundleEvent `json:"events"`
}

// BundleEvent is one event of a bundle: the event, the exact bytes the log committed to
// (base64; its leaf hash is SHA-256(0x00 || leaf)), its position and audit path.
type BundleEvent struct {
	Event    audit.Event `json:"event"`
	Leaf     string      `json:"leaf"`
	Position int64       `json:"position"`
	Proof    []string    `json:"proof"`
}

const bundleFormat = "orgscim-audit-bundle/1"

type auditExportCmd struct {
	auditKeyFlag
	Org  string `required:"" placeholder:"SLUG" help:"The events on orgs of this org's subtree."`
	From string `required:"" placeholder:"TIME" help:"RFC 3339 time, inclusive."`
	To   string `required:"" placeholder:"TIME" help:"RFC 3339 time, exclusive."`
	Out  string `placeholder:"FILE" help:"Write the bundle to this file (default: standard output)."`
}

func (auditExportCmd) Help() string {
	return `Writes an evidence bundle for auditors: the events on the org's subtree from --from to
--to, each with its inclusion proof against the latest signed checkpoint, that checkpoint
and the log's public key. orgscim audit verify-bundle FILE checks it offline; the README
shows how to check one without orgscim. Events not sealed yet fail the export: run it
again a second later.

Example:

    orgscim audit export --org acme --from 2030-01-01T00:00:00Z --to 2030-04-01T00:00:00Z --out acme-q1.json`
}

func (c *auditExportCmd) Run(env *cliEnv) error {
	var b Bundle
	var err error
	if b.From, err = time.Parse(time.RFC3339, c.From); err != nil {
		return usagef("--from must be an RFC 3339 time such as 2030-01-02T03:04:05Z")
	}
	if b.To, err = time.Parse(time.RFC3339, c.To); err != nil || !b.To.After(b.From) {
		return usagef("--to must be an RFC 3339 time after --from")
	}
	k, err := loadAuditKey(c.AuditKey, env.database, false)
	if err != nil {
		return err
	}
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := env.ctx
	b.Format, b.Org, b.PublicKey, b.Events = bundleFormat, c.Org, k.PublicKey, []BundleEvent{}
	err = db.Snapshot(ctx, func(ctx context.Context) error {
		o, err := db.Orgs().OrgBySlug(ctx, c.Org)
		if err != nil {
			return err
		}
		q := audit.Query{OrgPath: o.Path, Since: b.From, Until: b.To, Limit: 1000}
		for {
			page, err := db.Audit().Events(ctx, q)
			if err != nil {
				return err
			}
			for i := range page {
				p, err := db.Audit().Proof(ctx, page[i].ID)
				if err != nil {
					return err
				}
				if b.Checkpoint == "" {
					b.Checkpoint = string(p.Checkpoint)
				}
				be := BundleEvent{Event: p.Event, Leaf: base64.StdEncoding.EncodeToString(audit.LeafData(&p.Event)),
					Position: p.Position, Proof: make([]string, len(p.Hashes))}
				for j, h := range p.Hashes {
					be.Proof[j] = base64.StdEncoding.EncodeToString(h[:])
				}
				b.Events = append(b.Events, be)
			}
			if len(page) < q.Limit {
				return nil
			}
			q.After = audit.Cursor(&page[len(page)-1])
		}
	})
	if err != nil {
		return cliError(err)
	}
	if b.Checkpoint == "" {
		if cp, err := db.Audit().LatestCheckpoint(ctx); err == nil {
			b.Checkpoint = string(cp)
		}
	}
	w := env.stdout
	if c.Out != "" {
		f, err := os.OpenFile(c.Out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	// Compact: indenting would re-indent each event's diff, which the leaf holds verbatim.
	return json.NewEncoder(w).Encode(b)
}

type auditVerifyBundleCmd struct {
	jsonFlag
	File      string   `arg:"" name:"FILE" help:"A bundle written by orgscim audit export."`
	PublicKey []string `name:"public-key" placeholder:"KEY" help:"Trust this public key of the log (as obtained from its operator); repeatable."`
}

func (auditVerifyBundleCmd) Help() string {
	return `Checks an evidence bundle of orgscim audit export offline, with no database: the
checkpoint's signature, and for each event that its leaf is the event and that its
inclusion proof leads to the checkpoint's root. Without --public-key it trusts the key
the bundle names, and says so: obtain the log's key from its operator to rely on it.
Exits 1 when anything fails.

Example:

    orgscim audit verify-bundle acme-q1.json --public-key "$(cat audit.pub)"`
}

// bundleReport is what verify-bundle found.
type bundleReport struct {
	Org           string    `json:"org"`
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	Origin        string    `json:"origin,omitempty"`
	TreeSize      int64     `json:"tree_size,omitempty"`
	Events        int       `json:"events"`
	Broken        []string  `json:"broken"`
	TrustedOwnKey bool      `json:"trusted_own_key" doc:"no --public-key: the bundle's own key was trusted"`
	OK            bool      `json:"ok"`
}

func (c *auditVerifyBundleCmd) Run(env *cliEnv) error {
	raw, err := os.ReadFile(c.File)
	if err != nil {
		return err
	}
	var b Bundle
	if err := json.Unmarshal(raw, &b); err != nil || b.Format != bundleFormat {
		return fmt.Errorf("%s is not an orgscim audit bundle (%s)", c.File, bundleFormat)
	}
	rep := bundleReport{Org: b.Org, From: b.From, To: b.To, Events: len(b.Events), Broken: []string{}}
	trusted := c.PublicKey
	if len(trusted) == 0 {
		rep.TrustedOwnKey, trusted = true, []string{b.PublicKey}
	}
	if cp, err := audit.OpenCheckpoint([]byte(b.Checkpoint), trusted); err != nil {
		rep.Broken = append(rep.Broken, err.Error())
	} else {
		rep.Origin, rep.TreeSize = cp.Origin, cp.Size
		for _, be := range b.Events {
			if err := checkBundleEvent(be, cp); err != nil {
				rep.Broken = append(rep.Broken, fmt.Sprintf("event %s: %v", be.Event.ID, err))
			}
		}
	}
	rep.OK = len(rep.Broken) == 0
	if c.JSON {
		if err := printJSON(env.stdout, rep); err != nil {
			return err
		}
	} else {
		w := env.stdout
		if rep.TrustedOwnKey {
			fmt.Fprintf(w, "WARNING: trusting the bundle's own public key %s; pass --public-key to check it against the operator's\n", b.PublicKey)
		}
		for _, br := range rep.Broken {
			fmt.Fprintln(w, "BROKEN", br)
		}
		if rep.Origin != "" {
			fmt.Fprintf(w, "%d events of org %s from %s to %s against checkpoint %s of %d events: ",
				rep.Events, b.Org, b.From.Format(time.RFC3339), b.To.Format(time.RFC3339), rep.Origin, rep.TreeSize)
			if rep.OK {
				fmt.Fprintln(w, "verified")
			} else {
				fmt.Fprintf(w, "%d fail\n", len(rep.Broken))
			}
		}
	}
	if !rep.OK {
		return errBroken
	}
	return nil
}

func checkBundleEvent(be BundleEvent, cp audit.Checkpoint) error {
	leaf, err := base64.StdEncoding.DecodeString(be.Leaf)
	if err != nil {
		return fmt.Errorf("leaf is not base64")
	}
	if !bytes.Equal(leaf, audit.LeafData(&be.Event)) {
		return fmt.Errorf("the event is not what the leaf commits to (modified)")
	}
	p := audit.InclusionProof{Event: be.Event, Position: be.Position, TreeSize: cp.Size}
	for _, s := range be.Proof {
		h, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(h) != tlog.HashSize {
			return fmt.Errorf("proof hash %q is not a base64 SHA-256", s)
		}
		p.Hashes = append(p.Hashes, tlog.Hash(h))
	}
	return p.Check(cp)
}
