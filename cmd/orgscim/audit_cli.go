package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/sqlstore"
)

// errBroken makes `audit verify` exit 1 after it has printed what it found.
var errBroken = errors.New("the audit trail is broken")

type auditVerifyCmd struct {
	jsonFlag
}

func (auditVerifyCmd) Help() string {
	return `Reads every audit chain (one per connection, and the control plane's) from one
consistent snapshot and checks that each event is unchanged, in its place, and that none
is missing or was added after the fact. Each break is named by chain, position and event
id. Memory stays constant however long the chains are. Exits 1 when a chain is broken.
On a terminal, progress goes to stderr.

Example:

    orgscim audit verify
    orgscim audit verify --json --database "$ORGSCIM_DATABASE_URL"`
}

func (c *auditVerifyCmd) Run(env *cliEnv) error {
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := verifyAudit(env.ctx, db, env.stderr, c.JSON)
	if err != nil {
		return err
	}
	if err := printAuditReport(env.stdout, rep, c.JSON); err != nil {
		return err
	}
	if !rep.OK() {
		return errBroken
	}
	return nil
}

// verifyAudit verifies every chain from one snapshot, with a progress bar on a terminal.
func verifyAudit(ctx context.Context, db *sqlstore.DB, stderr io.Writer, asJSON bool) (rep audit.Report, err error) {
	err = db.Snapshot(ctx, func(ctx context.Context) error {
		var r audit.ChainReader = db.Audit()
		if isTerminal(stderr) && !asJSON {
			cr := &countingReader{ChainReader: r, stderr: stderr}
			defer func() { cr.bar.Done() }()
			r = cr
		}
		rep, err = audit.VerifyAll(ctx, r)
		return err
	})
	return rep, err
}

// countingReader advances a progress bar by each event read; the chains' heads give the
// total.
type countingReader struct {
	audit.ChainReader
	stderr io.Writer
	bar    *progress
}

func (c *countingReader) Heads(ctx context.Context) ([]audit.Head, error) {
	heads, err := c.ChainReader.Heads(ctx)
	var total int64
	for _, h := range heads {
		total += h.Seq
	}
	c.bar = progressTo(c.stderr, total, "audit verify", "events")
	return heads, err
}

func (c *countingReader) ScanChain(ctx context.Context, chain string, fn func(*audit.Event) error) error {
	return c.ChainReader.ScanChain(ctx, chain, func(e *audit.Event) error {
		c.bar.Add(1)
		return fn(e)
	})
}

func printAuditReport(w io.Writer, rep audit.Report, asJSON bool) error {
	if asJSON {
		return printJSON(w, rep)
	}
	for _, b := range rep.Breaks {
		fmt.Fprintln(w, "BROKEN", b)
	}
	fmt.Fprintf(w, "%d chains, %d events checked: ", rep.Chains, rep.Events)
	if rep.OK() {
		_, err := fmt.Fprintln(w, "intact")
		return err
	}
	_, err := fmt.Fprintf(w, "%d breaks\n", len(rep.Breaks))
	return err
}
