package orgs

import (
	"context"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/provisioning"
)

// Audit actions of service accounts and their integration tokens. They are recorded on
// the account's org (its administrators see them) in the chain of its owner's
// connection, so that the partner's webhook subscribers receive them.
const (
	ActServiceAccountCreate   = "service_account.create"
	ActServiceAccountReassign = "service_account.reassign"
	ActServiceAccountOrphan   = "service_account.orphan"
	// ActServiceAccountAdopt: an orphan's owner answers for it again (reactivated).
	ActServiceAccountAdopt    = "service_account.adopt"
	ActServiceAccountRetire   = "service_account.retire"
	ActIntegrationTokenCreate = "integration_token.create"
	ActIntegrationTokenRevoke = "integration_token.revoke"
)

// IntegrationTokenPrefix starts every integration token, for secret scanners.
const IntegrationTokenPrefix = "osint_"

// Lifetimes a deployment may change (ServiceAccounts.MaxLifetime, OrphanGrace).
const (
	DefaultServiceAccountLifetime = 90 * 24 * time.Hour
	DefaultOrphanGrace            = 14 * 24 * time.Hour
	// DefaultIntegrationTokenLifetime is a token's life when its issuer names none.
	DefaultIntegrationTokenLifetime = 30 * 24 * time.Hour
)

// Service account states, as listings show them; computed at the moment they are read.
const (
	ServiceAccountActive   = "active"
	ServiceAccountOrphaned = "orphaned" // the owner is gone: it holds nothing until reassigned
	ServiceAccountExpired  = "expired"
	ServiceAccountRetired  = "retired"
)

// ServiceAccount is a non-human identity of an org: an integration that acts for the org
// with grants like a person's, answerable to one human owner.
type ServiceAccount struct {
	ID                string
	OrgID             string
	Name              string
	Description       string
	OwnerConnectionID string
	OwnerUserID       string
	CreatedBy         string
	Created           time.Time
	Expires           time.Time
	OrphanedAt        *time.Time
	OrphanDeadline    *time.Time
	Retired           *time.Time
	RetiredBy         string
	RetireReason      string
}

// IntegrationToken authenticates a service account; only its hash is stored.
type IntegrationToken struct {
	ID               string
	OrgID            string
	ServiceAccountID string
	Hash             string
	Hint             string
	CreatedBy        string
	Created          time.Time
	Expires          time.Time
	Revoked          *time.Time
	RevokedBy        string
}

// UsableAt reports whether the token itself is in force at t.
func (t *IntegrationToken) UsableAt(now time.Time) bool {
	return t.Revoked == nil && now.Before(t.Expires)
}

// ServiceAccountStore keeps service accounts and their tokens.
type ServiceAccountStore interface {
	CreateServiceAccount(ctx context.Context, sa *ServiceAccount) error
	ServiceAccount(ctx context.Context, id string) (*ServiceAccount, error)
	// UpdateServiceAccount runs fn on the locked account and stores the result.
	UpdateServiceAccount(ctx context.Context, id string, fn func(*ServiceAccount) error) (*ServiceAccount, error)
	// ServiceAccountsUnder lists the accounts on the orgs of the subtree at path ("" for
	// all), oldest first; retired ones only when retired is set.
	ServiceAccountsUnder(ctx context.Context, path string, retired bool) ([]*ServiceAccount, error)
	CreateIntegrationToken(ctx context.Context, t *IntegrationToken) error
	IntegrationTokenByHash(ctx context.Context, hash string) (*IntegrationToken, error)
	IntegrationTokens(ctx context.Context, serviceAccountID string) ([]*IntegrationToken, error)
	// RevokeIntegrationTokens revokes the account's usable tokens (only tokenID when
	// set) and returns how many it revoked.
	RevokeIntegrationTokens(ctx context.Context, serviceAccountID, tokenID string, at time.Time, by string) (int, error)
}

