package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
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
	RuleAuditChain        = "audit-chain"
)

// Actor is who the reconciler's changes are recorded as.
const Actor = "system:reconciler"

// Store is what a pass reads and changes.
type Store interface {
	Lead(ctx context.Context) (Leadership, error)
	ExpiredGrants(ctx context.Context, at time.Time, limit int) ([]*orgs.Grant, error)
	CountExpiredGrants(ctx context.Context, at time.Time) (int, error)
	// RevokeGrantIDs revokes those of ids still live and returns them.
	RevokeGrantIDs(ctx context.Context, ids []string, at time.Time, by, reason string) ([]string, error)
	ExpiredDelegations(ctx context.Context, at time.Time, limit int) ([]*orgs.Delegation, error)
	RevokeDelegationTree(ctx context.Context, id string, at time.Time, by, reason string) ([]*orgs.Delegation, error)
	// EndedOrgs returns the orgs whose relationship is over (ended, or contract end
	// plus grace passed) and whose subtree still has access to take away.
	EndedOrgs(ctx context.Context, at time.Time) ([]*orgs.Org, error)
	LiveGrantsUnder(ctx context.Context, path string, limit int) ([]*orgs.Grant, error)
	// ShutConnectionsUnder suspends the subtree's connections and revokes their tokens.
	ShutConnectionsUnder(ctx context.Context, path string, at time.Time) (map[string]Shut, error)
	StartRun(ctx context.Context, r *Run) error
	FinishRun(ctx context.Context, r *Run) error
}

