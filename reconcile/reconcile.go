package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// Rules, as recorded in reports and audit events.
const (
	RuleGrantExpired      = "grant-expired"
	RuleDelegationExpired = "delegation-expired"
	RuleContractEnded     = "contract-ended"
	RuleStaleMember       = "stale-member"
	RuleDrift             = "drift"
	RuleOrphan            = "orphan"
	RuleAuditChain        = "audit-chain"
	// RuleReviewDeadline is in reviews.go.
)

// Actor is who the reconciler's changes are recorded as.
const Actor = "system:reconciler"

// Store is what a pass reads and changes. Queries that take a Scope see only the
// connections it admits: the guardrail keeps a pass out of the connections it holds,
// and an approval applies a held plan to those connections alone.
type Store interface {
	Lead(ctx context.Context) (Leadership, error)
	ExpiredGrants(ctx context.Context, at time.Time, sc Scope, limit int) ([]*orgs.Grant, error)
	// RevokeGrantIDs revokes those of ids still live and returns them.
	RevokeGrantIDs(ctx context.Context, ids []string, at time.Time, by, reason string) ([]string, error)
	ExpiredDelegations(ctx context.Context, at time.Time, limit int) ([]*orgs.Delegation, error)
	RevokeDelegationTree(ctx context.Context, id string, at time.Time, by, reason string) ([]*orgs.Delegation, error)
	// EndedOrgs returns the orgs whose relationship is over (ended, or contract end
	// plus grace passed) and whose subtree still has access to take away.
	EndedOrgs(ctx context.Context, at time.Time) ([]*orgs.Org, error)
	LiveGrantsUnder(ctx context.Context, path string, sc Scope, limit int) ([]*orgs.Grant, error)
	// LiveDelegationsUnder returns up to limit live delegations on the subtree at path,
	// those highest in the tree first.
	LiveDelegationsUnder(ctx context.Context, path string, limit int) ([]*orgs.Delegation, error)
	// ShutConnectionsUnder suspends the subtree's connections and revokes their tokens.
	ShutConnectionsUnder(ctx context.Context, path string, sc Scope, at time.Time) (map[string]Shut, error)
	// StaleUsers returns up to limit active members whose IdP has not written them
	// within their connection's stale window, as of at.
	StaleUsers(ctx context.Context, at time.Time, sc Scope, limit int) ([]StaleUser, error)
	// ActiveMappings returns up to limit active mappings with ids after after, in id
	// order: a pass streams them.
	ActiveMappings(ctx context.Context, after string, sc Scope, limit int) ([]*orgs.Mapping, error)
	// DriftUsers returns up to limit users whose grants from m differ from what m's
	// group implies: members without the grant, holders that are not members.
	DriftUsers(ctx context.Context, m *orgs.Mapping, limit int) ([]string, error)
	// StrayGrants returns up to limit live grants nothing justifies any more: from a
	// mapping that is no longer active, or held by a user who is gone or inactive.
	StrayGrants(ctx context.Context, sc Scope, limit int) ([]*orgs.Grant, error)
	// Plan counts, per connection, what each rule would change as of at.
	Plan(ctx context.Context, at time.Time, ended []*orgs.Org, sc Scope) (map[string]*Tally, error)
	// Sizes returns the live grants and active users of the connections.
	Sizes(ctx context.Context, conns []string) (map[string]Size, error)
	Policies(ctx context.Context, conns []string) (map[string]orgs.Policy, error)
	StartRun(ctx context.Context, r *Run) error
	FinishRun(ctx context.Context, r *Run) error
	Run(ctx context.Context, id string) (*Run, error)
	// Hold records a plan the guardrail held; Holds returns a run's holds.
	Hold(ctx context.Context, h *Hold) error
	Holds(ctx context.Context, runID string) ([]*Hold, error)
	// DecideHold marks a held plan approved, by whom and by which run it was applied.
	DecideHold(ctx context.Context, h *Hold) error
	// ServiceAccountOwners names the owner's connection of each of ids that is a
	// service account: a revoked grant of one is recorded there (orgs.GrantConnections).
	ServiceAccountOwners(ctx context.Context, ids []string) (map[string]string, error)
}

