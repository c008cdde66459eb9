package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reconcile"
)

// staleFrom selects the active members of active connections whose policy has a stale
// window and whose IdP last wrote them before it began, as of the first argument.
const staleFrom = ` FROM scim_users u
	JOIN connection_policies p ON p.connection_id = u.connection_id AND p.stale_after_seconds > 0
	JOIN connections c ON c.id = u.connection_id AND c.status = 'active'
	WHERE u.deleted_at IS NULL AND u.active AND u.updated_at <= ? - p.stale_after_seconds * 1000000`

// StaleUsers returns up to limit stale members in scope, least recently written first.
func (s Reconcile) StaleUsers(ctx context.Context, at time.Time, sc reconcile.Scope, limit int) ([]reconcile.StaleUser, error) {
	where, args := scopeSQL("u.connection_id", sc)
	var rows []struct {
		ConnectionID      string
		ID                string
		UpdatedAt         int64
		StaleAfterSeconds int64
	}
	err := s.db.q(ctx).Raw(`SELECT u.connection_id, u.id, u.updated_at, p.stale_after_seconds`+staleFrom+where+`
		ORDER BY u.updated_at, u.connection_id, u.id LIMIT ?`, append(append([]any{micros(at)}, args...), limit)...).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]reconcile.StaleUser, len(rows))
	for i, r := range rows {
		out[i] = reconcile.StaleUser{ConnectionID: r.ConnectionID, ID: r.ID, LastWritten: fromMicros(r.UpdatedAt),
			Window: time.Duration(r.StaleAfterSeconds) * time.Second}
	}
	return out, nil
}

// ActiveMappings returns up to limit active mappings in scope with ids after after.
func (s Reconcile) ActiveMappings(ctx context.Context, after string, sc reconcile.Scope, limit int) ([]*orgs.Mapping, error) {
	where, args := scopeSQL("connection_id", sc)
	return accessStore{s.db}.mappings(ctx, `SELECT `+mappingCols+` FROM mappings WHERE state = 'active' AND id > ?`+where+`
		ORDER BY id LIMIT ?`, append(append([]any{after}, args...), limit)...)
}

// driftSets are "want" (the active members of the mapping's group, nested groups
// included) and "have" (the holders of its live grants), for the arguments of
// driftArgs.
const driftSets = downGroups + `, want AS (
		SELECT DISTINCT mm.member_id AS user_id FROM scim_memberships mm JOIN down ON mm.group_id = down.id
		JOIN scim_users u ON u.connection_id = mm.connection_id AND u.id = mm.member_id
		WHERE mm.connection_id = ? AND mm.member_type = 'User' AND u.deleted_at IS NULL AND u.active
		AND NOT EXISTS (SELECT 1 FROM mapping_exceptions x WHERE x.mapping_id = ? AND x.user_id = mm.member_id)),
	have AS (SELECT user_id FROM grants WHERE source = 'mapping' AND source_id = ? AND revoked_at IS NULL) `

func driftArgs(m *orgs.Mapping) []any {
	return []any{m.ConnectionID, []string{m.GroupID}, m.ConnectionID, m.ConnectionID, m.ID, m.ID}
}

// missingSQL selects the members without the grant. A role with a maximum duration is
// left out: its grants lapse on purpose, and re-granting them every night would make
// them permanent.
const missingSQL = `SELECT user_id FROM want WHERE user_id NOT IN (SELECT user_id FROM have)
	AND NOT EXISTS (SELECT 1 FROM roles r WHERE r.id = ? AND r.max_seconds > 0)`

const extraSQL = `SELECT user_id FROM have WHERE user_id NOT IN (SELECT user_id FROM want)`

// DriftUsers returns up to limit users whose grants from m differ from its group.
func (s Reconcile) DriftUsers(ctx context.Context, m *orgs.Mapping, limit int) ([]string, error) {
	var ids []string
	args := append(driftArgs(m), m.RoleID, limit)
	err := s.db.q(ctx).Raw(driftSets+`SELECT user_id FROM (`+missingSQL+` UNION `+extraSQL+`) d LIMIT ?`, args...).Scan(&ids).Error
	return ids, err
}

// strayMapping selects live grants from mappings that are no longer active;
// strayHolder live grants whose holder is gone or inactive.
const (
	strayMapping = ` FROM grants g JOIN mappings m ON m.id = g.source_id
		WHERE g.source = 'mapping' AND g.revoked_at IS NULL AND m.state <> 'active'`
	strayHolder = ` FROM grants g LEFT JOIN scim_users u ON u.connection_id = g.connection_id AND u.id = g.user_id
		WHERE g.revoked_at IS NULL AND g.connection_id IS NOT NULL AND (u.id IS NULL OR u.deleted_at IS NOT NULL OR NOT u.active)`
	// strayScope selects live grants on an org that has moved out of the subtree of the
	// holder's connection: the authority rule stopped them at the move.
	strayScope = ` FROM grants g JOIN connections c ON c.id = g.connection_id JOIN orgs co ON co.id = c.org_id
		JOIN orgs go ON go.id = g.org_id
		WHERE g.revoked_at IS NULL AND go.path NOT LIKE co.path || '%'`
)

