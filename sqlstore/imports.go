package sqlstore

import (
	"context"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/imports"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// Imports is the store of spreadsheet imports (imports.ImportStore), of the link between
// imported users and their IdP (provisioning.ImportLinks), and of the access export
// (orgs.ExportStore).
func (db *DB) Imports() Imports { return Imports{db} }

// Imports implements imports.ImportStore, orgs.ExportStore and provisioning.ImportLinks.
type Imports struct{ db *DB }

var (
	_ imports.ImportStore      = Imports{}
	_ orgs.ExportStore         = Imports{}
	_ provisioning.ImportLinks = Imports{}
)

func (s Imports) CreateImportBatch(ctx context.Context, b *imports.ImportBatch) error {
	return s.db.q(ctx).Exec(`INSERT INTO import_batches (id, created_by, created_at, file_sha256, rows_total, orgs_created,
		users_created, grants_created, grants_replaced, unchanged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.CreatedBy, micros(b.Created), b.FileSHA256, b.Rows, b.OrgsCreated, b.UsersCreated, b.GrantsCreated,
		b.GrantsReplaced, b.Unchanged).Error
}

func (s Imports) user(ctx context.Context, where string, args ...any) (*provisioning.User, error) {
	var r userRow
	err := s.db.q(ctx).Raw("SELECT "+userReadCols+" FROM scim_users WHERE "+where+" AND deleted_at IS NULL LIMIT 1", args...).Take(&r).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "no such user")
	}
	if err != nil {
		return nil, err
	}
	return r.user()
}

func (s Imports) UserByUserName(ctx context.Context, conn, userName string) (*provisioning.User, error) {
	return s.user(ctx, "connection_id = ? AND user_name_key = ?", conn, provisioning.FoldKey(userName))
}

func (s Imports) UserByExternalID(ctx context.Context, conn, externalID string) (*provisioning.User, error) {
	return s.user(ctx, "connection_id = ? AND external_id = ?", conn, externalID)
}

func (s Imports) UsersByEmail(ctx context.Context, conn, email string) ([]*provisioning.User, error) {
	var rows []userRow
	lower := s.db.dialect.lower
	err := s.db.q(ctx).Raw("SELECT "+userReadCols+" FROM scim_users WHERE connection_id = ? AND "+lower("email")+" = "+lower("?")+
		" AND deleted_at IS NULL LIMIT 2", conn, email).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]*provisioning.User, 0, len(rows))
	for i := range rows {
		u, err := rows[i].user()
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func (s Imports) CreateImportedUser(ctx context.Context, conn string, u *provisioning.User, batchID string) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		if err := s.db.Users().CreateUser(ctx, conn, u); err != nil {
			return err
		}
		return s.db.q(ctx).Exec("UPDATE scim_users SET import_batch_id = ?, import_email_key = ? WHERE connection_id = ? AND id = ?",
			batchID, nullable(provisioning.FoldKey(u.Email)), conn, u.ID).Error
	})
}

// AwaitIdP marks a user created ahead of its IdP (a partner's first administrator,
// created when its onboarding was approved) as its IdP's to adopt, exactly as an
// imported one: its first push with the user's externalId or e-mail claims it rather
// than duplicate it. source names what created it.
func (s Imports) AwaitIdP(ctx context.Context, conn, id, email, source string) error {
	return s.db.q(ctx).Exec("UPDATE scim_users SET import_batch_id = ?, import_email_key = ? WHERE connection_id = ? AND id = ?",
		source, nullable(provisioning.FoldKey(email)), conn, id).Error
}

func (s Imports) ConnectionsOn(ctx context.Context, orgIDs []string) ([]*orgs.Connection, error) {
	var rows []connectionRow
	err := s.db.q(ctx).Raw("SELECT id, slug, org_id, idp, status, created_at, placement FROM connections WHERE org_id IN ? ORDER BY slug",
		orgIDs).Scan(&rows).Error
	out := make([]*orgs.Connection, len(rows))
	for i, r := range rows {
		out[i] = r.connection()
	}
	return out, err
}

// UnlinkedImports probes the two partial indexes of imported, unlinked users: on a
// connection whose imported users are all claimed, both probes find nothing at once.
func (s Imports) UnlinkedImports(ctx context.Context, conn, externalID, emailKey string) ([]*provisioning.User, error) {
	var rows []userRow
	const unlinked = "connection_id = ? AND import_batch_id IS NOT NULL AND linked_at IS NULL AND deleted_at IS NULL"
	err := s.db.q(ctx).Raw("SELECT "+userReadCols+" FROM scim_users WHERE "+unlinked+" AND external_id = ?"+
		" UNION ALL SELECT "+userReadCols+" FROM scim_users WHERE "+unlinked+" AND import_email_key = ? LIMIT 10",
		conn, externalID, conn, emailKey).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]*provisioning.User, 0, len(rows))
	for i := range rows {
		u, err := rows[i].user()
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// ImportApplied refreshes PostgreSQL's statistics of scim_users after an import made
// users: until then the planner knows nothing of the import columns and may answer the
// link lookup, which every SCIM creation makes, by filtering all the imported users
// (measured: 36 ms instead of 0.1 ms per creation after 5000). SQLite plans it well
// without them.
func (s Imports) ImportApplied(ctx context.Context) error {
	if s.db.dialect.name != "postgres" {
		return nil
	}
	return s.db.gorm.WithContext(ctx).Exec("ANALYZE scim_users").Error
}

func (s Imports) ClaimImported(ctx context.Context, conn, id string, at time.Time) (bool, error) {
	res := s.db.q(ctx).Exec("UPDATE scim_users SET linked_at = ? WHERE connection_id = ? AND id = ? AND import_batch_id IS NOT NULL AND linked_at IS NULL",
		micros(at), conn, id)
	return res.RowsAffected == 1, res.Error
}

func (s Imports) OrgsUnder(ctx context.Context, pathPrefix string) ([]*orgs.Org, error) {
	var rows []orgRow
	err := s.db.q(ctx).Raw("SELECT "+orgCols+" FROM orgs WHERE path LIKE ? ESCAPE '\\'", likePrefix(pathPrefix)).Scan(&rows).Error
	out := make([]*orgs.Org, len(rows))
	for i, r := range rows {
		out[i] = r.org()
	}
	return out, err
}

type accessRow struct {
	GrantID      string
	OrgID        string
	OrgPath      string
	UserID       string
	UserName     string
	Email        *string
	ExternalID   *string
	Connection   *string
	ConnectionID *string
	RoleKey      string
	Source       string
	SourceID     string
	GrantedBy    string
	GrantedUnder *string
	ApprovedBy   *string
	Reason       string
	ValidFrom    int64
	ExpiresAt    *int64
}

// ServiceAccountRows streams the service accounts' live grants, as AccessRows does the
// people's.
func (s Imports) ServiceAccountRows(ctx context.Context, pathPrefix string, at time.Time, fn func(*orgs.AccessRow) error) error {
	now := micros(at)
	rows, err := s.db.q(ctx).Raw(`SELECT g.id AS grant_id, g.org_id, o.path AS org_path, g.user_id, sa.name AS user_name,
			r.key AS role_key, g.source, g.source_id, g.granted_by, g.granted_under, g.approved_by, g.reason, g.valid_from, g.expires_at,
			c.slug AS owner_connection, sa.owner_user_id
		FROM grants g
		JOIN service_accounts sa ON sa.id = g.user_id
		JOIN orgs o ON o.id = g.org_id
		JOIN roles r ON r.id = g.role_id
		JOIN connections c ON c.id = sa.owner_connection_id
		WHERE g.connection_id IS NULL AND g.revoked_at IS NULL AND g.valid_from <= ? AND (g.expires_at IS NULL OR g.expires_at > ?)
			AND o.path LIKE ? ESCAPE '\' AND sa.retired_at IS NULL
		ORDER BY o.path, sa.name, r.key, g.id`, now, now, likePrefix(pathPrefix)).Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	g := s.db.q(ctx)
	for rows.Next() {
		var r struct {
			A               accessRow `gorm:"embedded"`
			OwnerConnection string
			OwnerUserID     string
		}
		if err := g.ScanRows(rows, &r); err != nil {
			return err
		}
		a := r.A
		out := &orgs.AccessRow{GrantID: a.GrantID, OrgID: a.OrgID, OrgPath: a.OrgPath, UserID: a.UserID, UserName: a.UserName,
			Role: a.RoleKey, Source: orgs.GrantSource(a.Source), SourceID: a.SourceID, GrantedBy: a.GrantedBy,
			GrantedUnder: deref(a.GrantedUnder), ApprovedBy: deref(a.ApprovedBy), Reason: a.Reason,
			ValidFrom: fromMicros(a.ValidFrom), Expires: fromMicrosPtr(a.ExpiresAt), Owner: r.OwnerConnection + "/" + r.OwnerUserID}
		if err := fn(out); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AccessRows streams rows from the database: an export of a large tree never holds it
// in memory.
func (s Imports) AccessRows(ctx context.Context, pathPrefix string, at time.Time, fn func(*orgs.AccessRow) error) error {
	now := micros(at)
	rows, err := s.db.q(ctx).Raw(`SELECT g.id AS grant_id, g.org_id, o.path AS org_path, g.user_id, COALESCE(u.user_name, '') AS user_name,
			u.email, u.external_id, c.slug AS connection, g.connection_id, r.key AS role_key, g.source, g.source_id, g.granted_by,
			g.granted_under, g.approved_by, g.reason, g.valid_from, g.expires_at
		FROM grants g
		JOIN orgs o ON o.id = g.org_id
		JOIN roles r ON r.id = g.role_id
		JOIN scim_users u ON u.connection_id = g.connection_id AND u.id = g.user_id
		JOIN connections c ON c.id = g.connection_id
		WHERE g.revoked_at IS NULL AND g.valid_from <= ? AND (g.expires_at IS NULL OR g.expires_at > ?)
			AND o.path LIKE ? ESCAPE '\'
			-- the holder: a live, active user of an active connection
			AND u.deleted_at IS NULL AND u.active AND c.status = 'active'
		ORDER BY o.path, u.user_name_key, r.key, g.id`, now, now, likePrefix(pathPrefix)).Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	g := s.db.q(ctx)
	for rows.Next() {
		var r accessRow
		if err := g.ScanRows(rows, &r); err != nil {
			return err
		}
		out := &orgs.AccessRow{GrantID: r.GrantID, OrgID: r.OrgID, OrgPath: r.OrgPath, UserID: r.UserID, UserName: r.UserName,
			Email: deref(r.Email), ExternalID: deref(r.ExternalID), Connection: deref(r.Connection), ConnectionID: deref(r.ConnectionID),
			Role: r.RoleKey, Source: orgs.GrantSource(r.Source), SourceID: r.SourceID, GrantedBy: r.GrantedBy,
			GrantedUnder: deref(r.GrantedUnder), ApprovedBy: deref(r.ApprovedBy),
			Reason: r.Reason, ValidFrom: fromMicros(r.ValidFrom), Expires: fromMicrosPtr(r.ExpiresAt)}
		if err := fn(out); err != nil {
			return err
		}
	}
	return rows.Err()
}
