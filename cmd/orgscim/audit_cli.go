package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/orgscim/orgscim/audit"
)

// errBroken makes `audit verify` exit 1 after it has printed what it found.
var errBroken = errors.New("the audit trail is broken")

func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("audit verify", stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: orgscim audit verify [--json]

Reads every audit chain (one per connection, and the control plane's) from one consistent
snapshot and checks that each event is unchanged, in its place, and that none is missing
or was added after the fact. Each break is named by chain, position and event id.
Memory stays constant however long the chains are. Exits 1 when a chain is broken.

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
	var rep audit.Report
	err = db.Snapshot(ctx, func(ctx context.Context) error {
		rep, err = audit.VerifyAll(ctx, db.Audit())
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
		fmt.Fprintf(stdout, "%d chains, %d events checked: ", rep.Chains, rep.Events)
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
