package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
)

// newReconciler wires a reconciler over db; now is the clock (nil for the real one).
func newReconciler(db *sqlstore.DB, now func() time.Time) *reconcile.Reconciler {
	return &reconcile.Reconciler{Store: db.Reconcile(), Tx: db, Audit: db.Audit(), Now: now,
		Reviews: newServices(db, now).reviews,
		Verify: func(ctx context.Context) (rep audit.Report, err error) {
			err = db.Snapshot(ctx, func(ctx context.Context) error {
				rep, err = audit.VerifyAll(ctx, db.Audit())
				return err
			})
			return rep, err
		}}
}

const reconcileUsage = `Usage: orgscim reconcile [--dry-run] [--json]
       orgscim reconcile show RUN [--json]

Runs one reconciliation pass: revokes the grants and delegations past their expiry
(delegations with everything delegated through them); offboards partners whose
relationship is over (status ended, or contract end plus grace passed): their subtree's
grants revoked, connections suspended, tokens revoked; each batch in its own transaction,
audited with its rule and run; closes the access reviews past their deadline, revoking
the grants nobody confirmed (rule review-deadline); then verifies every audit chain. Expiry already
denies access at query time; the pass records it and tells webhook subscribers.

Only one pass runs at a time (a PostgreSQL advisory lock; on SQLite, the process): a
second one exits with an error. A pass that is killed can simply be run again.
--dry-run prints the plan and changes nothing. "show RUN" prints a recorded pass.

Flags:
`

func reconcileCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "show" {
		return reconcileShow(ctx, args[1:], stdout, stderr)
	}
	fs, dbURL := newFlags("reconcile", stderr)
	dry := fs.Bool("dry-run", false, "print what the pass would do, change nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), reconcileUsage)
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
	run, err := newReconciler(db, nil).Once(ctx, reconcile.Options{DryRun: *dry})
	if run != nil {
		if perr := printRun(stdout, run, *asJSON); perr != nil && err == nil {
			err = perr
		}
	}
	if err == nil && run != nil && len(run.Report.AuditBreaks) > 0 {
		return errBroken
	}
	return cliError(err)
}

func reconcileShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("reconcile show", stderr)
	asJSON := fs.Bool("json", false, "print the run as JSON")
	var id string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		id, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if id == "" {
		fmt.Fprintln(stderr, "reconcile show: RUN is required")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	run, err := db.Reconcile().Run(ctx, id)
	if err != nil {
		return cliError(err)
	}
	return printRun(stdout, run, *asJSON)
}

func printRun(w io.Writer, run *reconcile.Run, asJSON bool) error {
	if asJSON {
		return printJSON(w, map[string]any{"id": run.ID, "state": run.State, "started_at": run.Started,
			"finished_at": run.Finished, "report": run.Report})
	}
	id := run.ID
	if run.Report.DryRun {
		id = "(dry run)"
	}
	_, err := fmt.Fprintf(w, "reconciler run %s: %s\n  %s\n", id, run.State, run.Report.String())
	return err
}