// StrayGrants returns up to limit live grants in scope that nothing justifies.
func (s Reconcile) StrayGrants(ctx context.Context, sc reconcile.Scope, limit int) ([]*orgs.Grant, error) {
	where, args := scopeSQL("g.connection_id", sc)
	out, err := s.grants(ctx, `SELECT g.*`+strayMapping+where+` ORDER BY g.id LIMIT ?`, append(args, limit)...)
	if err != nil || len(out) >= limit {
		return out, err
	}
	for _, stray := range []string{strayHolder, strayScope} {
		more, err := s.grants(ctx, `SELECT g.*`+stray+where+` ORDER BY g.id LIMIT ?`, append(args, limit-len(out))...)
		if err != nil {
			return nil, err
		}
		if out = append(out, more...); len(out) >= limit {
			break
		}
	}
	return out, nil
}

// Plan counts what each rule would change, per connection ("" for grants of none), with
// one grouped query per rule (and per active mapping for drift): nothing is loaded row
// by row.
func (s Reconcile) Plan(ctx context.Context, at time.Time, ended []*orgs.Org, sc reconcile.Scope) (map[string]*reconcile.Tally, error) {
	plan := map[string]*reconcile.Tally{}
	tally := func(conn string) *reconcile.Tally {
		t := plan[conn]
		if t == nil {
			t = &reconcile.Tally{Revoke: map[string]int{}}
			plan[conn] = t
		}
		return t
	}
	type count struct {
		ConnectionID *string
		N            int
	}
	counted := func(rule string, query string, args ...any) error {
		var rows []count
		if err := s.db.q(ctx).Raw(query, args...).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			t := tally(deref(r.ConnectionID))
			switch rule {
			case "deactivate":
				t.Deactivate += r.N
			case "add":
				t.Add += r.N
			default:
				t.Revoke[rule] += r.N
			}
		}
		return nil
	}
	where, args := scopeSQL("g.connection_id", sc)
	with := func(first ...any) []any { return append(first, args...) }
	if err := counted(reconcile.RuleGrantExpired, `SELECT g.connection_id, count(*) AS n FROM grants g
		WHERE g.revoked_at IS NULL AND g.expires_at IS NOT NULL AND g.expires_at <= ?`+where+` GROUP BY g.connection_id`,
		with(micros(at))...); err != nil {
		return nil, err
	}
	for _, o := range ended {
		if err := counted(reconcile.RuleContractEnded, `SELECT g.connection_id, count(*) AS n FROM grants g JOIN orgs o ON o.id = g.org_id
			WHERE g.revoked_at IS NULL AND o.path LIKE ? ESCAPE '\'`+where+` GROUP BY g.connection_id`,
			with(likePrefix(o.Path))...); err != nil {
			return nil, err
		}
	}
	uwhere, uargs := scopeSQL("u.connection_id", sc)
	if err := counted("deactivate", `SELECT u.connection_id, count(*) AS n`+staleFrom+uwhere+` GROUP BY u.connection_id`,
		append([]any{micros(at)}, uargs...)...); err != nil {
		return nil, err
	}
	if err := counted(reconcile.RuleStaleMember, `SELECT g.connection_id, count(*) AS n FROM grants g
		WHERE g.revoked_at IS NULL AND (g.connection_id, g.user_id) IN (SELECT u.connection_id, u.id`+staleFrom+uwhere+`)`+where+`
		GROUP BY g.connection_id`, append(append([]any{micros(at)}, uargs...), args...)...); err != nil {
		return nil, err
	}
	if err := counted(reconcile.RuleOrphan, `SELECT g.connection_id, count(*) AS n`+strayMapping+where+` GROUP BY g.connection_id`, args...); err != nil {
		return nil, err
	}
	if err := counted(reconcile.RuleOrphan, `SELECT g.connection_id, count(*) AS n`+strayScope+where+` GROUP BY g.connection_id`, args...); err != nil {
		return nil, err
	}
	if err := counted(reconcile.RuleOrphan, `SELECT g.connection_id, count(*) AS n`+strayHolder+where+` GROUP BY g.connection_id`, args...); err != nil {
		return nil, err
	}
	for after := ""; ; {
		ms, err := s.ActiveMappings(ctx, after, sc, 500)
		if err != nil {
			return nil, err
		}
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			var n struct{ Missing, Extra int }
			err := s.db.q(ctx).Raw(driftSets+`SELECT (SELECT count(*) FROM (`+missingSQL+`) a) AS missing,
				(SELECT count(*) FROM (`+extraSQL+`) b) AS extra`, append(driftArgs(m), m.RoleID)...).Scan(&n).Error
			if err != nil {
				return nil, err
			}
			if n.Missing+n.Extra > 0 {
				t := tally(m.ConnectionID)
				t.Add += n.Missing
				if n.Extra > 0 {
					t.Revoke[reconcile.RuleDrift] += n.Extra
				}
			}
		}
		after = ms[len(ms)-1].ID
	}
	return plan, nil
}

