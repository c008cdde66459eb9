package sqlstore

import (
	"context"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
	"gorm.io/gorm"
)

// ServiceAccounts returns the store of service accounts and integration tokens.
func (db *DB) ServiceAccounts() orgs.ServiceAccountStore { return serviceAccountStore{db} }

type serviceAccountStore struct{ db *DB }

type serviceAccountRow struct {
	ID                string
	OrgID             string
	Name              string
	Description       string
	OwnerConnectionID string
	OwnerUserID       string
	CreatedBy         string
	CreatedAt         int64
	ExpiresAt         int64
	OrphanedAt        *int64
	OrphanDeadline    *int64
	RetiredAt         *int64
	RetiredBy         *string
	RetireReason      *string
}

const serviceAccountCols = `id, org_id, name, description, owner_connection_id, owner_user_id, created_by, created_at, expires_at,
	orphaned_at, orphan_deadline, retired_at, retired_by, retire_reason`

func (r serviceAccountRow) account() *orgs.ServiceAccount {
	return &orgs.ServiceAccount{ID: r.ID, OrgID: r.OrgID, Name: r.Name, Description: r.Description,
		OwnerConnectionID: r.OwnerConnectionID, OwnerUserID: r.OwnerUserID, CreatedBy: r.CreatedBy, Created: fromMicros(r.CreatedAt),
		Expires: fromMicros(r.ExpiresAt), OrphanedAt: fromMicrosPtr(r.OrphanedAt), OrphanDeadline: fromMicrosPtr(r.OrphanDeadline),
		Retired: fromMicrosPtr(r.RetiredAt), RetiredBy: deref(r.RetiredBy), RetireReason: deref(r.RetireReason)}
}

func (s serviceAccountStore) CreateServiceAccount(ctx context.Context, sa *orgs.ServiceAccount) error {
	err := s.db.q(ctx).Exec("INSERT INTO service_accounts ("+serviceAccountCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		sa.ID, sa.OrgID, sa.Name, sa.Description, sa.OwnerConnectionID, sa.OwnerUserID, sa.CreatedBy, micros(sa.Created),
		micros(sa.Expires), microsPtr(sa.OrphanedAt), microsPtr(sa.OrphanDeadline), microsPtr(sa.Retired), nullable(sa.RetiredBy),
		nullable(sa.RetireReason)).Error
	if isUniqueViolation(err) {
		return orgscim.Errorf(orgscim.Conflict, "the org already has a service account named %q", sa.Name)
	}
	return err
}

func (s serviceAccountStore) ServiceAccount(ctx context.Context, id string) (*orgs.ServiceAccount, error) {
	var rows []serviceAccountRow
	if err := s.db.q(ctx).Raw("SELECT "+serviceAccountCols+" FROM service_accounts WHERE id = ?", id).Scan(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, orgscim.Errorf(orgscim.NotFound, "service account %q not found", id)
	}
	return rows[0].account(), nil
}

func (s serviceAccountStore) UpdateServiceAccount(ctx context.Context, id string, fn func(*orgs.ServiceAccount) error) (*orgs.ServiceAccount, error) {
	var out *orgs.ServiceAccount
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var rows []serviceAccountRow
		if err := tx.Raw("SELECT "+serviceAccountCols+" FROM service_accounts WHERE id = ?"+s.db.dialect.forUpdate, id).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return orgscim.Errorf(orgscim.NotFound, "service account %q not found", id)
		}
		sa := rows[0].account()
		if err := fn(sa); err != nil {
			return err
		}
		out = sa
		return tx.Exec(`UPDATE service_accounts SET owner_connection_id = ?, owner_user_id = ?, orphaned_at = ?, orphan_deadline = ?,
			retired_at = ?, retired_by = ?, retire_reason = ? WHERE id = ?`,
			sa.OwnerConnectionID, sa.OwnerUserID, microsPtr(sa.OrphanedAt), microsPtr(sa.OrphanDeadline), microsPtr(sa.Retired),
			nullable(sa.RetiredBy), nullable(sa.RetireReason), id).Error
	})
	return out, err
}

