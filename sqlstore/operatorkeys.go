package sqlstore

import (
	"context"

	"github.com/orgscim/orgscim/orgs"
)

var _ orgs.OperatorKeyStore = adminKeyStore{}

type operatorKeyIdentityRow struct {
	KeyID             string
	Name              string
	OwnerConnectionID string
	OwnerUserID       string
}

func (r operatorKeyIdentityRow) identity() *orgs.OperatorKeyIdentity {
	return &orgs.OperatorKeyIdentity{KeyID: r.KeyID, Name: r.Name, OwnerConnectionID: r.OwnerConnectionID, OwnerUserID: r.OwnerUserID}
}

func (s adminKeyStore) CreateOperatorKeyIdentity(ctx context.Context, id *orgs.OperatorKeyIdentity) error {
	return s.db.q(ctx).Exec("INSERT INTO operator_key_identities (key_id, name, owner_connection_id, owner_user_id) VALUES (?, ?, ?, ?)",
		id.KeyID, id.Name, id.OwnerConnectionID, id.OwnerUserID).Error
}

func (s adminKeyStore) OperatorKeys(ctx context.Context) ([]*orgs.AdminKey, map[string]*orgs.OperatorKeyIdentity, error) {
	var keys []adminKeyRow
	if err := s.db.q(ctx).Raw("SELECT " + adminKeyCols + " FROM admin_keys WHERE operator IS NOT NULL ORDER BY created_at, id").
		Scan(&keys).Error; err != nil {
		return nil, nil, err
	}
	var ids []operatorKeyIdentityRow
	if err := s.db.q(ctx).Raw("SELECT key_id, name, owner_connection_id, owner_user_id FROM operator_key_identities").
		Scan(&ids).Error; err != nil {
		return nil, nil, err
	}
	out := make([]*orgs.AdminKey, len(keys))
	for i, r := range keys {
		out[i] = &orgs.AdminKey{ID: r.ID, Hash: r.Hash, Hint: r.Hint, Operator: deref(r.Operator), CreatedBy: r.CreatedBy,
			IssuedWithKey: deref(r.IssuedWithKey), Created: fromMicros(r.CreatedAt), Expires: fromMicrosPtr(r.ExpiresAt),
			Revoked: fromMicrosPtr(r.RevokedAt), LastUsed: fromMicrosPtr(r.LastUsedAt)}
	}
	byKey := make(map[string]*orgs.OperatorKeyIdentity, len(ids))
	for _, r := range ids {
		byKey[r.KeyID] = r.identity()
	}
	return out, byKey, nil
}
