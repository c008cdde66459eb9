package sqlstore

import (
	"context"
	"time"

	"github.com/orgscim/orgscim/orgs"
)

var _ orgs.PolicyStore = orgStore{}

type policyRow struct {
	ConnectionID          string
	StaleAfterSeconds     int64
	GuardMaxChanges       int64
	GuardMaxShare         float64
	DomainPolicy          string
	RequireVerifiedDomain bool
	UpdatedAt             int64
	UpdatedBy             string
}

func (r policyRow) policy() orgs.Policy {
	return orgs.Policy{StaleAfter: time.Duration(r.StaleAfterSeconds) * time.Second, GuardMaxChanges: int(r.GuardMaxChanges),
		GuardMaxShare: r.GuardMaxShare, DomainPolicy: r.DomainPolicy, RequireVerifiedDomain: r.RequireVerifiedDomain, Updated: fromMicros(r.UpdatedAt), UpdatedBy: r.UpdatedBy}
}

const policyCols = "connection_id, stale_after_seconds, guard_max_changes, guard_max_share, domain_policy, require_verified_domain, updated_at, updated_by"

func (s orgStore) Policy(ctx context.Context, connectionID string) (orgs.Policy, error) {
	var rows []policyRow
	if err := s.db.q(ctx).Raw("SELECT "+policyCols+" FROM connection_policies WHERE connection_id = ?", connectionID).Scan(&rows).Error; err != nil {
		return orgs.Policy{}, err
	}
	if len(rows) == 0 {
		return orgs.DefaultPolicy, nil
	}
	return rows[0].policy(), nil
}

func (s orgStore) SetPolicy(ctx context.Context, connectionID string, p orgs.Policy) error {
	return s.db.q(ctx).Exec(`INSERT INTO connection_policies (`+policyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (connection_id) DO UPDATE SET stale_after_seconds = excluded.stale_after_seconds,
		domain_policy = excluded.domain_policy, require_verified_domain = excluded.require_verified_domain,
		guard_max_changes = excluded.guard_max_changes, guard_max_share = excluded.guard_max_share,
		updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		connectionID, int64(p.StaleAfter/time.Second), p.GuardMaxChanges, p.GuardMaxShare, p.DomainPolicy, p.RequireVerifiedDomain, micros(p.Updated), p.UpdatedBy).Error
}

// Policies returns the policies of the connections, the default for those without one.
func (s Reconcile) Policies(ctx context.Context, conns []string) (map[string]orgs.Policy, error) {
	out := make(map[string]orgs.Policy, len(conns))
	for _, c := range conns {
		out[c] = orgs.DefaultPolicy
	}
	if len(conns) == 0 {
		return out, nil
	}
	var rows []policyRow
	if err := s.db.q(ctx).Raw("SELECT "+policyCols+" FROM connection_policies WHERE connection_id IN ?", conns).Scan(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ConnectionID] = r.policy()
	}
	return out, nil
}