func (s serviceAccountStore) ServiceAccountsUnder(ctx context.Context, path string, retired bool) ([]*orgs.ServiceAccount, error) {
	q := `SELECT s.id, s.org_id, s.name, s.description, s.owner_connection_id, s.owner_user_id, s.created_by, s.created_at,
		s.expires_at, s.orphaned_at, s.orphan_deadline, s.retired_at, s.retired_by, s.retire_reason
		FROM service_accounts s JOIN orgs o ON o.id = s.org_id WHERE o.path LIKE ? ESCAPE '\'`
	if !retired {
		q += " AND s.retired_at IS NULL"
	}
	var rows []serviceAccountRow
	if err := s.db.q(ctx).Raw(q+" ORDER BY s.created_at, s.id", likePrefix(path)).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*orgs.ServiceAccount, len(rows))
	for i, r := range rows {
		out[i] = r.account()
	}
	return out, nil
}

type integrationTokenRow struct {
	ID               string
	OrgID            string
	ServiceAccountID string
	Hash             string
	Hint             string
	CreatedBy        string
	CreatedAt        int64
	ExpiresAt        int64
	RevokedAt        *int64
	RevokedBy        *string
}

const integrationTokenCols = "id, org_id, service_account_id, hash, hint, created_by, created_at, expires_at, revoked_at, revoked_by"

func (r integrationTokenRow) token() *orgs.IntegrationToken {
	return &orgs.IntegrationToken{ID: r.ID, OrgID: r.OrgID, ServiceAccountID: r.ServiceAccountID, Hash: r.Hash, Hint: r.Hint,
		CreatedBy: r.CreatedBy, Created: fromMicros(r.CreatedAt), Expires: fromMicros(r.ExpiresAt), Revoked: fromMicrosPtr(r.RevokedAt),
		RevokedBy: deref(r.RevokedBy)}
}

func (s serviceAccountStore) CreateIntegrationToken(ctx context.Context, t *orgs.IntegrationToken) error {
	return s.db.q(ctx).Exec("INSERT INTO integration_tokens ("+integrationTokenCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		t.ID, t.OrgID, t.ServiceAccountID, t.Hash, t.Hint, t.CreatedBy, micros(t.Created), micros(t.Expires),
		microsPtr(t.Revoked), nullable(t.RevokedBy)).Error
}

func (s serviceAccountStore) IntegrationTokenByHash(ctx context.Context, hash string) (*orgs.IntegrationToken, error) {
	var rows []integrationTokenRow
	if err := s.db.q(ctx).Raw("SELECT "+integrationTokenCols+" FROM integration_tokens WHERE hash = ?", hash).Scan(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, orgscim.Errorf(orgscim.NotFound, "no such integration token")
	}
	return rows[0].token(), nil
}

func (s serviceAccountStore) IntegrationTokens(ctx context.Context, serviceAccountID string) ([]*orgs.IntegrationToken, error) {
	var rows []integrationTokenRow
	err := s.db.q(ctx).Raw("SELECT "+integrationTokenCols+" FROM integration_tokens WHERE service_account_id = ? ORDER BY created_at, id",
		serviceAccountID).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]*orgs.IntegrationToken, len(rows))
	for i, r := range rows {
		out[i] = r.token()
	}
	return out, nil
}

func (s serviceAccountStore) RevokeIntegrationTokens(ctx context.Context, serviceAccountID, tokenID string, at time.Time, by string) (int, error) {
	q := "UPDATE integration_tokens SET revoked_at = ?, revoked_by = ? WHERE service_account_id = ? AND revoked_at IS NULL AND expires_at > ?"
	args := []any{micros(at), by, serviceAccountID, micros(at)}
	if tokenID != "" {
		q += " AND id = ?"
		args = append(args, tokenID)
	}
	res := s.db.q(ctx).Exec(q, args...)
	return int(res.RowsAffected), res.Error
}

// serviceAccountOwners maps each of ids that is a service account to its owner's
// connection, in the context's transaction (orgs.GrantConnections asks it).
func (db *DB) serviceAccountOwners(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID                string
		OwnerConnectionID string
	}
	if err := db.q(ctx).Raw("SELECT id, owner_connection_id FROM service_accounts WHERE id IN ?", ids).Scan(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ID] = r.OwnerConnectionID
	}
	return out, nil
}

// ServiceAccountOwners: see orgs.ServiceAccountOwners.
func (s accessStore) ServiceAccountOwners(ctx context.Context, ids []string) (map[string]string, error) {
	return s.db.serviceAccountOwners(ctx, ids)
}

// ServiceAccountOwners: see reconcile.Store.
func (s Reconcile) ServiceAccountOwners(ctx context.Context, ids []string) (map[string]string, error) {
	return s.db.serviceAccountOwners(ctx, ids)
}
