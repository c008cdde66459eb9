package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
)

// newReconciler wires a reconciler over db; now is the clock (nil for the real one).
func newReconciler(db *sqlstore.DB, now func() time.Time) *reconcile.Reconciler {
	// Stale members are deactivated, and drift repaired, through the same domain
	// services as requests, so that their consequences are the same.
	svc := newServices(db, now)
	return &reconcile.Reconciler{Store: db.Reconcile(), Tx: db, Audit: db.Audit(), Now: now,
		Users: svc.users, Mappings: svc.access, Reviews: svc.reviews,
		Verify: func(ctx context.Context) (rep audit.Report, err error) {
			err = db.Snapshot(ctx, func(ctx context.Context) error {
				rep, err = audit.VerifyAll(ctx, db.Audit())
				return err
			})
			return rep, err
		}}
}

// runsAndApprovals is what the admin API serves of the reconciler: recorded runs from
// the store, approvals from the reconciler.
type runsAndApprovals struct {
	sqlstore.Reconcile
	*reconcile.Reconciler
}

const reconcileUsage = `Usage: orgscim reconcile [--dry-run] [--json]
       orgscim reconcile show RUN [--json]
       orgscim reconcile approve RUN [--connection SLUG ...] [--json]

Runs one reconciliation pass, each rule audited with its name and the run:
  grant-expired       revoke grants past their expiry
  delegation-expired  revoke delegations past their expiry, with what was delegated
                      through them
  contract-ended      offboard partners whose relationship is over (status ended, or
                      contract end plus grace passed): grants revoked, connections
                      suspended, tokens revoked
  review-deadline     close the access reviews past their deadline, revoking the grants
                      nobody confirmed, with the review as the reason
  stale-member        deactivate members their IdP has not written within the
                      connection's stale window (orgscim connection policy), revoking
                      their grants and delegations
  drift               re-derive the grants each active mapping implies from its group's
                      members and fix both ways
  orphan              revoke grants of retired mappings and of users gone or inactive
  audit-chain         verify every audit chain
Each batch is its own transaction and revokes only what is still live, so a pass that
is killed can simply be run again.

Guardrail: when a pass would revoke more grants, or deactivate more members, in a
connection than its policy allows (default 500; see orgscim connection policy), it
applies nothing there, records the plan as held and reports it. "approve RUN" applies
the held plans of that run (or of the given connections), judged as of the run's time;
it refuses when the plan has grown since. An access review's deadline is a person's
decision already, and is not held.

Only one pass runs at a time (a PostgreSQL advisory lock; on SQLite, the process): a
second one exits with an error. --dry-run prints the plan and changes nothing.
"show RUN" prints a recorded pass. On a terminal, progress goes to stderr.

Flags:
`

func reconcileCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "show" {
		return reconcileShow(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "approve" {
		return reconcileApprove(ctx, args[1:], stdout, stderr)
	}
	fs, dbURL := newFlags("reconcile", stderr)
	dry := fs.Bool("dry-run", false, "print what the pass would do, change nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	batch := fs.Int("batch", 500, "changes per transaction")
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
	if *batch < 1 {
		fmt.Fprintln(stderr, "reconcile: --batch must be at least 1")
		return errUsage
	}
	rec := newReconciler(db, nil)
	rec.Progress, rec.Batch = progressTo(stderr), *batch
	run, err := rec.Once(ctx, reconcile.Options{DryRun: *dry})
	if rec.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
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

// progressTo reports a pass's progress on w when w is a terminal, overwriting one line.
func progressTo(w io.Writer) func(rule string, done int) {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return func(rule string, done int) {
		fmt.Fprintf(f, "\r\033[K  %-20s %8d done", rule, done)
	}
}

func reconcileApprove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("reconcile approve", stderr)
	asJSON := fs.Bool("json", false, "print the approval's run as JSON")
	var conns stringList
	fs.Var(&conns, "connection", "approve only this connection's held plan (repeatable; default: all of the run's)")
	id, err := argAndFlags(fs, args, "RUN", stderr)
	if err != nil {
		return err
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var ids []string
	for _, slug := range conns {
		c, err := db.Orgs().ConnectionBySlug(ctx, slug)
		if err != nil {
			return cliError(err)
		}
		ids = append(ids, c.ID)
	}
	rec := newReconciler(db, nil)
	rec.Progress = progressTo(stderr)
	run, err := rec.Approve(ctx, id, audit.SourceOf(ctx).Actor, ids)
	if rec.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if run != nil {
		if perr := printRun(stdout, run, *asJSON); perr != nil && err == nil {
			err = perr
		}
	}
	return cliError(err)
}

func reconcileShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("reconcile show", stderr)
	asJSON := fs.Bool("json", false, "print the run as JSON")
	id, err := argAndFlags(fs, args, "RUN", stderr)
	if err != nil {
		return err
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	run, err := db.Reconcile().RunWithHolds(ctx, id)
	if err != nil {
		return cliError(err)
	}
	return printRun(stdout, run, *asJSON)
}

func printRun(w io.Writer, run *reconcile.Run, asJSON bool) error {
	if asJSON {
		return printJSON(w, map[string]any{"id": run.ID, "kind": run.Kind, "state": run.State, "started_at": run.Started,
			"finished_at": run.Finished, "report": run.Report})
	}
	id := run.ID
	if run.Report.DryRun {
		id = "(dry run)"
	}
	_, err := fmt.Fprintf(w, "reconciler run %s: %s\n  %s\n", id, run.State, run.Report.String())
	return err
}