// ServiceAccounts is the service over non-human identities.
type ServiceAccounts struct {
	Store  ServiceAccountStore
	Access *Access
	Tx     provisioning.Transactor // optional
	Audit  AuditLog                // optional
	// MaxLifetime bounds an account's life (0: DefaultServiceAccountLifetime);
	// OrphanGrace is how long the administrators have to reassign an orphan before the
	// reconciler retires it (0: DefaultOrphanGrace).
	MaxLifetime time.Duration
	OrphanGrace time.Duration
	Now         func() time.Time
}

func (s *ServiceAccounts) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

func (s *ServiceAccounts) maxLifetime() time.Duration {
	if s.MaxLifetime > 0 {
		return s.MaxLifetime
	}
	return DefaultServiceAccountLifetime
}

func (s *ServiceAccounts) orphanGrace() time.Duration {
	if s.OrphanGrace > 0 {
		return s.OrphanGrace
	}
	return DefaultOrphanGrace
}

// ServiceAccountRequest is what creating an account names.
type ServiceAccountRequest struct {
	OrgID             string
	Name              string
	Description       string
	OwnerConnectionID string
	OwnerUserID       string
	Expires           *time.Time // nil: the policy's maximum lifetime
}

// checkOwner refuses an owner who could not answer for an account on org now: not an
// active user of an active connection whose org contains it.
func (s *ServiceAccounts) checkOwner(ctx context.Context, org *Org, connID, userID string) (*Connection, error) {
	if connID == "" || userID == "" {
		return nil, orgscim.Errorf(orgscim.Invalid, "a service account needs an owner: a connection and one of its users")
	}
	conn, err := s.Access.Store.ConnectionByID(ctx, connID)
	if err != nil {
		return nil, err
	}
	home, err := s.Access.Org(ctx, conn.OrgID)
	if err != nil {
		return nil, err
	}
	if !home.Contains(org) {
		return nil, orgscim.Errorf(orgscim.Invalid, "the owner's connection %s does not cover org %s", conn.Slug, org.Slug)
	}
	if conn.Status != "active" {
		return nil, orgscim.Errorf(orgscim.Invalid, "the owner's connection %s is %s", conn.Slug, conn.Status)
	}
	u, err := s.Access.Users.Get(ctx, connID, userID)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil, orgscim.Errorf(orgscim.Invalid, "the owner %s is not a user of connection %s", userID, conn.Slug)
	}
	if err != nil {
		return nil, err
	}
	if !u.Active {
		return nil, orgscim.Errorf(orgscim.Invalid, "the owner %s is not active", u.UserName)
	}
	return conn, nil
}

// Create makes a service account on an org for an accountable owner, expiring at most
// the policy's maximum lifetime from now.
func (s *ServiceAccounts) Create(ctx context.Context, by Principal, req ServiceAccountRequest) (*ServiceAccount, error) {
	req.Name = strings.TrimSpace(req.Name)
	if !roleKeyPattern.MatchString(req.Name) {
		return nil, orgscim.Errorf(orgscim.Invalid, "service account name %q must be lower-case letters, digits and _.:- (max 63)", req.Name)
	}
	now := s.now()
	expires := now.Add(s.maxLifetime())
	if req.Expires != nil {
		if !req.Expires.After(now) {
			return nil, orgscim.Errorf(orgscim.Invalid, "expiry must be in the future")
		}
		if req.Expires.After(expires) {
			return nil, orgscim.Errorf(orgscim.Invalid, "a service account lives at most %s (the deployment's policy)", s.maxLifetime())
		}
		expires = req.Expires.UTC().Truncate(time.Millisecond)
	}
	org, err := s.Access.Org(ctx, req.OrgID)
	if err != nil {
		return nil, err
	}
	if err := s.Access.Authorize(ctx, by, CapManageMembers, org); err != nil {
		return nil, err
	}
	if _, err := s.checkOwner(ctx, org, req.OwnerConnectionID, req.OwnerUserID); err != nil {
		return nil, err
	}
	sa := &ServiceAccount{ID: provisioning.NewID(), OrgID: org.ID, Name: req.Name, Description: req.Description,
		OwnerConnectionID: req.OwnerConnectionID, OwnerUserID: req.OwnerUserID, CreatedBy: by.Name(), Created: now, Expires: expires}
	err = InTx(ctx, s.Tx, func(ctx context.Context) error {
		if err := s.Store.CreateServiceAccount(ctx, sa); err != nil {
			return err
		}
		return s.record(ctx, now, ActServiceAccountCreate, sa, nil, viewServiceAccount(sa))
	})
	if err != nil {
		return nil, err
	}
	return sa, nil
}

