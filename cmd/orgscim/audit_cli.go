package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
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

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// auditKeyFlag adds --audit-key (env ORGSCIM_AUDIT_KEY_FILE).
func auditKeyFlag(fs *flag.FlagSet) *string {
	return fs.String("audit-key", os.Getenv("ORGSCIM_AUDIT_KEY_FILE"),
		"the file of the audit log's signing key (env ORGSCIM_AUDIT_KEY_FILE; default: audit.key next to the SQLite database)")
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

func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("audit verify", stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	keyFile := auditKeyFlag(fs)
	var checkpoints, keys listFlag
	fs.Var(&checkpoints, "checkpoint", "a signed checkpoint held outside the database (a file); repeatable")
	fs.Var(&keys, "public-key", "a trusted public key of the log (as audit public-key prints it; older keys after a rotation); repeatable")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: orgscim audit verify [--checkpoint FILE ...] [--public-key KEY ...] [--json]

Rebuilds the audit log's Merkle tree from the stored events, from one consistent snapshot
and in constant memory, and checks that every sealed event still matches its leaf, that
none is gone, and that the tree's root is the one of the latest stored checkpoint. Each
--checkpoint (one kept by a witness, an auditor or the checkpoint directory) must be
signed by a trusted key and be a prefix of the log: the database must hold at least as
many events (else it was rolled back or truncated) with the same root over them (else
history was rewritten or forked). Events not sealed yet are checked against their hash.
Trusted keys: each --public-key, and the public key of the signing key file if present.
Exits 1, naming what is wrong, when anything is.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	opts := audit.VerifyOptions{PublicKeys: keys}
	if path := auditKeyPath(*keyFile, *dbURL); path != "" {
		if k, err := audit.LoadKey(path, false); err == nil {
			opts.PublicKeys = append(opts.PublicKeys, k.PublicKey)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	for _, f := range checkpoints {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		opts.Checkpoints = append(opts.Checkpoints, audit.Exported{Name: f, Signed: b})
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var rep audit.Report
	err = db.Snapshot(ctx, func(ctx context.Context) error {
		rep, err = audit.Verify(ctx, db.Audit(), opts)
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		for _, b := range rep.Breaks {
			fmt.Fprintln(stdout, "BROKEN", b)
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
			fmt.Fprintf(stdout, "checkpoint %s (%d events): %s, %s\n", c.Name, c.Size, state, sig)
		}
		fmt.Fprintf(stdout, "%d events checked (%d in the log, %d pending), %d chains, root %s: ",
			rep.Events, rep.LogSize, rep.Pending, rep.Chains, rep.Root)
		if rep.OK() {
			fmt.Fprintln(stdout, "intact")
		} else {
			fmt.Fprintf(stdout, "%d breaks\n", len(rep.Breaks))
		}
	}
	if !rep.OK() {
		return errBroken
	}
	return nil
}

func auditCheckpoint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("audit checkpoint", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: orgscim audit checkpoint

Prints the audit log's latest signed checkpoint (C2SP signed note: origin, size, root hash,
Ed25519 signature). Keep a copy outside the database; orgscim audit verify --checkpoint FILE
proves the log still extends it.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	cp, err := db.Audit().LatestCheckpoint(ctx)
	if err != nil {
		return cliError(err)
	}
	_, err = stdout.Write(cp)
	return err
}

func auditPublicKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("audit public-key", stderr)
	keyFile := auditKeyFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	k, err := loadAuditKey(*keyFile, *dbURL, false)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, k.PublicKey)
	return nil
}

func auditSeal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("audit seal", stderr)
	keyFile := auditKeyFlag(fs)
	dir := fs.String("checkpoint-dir", os.Getenv("ORGSCIM_AUDIT_CHECKPOINT_DIR"), "also publish the checkpoint to this append-only directory")
	if err := parse(fs, args); err != nil {
		return err
	}
	k, err := loadAuditKey(*keyFile, *dbURL, true)
	if err != nil {
		return err
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var sinks []audit.Sink
	if *dir != "" {
		sinks = append(sinks, audit.DirSink{Dir: *dir})
	}
	sealed, err := newSealer(db, k, sinks...).Once(ctx)
	if err != nil {
		return cliError(err)
	}
	if sealed == nil {
		fmt.Fprintln(stdout, "nothing to seal")
		return nil
	}
	_, err = stdout.Write(sealed.Signed)
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

func auditExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("audit export", stderr)
	keyFile := auditKeyFlag(fs)
	org := fs.String("org", "", "org slug: the events on orgs of its subtree (required)")
	from := fs.String("from", "", "RFC 3339 time, inclusive (required)")
	to := fs.String("to", "", "RFC 3339 time, exclusive (required)")
	out := fs.String("out", "", "write the bundle to this file (default: standard output)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: orgscim audit export --org SLUG --from T --to T [--out FILE]

Writes an evidence bundle for auditors: the events on the org's subtree from --from to
--to, each with its inclusion proof against the latest signed checkpoint, that checkpoint
and the log's public key. orgscim audit verify-bundle FILE checks it offline; the README
shows how to check one without orgscim. Events not sealed yet fail the export: run it
again a second later.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	var b Bundle
	var err error
	if *org == "" || *from == "" || *to == "" {
		fmt.Fprintln(stderr, "audit export: --org, --from and --to are required")
		return errUsage
	}
	if b.From, err = time.Parse(time.RFC3339, *from); err != nil {
		fmt.Fprintln(stderr, "audit export: --from must be an RFC 3339 time such as 2030-01-02T03:04:05Z")
		return errUsage
	}
	if b.To, err = time.Parse(time.RFC3339, *to); err != nil || !b.To.After(b.From) {
		fmt.Fprintln(stderr, "audit export: --to must be an RFC 3339 time after --from")
		return errUsage
	}
	k, err := loadAuditKey(*keyFile, *dbURL, false)
	if err != nil {
		return err
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	b.Format, b.Org, b.PublicKey, b.Events = bundleFormat, *org, k.PublicKey, []BundleEvent{}
	err = db.Snapshot(ctx, func(ctx context.Context) error {
		o, err := db.Orgs().OrgBySlug(ctx, *org)
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
	w := stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	// Compact: indenting would re-indent each event's diff, which the leaf holds verbatim.
	return json.NewEncoder(w).Encode(b)
}

func auditVerifyBundle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlags("audit verify-bundle", stderr) // --database, as every command takes; not read
	var keys listFlag
	fs.Var(&keys, "public-key", "trust this public key of the log (as obtained from its operator); repeatable")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: orgscim audit verify-bundle FILE [--public-key KEY ...]

Checks an evidence bundle of orgscim audit export offline, with no database: the
checkpoint's signature, and for each event that its leaf is the event and that its
inclusion proof leads to the checkpoint's root. Without --public-key it trusts the key
the bundle names, and says so: obtain the log's key from its operator to rely on it.
Exits 1 when anything fails.

Flags:
`)
		fs.PrintDefaults()
	}
	file, err := argAndFlags(fs, args, "FILE", stderr)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var b Bundle
	if err := json.Unmarshal(raw, &b); err != nil || b.Format != bundleFormat {
		return fmt.Errorf("%s is not an orgscim audit bundle (%s)", file, bundleFormat)
	}
	trusted := []string(keys)
	if len(trusted) == 0 {
		fmt.Fprintf(stdout, "WARNING: trusting the bundle's own public key %s; pass --public-key to check it against the operator's\n", b.PublicKey)
		trusted = []string{b.PublicKey}
	}
	cp, err := audit.OpenCheckpoint([]byte(b.Checkpoint), trusted)
	if err != nil {
		fmt.Fprintln(stdout, "BROKEN", err)
		return errBroken
	}
	bad := 0
	for _, be := range b.Events {
		if err := checkBundleEvent(be, cp); err != nil {
			fmt.Fprintf(stdout, "BROKEN event %s: %v\n", be.Event.ID, err)
			bad++
		}
	}
	fmt.Fprintf(stdout, "%d events of org %s from %s to %s against checkpoint %s of %d events: ",
		len(b.Events), b.Org, b.From.Format(time.RFC3339), b.To.Format(time.RFC3339), cp.Origin, cp.Size)
	if bad > 0 {
		fmt.Fprintf(stdout, "%d fail\n", bad)
		return errBroken
	}
	fmt.Fprintln(stdout, "verified")
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
