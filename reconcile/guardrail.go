package reconcile

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/provisioning"
)

// Tally is what a pass would change in one connection.
type Tally struct {
	// Revoke counts the grants each rule would revoke.
	Revoke map[string]int `json:"revoke"`
	// Deactivate counts the members the stale-member rule would deactivate.
	Deactivate int `json:"deactivate"`
	// Add counts the grants drift repair would add; adding is never held back.
	Add int `json:"add"`
}

// Revocations is the number of grants the tally would revoke, by any rule.
func (t *Tally) Revocations() int {
	n := 0
	for _, v := range t.Revoke {
		n += v
	}
	return n
}

// exceeds reports whether t would do more than plan allowed, by any rule.
func (t *Tally) exceeds(plan Tally) bool {
	if t.Deactivate > plan.Deactivate {
		return true
	}
	for rule, n := range t.Revoke {
		if n > plan.Revoke[rule] {
			return true
		}
	}
	return false
}

// Size is how much a connection holds: its live grants and active members.
type Size struct {
	LiveGrants  int `json:"live_grants"`
	ActiveUsers int `json:"active_users"`
}

// Hold is a connection's plan that the guardrail held back, until a person approves
// it.
type Hold struct {
	RunID        string `json:"run_id"`
	ConnectionID string `json:"connection_id"`
	Plan         Tally  `json:"plan"`
	Size         Size   `json:"size"`
	// The limits the plan exceeded, from the connection's policy.
	GuardMaxChanges int        `json:"guard_max_changes"`
	GuardMaxShare   float64    `json:"guard_max_share"`
	State           string     `json:"state"` // held, approved
	DecidedBy       string     `json:"decided_by,omitempty"`
	DecidedAt       *time.Time `json:"decided_at,omitempty"`
	AppliedRun      string     `json:"applied_run,omitempty"`
}

// guard compares each connection's plan with its policy and holds those that exceed
// it: recorded (outside a dry run) and reported, and returned so the pass leaves them
// alone.
func (r *Reconciler) guard(ctx context.Context, run *Run, plan map[string]*Tally, opts Options) ([]string, error) {
	var conns []string
	for conn, t := range plan {
		if conn != "" && (t.Revocations() > 0 || t.Deactivate > 0) {
			conns = append(conns, conn)
		}
	}
	if len(conns) == 0 {
		return nil, nil
	}
	sort.Strings(conns)
	policies, err := r.Store.Policies(ctx, conns)
	if err != nil {
		return nil, err
	}
	sizes, err := r.Store.Sizes(ctx, conns)
	if err != nil {
		return nil, err
	}
	var held []string
	for _, conn := range conns {
		t, p, size := plan[conn], policies[conn], sizes[conn]
		if !p.Holds(t.Revocations(), t.Deactivate, size.LiveGrants, size.ActiveUsers) {
			continue
		}
		h := &Hold{RunID: run.ID, ConnectionID: conn, Plan: *t, Size: size,
			GuardMaxChanges: p.GuardMaxChanges, GuardMaxShare: p.GuardMaxShare, State: "held"}
		if !opts.DryRun {
			err := r.Tx.InTx(ctx, func(ctx context.Context) error {
				if err := r.Store.Hold(ctx, h); err != nil {
					return err
				}
				e := audit.New(ctx, r.now(), "reconcile.hold", "reconcile_run", run.ID)
				e.ConnectionID = conn
				e.Diff = audit.Detail(map[string]any{"run": run.ID, "plan": h.Plan, "size": size,
					"guard_max_changes": p.GuardMaxChanges, "guard_max_share": p.GuardMaxShare})
				return r.Audit.Record(ctx, e)
			})
			if err != nil {
				return nil, err
			}
		}
		run.Report.Held = append(run.Report.Held, h)
		held = append(held, conn)
	}
	return held, nil
}

// Approve applies plans the guardrail held in run runID: for the given connections,
// or all of the run's held ones when conns is empty. The same rules run on those
// connections alone, judged as of the held pass's time, and what changed since (a
// member its IdP wrote again, a grant revoked meanwhile) is left alone. It refuses with
// Conflict when the plan has grown since — approval never applies more than a person
// saw — and records by as the approver.
func (r *Reconciler) Approve(ctx context.Context, runID, by string, conns []string) (*Run, error) {
	if by == "" {
		return nil, orgscim.Errorf(orgscim.Invalid, "an approval needs an approver")
	}
	lead, err := r.Store.Lead(ctx)
	if err != nil {
		return nil, err
	}
	defer lead.Release()
	heldRun, err := r.Store.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	all, err := r.Store.Holds(ctx, runID)
	if err != nil {
		return nil, err
	}
	var holds []*Hold
	var only []string
	for _, h := range all {
		if h.State == "held" && (len(conns) == 0 || slices.Contains(conns, h.ConnectionID)) {
			holds = append(holds, h)
			only = append(only, h.ConnectionID)
		}
	}
	for _, c := range conns {
		if !slices.Contains(only, c) {
			return nil, orgscim.Errorf(orgscim.NotFound, "run %s holds no pending plan for connection %s", runID, c)
		}
	}
	if len(holds) == 0 {
		return nil, orgscim.Errorf(orgscim.Conflict, "run %s has no held plan left to approve", runID)
	}
	sc := Scope{Only: only}
	ended, err := r.Store.EndedOrgs(ctx, heldRun.AsOf)
	if err != nil {
		return nil, err
	}
	plan, err := r.Store.Plan(ctx, heldRun.AsOf, ended, sc)
	if err != nil {
		return nil, err
	}
	for _, h := range holds {
		if t := plan[h.ConnectionID]; t != nil && t.exceeds(h.Plan) {
			return nil, orgscim.Errorf(orgscim.Conflict,
				"the plan for connection %s has grown since run %s held it; run a new pass and approve that", h.ConnectionID, runID)
		}
	}
	run := &Run{ID: provisioning.NewID(), Kind: "approval", Approves: runID, Started: r.now(), AsOf: heldRun.AsOf}
	run.plan = plan
	return r.execute(ctx, run, Options{}, func(ctx context.Context) error {
		if err := r.apply(ctx, lead, run, sc, ended, Options{}, false); err != nil {
			return err
		}
		// The holds are decided only once everything is applied: an approval that
		// stops midway leaves them held, and approving again finishes the work.
		return r.Tx.InTx(ctx, func(ctx context.Context) error {
			now := r.now()
			for _, h := range holds {
				h.State, h.DecidedBy, h.DecidedAt, h.AppliedRun = "approved", by, &now, run.ID
				if err := r.Store.DecideHold(ctx, h); err != nil {
					return err
				}
				e := audit.New(audit.WithSource(ctx, audit.Source{Actor: by, RequestID: run.ID}), now,
					"reconcile.approve", "reconcile_run", runID)
				e.ConnectionID = h.ConnectionID
				e.Diff = audit.Detail(map[string]any{"run": runID, "applied_by_run": run.ID, "plan": h.Plan})
				if err := r.Audit.Record(ctx, e); err != nil {
					return err
				}
				run.Report.Held = append(run.Report.Held, h)
			}
			return nil
		})
	})
}