type serviceAccountView struct {
	OrgID             string     `json:"org_id"`
	Name              string     `json:"name"`
	Description       string     `json:"description"`
	OwnerConnectionID string     `json:"owner_connection_id"`
	OwnerUserID       string     `json:"owner_user_id"`
	ExpiresAt         time.Time  `json:"expires_at"`
	OrphanDeadline    *time.Time `json:"orphan_deadline"`
	RetiredAt         *time.Time `json:"retired_at"`
	RetireReason      string     `json:"retire_reason"`
}

func viewServiceAccount(sa *ServiceAccount) serviceAccountView {
	return serviceAccountView{OrgID: sa.OrgID, Name: sa.Name, Description: sa.Description, OwnerConnectionID: sa.OwnerConnectionID,
		OwnerUserID: sa.OwnerUserID, ExpiresAt: sa.Expires, OrphanDeadline: sa.OrphanDeadline, RetiredAt: sa.Retired,
		RetireReason: sa.RetireReason}
}

func (s *ServiceAccounts) record(ctx context.Context, now time.Time, action string, sa *ServiceAccount, before, after any) error {
	e := audit.New(ctx, now, action, "service_account", sa.ID)
	e.ConnectionID, e.OrgID = sa.OwnerConnectionID, sa.OrgID
	if before != nil || after != nil {
		e.Diff = audit.Diff(before, after)
	}
	return Record(ctx, s.Audit, e)
}

// visible returns the account to a caller with manage_members on its org; NotFound to
// anyone else, who learns nothing of it.
func (s *ServiceAccounts) visible(ctx context.Context, by Principal, id string) (*ServiceAccount, *Org, error) {
	sa, err := s.Store.ServiceAccount(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	org, err := s.Access.Org(ctx, sa.OrgID)
	if err != nil {
		return nil, nil, err
	}
	if err := s.Access.Authorize(ctx, by, CapManageMembers, org); err != nil {
		return nil, nil, orgscim.Errorf(orgscim.NotFound, "service account %q not found", id)
	}
	return sa, org, nil
}

// Get returns an account to a caller who administers its org.
func (s *ServiceAccounts) Get(ctx context.Context, by Principal, id string) (*ServiceAccount, error) {
	sa, _, err := s.visible(ctx, by, id)
	return sa, err
}

// List returns the accounts on the subtree of org (retired ones when retired is set).
func (s *ServiceAccounts) List(ctx context.Context, by Principal, orgID string, retired bool) ([]*ServiceAccount, error) {
	org, err := s.Access.Org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if err := s.Access.Authorize(ctx, by, CapManageMembers, org); err != nil {
		return nil, err
	}
	return s.Store.ServiceAccountsUnder(ctx, org.Path, retired)
}

// State is the account's state now, by the authority rule: active only while it holds.
func (s *ServiceAccounts) State(ctx context.Context, sa *ServiceAccount) (state, why string, err error) {
	now := s.now()
	switch {
	case sa.Retired != nil:
		return ServiceAccountRetired, sa.RetireReason, nil
	case !now.Before(sa.Expires):
		return ServiceAccountExpired, "service account " + sa.Name + " expired", nil
	}
	why, err = s.ownerGone(ctx, sa)
	if err != nil {
		return "", "", err
	}
	if why != "" {
		return ServiceAccountOrphaned, why, nil
	}
	if _, _, err := s.Holds(ctx, sa.ID); err != nil {
		if orgscim.ErrorCode(err) == orgscim.Forbidden {
			return "suspended", orgscim.ErrorMessage(err), nil
		}
		return "", "", err
	}
	return ServiceAccountActive, "", nil
}

// Reassign gives the account a new accountable owner; an orphan is no longer one.
func (s *ServiceAccounts) Reassign(ctx context.Context, by Principal, id, connID, userID, reason string) (*ServiceAccount, error) {
	sa, org, err := s.visible(ctx, by, id)
	if err != nil {
		return nil, err
	}
	if sa.Retired != nil {
		return nil, orgscim.Errorf(orgscim.Conflict, "service account %s is retired", sa.Name)
	}
	if _, err := s.checkOwner(ctx, org, connID, userID); err != nil {
		return nil, err
	}
	now := s.now()
	var before serviceAccountView
	err = InTx(ctx, s.Tx, func(ctx context.Context) error {
		sa, err = s.Store.UpdateServiceAccount(ctx, id, func(sa *ServiceAccount) error {
			if sa.Retired != nil {
				return orgscim.Errorf(orgscim.Conflict, "service account %s is retired", sa.Name)
			}
			before = viewServiceAccount(sa)
			sa.OwnerConnectionID, sa.OwnerUserID, sa.OrphanedAt, sa.OrphanDeadline = connID, userID, nil, nil
			return nil
		})
		if err != nil {
			return err
		}
		e := audit.New(ctx, now, ActServiceAccountReassign, "service_account", sa.ID)
		e.ConnectionID, e.OrgID = sa.OwnerConnectionID, sa.OrgID
		e.Diff = audit.Diff(before, viewServiceAccount(sa))
		if reason != "" {
			e.Diff = audit.Detail(map[string]any{"reason": reason, "before": before, "after": viewServiceAccount(sa)})
		}
		return Record(ctx, s.Audit, e)
	})
	if err != nil {
		return nil, err
	}
	return sa, nil
}

// Retire ends the account for good, with its grants and tokens, for a reason.
func (s *ServiceAccounts) Retire(ctx context.Context, by Principal, id, reason string) (*ServiceAccount, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, orgscim.Errorf(orgscim.Invalid, "a reason is required to retire a service account")
	}
	if _, _, err := s.visible(ctx, by, id); err != nil {
		return nil, err
	}
	var out *ServiceAccount
	err := InTx(ctx, s.Tx, func(ctx context.Context) error {
		var err error
		out, err = s.retire(ctx, id, by.Name(), reason, s.now(), false)
		return err
	})
	return out, err
}

