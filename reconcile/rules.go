package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// planned fills a dry run's result of rule from the plan: its counts per connection in
// scope, without listing items.
func planned(run *Run, rule string, sc Scope, res *RuleResult, users bool) {
	for conn, t := range run.plan {
		if !sc.Includes(conn) {
			continue
		}
		n := t.Revoke[rule]
		if users {
			n = t.Deactivate
		}
		if n > 0 {
			res.Count += n
			res.ByConnection[tenantOf(conn)] += n
		}
	}
}

// revokeBatches revokes, a batch per transaction, the grants next returns until it
// returns none, recording one event per tenant and batch. Each batch revokes only what
// is still live, so a pass killed between batches and run again revokes nothing twice.
func (r *Reconciler) revokeBatches(ctx context.Context, lead Leadership, run *Run, rule, reason string, res *RuleResult,
	next func(limit int) ([]*orgs.Grant, error)) error {
	for {
		if err := lead.Check(ctx); err != nil {
			return err
		}
		due, err := next(r.batch())
		if err != nil || len(due) == 0 {
			return err
		}
		byID := map[string]*orgs.Grant{}
		ids := make([]string, len(due))
		for i, g := range due {
			ids[i], byID[g.ID] = g.ID, g
		}
		err = r.Tx.InTx(ctx, func(ctx context.Context) error {
			revoked, err := r.Store.RevokeGrantIDs(ctx, ids, r.now(), Actor, reason)
			if err != nil {
				return err
			}
			gone := make([]*orgs.Grant, len(revoked))
			for i, id := range revoked {
				gone[i] = byID[id]
				res.add(tenantOf(gone[i].ConnectionID), id)
			}
			return orgs.RecordRevocations(ctx, r.Audit, r.Store, r.now(), "reconcile_run", run.ID, "", gone,
				map[string]any{"rule": rule, "run": run.ID})
		})
		if err != nil {
			return err
		}
		if len(due) < r.batch() {
			return nil
		}
		r.progress(rule, *res)
	}
}

// expireGrants revokes the live grants past their expiry.
func (r *Reconciler) expireGrants(ctx context.Context, lead Leadership, run *Run, sc Scope, opts Options) (RuleResult, error) {
	res := newResult(RuleGrantExpired, "revoke")
	if opts.DryRun {
		due, err := r.Store.ExpiredGrants(ctx, run.AsOf, sc, listed)
		for _, g := range due {
			res.IDs = append(res.IDs, g.ID)
		}
		planned(run, RuleGrantExpired, sc, &res, false)
		return res, err
	}
	err := r.revokeBatches(ctx, lead, run, RuleGrantExpired, "expired (reconciler run "+run.ID+")", &res,
		func(limit int) ([]*orgs.Grant, error) { return r.Store.ExpiredGrants(ctx, run.AsOf, sc, limit) })
	return res, err
}

// offboardEnded takes away what the subtree of an org whose relationship is over still
// has: its live grants (in batches), then its connections and their tokens. Query-time
// checks already deny that access; this records it and makes it final, so that an org
// reactivated later starts from nothing.
// maxDelegationsPerOrg bounds the delegations one pass revokes under one ended org; a
// next pass takes the rest (the authority rule has stopped them all already).
const maxDelegationsPerOrg = 10_000