// Users deactivates members on behalf of a rule; provisioning.Users does, with the
// same consequences (grants and delegations revoked) as a deactivation by the IdP.
type Users interface {
	Deactivate(ctx context.Context, conn, id string, c provisioning.Cause, check func(*provisioning.User) error) (bool, error)
}

// Mappings re-synchronises a mapping's grants for some users; orgs.Access does.
type Mappings interface {
	RepairMapping(ctx context.Context, m *orgs.Mapping, users []string, actor, reason string) (added, revoked int, err error)
}

// Shut is what offboarding did to one connection.
type Shut struct {
	Suspended bool
	From      string   // the status it was suspended from: active, or pending (onboarded, never pushed)
	Tokens    []string // revoked
}

// StaleUser is a member a pass deactivates.
type StaleUser struct {
	ConnectionID string
	ID           string
	LastWritten  time.Time
	Window       time.Duration
}

// Scope limits a pass to some connections: those in Only, when it is set, and never
// those in Except. Changes that belong to no connection (the control plane's) are in
// every scope without Only.
type Scope struct {
	Only   []string
	Except []string
}

// Includes reports whether the scope admits the connection.
func (s Scope) Includes(conn string) bool {
	if s.Only != nil {
		return slices.Contains(s.Only, conn)
	}
	return !slices.Contains(s.Except, conn)
}

// Leadership is held for the length of a pass.
type Leadership interface {
	// Check fails when the lock is no longer held; the pass then stops.
	Check(ctx context.Context) error
	Release()
}

// AuditLog records an event in the context's transaction.
type AuditLog interface {
	Record(ctx context.Context, e audit.Event) error
}

// Reconciler runs passes. Store, Tx and Audit are required; Users (stale members),
// Mappings (drift repair) and Verify (the audit chain check) are optional, and without
// them their rules do not run.
type Reconciler struct {
	Store    Store
	Tx       provisioning.Transactor
	Audit    AuditLog
	Users    Users
	Mappings Mappings
	Verify   func(ctx context.Context) (audit.Report, error)
	Now      func() time.Time
	Batch    int // changes per transaction; 0 means 500
	// Progress, when set, is told after each batch how far the pass is.
	Progress func(rule string, done int)
	// Reviews, when set, closes the access reviews past their deadline (rule
	// review-deadline).
	Reviews ReviewCloser
	// Domains, when set, re-verifies the verified e-mail domains (rule domain-lapsed).
	Domains DomainRecheck
	// Support, when set, records the end of support sessions past their expiry (rule
	// support-expired).
	Support SupportSweep
	// ServiceAccounts, when set, orphans and retires service accounts whose owner is
	// gone (rules service-account-orphaned and service-account-retired).
	ServiceAccounts ServiceAccountSweep
	// MSP, when set, revokes the MSP engagements that are over for good (rule msp-ended).
	MSP MSPSweep
}

// Options of one pass.
type Options struct {
	DryRun bool
}

// Run is the record of a pass.
type Run struct {
	ID       string
	Kind     string // pass, or approval (of Approves's held plans)
	Approves string
	Started  time.Time
	Finished *time.Time
	AsOf     time.Time
	State    string // running, done, failed
	Report   Report

	plan map[string]*Tally // what the pass counted before applying anything
}

// RunStat summarises the recorded passes of one state.
type RunStat struct {
	Count        int64
	LatestFinish time.Time
}

// Report is what a pass did, or in a dry run would do.
type Report struct {
	RunID    string       `json:"run_id,omitempty"`
	Kind     string       `json:"kind,omitempty"`
	Approves string       `json:"approves,omitempty"`
	AsOf     time.Time    `json:"as_of"`
	DryRun   bool         `json:"dry_run"`
	Rules    []RuleResult `json:"rules"`
	// Held lists the connections where the plan exceeded the guardrail: nothing was
	// applied there, and "orgscim reconcile approve RUN" applies it.
	Held []*Hold `json:"held"`
	// AuditBreaks are the breaks the audit chain check found; AuditEvents how many
	// events it checked.
	AuditEvents int64         `json:"audit_events"`
	AuditBreaks []audit.Break `json:"audit_breaks"`
	Error       string        `json:"error,omitempty"`
}

