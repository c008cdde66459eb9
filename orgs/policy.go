package orgs

import (
	"context"
	"math"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
)

// ActPolicyUpdate is the audit action of a change to a connection's lifecycle policy.
const ActPolicyUpdate = "connection.policy"

// Policy is a connection's lifecycle policy, enforced by the reconciler.
type Policy struct {
	// StaleAfter: an active member its IdP has not written (created, replaced or
	// patched) for this long is deactivated, losing its grants and delegations. Zero
	// turns the rule off, the default: Entra and Okta only send users that change, so a
	// window must be longer than the IdP's full-sync cycle.
	StaleAfter time.Duration
	// GuardMaxChanges: a pass that would revoke more grants, or deactivate more users,
	// than this in the connection applies nothing there and holds its plan for
	// approval. Zero means no absolute limit.
	GuardMaxChanges int
	// GuardMaxShare is the same limit as a share of the connection's live grants (and
	// active users), 0 < share <= 1; zero means no share limit.
	GuardMaxShare float64
	// DomainPolicy is what a SCIM write of a user outside the org's verified domains
	// gets: DomainRefuse (the default) or DomainQuarantine.
	DomainPolicy string
	// RequireVerifiedDomain refuses the connection's SCIM writes until its org holds
	// a verified domain; onboarding turns it on for the partners it creates.
	RequireVerifiedDomain bool
	Updated               time.Time
	UpdatedBy             string
}

// Domain policies of a connection.
const (
	DomainRefuse     = "refuse"
	DomainQuarantine = "quarantine"
)

// DefaultPolicy is the policy of a connection that has none of its own: nobody is
// stale, and one pass may revoke up to 500 grants or deactivate up to 500 users in a
// connection (Entra's own default against accidental deletions).
var DefaultPolicy = Policy{GuardMaxChanges: 500, DomainPolicy: DomainRefuse}

// Holds reports whether a plan of grants to revoke and users to deactivate in a
// connection with live grants and active users exceeds the guardrail.
func (p Policy) Holds(grants, users, liveGrants, activeUsers int) bool {
	if p.GuardMaxChanges > 0 && (grants > p.GuardMaxChanges || users > p.GuardMaxChanges) {
		return true
	}
	if p.GuardMaxShare > 0 {
		if float64(grants) > p.GuardMaxShare*float64(liveGrants) || float64(users) > p.GuardMaxShare*float64(activeUsers) {
			return true
		}
	}
	return false
}

// PolicyStore keeps connection policies.
type PolicyStore interface {
	// Policy returns the connection's policy, DefaultPolicy when it has none.
	Policy(ctx context.Context, connectionID string) (Policy, error)
	SetPolicy(ctx context.Context, connectionID string, p Policy) error
}

// PolicyUpdate changes some fields of a policy; nil leaves a field as it is.
type PolicyUpdate struct {
	StaleAfter      *time.Duration
	GuardMaxChanges *int
	GuardMaxShare   *float64
	DomainPolicy    *string
	// RequireVerifiedDomain, when set, turns the requirement on or off.
	RequireVerifiedDomain *bool
}

type policyView struct {
	StaleAfterSeconds int64   `json:"stale_after_seconds"`
	GuardMaxChanges   int     `json:"guard_max_changes"`
	GuardMaxShare     float64 `json:"guard_max_share"`
	DomainPolicy      string  `json:"domain_policy"`
	RequireVerified   bool    `json:"require_verified_domain"`
}

func viewPolicy(p Policy) policyView {
	return policyView{int64(p.StaleAfter / time.Second), p.GuardMaxChanges, p.GuardMaxShare, p.DomainPolicy, p.RequireVerifiedDomain}
}

// ConnectionPolicy returns a connection's lifecycle policy.
func (d *Directory) ConnectionPolicy(ctx context.Context, slug string) (Policy, error) {
	st, ok := d.Store.(PolicyStore)
	if !ok {
		return Policy{}, orgscim.Errorf(orgscim.NotImplemented, "this store keeps no connection policies")
	}
	c, err := d.Store.ConnectionBySlug(ctx, slug)
	if err != nil {
		return Policy{}, err
	}
	return st.Policy(ctx, c.ID)
}

// SetConnectionPolicy changes a connection's lifecycle policy, audited. by is recorded
// as who changed it.
func (d *Directory) SetConnectionPolicy(ctx context.Context, slug, by string, u PolicyUpdate) (Policy, error) {
	st, ok := d.Store.(PolicyStore)
	if !ok {
		return Policy{}, orgscim.Errorf(orgscim.NotImplemented, "this store keeps no connection policies")
	}
	if u.StaleAfter != nil && (*u.StaleAfter < 0 || (*u.StaleAfter > 0 && *u.StaleAfter < 24*time.Hour)) {
		// A window shorter than a day would deactivate members between two syncs.
		return Policy{}, orgscim.Errorf(orgscim.Invalid, "stale_after must be 0 (off) or at least 24h")
	}
	if u.GuardMaxChanges != nil && *u.GuardMaxChanges < 0 {
		return Policy{}, orgscim.Errorf(orgscim.Invalid, "guard_max_changes must be 0 (no limit) or more")
	}
	if u.GuardMaxShare != nil && (math.IsNaN(*u.GuardMaxShare) || *u.GuardMaxShare < 0 || *u.GuardMaxShare > 1) {
		return Policy{}, orgscim.Errorf(orgscim.Invalid, "guard_max_share must be between 0 (no limit) and 1")
	}
	if u.DomainPolicy != nil && *u.DomainPolicy != DomainRefuse && *u.DomainPolicy != DomainQuarantine {
		return Policy{}, orgscim.Errorf(orgscim.Invalid, "domain_policy must be refuse or quarantine")
	}
	var out Policy
	err := d.inTx(ctx, func(ctx context.Context) error {
		c, err := d.Store.ConnectionBySlug(ctx, slug)
		if err != nil {
			return err
		}
		before, err := st.Policy(ctx, c.ID)
		if err != nil {
			return err
		}
		p := before
		if u.StaleAfter != nil {
			p.StaleAfter = u.StaleAfter.Truncate(time.Second)
		}
		if u.GuardMaxChanges != nil {
			p.GuardMaxChanges = *u.GuardMaxChanges
		}
		if u.GuardMaxShare != nil {
			p.GuardMaxShare = *u.GuardMaxShare
		}
		if u.DomainPolicy != nil {
			p.DomainPolicy = *u.DomainPolicy
		}
		if u.RequireVerifiedDomain != nil {
			p.RequireVerifiedDomain = *u.RequireVerifiedDomain
		}
		out = p
		if viewPolicy(p) == viewPolicy(before) {
			return nil
		}
		p.Updated, p.UpdatedBy = d.now(), by
		out = p
		if err := st.SetPolicy(ctx, c.ID, p); err != nil {
			return err
		}
		e := audit.New(ctx, p.Updated, ActPolicyUpdate, "connection", c.ID)
		e.ConnectionID, e.OrgID = c.ID, c.OrgID
		e.Diff = audit.Diff(viewPolicy(before), viewPolicy(p))
		return Record(ctx, d.Audit, e)
	})
	return out, err
}