func (r *Reconciler) offboardEnded(ctx context.Context, lead Leadership, run *Run, sc Scope, ended []*orgs.Org, opts Options) ([]RuleResult, error) {
	grants := newResult(RuleContractEnded, "revoke grants in the subtree")
	conns := newResult(RuleContractEnded, "suspend connections in the subtree and revoke their tokens")
	dels := newResult(RuleContractEnded, "revoke delegations in the subtree")
	out := func() []RuleResult { return []RuleResult{grants, conns, dels} }
	if opts.DryRun {
		planned(run, RuleContractEnded, sc, &grants, false)
		return out(), nil
	}
	for _, o := range ended {
		why := fmt.Sprintf("relationship with %s is over (reconciler run %s)", o.Slug, run.ID)
		err := r.revokeBatches(ctx, lead, run, RuleContractEnded, why, &grants,
			func(limit int) ([]*orgs.Grant, error) { return r.Store.LiveGrantsUnder(ctx, o.Path, sc, limit) })
		if err != nil {
			return out(), err
		}
		// The authority rule stopped these delegations when the relationship ended;
		// this records it as their state, for those held in the pass's scope.
		if err := lead.Check(ctx); err != nil {
			return out(), err
		}
		live, err := r.Store.LiveDelegationsUnder(ctx, o.Path, maxDelegationsPerOrg)
		if err != nil {
			return out(), err
		}
		for _, d := range live {
			if !sc.Includes(d.HolderConnectionID) {
				continue
			}
			if err := r.revokeDelegation(ctx, run, RuleContractEnded, d, why, &dels); err != nil {
				return out(), err
			}
		}
		if err := lead.Check(ctx); err != nil {
			return out(), err
		}
		err = r.Tx.InTx(ctx, func(ctx context.Context) error {
			shut, err := r.Store.ShutConnectionsUnder(ctx, o.Path, sc, r.now())
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

// deactivateStale deactivates the members their IdP has not written within their
// connection's stale window. Each deactivation has the consequences of one by the IdP
// (grants and delegations revoked, in its transaction), attributed to the rule. A
// member written since the pass judged it is left alone.
func (r *Reconciler) deactivateStale(ctx context.Context, lead Leadership, run *Run, sc Scope, opts Options) ([]RuleResult, error) {
	res := newResult(RuleStaleMember, "deactivate the member, revoking its grants and delegations")
	if r.Users == nil {
		return nil, nil
	}
	if opts.DryRun {
		due, err := r.Store.StaleUsers(ctx, run.AsOf, sc, listed)
		for _, u := range due {
			res.IDs = append(res.IDs, u.ID)
		}
		planned(run, RuleStaleMember, sc, &res, true)
		return []RuleResult{res}, err
	}
	for {
		if err := lead.Check(ctx); err != nil {
			return []RuleResult{res}, err
		}
		due, err := r.Store.StaleUsers(ctx, run.AsOf, sc, r.batch())
		if err != nil || len(due) == 0 {
			return []RuleResult{res}, err
		}
		before := res.Count
		err = r.Tx.InTx(ctx, func(ctx context.Context) error {
			for _, u := range due {
				cutoff := run.AsOf.Add(-u.Window)
				why := fmt.Sprintf("stale: not written by its IdP since %s, beyond the connection's %s window (rule %s, reconciler run %s)",
					u.LastWritten.Format(time.RFC3339), u.Window, RuleStaleMember, run.ID)
				changed, err := r.Users.Deactivate(ctx, u.ConnectionID, u.ID, provisioning.Cause{Actor: Actor, Reason: why},
					func(cur *provisioning.User) error {
						if cur.LastModified.After(cutoff) {
							return errTouched
						}
						return nil
					})
				if err == errTouched {
					continue
				}
				if err != nil {
					return err
				}
				if changed {
					res.add(tenantOf(u.ConnectionID), u.ID)
				}
			}
			return nil
		})
		if err != nil {
			return []RuleResult{res}, err
		}
		if len(due) < r.batch() || res.Count == before {
			// A full batch that changed nothing was written meanwhile: what is left
			// waits for the next pass rather than spin here.
			return []RuleResult{res}, nil
		}
		r.progress(RuleStaleMember, res)
	}
}

var errTouched = orgscim.Errorf(orgscim.Conflict, "written by its IdP since the pass judged it")

// revokeStrays revokes live grants nothing justifies any more: from mappings that are
// no longer active, or held by users who are gone or inactive. Requests revoke these
// as they happen; strays are what a crash, a restore from backup or a direct database
// edit left behind.
func (r *Reconciler) revokeStrays(ctx context.Context, lead Leadership, run *Run, sc Scope, opts Options) (RuleResult, error) {
	res := newResult(RuleOrphan, "revoke grants whose mapping is retired, whose holder is gone or inactive, or whose org has moved out of their connection's subtree")
	if opts.DryRun {
		due, err := r.Store.StrayGrants(ctx, sc, listed)
		for _, g := range due {
			res.IDs = append(res.IDs, g.ID)
		}
		planned(run, RuleOrphan, sc, &res, false)
		return res, err
	}
	err := r.revokeBatches(ctx, lead, run, RuleOrphan, "orphaned: nothing grants it any more (reconciler run "+run.ID+")", &res,
		func(limit int) ([]*orgs.Grant, error) { return r.Store.StrayGrants(ctx, sc, limit) })
	return res, err
}