// RuleResult is one rule's outcome.
type RuleResult struct {
	Rule   string `json:"rule"`
	Action string `json:"action"` // what it does to each item
	Count  int    `json:"count"`
	// ByConnection counts by tenant (the connection id, or "control").
	ByConnection map[string]int `json:"by_connection"`
	// IDs lists the first items (up to 100).
	IDs []string `json:"ids"`
}

// ReportJSON is the report as stored.
func (r *Run) ReportJSON() (string, error) {
	b, err := json.Marshal(r.Report)
	return string(b), err
}

// SetReportJSON reads a stored report.
func (r *Run) SetReportJSON(s string) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), &r.Report)
}

const listed = 100

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

func (r *Reconciler) batch() int {
	if r.Batch > 0 {
		return r.Batch
	}
	return 500
}

// Once runs one pass as of now. It fails with Conflict when another pass leads.
func (r *Reconciler) Once(ctx context.Context, opts Options) (*Run, error) {
	lead, err := r.Store.Lead(ctx)
	if err != nil {
		return nil, err
	}
	defer lead.Release()
	asOf := r.now()
	run := &Run{ID: provisioning.NewID(), Kind: "pass", Started: asOf, AsOf: asOf}
	return r.execute(ctx, run, opts, func(ctx context.Context) error { return r.pass(ctx, lead, run, opts) })
}

// execute records run around do: started, then finished with its report, even when do
// failed; a dry run records nothing.
func (r *Reconciler) execute(ctx context.Context, run *Run, opts Options, do func(ctx context.Context) error) (*Run, error) {
	run.State = "running"
	ctx = audit.WithSource(ctx, audit.Source{Actor: Actor, RequestID: run.ID})
	run.Report = Report{AsOf: run.AsOf, DryRun: opts.DryRun, Kind: run.Kind, Approves: run.Approves,
		Rules: []RuleResult{}, Held: []*Hold{}, AuditBreaks: []audit.Break{}}
	if !opts.DryRun {
		run.Report.RunID = run.ID
		if err := r.Store.StartRun(ctx, run); err != nil {
			return nil, err
		}
	}
	err := do(ctx)
	finished := r.now()
	run.Finished, run.State = &finished, "done"
	if err != nil {
		run.State = "failed"
		run.Report.Error = orgscim.ErrorMessage(err)
	}
	if !opts.DryRun {
		// Recorded even when the pass failed, with what it had done by then; the
		// context may be the one that ended the pass, so a fresh one records it.
		if ferr := r.Store.FinishRun(context.WithoutCancel(ctx), run); ferr != nil && err == nil {
			err = ferr
		}
	}
	return run, err
}

// pass plans, holds back what exceeds a connection's guardrail, and applies the rest,
// rule by rule.
func (r *Reconciler) pass(ctx context.Context, lead Leadership, run *Run, opts Options) error {
	ended, err := r.Store.EndedOrgs(ctx, run.AsOf)
	if err != nil {
		return err
	}
	if run.plan, err = r.Store.Plan(ctx, run.AsOf, ended, Scope{}); err != nil {
		return err
	}
	held, err := r.guard(ctx, run, run.plan, opts)
	if err != nil {
		return err
	}
	sc := Scope{Except: held}
	if err := r.apply(ctx, lead, run, sc, ended, opts, true); err != nil {
		return err
	}
	if r.Verify != nil {
		if err := lead.Check(ctx); err != nil {
			return err
		}
		rep, err := r.Verify(ctx)
		if err != nil {
			return err
		}
		run.Report.AuditEvents, run.Report.AuditBreaks = rep.Events, rep.Breaks
	}
	return nil
}

