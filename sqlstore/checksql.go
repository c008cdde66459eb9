package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/orgscim/orgscim/orgs"
)

// Fixed SQL for the access check (accesscheck.go), which every adapter's decision runs:
// the AuthZEN PDP asks it per request, and a batch asks it for up to a thousand
// questions at once. Like the SCIM hot path (rawsql.go), each statement is built once per
// dialect, sent through database/sql and scanned field by field; a set of ids travels as
// one parameter (a text[] on PostgreSQL, a JSON array read by json_each on SQLite), so
// that a statement's text is the same whatever the batch's size and stays prepared on
// the connection, instead of one IN list per size that gorm rebuilds on every call.

// inList is the condition that col is one of the ids of list parameter n (listArg).
func (d dialect) inList(col, n string) string {
	if d.name == "postgres" {
		return col + " = ANY(" + n + "::text[])"
	}
	return col + " IN (SELECT value FROM json_each(" + n + "))"
}

// listArg is a set of ids as inList's parameter.
func (d dialect) listArg(ids []string) any {
	if ids == nil {
		ids = []string{}
	}
	if d.name == "postgres" {
		return ids
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

const (
	connectionCols = "id, slug, org_id, idp, status, created_at, placement"
	grantCols      = `id, connection_id, user_id, role_id, org_id, source, source_id, granted_by, granted_under, approved_by,
	reason, valid_from, expires_at, created_at, revoked_at, revoked_by, revoke_reason`
	roleCols = "key, description, permissions, privileged, max_seconds, inherits, created_at"
)

// checkStatements are the access check's fixed statements of one dialect.
type checkStatements struct {
	orgPaths    string // $1 org ids: each org on the path of each of them (itself included)
	orgsBySlug  string // $1 slugs
	connsBySlug string // $1 slugs
	connsByID   string // $1 ids
	// usersGrants: $1 connection ids, $2 user ids, $3 org ids: the live users among them,
	// each with its live grants on the orgs (and their roles), one row per grant or one
	// with NULL grant columns.
	usersGrants string
	liveGrants  string // $1 holder ids, $2 org ids: live grants and their roles
}

func (d dialect) checkStatements() checkStatements {
	return checkStatements{
		// An org shared by the paths of several targets comes once per target: a join
		// through the primary key, which PostgreSQL's planner keeps (with id IN (...) of
		// the paths, it scans the table).
		orgPaths:    "SELECT " + aliased("p.", "", orgCols) + " FROM orgs t JOIN orgs p ON " + d.idInPath("p.id", "t.path") + " WHERE " + d.inList("t.id", "$1"),
		orgsBySlug:  "SELECT " + orgCols + " FROM orgs WHERE " + d.inList("slug", "$1"),
		connsBySlug: "SELECT " + connectionCols + " FROM connections WHERE " + d.inList("slug", "$1"),
		connsByID:   "SELECT " + connectionCols + " FROM connections WHERE " + d.inList("id", "$1"),
		usersGrants: "SELECT u.connection_id, u.id, u.user_name, u.active, " + aliased("g.", "g_", grantCols) + ", " + aliased("r.", "r_", roleCols) + `
			FROM scim_users u
			LEFT JOIN grants g ON g.user_id = u.id AND g.revoked_at IS NULL AND ` + d.inList("g.org_id", "$3") + `
			LEFT JOIN roles r ON r.id = g.role_id
			WHERE ` + d.inList("u.connection_id", "$1") + " AND " + d.inList("u.id", "$2") + " AND u.deleted_at IS NULL",
		liveGrants: "SELECT " + aliased("g.", "g_", grantCols) + ", " + aliased("r.", "r_", roleCols) + `
			FROM grants g JOIN roles r ON r.id = g.role_id
			WHERE g.revoked_at IS NULL AND ` + d.inList("g.user_id", "$1") + " AND " + d.inList("g.org_id", "$2"),
	}
}

// checkRows runs one of the check's statements on the context's transaction or the pool
// and hands each row to scan.
func (db *DB) checkRows(ctx context.Context, stmt string, scan func(*sql.Rows) error, args ...any) error {
	rows, err := db.query(ctx, db.pool(ctx), stmt, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return markUnavailable(rows.Err())
}

// nullGrant is a grant's and its role's columns as a LEFT JOIN gives them.
type nullGrant struct {
	ID, UserID, RoleID, OrgID, Source, SourceID, GrantedBy, Reason  sql.NullString
	ConnectionID, GrantedUnder, ApprovedBy, RevokedBy, RevokeReason *string
	ValidFrom, CreatedAt                                            sql.NullInt64
	ExpiresAt, RevokedAt                                            *int64
	RKey, RDescription, RPermissions                                sql.NullString
	RPrivileged, RInherits                                          sql.NullBool
	RMaxSeconds, RCreatedAt                                         sql.NullInt64
}

func (g *nullGrant) fields() []any {
	return []any{&g.ID, &g.ConnectionID, &g.UserID, &g.RoleID, &g.OrgID, &g.Source, &g.SourceID, &g.GrantedBy, &g.GrantedUnder,
		&g.ApprovedBy, &g.Reason, &g.ValidFrom, &g.ExpiresAt, &g.CreatedAt, &g.RevokedAt, &g.RevokedBy, &g.RevokeReason,
		&g.RKey, &g.RDescription, &g.RPermissions, &g.RPrivileged, &g.RMaxSeconds, &g.RInherits, &g.RCreatedAt}
}

// grantRoles gathers grants and their roles, each once.
type grantRoles struct {
	grants []*orgs.Grant
	roles  map[string]*orgs.Role
	seen   map[string]bool
}

func newGrantRoles() *grantRoles {
	return &grantRoles{roles: map[string]*orgs.Role{}, seen: map[string]bool{}}
}

// add keeps the row's grant, if it has one not kept yet.
func (gr *grantRoles) add(g *nullGrant) error {
	if !g.ID.Valid || gr.seen[g.ID.String] {
		return nil
	}
	gr.seen[g.ID.String] = true
	gr.grants = append(gr.grants, grantRow{ID: g.ID.String, ConnectionID: g.ConnectionID, UserID: g.UserID.String, RoleID: g.RoleID.String,
		OrgID: g.OrgID.String, Source: g.Source.String, SourceID: g.SourceID.String, GrantedBy: g.GrantedBy.String,
		GrantedUnder: g.GrantedUnder, ApprovedBy: g.ApprovedBy, Reason: g.Reason.String, ValidFrom: g.ValidFrom.Int64,
		ExpiresAt: g.ExpiresAt, CreatedAt: g.CreatedAt.Int64, RevokedAt: g.RevokedAt, RevokedBy: g.RevokedBy,
		RevokeReason: g.RevokeReason}.grant())
	if gr.roles[g.RoleID.String] != nil || !g.RKey.Valid {
		return nil
	}
	ro, err := roleRow{ID: g.RoleID.String, Key: g.RKey.String, Description: g.RDescription.String, Permissions: g.RPermissions.String,
		Privileged: g.RPrivileged.Bool, MaxSeconds: g.RMaxSeconds.Int64, Inherits: g.RInherits.Bool, CreatedAt: g.RCreatedAt.Int64}.role()
	if err != nil {
		return err
	}
	gr.roles[g.RoleID.String] = ro
	return nil
}

// sorted returns the grants oldest first, as one ORDER BY would list them.
func (gr *grantRoles) sorted() []*orgs.Grant {
	sortGrants(gr.grants)
	return gr.grants
}

func (r *connectionRow) fields() []any {
	return []any{&r.ID, &r.Slug, &r.OrgID, &r.IdP, &r.Status, &r.CreatedAt, &r.Placement}
}
