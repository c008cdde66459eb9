package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/domains"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
)

// newReconciler wires a reconciler over db; now is the clock (nil for the real one).
func newReconciler(db *sqlstore.DB, now func() time.Time) *reconcile.Reconciler {
	// Stale members are deactivated, and drift repaired, through the same domain
	// services as requests, so that their consequences are the same.
	svc := newServices(db, now)
	return &reconcile.Reconciler{Store: db.Reconcile(), Tx: db, Audit: db.Audit(), Now: now,
		Users: svc.users, Mappings: svc.access, Reviews: svc.reviews, Domains: svc.domains, Support: svc.support,
		ServiceAccounts: svc.serviceAccounts, MSP: svc.msps,
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

const reconcileHelp = `Runs one reconciliation pass, each rule audited with its name and the run:

    grant-expired       revoke grants past their expiry
    delegation-expired  revoke delegations past their expiry, with what was
                        delegated through them
    contract-ended      offboard partners whose relationship is over (status ended,
                        or contract end plus grace passed): grants revoked,
                        connections suspended, tokens revoked
    review-deadline     close the access reviews past their deadline, revoking the
                        grants nobody confirmed, with the review as the reason
    stale-member        deactivate members their IdP has not written within the
                        connection's stale window (orgscim connection policy)
    drift               re-derive the grants each active mapping implies from its
                        group's members and fix both ways
    orphan              revoke grants of retired mappings and of users gone or inactive
    domain-lapsed       re-verify every verified e-mail domain; one that no longer
                        proves lapses (new users in it refused, no link by e-mail)
    service-account-orphaned
                        mark service accounts whose owner is gone as orphans,
                        with a deadline to reassign or retire them
    service-account-retired
                        retire orphans past their deadline, with their grants
                        and integration tokens
    msp-ended           revoke MSP engagements past their expiry or whose MSP's or
                        customer's relationship ended, with their technicians
    audit-chain         verify every audit chain

Each batch is its own transaction and revokes only what is still live, so a pass that
is killed can simply be run again.

Guardrail: when a pass would revoke more grants, or deactivate more members, in a
connection than its policy allows (default 500; see orgscim connection policy), it
applies nothing there, records the plan as held, reports it per connection (by slug,
with the counts per rule it holds back) and exits 3. "orgscim reconcile approve RUN"
applies the held plans of that run, judged as of the run's time; it refuses when the
plan has grown since. An access review's deadline is a person's decision already, and
is not held.

Only one pass runs at a time (a PostgreSQL advisory lock; on SQLite, the process): a
second one exits with an error. --dry-run prints the plan and changes nothing (and
exits 3 when it would hold a plan). On a terminal, progress goes to stderr.

Exit status: 0 done, 1 failed or an audit chain is broken, 3 a plan was held.

Example:

    orgscim reconcile --dry-run
    orgscim reconcile --json
    orgscim reconcile show 3f0c9a52-1b8e-4bde-a7f4-0c3e1d2b6a77`

// errHeld makes a pass that held a plan exit 3, after its report: a cron job or CI
// step sees that a person must approve.
func errHeld(run *reconcile.Run) error {
	msg := "the guardrail held a plan; approve it with: orgscim reconcile approve " + run.ID
	if run.Report.DryRun {
		msg = "the guardrail would hold a plan (dry run)"
	}
	return &codedError{code: exitHeld, msg: msg}
}

// reconcileGroup is "orgscim reconcile": a pass by default, or show or approve one.
type reconcileGroup struct {
	Run     reconcileRunCmd     `cmd:"" default:"withargs" help:"Run one lifecycle pass (the default: orgscim reconcile [--dry-run] [--json])."`
	Show    reconcileShowCmd    `cmd:"" help:"Show a recorded pass and what it did."`
	Approve reconcileApproveCmd `cmd:"" help:"Apply the plans the guardrail held in a pass."`
}

func (reconcileGroup) Help() string { return reconcileHelp }

type reconcileRunCmd struct {
	DryRun bool `help:"Print what the pass would do, change nothing."`
	Batch  int  `default:"500" help:"Changes per transaction."`
	jsonFlag
	dnsResolverFlag
	serviceAccountPolicy
}

// serviceAccountPolicy is the deployment's policy for service accounts: how long one may
// live, and how long its org's administrators have to reassign an orphan before the
// reconciler retires it.
type serviceAccountPolicy struct {
	ServiceAccountMaxLifetime time.Duration `name:"service-account-max-lifetime" default:"2160h" env:"ORGSCIM_SERVICE_ACCOUNT_MAX_LIFETIME" placeholder:"DURATION" help:"The longest a service account may live (default 90 days)."`
	ServiceAccountOrphanGrace time.Duration `name:"service-account-orphan-grace" default:"336h" env:"ORGSCIM_SERVICE_ACCOUNT_ORPHAN_GRACE" placeholder:"DURATION" help:"How long an orphaned service account (its owner gone) waits to be reassigned before the reconciler retires it (default 14 days)."`
}

// apply sets the policy on the service, refusing durations that are not positive.
func (p serviceAccountPolicy) apply(s *orgs.ServiceAccounts) error {
	if p.ServiceAccountMaxLifetime < 0 || p.ServiceAccountOrphanGrace < 0 {
		return usagef("--service-account-max-lifetime and --service-account-orphan-grace must not be negative")
	}
	s.MaxLifetime, s.OrphanGrace = p.ServiceAccountMaxLifetime, p.ServiceAccountOrphanGrace
	return nil
}

// dnsResolverFlag names the DNS server asked for domain verification records.
type dnsResolverFlag struct {
	DNSResolver string `name:"dns-resolver" env:"ORGSCIM_DNS_RESOLVER" placeholder:"HOST:PORT" help:"The DNS server asked for domain verification TXT records (default: the system's, from /etc/resolv.conf)."`
}

func (reconcileRunCmd) Help() string {
	return `The default command of orgscim reconcile; see orgscim reconcile --help.

Example:

    orgscim reconcile --dry-run --json`
}

func (c *reconcileRunCmd) Run(env *cliEnv) error {
	if c.Batch < 1 {
		return usagef("--batch must be at least 1")
	}
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	rec := newReconciler(db, nil)
	rec.Domains.(*domains.Service).Proofs = domainProofs(c.DNSResolver)
	if err := c.serviceAccountPolicy.apply(rec.ServiceAccounts.(*orgs.ServiceAccounts)); err != nil {
		return err
	}
	bar := newProgress(env.stderr, c.JSON, -1, "reconcile", "changes")
	rec.Progress, rec.Batch = bar.rule(), c.Batch
	run, err := rec.Once(env.ctx, reconcile.Options{DryRun: c.DryRun})
	bar.Done()
	if run != nil {
		if perr := printRun(env.ctx, env.stdout, db, run, c.JSON); perr != nil && err == nil {
			err = perr
		}
	}
	if err != nil {
		return cliError(err)
	}
	if run != nil && len(run.Report.AuditBreaks) > 0 {
		return errBroken
	}
	if run != nil && heldNow(run) {
		return errHeld(run)
	}
	return nil
}

// heldNow reports whether the run holds a plan that nobody has approved.
func heldNow(run *reconcile.Run) bool {
	for _, h := range run.Report.Held {
		if h.State == "held" {
			return true
		}
	}
	return false
}

// rule adapts the bar to the reconciler's progress callback: per rule, changes done.
func (p *progress) rule() func(rule string, done int) {
	if p == nil {
		return nil
	}
	last := map[string]int{}
	return func(rule string, done int) {
		p.Describe("reconcile: " + rule)
		p.Add(done - last[rule])
		last[rule] = done
	}
}

type reconcileApproveCmd struct {
	RunID      string   `arg:"" name:"RUN" help:"The pass whose held plans to apply."`
	Connection []string `placeholder:"SLUG" help:"Approve only this connection's held plan (repeatable; default: all of the run's)."`
	actor
	jsonFlag
}

func (reconcileApproveCmd) Help() string {
	return `Applies the plans the guardrail held in RUN, judged as of the run's time; refuses
when a plan has grown since, so nobody approves more than they saw.

Example:

    orgscim reconcile show 3f0c9a52-1b8e-4bde-a7f4-0c3e1d2b6a77
    orgscim reconcile approve 3f0c9a52-1b8e-4bde-a7f4-0c3e1d2b6a77 --connection acme`
}

func (c *reconcileApproveCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	var ids []string
	for _, slug := range c.Connection {
		conn, err := db.Orgs().ConnectionBySlug(ctx, slug)
		if err != nil {
			return cliError(err)
		}
		ids = append(ids, conn.ID)
	}
	rec := newReconciler(db, nil)
	bar := newProgress(env.stderr, c.JSON, -1, "reconcile approve", "changes")
	rec.Progress = bar.rule()
	run, err := rec.Approve(ctx, c.RunID, audit.SourceOf(ctx).Actor, ids)
	bar.Done()
	if run != nil {
		if perr := printRun(ctx, env.stdout, db, run, c.JSON); perr != nil && err == nil {
			err = perr
		}
	}
	return cliError(err)
}

type reconcileShowCmd struct {
	RunID string `arg:"" name:"RUN" help:"The pass's id, as reconcile prints it."`
	jsonFlag
}

func (reconcileShowCmd) Help() string {
	return `Example:

    orgscim reconcile show 3f0c9a52-1b8e-4bde-a7f4-0c3e1d2b6a77 --json`
}

func (c *reconcileShowCmd) Run(env *cliEnv) error {
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	run, err := db.Reconcile().RunWithHolds(env.ctx, c.RunID)
	if err != nil {
		return cliError(err)
	}
	return printRun(env.ctx, env.stdout, db, run, c.JSON)
}

// heldView is a held plan as --json prints it: the hold, its connection's slug and
// what it holds back per rule.
type heldView struct {
	*reconcile.Hold
	Connection string         `json:"connection"`
	Revoke     map[string]int `json:"revoke"`
}

// printRun prints a run with its held plans named by connection slug. The JSON keeps
// the stored report as it is and adds "held": the holds with their slugs.
func printRun(ctx context.Context, w io.Writer, db *sqlstore.DB, run *reconcile.Run, asJSON bool) error {
	slugs := map[string]string{}
	held := make([]heldView, len(run.Report.Held))
	for i, h := range run.Report.Held {
		slugs[h.ConnectionID] = h.ConnectionID
		if c, err := db.Access().ConnectionByID(ctx, h.ConnectionID); err == nil {
			slugs[h.ConnectionID] = c.Slug
		}
		rev := h.Plan.Revoke
		if rev == nil {
			rev = map[string]int{}
		}
		held[i] = heldView{Hold: h, Connection: slugs[h.ConnectionID], Revoke: rev}
	}
	if asJSON {
		return printJSON(w, map[string]any{"id": run.ID, "kind": run.Kind, "state": run.State, "started_at": run.Started,
			"finished_at": run.Finished, "report": run.Report, "held": held})
	}
	id := run.ID
	if run.Report.DryRun {
		id = "(dry run)"
	}
	_, err := fmt.Fprintf(w, "reconciler run %s: %s\n  %s\n", id, run.State,
		run.Report.Text(func(id string) string { return slugs[id] }))
	return err
}