// Sizes returns the live grants and active members of each connection.
func (s Reconcile) Sizes(ctx context.Context, conns []string) (map[string]reconcile.Size, error) {
	out := make(map[string]reconcile.Size, len(conns))
	if len(conns) == 0 {
		return out, nil
	}
	var rows []struct {
		ConnectionID string
		N            int
	}
	if err := s.db.q(ctx).Raw(`SELECT connection_id, count(*) AS n FROM grants WHERE revoked_at IS NULL AND connection_id IN ?
		GROUP BY connection_id`, conns).Scan(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		sz := out[r.ConnectionID]
		sz.LiveGrants = r.N
		out[r.ConnectionID] = sz
	}
	rows = nil
	if err := s.db.q(ctx).Raw(`SELECT connection_id, count(*) AS n FROM scim_users WHERE deleted_at IS NULL AND active
		AND connection_id IN ? GROUP BY connection_id`, conns).Scan(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		sz := out[r.ConnectionID]
		sz.ActiveUsers = r.N
		out[r.ConnectionID] = sz
	}
	return out, nil
}

// Hold records a held plan.
func (s Reconcile) Hold(ctx context.Context, h *reconcile.Hold) error {
	plan, err := json.Marshal(heldPlan{h.Plan, h.Size, h.GuardMaxChanges, h.GuardMaxShare})
	if err != nil {
		return err
	}
	return s.db.q(ctx).Exec("INSERT INTO reconcile_holds (run_id, connection_id, plan, state) VALUES (?, ?, ?, ?)",
		h.RunID, h.ConnectionID, string(plan), h.State).Error
}

// heldPlan is what the plan column keeps of a hold: what the pass counted and the limits
// it exceeded. Run, connection and decision have columns of their own.
type heldPlan struct {
	Plan            reconcile.Tally `json:"plan"`
	Size            reconcile.Size  `json:"size"`
	GuardMaxChanges int             `json:"guard_max_changes"`
	GuardMaxShare   float64         `json:"guard_max_share"`
}

// Holds returns a run's held (and approved) plans, by connection.
func (s Reconcile) Holds(ctx context.Context, runID string) ([]*reconcile.Hold, error) {
	var rows []struct {
		ConnectionID string
		Plan         string
		State        string
		DecidedBy    *string
		DecidedAt    *int64
		AppliedRun   *string
	}
	err := s.db.q(ctx).Raw(`SELECT connection_id, plan, state, decided_by, decided_at, applied_run FROM reconcile_holds
		WHERE run_id = ? ORDER BY connection_id`, runID).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]*reconcile.Hold, len(rows))
	for i, r := range rows {
		var p heldPlan
		if err := json.Unmarshal([]byte(r.Plan), &p); err != nil {
			return nil, fmt.Errorf("sqlstore: hold of run %s: %w", runID, err)
		}
		h := &reconcile.Hold{RunID: runID, ConnectionID: r.ConnectionID, State: r.State, Plan: p.Plan, Size: p.Size,
			GuardMaxChanges: p.GuardMaxChanges, GuardMaxShare: p.GuardMaxShare}
		h.DecidedBy, h.DecidedAt, h.AppliedRun = deref(r.DecidedBy), fromMicrosPtr(r.DecidedAt), deref(r.AppliedRun)
		out[i] = h
	}
	return out, nil
}

// DecideHold records the decision on a held plan; a plan decided already is a
// Conflict.
func (s Reconcile) DecideHold(ctx context.Context, h *reconcile.Hold) error {
	res := s.db.q(ctx).Exec(`UPDATE reconcile_holds SET state = ?, decided_by = ?, decided_at = ?, applied_run = ?
		WHERE run_id = ? AND connection_id = ? AND state = 'held'`,
		h.State, h.DecidedBy, microsPtr(h.DecidedAt), nullable(h.AppliedRun), h.RunID, h.ConnectionID)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return orgscim.Errorf(orgscim.Conflict, "the plan of run %s for connection %s was decided already", h.RunID, h.ConnectionID)
	}
	return nil
}

// RunWithHolds returns a recorded pass with its held plans as they stand now
// (approved since, or still held).
func (s Reconcile) RunWithHolds(ctx context.Context, id string) (*reconcile.Run, error) {
	run, err := s.Run(ctx, id)
	if err != nil {
		return nil, err
	}
	holds, err := s.Holds(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(holds) > 0 {
		run.Report.Held = holds
	}
	return run, nil
}

// HeldPlans counts the connections whose plan the latest finished pass held and nobody
// has approved since: a pass holds again each night what is still too large, so older
// holds say nothing the latest does not.
func (s Reconcile) HeldPlans(ctx context.Context) (int, error) {
	var n int64
	err := s.db.q(ctx).Raw(`SELECT count(*) FROM reconcile_holds WHERE state = 'held' AND run_id =
		(SELECT id FROM reconcile_runs WHERE kind = 'pass' AND state = 'done' ORDER BY started_at DESC, id DESC LIMIT 1)`).Scan(&n).Error
	return int(n), err
}
