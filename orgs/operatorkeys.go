package orgs

import (
	"context"
	"time"

	"github.com/orgscim/orgscim"
)

// OperatorKeyIdentity makes an operator key a named service identity of the vendor org:
// a name, and an accountable owner, an active user of a connection of a root org (the
// vendor's own IdP). The key works only while its owner does, like a service account.
type OperatorKeyIdentity struct {
	KeyID             string
	Name              string
	OwnerConnectionID string
	OwnerUserID       string
}

// OperatorKeyStore keeps the identities of named operator keys (sqlstore's admin key
// store implements it).
type OperatorKeyStore interface {
	CreateOperatorKeyIdentity(ctx context.Context, id *OperatorKeyIdentity) error
	// OperatorKeys lists every operator key, oldest first, with the identities of the
	// named ones.
	OperatorKeys(ctx context.Context) ([]*AdminKey, map[string]*OperatorKeyIdentity, error)
}

// NamedKeyRequest is what issuing a named operator key names.
type NamedKeyRequest struct {
	Operator          string
	Name              string
	OwnerConnectionID string
	OwnerUserID       string
	Expires           *time.Time // nil: DefaultServiceAccountLifetime from now, its maximum
}

func (s *AdminKeys) identities() (OperatorKeyStore, error) {
	st, ok := s.Store.(OperatorKeyStore)
	if !ok {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "this store keeps no named operator keys")
	}
	return st, nil
}

// IssueNamedOperatorKey issues an operator key that is a named, expiring service
// identity of the vendor org, answerable to an owner. Like IssueOperatorKey it is for
// the CLI only.
func (s *AdminKeys) IssueNamedOperatorKey(ctx context.Context, req NamedKeyRequest) (*AdminKey, string, error) {
	st, err := s.identities()
	if err != nil {
		return nil, "", err
	}
	if !roleKeyPattern.MatchString(req.Operator) {
		return nil, "", orgscim.Errorf(orgscim.Invalid, "operator name %q must be lower-case letters, digits and _.:-", req.Operator)
	}
	if !roleKeyPattern.MatchString(req.Name) {
		return nil, "", orgscim.Errorf(orgscim.Invalid, "key name %q must be lower-case letters, digits and _.:- (max 63)", req.Name)
	}
	now := s.now()
	latest := now.Add(DefaultServiceAccountLifetime)
	expires := req.Expires
	if expires == nil {
		expires = &latest
	} else if expires.After(latest) {
		return nil, "", orgscim.Errorf(orgscim.Invalid, "a named operator key lives at most %s", DefaultServiceAccountLifetime)
	}
	if why, err := s.ownerGone(ctx, req.OwnerConnectionID, req.OwnerUserID, now); err != nil {
		return nil, "", err
	} else if why != "" {
		return nil, "", orgscim.Errorf(orgscim.Invalid, "%s", why)
	}
	id := &OperatorKeyIdentity{Name: req.Name, OwnerConnectionID: req.OwnerConnectionID, OwnerUserID: req.OwnerUserID}
	k := &AdminKey{Operator: req.Operator, CreatedBy: "cli", Identity: id}
	return s.issue(ctx, k, expires, "", func(ctx context.Context) error {
		id.KeyID = k.ID
		return st.CreateOperatorKeyIdentity(ctx, id)
	})
}

// ownerGone says why the owner of a named operator key cannot answer for it now ("" when
// they can): they must be an active user of an active connection of a root org (the
// vendor's) whose relationship is active.
func (s *AdminKeys) ownerGone(ctx context.Context, connID, userID string, now time.Time) (string, error) {
	a := s.Delegations.Access
	conn, err := a.Store.ConnectionByID(ctx, connID)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return "the owner's connection does not exist", nil
	}
	if err != nil {
		return "", err
	}
	home, err := a.Org(ctx, conn.OrgID)
	if err != nil {
		return "", err
	}
	if home.ParentID != "" {
		return "the owner of an operator key is a user of the vendor's own connection (of a root org), not of " + conn.Slug, nil
	}
	if conn.Status != "active" {
		return "the owner's connection " + conn.Slug + " is not active", nil
	}
	if !home.GrantsAccessAt(now) {
		return "the relationship with org " + home.Slug + " is not active", nil
	}
	u, err := a.Users.Get(ctx, connID, userID)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return "the owner " + userID + " is not a user of connection " + conn.Slug, nil
	}
	if err != nil {
		return "", err
	}
	if !u.Active {
		return "the owner " + u.UserName + " is not an active user", nil
	}
	return "", nil
}

// namedKeyHolds applies the rule to an operator key at now: a named key works only while
// its owner answers for it; a plain key has no owner to ask.
func (s *AdminKeys) namedKeyHolds(ctx context.Context, k *AdminKey, now time.Time) error {
	id := k.Identity
	if k.Operator == "" || id == nil {
		return nil
	}
	why, err := s.ownerGone(ctx, id.OwnerConnectionID, id.OwnerUserID, now)
	if err != nil {
		return err
	}
	if why != "" {
		return brokenLink("operator key %s: %s", id.Name, why)
	}
	return nil
}

// OperatorKeyState is one operator key as apikey list shows it.
type OperatorKeyState struct {
	Key      *AdminKey
	Identity *OperatorKeyIdentity // nil for a plain key
	State    string               // active, expired, revoked, or owner-gone
	Why      string
}

// OperatorKeys lists the operator keys with their state now.
func (s *AdminKeys) OperatorKeys(ctx context.Context) ([]OperatorKeyState, error) {
	st, err := s.identities()
	if err != nil {
		return nil, err
	}
	keys, ids, err := st.OperatorKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]OperatorKeyState, 0, len(keys))
	for _, k := range keys {
		ks := OperatorKeyState{Key: k, Identity: ids[k.ID], State: "active"}
		switch {
		case k.Revoked != nil:
			ks.State = "revoked"
		case k.Expires != nil && !now.Before(*k.Expires):
			ks.State = "expired"
		case ks.Identity != nil:
			if ks.Why, err = s.ownerGone(ctx, ks.Identity.OwnerConnectionID, ks.Identity.OwnerUserID, now); err != nil {
				return nil, err
			}
			if ks.Why != "" {
				ks.State = "owner-gone"
			}
		}
		out = append(out, ks)
	}
	return out, nil
}
