package orgs

import (
	"context"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/provisioning"
)

// AdminKeyPrefix starts every admin API key, for secret scanners like TokenPrefix.
const AdminKeyPrefix = "oscadm_"

// AdminKey authenticates a principal on the admin API: an operator of the vendor, or
// the holder of one delegation. Only its SHA-256 hash is stored.
type AdminKey struct {
	ID           string
	Hash         string
	Hint         string
	Operator     string // set for an operator key
	DelegationID string // set for a delegated administrator's key
	CreatedBy    string
	// IssuedWithKey is the key its issuer authenticated with ("" from the CLI): a key
	// never outlives the key it was minted with. IssuedUnder is the delegation the
	// issuer acted through ("" for an operator).
	IssuedWithKey string
	IssuedUnder   string
	Created       time.Time
	Expires       *time.Time
	Revoked       *time.Time
	LastUsed      *time.Time
	// Identity names a named operator key and its owner (IssueNamedOperatorKey); it is
	// kept beside the key, and read with it (AdminKeyByHash).
	Identity *OperatorKeyIdentity
}

// AdminKeyStore keeps admin keys.
type AdminKeyStore interface {
	CreateAdminKey(ctx context.Context, k *AdminKey) error
	// AdminKeyByHash returns the key with this hash, with its Identity when it is a named
	// operator key, and, for a delegate's key, its delegation's chain as DelegationChain
	// reads it (nil for an operator's key): the rule needs all of it at every request, so
	// a store reads them together.
	AdminKeyByHash(ctx context.Context, hash string) (*AdminKey, []ChainLink, map[string]*Org, error)
	// RevokeAdminKey revokes the key and every usable key minted with it, directly or
	// through others, and returns the ids of the keys it revoked besides id.
	RevokeAdminKey(ctx context.Context, id string, at time.Time) ([]string, error)
	TouchAdminKey(ctx context.Context, id string, at time.Time) error
}

// AdminKeys issues and checks admin API keys.
type AdminKeys struct {
	Store       AdminKeyStore
	Delegations *Delegations
	Tx          provisioning.Transactor // optional
	Audit       AuditLog                // optional
	Now         func() time.Time
}

func (s *AdminKeys) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// IssueOperatorKey issues a key with the vendor's full authority. It is for the CLI,
// run by whoever runs the server; no API call can mint one.
func (s *AdminKeys) IssueOperatorKey(ctx context.Context, operator string, expires *time.Time) (*AdminKey, string, error) {
	if !roleKeyPattern.MatchString(operator) {
		return nil, "", orgscim.Errorf(orgscim.Invalid, "operator name %q must be lower-case letters, digits and _.:-", operator)
	}
	return s.issue(ctx, &AdminKey{Operator: operator, CreatedBy: "cli"}, expires, "")
}

// IssueDelegateKey issues the key through which the holder of a delegation acts. Only
// an operator, or a principal allowed to delegate on the delegation's org, may issue it.
func (s *AdminKeys) IssueDelegateKey(ctx context.Context, by Principal, delegationID string, expires *time.Time) (*AdminKey, string, error) {
	d, err := s.Delegations.Store.Delegation(ctx, delegationID)
	if err != nil {
		return nil, "", err
	}
	if !d.LiveAt(s.now()) {
		return nil, "", orgscim.Errorf(orgscim.Invalid, "delegation %s is not in force", d.ID)
	}
	org, err := s.Delegations.Orgs.OrgByID(ctx, d.OrgID)
	if err != nil {
		return nil, "", err
	}
	switch {
	case by.Delegation != nil && by.Delegation.ID == d.ID:
	case d.EngagementID != "" && by.Delegation != nil && by.Delegation.ID == d.ParentID:
		// An MSP technician's key comes from the MSP administrator who named them, whose
		// own delegation is on the MSP, not on the customer.
		if _, _, err := s.Delegations.DelegationHolds(ctx, by.Delegation.ID); err != nil {
			return nil, "", err
		}
	default:
		if err := s.Delegations.Authorize(ctx, by, CapDelegate, org); err != nil {
			return nil, "", err
		}
	}
	if d.Expires != nil && (expires == nil || expires.After(*d.Expires)) {
		expires = d.Expires
	}
	// A key minted with a key ends no later than it: a leaked key cannot outlast itself
	// through the keys it mints.
	if by.KeyExpires != nil && (expires == nil || expires.After(*by.KeyExpires)) {
		expires = by.KeyExpires
	}
	return s.issue(ctx, &AdminKey{DelegationID: d.ID, CreatedBy: by.Name(), IssuedWithKey: by.KeyID, IssuedUnder: by.Under()},
		expires, d.OrgID)
}

