package sqlstore

import (
	"context"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
	"gorm.io/gorm"
)

// AdminKeys is the orgs.AdminKeyStore of a DB.
func (db *DB) AdminKeys() orgs.AdminKeyStore { return adminKeyStore{db} }

type adminKeyStore struct{ db *DB }

type adminKeyRow struct {
	ID            string
	Hash          string
	Hint          string
	Operator      *string
	DelegationID  *string
	CreatedBy     string
	IssuedWithKey *string
	IssuedUnder   *string
	CreatedAt     int64
	ExpiresAt     *int64
	RevokedAt     *int64
	LastUsedAt    *int64
}

func (s adminKeyStore) CreateAdminKey(ctx context.Context, k *orgs.AdminKey) error {
	return s.db.q(ctx).Exec(`INSERT INTO admin_keys (id, hash, hint, operator, delegation_id, created_by, issued_with_key,
		issued_under, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, k.ID, k.Hash, k.Hint, nullable(k.Operator),
		nullable(k.DelegationID), k.CreatedBy, nullable(k.IssuedWithKey), nullable(k.IssuedUnder), micros(k.Created),
		microsPtr(k.Expires)).Error
}

const adminKeyCols = `id, hash, hint, operator, delegation_id, created_by, issued_with_key, issued_under,
	created_at, expires_at, revoked_at, last_used_at`

type keyChainRow struct {
	K adminKeyRow `gorm:"embedded;embeddedPrefix:k_"`
	// The identity of a named operator key, NULL for any other.
	IName              *string
	IOwnerConnectionID *string
	IOwnerUserID       *string
	C                  chainRow `gorm:"embedded"`
}

// AdminKeyByHash reads the key, a named operator key's identity and, for a delegate's
// key, its delegation's chain (what DelegationChain reads) in one statement, so that
// authenticating any key costs one round trip.
func (s adminKeyStore) AdminKeyByHash(ctx context.Context, hash string) (*orgs.AdminKey, []orgs.ChainLink, map[string]*orgs.Org, error) {
	var rows []keyChainRow
	err := s.db.q(ctx).Raw(chainSQL(s.db.dialect,
		"SELECT delegation_id, 0 FROM admin_keys WHERE hash = ? AND delegation_id IS NOT NULL",
		aliased("k.", "k_", adminKeyCols)+", i.name AS i_name, i.owner_connection_id AS i_owner_connection_id, i.owner_user_id AS i_owner_user_id, ",
		"(SELECT * FROM admin_keys WHERE hash = ?) k LEFT JOIN operator_key_identities i ON i.key_id = k.id")+" ORDER BY links.link", hash, hash).Find(&rows).Error
	if err != nil {
		return nil, nil, nil, err
	}
	if len(rows) == 0 {
		return nil, nil, nil, orgscim.Errorf(orgscim.NotFound, "no such key")
	}
	r := rows[0].K
	k := &orgs.AdminKey{ID: r.ID, Hash: r.Hash, Hint: r.Hint, Operator: deref(r.Operator), DelegationID: deref(r.DelegationID),
		CreatedBy: r.CreatedBy, IssuedWithKey: deref(r.IssuedWithKey), IssuedUnder: deref(r.IssuedUnder), Created: fromMicros(r.CreatedAt), Expires: fromMicrosPtr(r.ExpiresAt),
		Revoked: fromMicrosPtr(r.RevokedAt), LastUsed: fromMicrosPtr(r.LastUsedAt)}
	if i := rows[0]; i.IName != nil {
		k.Identity = &orgs.OperatorKeyIdentity{KeyID: k.ID, Name: *i.IName, OwnerConnectionID: deref(i.IOwnerConnectionID), OwnerUserID: deref(i.IOwnerUserID)}
	}
	chain := make([]chainRow, len(rows))
	for i := range rows {
		chain[i] = rows[i].C
	}
	links, byID, err := chainOf(chain)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := s.db.withReach(ctx, links, byID); err != nil {
		return nil, nil, nil, err
	}
	return k, links, byID, nil
}

func (s adminKeyStore) RevokeAdminKey(ctx context.Context, id string, at time.Time) ([]string, error) {
	var cascade []string
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Exec("UPDATE admin_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", micros(at), id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return orgscim.Errorf(orgscim.NotFound, "no usable key %q", id)
		}
		// Every key minted with it, through any number of keys, revoked or not on the
		// way: a key minted before its parent was revoked must not survive it.
		if err := tx.Raw(`WITH RECURSIVE minted(id, depth) AS (
				SELECT id, 1 FROM admin_keys WHERE issued_with_key = ?
				UNION
				SELECT k.id, minted.depth + 1 FROM admin_keys k JOIN minted ON k.issued_with_key = minted.id WHERE minted.depth < 64)
			SELECT id FROM admin_keys WHERE id IN (SELECT id FROM minted) AND revoked_at IS NULL ORDER BY id`, id).Scan(&cascade).Error; err != nil {
			return err
		}
		if len(cascade) == 0 {
			return nil
		}
		return tx.Exec("UPDATE admin_keys SET revoked_at = ? WHERE id IN ? AND revoked_at IS NULL", micros(at), cascade).Error
	})
	return cascade, err
}

func (s adminKeyStore) TouchAdminKey(ctx context.Context, id string, at time.Time) error {
	return s.db.q(ctx).Exec("UPDATE admin_keys SET last_used_at = ? WHERE id = ?", micros(at), id).Error
}