// apply runs the rules within sc; the control plane's own rules (delegations) run only
// when control is set, in a pass but not in an approval.
func (r *Reconciler) apply(ctx context.Context, lead Leadership, run *Run, sc Scope, ended []*orgs.Org, opts Options, control bool) error {
	steps := []func() ([]RuleResult, error){
		func() ([]RuleResult, error) {
			res, err := r.expireGrants(ctx, lead, run, sc, opts)
			return []RuleResult{res}, err
		},
		func() ([]RuleResult, error) {
			if !control {
				return nil, nil
			}
			res, err := r.expireDelegations(ctx, lead, run, opts)
			return []RuleResult{res}, err
		},
		func() ([]RuleResult, error) {
			// Before offboarding: an engagement revoked here hands what its technicians
			// made on a customer still in force back to the customer's administrator,
			// which offboarding the MSP's delegations would not. An engagement joins two
			// orgs, not a connection in scope.
			if !control {
				return nil, nil
			}
			return r.endEngagements(ctx, lead, opts)
		},
		func() ([]RuleResult, error) { return r.offboardEnded(ctx, lead, run, sc, ended, opts) },
		func() ([]RuleResult, error) {
			// A review's deadline is a person's decision, not the guardrail's concern.
			if !control {
				return nil, nil
			}
			return r.closeReviews(ctx, lead, run, opts)
		},
		func() ([]RuleResult, error) {
			// A domain belongs to an org, not to a connection in scope.
			if !control {
				return nil, nil
			}
			return r.recheckDomains(ctx, lead, opts)
		},
		func() ([]RuleResult, error) {
			if !control {
				return nil, nil
			}
			return r.endSupportSessions(ctx, lead, opts)
		},
		func() ([]RuleResult, error) {
			// A service account belongs to an org, not to a connection in scope.
			if !control {
				return nil, nil
			}
			return r.sweepServiceAccounts(ctx, lead, opts)
		},

		func() ([]RuleResult, error) { res, err := r.deactivateStale(ctx, lead, run, sc, opts); return res, err },
		func() ([]RuleResult, error) { return r.repairDrift(ctx, lead, run, sc, opts) },
		func() ([]RuleResult, error) {
			res, err := r.revokeStrays(ctx, lead, run, sc, opts)
			return []RuleResult{res}, err
		},
	}
	for _, step := range steps {
		res, err := step()
		run.Report.Rules = append(run.Report.Rules, res...)
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *Reconciler) progress(rule string, res RuleResult) {
	if r.Progress != nil {
		r.Progress(rule, res.Count)
	}
}

func newResult(rule, action string) RuleResult {
	return RuleResult{Rule: rule, Action: action, ByConnection: map[string]int{}, IDs: []string{}}
}

func (res *RuleResult) add(tenant, id string) {
	res.Count++
	res.ByConnection[tenant]++
	if len(res.IDs) < listed {
		res.IDs = append(res.IDs, id)
	}
}

// addN counts n changes on one item (a mapping whose grants were repaired).
func (res *RuleResult) addN(tenant, id string, n int) {
	if n <= 0 {
		return
	}
	res.Count += n
	res.ByConnection[tenant] += n
	if len(res.IDs) < listed && !slices.Contains(res.IDs, id) {
		res.IDs = append(res.IDs, id)
	}
}

func tenantOf(conn string) string {
	if conn == "" {
		return audit.Control
	}
	return conn
}

// expireDelegations revokes the live delegations past their expiry, with what was
// delegated through them.
func (r *Reconciler) expireDelegations(ctx context.Context, lead Leadership, run *Run, opts Options) (RuleResult, error) {
	res := newResult(RuleDelegationExpired, "revoke with what was delegated through it")
	for {
		if err := lead.Check(ctx); err != nil {
			return res, err
		}
		limit := r.batch()
		if opts.DryRun {
			limit = 10_000
		}
		due, err := r.Store.ExpiredDelegations(ctx, run.AsOf, limit)
		if err != nil || len(due) == 0 {
			return res, err
		}
		if opts.DryRun {
			for _, d := range due {
				res.add(tenantOf(d.HolderConnectionID), d.ID)
			}
			return res, nil
		}
		for _, d := range due {
			if err := r.revokeDelegation(ctx, run, RuleDelegationExpired, d, "expired", &res); err != nil {
				return res, err
			}
		}
	}
}

// revokeDelegation revokes d with what was delegated through it, in its own
// transaction, and records it as one event of the rule.
func (r *Reconciler) revokeDelegation(ctx context.Context, run *Run, rule string, d *orgs.Delegation, reason string, res *RuleResult) error {
	return r.Tx.InTx(ctx, func(ctx context.Context) error {
		revoked, err := r.Store.RevokeDelegationTree(ctx, d.ID, r.now(), Actor, reason+" (reconciler run "+run.ID+")")
		if orgscim.ErrorCode(err) == orgscim.NotFound {
			return nil // revoked meanwhile, or with a delegation above it
		}
		if err != nil {
			return err
		}
		ids, cascade := make([]string, len(revoked)), []string{}
		for i, x := range revoked {
			ids[i] = x.ID
			if x.ID != d.ID {
				cascade = append(cascade, x.ID)
			}
		}
		e := audit.New(ctx, r.now(), "delegation.revoke", "delegation", d.ID)
		e.ConnectionID, e.OrgID = d.HolderConnectionID, d.OrgID
		e.Diff = audit.Detail(map[string]any{"rule": rule, "run": run.ID,
			"reason": reason, "revoked": len(revoked), "cascade": cascade})
		if err := r.Audit.Record(ctx, e); err != nil {
			return err
		}
		for _, id := range ids {
			res.add(tenantOf(d.HolderConnectionID), id)
		}
		return nil
	})
}

func sortedShut(m map[string]Shut) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// String summarises a report for a terminal, naming connections by id.
func (rep Report) String() string { return rep.Text(nil) }

// Text summarises a report for a terminal: each rule's count and, beside it, what the
// guardrail holds back of that rule; each held plan with its counts per rule.
// connection names a connection by its id (nil: the id itself), so that a terminal shows
// the slug an operator knows.
func (rep Report) Text(connection func(id string) string) string {
	if connection == nil {
		connection = func(id string) string { return id }
	}
	heldByRule := map[string]int{}
	for _, h := range rep.Held {
		if h.State != "held" {
			continue
		}
		for rule, n := range h.Plan.Revoke {
			heldByRule[rule] += n
		}
		heldByRule[RuleStaleMember] += h.Plan.Deactivate
	}
	s := fmt.Sprintf("as of %s", rep.AsOf.Format(time.RFC3339))
	if rep.DryRun {
		s += " (dry run: nothing changed)"
	}
	for _, r := range rep.Rules {
		s += fmt.Sprintf("\n  %-20s %6d  %s", r.Rule, r.Count, r.Action)
		// A rule with several actions (revoke, then suspend) shows what it holds back
		// once, on its first.
		if n := heldByRule[r.Rule]; n > 0 {
			s += fmt.Sprintf("; %d more held for approval", n)
			delete(heldByRule, r.Rule)
		}
	}
	if rep.Kind != "approval" {
		s += fmt.Sprintf("\n  %-20s %6d events checked, %d breaks", RuleAuditChain, rep.AuditEvents, len(rep.AuditBreaks))
	}
	for _, b := range rep.AuditBreaks {
		s += "\n    BROKEN " + b.String()
	}
	for _, h := range rep.Held {
		var per []string
		for _, rule := range slices.Sorted(maps.Keys(h.Plan.Revoke)) {
			if h.Plan.Revoke[rule] > 0 {
				per = append(per, fmt.Sprintf("%s %d", rule, h.Plan.Revoke[rule]))
			}
		}
		s += fmt.Sprintf("\n  HELD connection %s: %d grants to revoke", connection(h.ConnectionID), h.Plan.Revocations())
		if len(per) > 0 {
			s += " (" + strings.Join(per, ", ") + ")"
		}
		s += fmt.Sprintf(", %d members to deactivate (of %d live grants, %d active members; limit %d, share %g): %s",
			h.Plan.Deactivate, h.Size.LiveGrants, h.Size.ActiveUsers, h.GuardMaxChanges, h.GuardMaxShare, h.State)
		if h.State == "held" && !rep.DryRun {
			s += "; apply with: orgscim reconcile approve " + h.RunID
		}
	}
	if rep.Approves != "" {
		s += "\n  applied the held plans of run " + rep.Approves
	}
	if rep.Error != "" {
		s += "\n  stopped: " + rep.Error
	}
	return s
}