// Shut is what offboarding did to one connection.
type Shut struct {
	Suspended bool
	From      string   // the status it was suspended from: active, or pending (onboarded, never pushed)
	Tokens    []string // revoked
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

// Reconciler runs passes. Store, Tx and Audit are required; Verify (the audit chain
// check) is optional.
type Reconciler struct {
	Store  Store
	Tx     provisioning.Transactor
	Audit  AuditLog
	Verify func(ctx context.Context) (audit.Report, error)
	Now    func() time.Time
	Batch  int // changes per transaction; 0 means 500
}

// Options of one pass.
type Options struct {
	DryRun bool
}

// Run is the record of a pass.
type Run struct {
	ID       string
	Started  time.Time
	Finished *time.Time
	AsOf     time.Time
	State    string // running, done, failed
	Report   Report
}

// RunStat summarises the recorded passes of one state.
type RunStat struct {
	Count        int64
	LatestFinish time.Time
}

// Report is what a pass did, or in a dry run would do.
type Report struct {
	RunID  string       `json:"run_id,omitempty"`
	AsOf   time.Time    `json:"as_of"`
	DryRun bool         `json:"dry_run"`
	Rules  []RuleResult `json:"rules"`
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
	run := &Run{ID: provisioning.NewID(), Started: asOf, AsOf: asOf, State: "running"}
	ctx = audit.WithSource(ctx, audit.Source{Actor: Actor, RequestID: run.ID})
	run.Report = Report{AsOf: asOf, DryRun: opts.DryRun, Rules: []RuleResult{}, AuditBreaks: []audit.Break{}}
	if !opts.DryRun {
		run.Report.RunID = run.ID
		if err := r.Store.StartRun(ctx, run); err != nil {
			return nil, err
		}
	}
	err = r.pass(ctx, lead, run, opts)
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

func (r *Reconciler) pass(ctx context.Context, lead Leadership, run *Run, opts Options) error {
	grants, err := r.expireGrants(ctx, lead, run, opts)
	run.Report.Rules = append(run.Report.Rules, grants)
	if err != nil {
		return err
	}
	dels, err := r.expireDelegations(ctx, lead, run, opts)
	run.Report.Rules = append(run.Report.Rules, dels)
	if err != nil {
		return err
	}
	ended, err := r.offboardEnded(ctx, lead, run, opts)
	run.Report.Rules = append(run.Report.Rules, ended...)
	if err != nil {
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

func tenantOf(conn string) string {
	if conn == "" {
		return audit.Control
	}
	return conn
}

// expireGrants revokes the live grants past their expiry, a batch per transaction.
func (r *Reconciler) expireGrants(ctx context.Context, lead Leadership, run *Run, opts Options) (RuleResult, error) {
	res := newResult(RuleGrantExpired, "revoke")
	if opts.DryRun {
		due, err := r.Store.ExpiredGrants(ctx, run.AsOf, listed)
		if err != nil {
			return res, err
		}
		n, err := r.Store.CountExpiredGrants(ctx, run.AsOf)
		if err != nil {
			return res, err
		}
		for _, g := range due {
			res.add(tenantOf(g.ConnectionID), g.ID)
		}
		res.Count = n // ByConnection covers the listed ones only
		return res, nil
	}
	for {
		if err := lead.Check(ctx); err != nil {
			return res, err
		}
		due, err := r.Store.ExpiredGrants(ctx, run.AsOf, r.batch())
		if err != nil || len(due) == 0 {
			return res, err
		}
		byID := map[string]*orgs.Grant{}
		ids := make([]string, len(due))
		for i, g := range due {
			ids[i], byID[g.ID] = g.ID, g
		}
		err = r.Tx.InTx(ctx, func(ctx context.Context) error {
			revoked, err := r.Store.RevokeGrantIDs(ctx, ids, r.now(), Actor, "expired (reconciler run "+run.ID+")")
			if err != nil {
				return err
			}
			byConn := map[string][]string{}
			for _, id := range revoked {
				byConn[byID[id].ConnectionID] = append(byConn[byID[id].ConnectionID], id)
			}
			for _, conn := range sortedKeys(byConn) {
				if err := r.record(ctx, conn, "grants.revoke", RuleGrantExpired, run, byConn[conn]); err != nil {
					return err
				}
			}
			for _, id := range revoked {
				res.add(tenantOf(byID[id].ConnectionID), id)
			}
			return nil
		})
		if err != nil {
			return res, err
		}
	}
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
			err := r.Tx.InTx(ctx, func(ctx context.Context) error {
				revoked, err := r.Store.RevokeDelegationTree(ctx, d.ID, r.now(), Actor, "expired (reconciler run "+run.ID+")")
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
				e.Diff = audit.Detail(map[string]any{"rule": RuleDelegationExpired, "run": run.ID,
					"reason": "expired", "revoked": len(revoked), "cascade": cascade})
				if err := r.Audit.Record(ctx, e); err != nil {
					return err
				}
				for _, id := range ids {
					res.add(tenantOf(d.HolderConnectionID), id)
				}
				return nil
			})
			if err != nil {
				return res, err
			}
		}
	}
}

// offboardEnded takes away what the subtree of an org whose relationship is over still
// has: its live grants (in batches), then its connections and their tokens. Query-time
// checks already deny that access; this records it and makes it final, so that an org
// reactivated later starts from nothing.
func (r *Reconciler) offboardEnded(ctx context.Context, lead Leadership, run *Run, opts Options) ([]RuleResult, error) {
	grants := newResult(RuleContractEnded, "revoke grants in the subtree")
	conns := newResult(RuleContractEnded, "suspend connections in the subtree and revoke their tokens")
	out := func() []RuleResult { return []RuleResult{grants, conns} }
	ended, err := r.Store.EndedOrgs(ctx, run.AsOf)
	if err != nil {
		return out(), err
	}
	for _, o := range ended {
		why := fmt.Sprintf("relationship with %s is over (reconciler run %s)", o.Slug, run.ID)
		if opts.DryRun {
			due, err := r.Store.LiveGrantsUnder(ctx, o.Path, 10_000)
			if err != nil {
				return out(), err
			}
			for _, g := range due {
				grants.add(tenantOf(g.ConnectionID), g.ID)
			}
			continue
		}
		for {
			if err := lead.Check(ctx); err != nil {
				return out(), err
			}
			due, err := r.Store.LiveGrantsUnder(ctx, o.Path, r.batch())
			if err != nil {
				return out(), err
			}
			if len(due) == 0 {
				break
			}
			byID := map[string]*orgs.Grant{}
			ids := make([]string, len(due))
			for i, g := range due {
				ids[i], byID[g.ID] = g.ID, g
			}
			err = r.Tx.InTx(ctx, func(ctx context.Context) error {
				revoked, err := r.Store.RevokeGrantIDs(ctx, ids, r.now(), Actor, why)
				if err != nil {
					return err
				}
				byConn := map[string][]string{}
				for _, id := range revoked {
					byConn[byID[id].ConnectionID] = append(byConn[byID[id].ConnectionID], id)
				}
				for _, conn := range sortedKeys(byConn) {
					if err := r.record(ctx, conn, "grants.revoke", RuleContractEnded, run, byConn[conn]); err != nil {
						return err
					}
				}
				for _, id := range revoked {
					grants.add(tenantOf(byID[id].ConnectionID), id)
				}
				return nil
			})
			if err != nil {
				return out(), err
			}
		}
		if err := lead.Check(ctx); err != nil {
			return out(), err
		}
		err := r.Tx.InTx(ctx, func(ctx context.Context) error {
			shut, err := r.Store.ShutConnectionsUnder(ctx, o.Path, r.now())
			if err != nil {
				return err
			}
			for _, id := range sortedShut(shut) {
				s := shut[id]
				e := audit.New(ctx, r.now(), "connection.update", "connection", id)
				e.ConnectionID = id
				detail := map[string]any{"rule": RuleContractEnded, "run": run.ID, "reason": why, "tokens_revoked": s.Tokens}
				if s.Suspended {
					from := s.From
					if from == "" {
						from = "active"
					}
					detail["status"] = map[string]string{"before": from, "after": "suspended"}
				}
				e.Diff = audit.Detail(detail)
				if err := r.Audit.Record(ctx, e); err != nil {
					return err
				}
				conns.add(id, id)
			}
			return nil
		})
		if err != nil {
			return out(), err
		}
	}
	return out(), nil
}

func sortedShut(m map[string]Shut) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// record appends one event for a batch of one tenant's revocations.
func (r *Reconciler) record(ctx context.Context, conn, action, rule string, run *Run, ids []string) error {
	e := audit.New(ctx, r.now(), action, "reconcile_run", run.ID)
	e.ConnectionID = conn
	shown := ids[:min(len(ids), 1000)]
	e.Diff = audit.Detail(map[string]any{"rule": rule, "run": run.ID, "revoked": len(ids), "ids": shown,
		"ids_truncated": len(ids) > len(shown)})
	return r.Audit.Record(ctx, e)
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// String summarises a report for a terminal.
func (rep Report) String() string {
	s := fmt.Sprintf("as of %s", rep.AsOf.Format(time.RFC3339))
	if rep.DryRun {
		s += " (dry run: nothing changed)"
	}
	for _, r := range rep.Rules {
		s += fmt.Sprintf("\n  %-20s %6d  %s", r.Rule, r.Count, r.Action)
	}
	s += fmt.Sprintf("\n  %-20s %6d events checked, %d breaks", RuleAuditChain, rep.AuditEvents, len(rep.AuditBreaks))
	for _, b := range rep.AuditBreaks {
		s += "\n    BROKEN " + b.String()
	}
	if rep.Error != "" {
		s += "\n  stopped: " + rep.Error
	}
	return s
}