// issue stores k with a new secret and records it; orgID is the delegation's org for a
// delegate's key, so that the delegated subtree's administrators see it, and empty for
// an operator's. then, when given, stores what goes with the key in its transaction.
func (s *AdminKeys) issue(ctx context.Context, k *AdminKey, expires *time.Time, orgID string, then ...func(ctx context.Context) error) (*AdminKey, string, error) {
	now := s.now()
	if expires != nil && !expires.After(now) {
		return nil, "", orgscim.Errorf(orgscim.Invalid, "expiry must be in the future")
	}
	secret := NewSecret(AdminKeyPrefix)
	k.ID, k.Hash, k.Hint, k.Created, k.Expires = provisioning.NewID(), HashToken(secret), secret[:len(AdminKeyPrefix)+6], now, expires
	err := InTx(ctx, s.Tx, func(ctx context.Context) error {
		if err := s.Store.CreateAdminKey(ctx, k); err != nil {
			return err
		}
		for _, fn := range then {
			if err := fn(ctx); err != nil {
				return err
			}
		}
		e := audit.New(ctx, now, ActAdminKeyCreate, "admin_key", k.ID)
		e.OrgID = orgID
		view := adminKeyView{Operator: k.Operator, DelegationID: k.DelegationID, CreatedBy: k.CreatedBy, ExpiresAt: k.Expires}
		if id := k.Identity; id != nil {
			view.Name, view.OwnerConnectionID, view.OwnerUserID = id.Name, id.OwnerConnectionID, id.OwnerUserID
		}
		e.Diff = audit.Diff(nil, view)
		return Record(ctx, s.Audit, e)
	})
	if err != nil {
		return nil, "", err
	}
	return k, secret, nil
}

var errBadAdminKey = orgscim.Errorf(orgscim.Unauthorized, "invalid admin API key")

// Authenticate returns the principal of a key. A delegate's key works only while its
// delegation is in force and its holder is an active user of an active connection:
// an IdP that deactivates the person stops the key at once.
func (s *AdminKeys) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if !WellFormedSecret(AdminKeyPrefix, secret) {
		return Principal{}, errBadAdminKey
	}
	k, chain, byID, err := s.Store.AdminKeyByHash(ctx, HashToken(secret))
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return Principal{}, errBadAdminKey
	}
	if err != nil {
		return Principal{}, err
	}
	now := s.now()
	if k.Revoked != nil || (k.Expires != nil && !now.Before(*k.Expires)) {
		return Principal{}, errBadAdminKey
	}
	p := Principal{Operator: k.Operator}
	// A named operator key holds only while its owner answers for it.
	if err := s.namedKeyHolds(ctx, k, now); orgscim.ErrorCode(err) == orgscim.Forbidden {
		return Principal{}, errBadAdminKey
	} else if err != nil {
		return Principal{}, err
	}
	if k.DelegationID != "" {
		// The authority rule, in full: the delegation, every delegation above it, their
		// holders and every org on their paths hold now, or the key does not work.
		d, _, err := s.Delegations.judge(ctx, k.DelegationID, chain, byID, now)
		if c := orgscim.ErrorCode(err); c == orgscim.Forbidden || c == orgscim.NotFound {
			return Principal{}, errBadAdminKey
		}
		if err != nil {
			return Principal{}, err
		}
		p = Principal{Delegation: d}
		if r := chain[0].Reach; r != nil && r.MSP != nil && r.Customer != nil {
			p.Reach = &ReachScope{EngagementID: r.Engagement.ID, MSPSlug: r.MSP.Slug, CustomerSlug: r.Customer.Slug}
		}
	}
	if k.LastUsed == nil || now.Sub(*k.LastUsed) >= touchEvery {
		if err := s.Store.TouchAdminKey(ctx, k.ID, now); err != nil {
			return Principal{}, err
		}
	}
	p.KeyID, p.KeyExpires = k.ID, k.Expires
	return p, nil
}

// Revoke revokes a key at once, with every key minted with it: revoking a leaked key
// contains the leak.
func (s *AdminKeys) Revoke(ctx context.Context, id string) error {
	now := s.now()
	return InTx(ctx, s.Tx, func(ctx context.Context) error {
		cascade, err := s.Store.RevokeAdminKey(ctx, id, now)
		if err != nil {
			return err
		}
		e := audit.New(ctx, now, ActAdminKeyRevoke, "admin_key", id)
		if len(cascade) > 0 {
			listed := cascade[:min(len(cascade), maxListedIDs)]
			e.Diff = audit.Detail(map[string]any{"revoked_with_it": len(cascade), "cascade": listed})
		}
		return Record(ctx, s.Audit, e)
	})
}
