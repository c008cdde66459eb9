package sqlstore

import (
	"context"
	"database/sql"
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

// adminKeyByHash is the statement of AdminKeyByHash ($1 the hash): the key, a named
// operator key's identity and, for a delegate's key, one row per org on the path of each
// link of its delegation's chain (chainSQL), or one row with NULL link columns.
func (d dialect) adminKeyByHash() string {
	return chainSQL(d, "SELECT delegation_id, 0 FROM admin_keys WHERE hash = $1 AND delegation_id IS NOT NULL",
		aliased("k.", "k_", adminKeyCols)+", i.name AS i_name, i.owner_connection_id AS i_owner_connection_id, i.owner_user_id AS i_owner_user_id, ",
		"(SELECT * FROM admin_keys WHERE hash = $1) k LEFT JOIN operator_key_identities i ON i.key_id = k.id") + " ORDER BY links.link"
}

// keyChainRow is a row of adminKeyByHash, scanned field by field: the link's and its
// org's columns are NULL for an operator's key.
type keyChainRow struct {
	K                                       adminKeyRow
	IName, IOwnerConnectionID, IOwner       *string
	DID, DOrgID, DHolderConn, DHolder       sql.NullString
	DCapabilities, DGrantedBy               sql.NullString
	DDepth, DCreatedAt                      sql.NullInt64
	DParentID, DRevokedBy, DRevokeWhy       *string
	DEngagementID                           *string
	DExpiresAt, DRevokedAt                  *int64
	OrgPath                                 sql.NullString
	Link                                    sql.NullInt64
	HolderActive                            *bool
	HolderConnStatus                        *string
	AID, ASlug, AName, APath, AKind         sql.NullString
	AStatus, AOwner, ABrandName             sql.NullString
	ABrandLogo, ABrandPrimary, ABrandAccent sql.NullString
	AParentID                               *string
	AContractStart, AContractEnd            *int64
	AGrace, AVersion, ACreated, AUpdated    sql.NullInt64
}

func (r *keyChainRow) fields() []any {
	k := &r.K
	return []any{&k.ID, &k.Hash, &k.Hint, &k.Operator, &k.DelegationID, &k.CreatedBy, &k.IssuedWithKey, &k.IssuedUnder,
		&k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt,
		&r.IName, &r.IOwnerConnectionID, &r.IOwner,
		&r.DID, &r.DOrgID, &r.DHolderConn, &r.DHolder, &r.DCapabilities, &r.DDepth, &r.DParentID, &r.DGrantedBy,
		&r.DCreatedAt, &r.DExpiresAt, &r.DRevokedAt, &r.DRevokedBy, &r.DRevokeWhy, &r.DEngagementID,
		&r.OrgPath, &r.Link, &r.HolderActive, &r.HolderConnStatus,
		&r.AID, &r.ASlug, &r.AName, &r.AParentID, &r.APath, &r.AKind, &r.AStatus, &r.AContractStart, &r.AContractEnd,
		&r.AGrace, &r.AOwner, &r.ABrandName, &r.ABrandLogo, &r.ABrandPrimary, &r.ABrandAccent, &r.AVersion, &r.ACreated, &r.AUpdated}
}

// chain is the row's link and org as chainOf reads them (empty ids where NULL).
func (r *keyChainRow) chain() chainRow {
	return chainRow{
		D: delegationRow{ID: r.DID.String, OrgID: r.DOrgID.String, HolderConnectionID: r.DHolderConn.String, HolderUserID: r.DHolder.String,
			Capabilities: r.DCapabilities.String, Depth: int(r.DDepth.Int64), ParentID: r.DParentID, GrantedBy: r.DGrantedBy.String,
			CreatedAt: r.DCreatedAt.Int64, ExpiresAt: r.DExpiresAt, RevokedAt: r.DRevokedAt, RevokedBy: r.DRevokedBy,
			RevokeReason: r.DRevokeWhy, EngagementID: r.DEngagementID},
		OrgPath: r.OrgPath.String, HolderActive: r.HolderActive, HolderConnStatus: r.HolderConnStatus, Link: int(r.Link.Int64),
		A: orgRow{ID: r.AID.String, Slug: r.ASlug.String, Name: r.AName.String, ParentID: r.AParentID, Path: r.APath.String,
			Kind: r.AKind.String, Status: r.AStatus.String, ContractStart: r.AContractStart, ContractEnd: r.AContractEnd,
			GraceSeconds: r.AGrace.Int64, Owner: r.AOwner.String, BrandDisplayName: r.ABrandName.String, BrandLogoURL: r.ABrandLogo.String,
			BrandPrimaryColor: r.ABrandPrimary.String, BrandAccentColor: r.ABrandAccent.String, Version: r.AVersion.Int64,
			CreatedAt: r.ACreated.Int64, UpdatedAt: r.AUpdated.Int64},
	}
}

// AdminKeyByHash reads the key, a named operator key's identity and, for a delegate's
// key, its delegation's chain (what DelegationChain reads) in one fixed statement, so
// that authenticating any key costs one round trip, and little CPU: every request of the
// admin API and of the AuthZEN PDP starts here.
func (s adminKeyStore) AdminKeyByHash(ctx context.Context, hash string) (*orgs.AdminKey, []orgs.ChainLink, map[string]*orgs.Org, error) {
	var (
		first *keyChainRow
		chain []chainRow
	)
	err := s.db.checkRows(ctx, s.db.hot.adminKeyByHash, func(rows *sql.Rows) error {
		var r keyChainRow
		if err := rows.Scan(r.fields()...); err != nil {
			return err
		}
		if first == nil {
			first = &r
		}
		chain = append(chain, r.chain())
		return nil
	}, hash)
	if err != nil {
		return nil, nil, nil, err
	}
	if first == nil {
		return nil, nil, nil, orgscim.Errorf(orgscim.NotFound, "no such key")
	}
	r := first.K
	k := &orgs.AdminKey{ID: r.ID, Hash: r.Hash, Hint: r.Hint, Operator: deref(r.Operator), DelegationID: deref(r.DelegationID),
		CreatedBy: r.CreatedBy, IssuedWithKey: deref(r.IssuedWithKey), IssuedUnder: deref(r.IssuedUnder), Created: fromMicros(r.CreatedAt), Expires: fromMicrosPtr(r.ExpiresAt),
		Revoked: fromMicrosPtr(r.RevokedAt), LastUsed: fromMicrosPtr(r.LastUsedAt)}
	if first.IName != nil {
		k.Identity = &orgs.OperatorKeyIdentity{KeyID: k.ID, Name: *first.IName, OwnerConnectionID: deref(first.IOwnerConnectionID), OwnerUserID: deref(first.IOwner)}
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