// retire retires the account in the context's transaction: its live grants and usable
// tokens are revoked with it, in one event (and the grants.sync that names the grants).
// onlyOrphan refuses (Conflict) an account
// that is no longer an orphan past its deadline: the reconciler's retirement.
func (s *ServiceAccounts) retire(ctx context.Context, id, by, reason string, now time.Time, onlyOrphan bool) (*ServiceAccount, error) {
	var before serviceAccountView
	sa, err := s.Store.UpdateServiceAccount(ctx, id, func(sa *ServiceAccount) error {
		if sa.Retired != nil {
			return orgscim.Errorf(orgscim.Conflict, "service account %s is already retired", sa.Name)
		}
		if onlyOrphan && (sa.OrphanDeadline == nil || now.Before(*sa.OrphanDeadline)) {
			return orgscim.Errorf(orgscim.Conflict, "service account %s is not an orphan past its deadline", sa.Name)
		}
		before = viewServiceAccount(sa)
		sa.Retired, sa.RetiredBy, sa.RetireReason = &now, by, reason
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Its grants go first, recorded as grants.sync on the account, which names each of
	// them, so that every receiver of their grant-revoked SETs hears of each before the
	// account's purge.
	grants, err := s.Access.revokeGrants(ctx, GrantSelector{UserID: sa.ID}, now, by, "service account retired: "+reason,
		"service_account", sa.ID, sa.OwnerConnectionID, sa.OrgID)
	if err != nil {
		return nil, err
	}
	tokens, err := s.Store.RevokeIntegrationTokens(ctx, sa.ID, "", now, by)
	if err != nil {
		return nil, err
	}
	e := audit.New(ctx, now, ActServiceAccountRetire, "service_account", sa.ID)
	e.ConnectionID, e.OrgID = sa.OwnerConnectionID, sa.OrgID
	e.Diff = audit.Detail(map[string]any{"reason": reason, "grants_revoked": grants, "tokens_revoked": tokens,
		"before": before, "after": viewServiceAccount(sa)})
	if err := Record(ctx, s.Audit, e); err != nil {
		return nil, err
	}
	return sa, nil
}

// IssueToken issues an integration token for the account; the secret is returned once.
// It expires at expires (nil: DefaultIntegrationTokenLifetime), never after the account.
func (s *ServiceAccounts) IssueToken(ctx context.Context, by Principal, id string, expires *time.Time) (*IntegrationToken, string, error) {
	sa, _, err := s.visible(ctx, by, id)
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	if sa.Retired != nil || !now.Before(sa.Expires) {
		return nil, "", orgscim.Errorf(orgscim.Conflict, "service account %s is retired or expired", sa.Name)
	}
	until := now.Add(DefaultIntegrationTokenLifetime)
	if expires != nil {
		if !expires.After(now) {
			return nil, "", orgscim.Errorf(orgscim.Invalid, "expiry must be in the future")
		}
		until = expires.UTC().Truncate(time.Millisecond)
	}
	if until.After(sa.Expires) {
		until = sa.Expires
	}
	secret := NewSecret(IntegrationTokenPrefix)
	t := &IntegrationToken{ID: provisioning.NewID(), OrgID: sa.OrgID, ServiceAccountID: sa.ID, Hash: HashToken(secret),
		Hint: secret[:len(IntegrationTokenPrefix)+6], CreatedBy: by.Name(), Created: now, Expires: until}
	err = InTx(ctx, s.Tx, func(ctx context.Context) error {
		if err := s.Store.CreateIntegrationToken(ctx, t); err != nil {
			return err
		}
		e := audit.New(ctx, now, ActIntegrationTokenCreate, "integration_token", t.ID)
		e.ConnectionID, e.OrgID = sa.OwnerConnectionID, sa.OrgID
		e.Diff = audit.Detail(map[string]any{"service_account_id": sa.ID, "hint": t.Hint, "expires_at": t.Expires})
		return Record(ctx, s.Audit, e)
	})
	if err != nil {
		return nil, "", err
	}
	return t, secret, nil
}

// Tokens lists the account's tokens, usable or not (never their secrets).
func (s *ServiceAccounts) Tokens(ctx context.Context, by Principal, id string) ([]*IntegrationToken, error) {
	if _, _, err := s.visible(ctx, by, id); err != nil {
		return nil, err
	}
	return s.Store.IntegrationTokens(ctx, id)
}

// RevokeToken revokes one of the account's tokens at once.
func (s *ServiceAccounts) RevokeToken(ctx context.Context, by Principal, id, tokenID string) error {
	sa, _, err := s.visible(ctx, by, id)
	if err != nil {
		return err
	}
	now := s.now()
	return InTx(ctx, s.Tx, func(ctx context.Context) error {
		n, err := s.Store.RevokeIntegrationTokens(ctx, sa.ID, tokenID, now, by.Name())
		if err != nil {
			return err
		}
		if n == 0 {
			return orgscim.Errorf(orgscim.NotFound, "no usable token %q of service account %s", tokenID, sa.Name)
		}
		e := audit.New(ctx, now, ActIntegrationTokenRevoke, "integration_token", tokenID)
		e.ConnectionID, e.OrgID = sa.OwnerConnectionID, sa.OrgID
		e.Diff = audit.Detail(map[string]any{"service_account_id": sa.ID})
		return Record(ctx, s.Audit, e)
	})
}

// Grant gives the account a non-privileged role on an org of its subtree, like
// AssignRole gives one to a person; privileged roles come only through RequestElevation.
func (s *ServiceAccounts) Grant(ctx context.Context, by Principal, id, roleKey, orgID, reason string, expires *time.Time) (*Grant, error) {
	sa, home, err := s.visible(ctx, by, id)
	if err != nil {
		return nil, err
	}
	a := s.Access
	now := a.CurrentTime()
	role, err := a.Store.RoleByKey(ctx, roleKey)
	if err != nil {
		return nil, err
	}
	if role.Privileged {
		return nil, orgscim.Errorf(orgscim.Forbidden, "the privileged role %q is granted only through an approved elevation", role.Key)
	}
	if expires != nil && !expires.After(now) {
		return nil, orgscim.Errorf(orgscim.Invalid, "expiry must be in the future")
	}
	target, err := s.targetIn(ctx, sa, home, orgID)
	if err != nil {
		return nil, err
	}
	if err := a.Authorize(ctx, by, CapManageMembers, target); err != nil {
		return nil, err
	}
	if d := by.Delegation; d != nil {
		if err := a.HoldsRole(ctx, d, role, target, now); err != nil {
			return nil, err
		}
	}
	if _, _, err := s.Holds(ctx, sa.ID); err != nil {
		return nil, orgscim.Errorf(orgscim.Conflict, "%s", orgscim.ErrorMessage(err))
	}
	g := &Grant{ID: provisioning.NewID(), UserID: sa.ID, RoleID: role.ID, OrgID: target.ID, Source: SourceDirect,
		GrantedBy: by.Name(), GrantedUnder: by.Under(), Reason: reason, ValidFrom: now, Expires: expires, Created: now}
	if err := a.InTx(ctx, func(ctx context.Context) error { return a.CreateGrant(ctx, g, now) }); err != nil {
		return nil, err
	}
	return g, nil
}

// targetIn returns the org orgID when it lies in the account's subtree.
func (s *ServiceAccounts) targetIn(ctx context.Context, sa *ServiceAccount, home *Org, orgID string) (*Org, error) {
	target, err := s.Access.Org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if !home.Contains(target) {
		return nil, orgscim.Errorf(orgscim.Forbidden, "org %s is outside the subtree of service account %s", target.Slug, sa.Name)
	}
	return target, nil
}

// Grants lists the account's live grants.
func (s *ServiceAccounts) Grants(ctx context.Context, by Principal, id string) ([]*Grant, map[string]*Role, error) {
	if _, _, err := s.visible(ctx, by, id); err != nil {
		return nil, nil, err
	}
	return s.Access.Store.GrantsOfUser(ctx, id)
}

// RequestElevation asks for a privileged role for the account, for d: approved by a
// second person (POST /elevations/{id}/approve), it becomes a grant that expires.
func (s *ServiceAccounts) RequestElevation(ctx context.Context, by Principal, id, roleKey, orgID, reason string, d time.Duration) (*Elevation, error) {
	role, err := s.Access.elevationRole(ctx, roleKey, reason, d)
	if err != nil {
		return nil, err
	}
	sa, home, err := s.visible(ctx, by, id)
	if err != nil {
		return nil, err
	}
	target, err := s.targetIn(ctx, sa, home, orgID)
	if err != nil {
		return nil, err
	}
	if err := s.Access.Authorize(ctx, by, CapManageMembers, target); err != nil {
		return nil, err
	}
	if _, _, err := s.Holds(ctx, sa.ID); err != nil {
		return nil, orgscim.Errorf(orgscim.Conflict, "%s", orgscim.ErrorMessage(err))
	}
	return s.Access.requestElevation(ctx, by, elevationFor{conn: sa.OwnerConnectionID, holder: sa.ID, serviceAccount: sa.ID},
		role, target, reason, d)
}

// AuthenticateToken returns the account an integration token belongs to, when the
// token is usable now. Whether the account holds is the authority rule's question.
func (s *ServiceAccounts) AuthenticateToken(ctx context.Context, secret string) (*ServiceAccount, error) {
	bad := orgscim.Errorf(orgscim.Unauthorized, "a valid integration token is required (Authorization: Bearer %s...)", IntegrationTokenPrefix)
	if !WellFormedSecret(IntegrationTokenPrefix, secret) {
		return nil, bad
	}
	t, err := s.Store.IntegrationTokenByHash(ctx, HashToken(secret))
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	if !t.UsableAt(s.now()) {
		return nil, bad
	}
	return s.Store.ServiceAccount(ctx, t.ServiceAccountID)
}

// Check decides whether the account may exercise permission on org now: the authority
// rule for the account (ServiceAccountHolds), then its grants as Access.Check judges a
// person's. It is CheckMany of one question.
func (s *ServiceAccounts) Check(ctx context.Context, id, permission, orgID string) (*Decision, error) {
	ds, errs, err := s.CheckMany(ctx, []ServiceAccountQuestion{{ID: id, Permission: permission, OrgID: orgID}})
	if err != nil {
		return nil, err
	}
	return ds[0], errs[0]
}

// ServiceAccountQuestion asks whether service account ID may exercise Permission on the
// org OrgID.
type ServiceAccountQuestion struct {
	ID, Permission, OrgID string
}

// CheckMany answers each question as Check does: the authority rule judged once per
// account, then every question of the accounts that hold decided together, with the
// fixed number of reads of Access.CheckMany. For question i either ds[i] is its decision
// or errs[i] says why it has none (NotFound: no such org); err fails the batch.
func (s *ServiceAccounts) CheckMany(ctx context.Context, qs []ServiceAccountQuestion) (ds []*Decision, errs []error, err error) {
	ds, errs = make([]*Decision, len(qs)), make([]error, len(qs))
	type holding struct {
		h   holderOf
		why string // why the account does not hold ("" when it does)
	}
	accounts := map[string]holding{}
	var hqs []holderQuestion
	var at []int
	for i, q := range qs {
		a, ok := accounts[q.ID]
		if !ok {
			sa, home, err := s.Holds(ctx, q.ID)
			if c := orgscim.ErrorCode(err); c == orgscim.Forbidden {
				a.why = orgscim.ErrorMessage(err)
			} else if err != nil {
				return nil, nil, err
			} else {
				a.h = holderOf{id: sa.ID, within: home}
			}
			accounts[q.ID] = a
		}
		if a.why != "" {
			ds[i] = &Decision{Reason: a.why}
			continue
		}
		hqs = append(hqs, holderQuestion{h: a.h, permission: q.Permission, orgID: q.OrgID})
		at = append(at, i)
	}
	cs, err := s.Access.checkStore()
	if err != nil {
		return nil, nil, err
	}
	hds, herrs, err := s.Access.checkHolders(ctx, cs, hqs, s.Access.CurrentTime())
	if err != nil {
		return nil, nil, err
	}
	for k, i := range at {
		ds[i], errs[i] = hds[k], herrs[k]
	}
	return ds, errs, nil
}

// ownerGone says why the account's owner can no longer answer for it ("" when it can).
func (s *ServiceAccounts) ownerGone(ctx context.Context, sa *ServiceAccount) (string, error) {
	st, err := s.standing(ctx, sa)
	if err != nil {
		return "", err
	}
	return st.ownerGone(), nil
}

// standing reads what the authority rule asks of the account, as it is now.
func (s *ServiceAccounts) standing(ctx context.Context, sa *ServiceAccount) (*ServiceAccountStanding, error) {
	st := &ServiceAccountStanding{Account: sa}
	conn, err := s.Access.Store.ConnectionByID(ctx, sa.OwnerConnectionID)
	if err != nil && orgscim.ErrorCode(err) != orgscim.NotFound {
		return nil, err
	}
	st.OwnerConnection = conn
	u, err := s.Access.Users.Get(ctx, sa.OwnerConnectionID, sa.OwnerUserID)
	if err != nil && orgscim.ErrorCode(err) != orgscim.NotFound {
		return nil, err
	}
	st.OwnerActive = u != nil && u.Active
	ids := []string{sa.OrgID}
	if conn != nil {
		ids = append(ids, conn.OrgID)
	}
	byID, err := s.Access.Store.OrgsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	if o := byID[sa.OrgID]; o != nil {
		if st.Orgs, err = s.Access.Store.OrgsByID(ctx, o.AncestorIDs()); err != nil {
			return nil, err
		}
		st.Org = o
	}
	if conn != nil {
		st.OwnerHome = byID[conn.OrgID]
	}
	return st, nil
}

// Holds evaluates the authority rule for the service account now and returns it with
// its org; Forbidden, naming the broken link, when the rule does not hold.
func (s *ServiceAccounts) Holds(ctx context.Context, id string) (*ServiceAccount, *Org, error) {
	sa, err := s.Store.ServiceAccount(ctx, id)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil, nil, brokenLink("no service account %q", id)
	}
	if err != nil {
		return nil, nil, err
	}
	st, err := s.standing(ctx, sa)
	if err != nil {
		return nil, nil, err
	}
	if err := ServiceAccountHolds(st, s.now()); err != nil {
		return nil, nil, err
	}
	return sa, st.Org, nil
}

// SweepOrphans is the reconciler's rule: an account whose owner is gone becomes an
// orphan with a deadline (OrphanGrace from now) for its org's administrators to reassign
// or retire it; an orphan still unowned at its deadline is retired. Each account is its
// own transaction. A dry run changes nothing and reports what it would do.
func (s *ServiceAccounts) SweepOrphans(ctx context.Context, dryRun bool) (orphaned, retired []string, err error) {
	all, err := s.Store.ServiceAccountsUnder(ctx, "", false)
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	for _, sa := range all {
		gone, err := s.ownerGone(ctx, sa)
		if err != nil {
			return orphaned, retired, err
		}
		switch {
		case gone == "" && sa.OrphanDeadline != nil:
			// The owner answers again (reactivated in the IdP): no longer an orphan, so
			// that leaving again starts a fresh deadline.
			if !dryRun {
				if err := s.clearOrphan(ctx, sa.ID, now); err != nil {
					return orphaned, retired, err
				}
			}
		case gone == "":
			continue
		case sa.OrphanDeadline == nil:
			if !dryRun {
				if err := s.markOrphan(ctx, sa.ID, gone, now); err != nil {
					return orphaned, retired, err
				}
			}
			orphaned = append(orphaned, sa.ID)
		case !now.Before(*sa.OrphanDeadline):
			if !dryRun {
				err := InTx(ctx, s.Tx, func(ctx context.Context) error {
					_, err := s.retire(ctx, sa.ID, "reconciler", "orphaned: no owner was reassigned by "+sa.OrphanDeadline.Format(time.RFC3339), now, true)
					return err
				})
				if orgscim.ErrorCode(err) == orgscim.Conflict {
					continue // reassigned or retired since it was read
				}
				if err != nil {
					return orphaned, retired, err
				}
			}
			retired = append(retired, sa.ID)
		}
	}
	return orphaned, retired, nil
}

func (s *ServiceAccounts) clearOrphan(ctx context.Context, id string, now time.Time) error {
	return InTx(ctx, s.Tx, func(ctx context.Context) error {
		var before serviceAccountView
		sa, err := s.Store.UpdateServiceAccount(ctx, id, func(sa *ServiceAccount) error {
			if sa.Retired != nil || sa.OrphanDeadline == nil {
				return orgscim.Errorf(orgscim.Conflict, "changed since it was read")
			}
			before = viewServiceAccount(sa)
			sa.OrphanedAt, sa.OrphanDeadline = nil, nil
			return nil
		})
		if orgscim.ErrorCode(err) == orgscim.Conflict {
			return nil
		}
		if err != nil {
			return err
		}
		return s.record(ctx, now, ActServiceAccountAdopt, sa, before, viewServiceAccount(sa))
	})
}

func (s *ServiceAccounts) markOrphan(ctx context.Context, id, why string, now time.Time) error {
	deadline := now.Add(s.orphanGrace())
	return InTx(ctx, s.Tx, func(ctx context.Context) error {
		sa, err := s.Store.UpdateServiceAccount(ctx, id, func(sa *ServiceAccount) error {
			if sa.Retired != nil || sa.OrphanDeadline != nil {
				return orgscim.Errorf(orgscim.Conflict, "changed since it was read")
			}
			sa.OrphanedAt, sa.OrphanDeadline = &now, &deadline
			return nil
		})
		if orgscim.ErrorCode(err) == orgscim.Conflict {
			return nil
		}
		if err != nil {
			return err
		}
		e := audit.New(ctx, now, ActServiceAccountOrphan, "service_account", sa.ID)
		e.ConnectionID, e.OrgID = sa.OwnerConnectionID, sa.OrgID
		e.Diff = audit.Detail(map[string]any{"why": why, "deadline": deadline, "owner_connection_id": sa.OwnerConnectionID,
			"owner_user_id": sa.OwnerUserID})
		return Record(ctx, s.Audit, e)
	})
}
