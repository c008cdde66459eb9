package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

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

// inSet is inList for a column that a set is matched against row by row: on
// PostgreSQL a semi-join on the unnested array, which hashes the set, where col =
// ANY($n) in a generic plan compares each row with every element (for 100 ids against
// the 1,001 orgs, 1.4 ms instead of 0.2 ms).
func (d dialect) inSet(col, n string) string {
	if d.name == "postgres" {
		return col + " IN (SELECT unnest(" + n + "::text[]))"
	}
	return d.inList(col, n)
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

// pairs is a FROM item q(user_id, org_id) of the pairs of list parameters a and b, the
// i-th id of one with the i-th of the other.
func (d dialect) pairs(a, b string) string {
	if d.name == "postgres" {
		return "unnest(" + a + "::text[], " + b + "::text[]) AS q(user_id, org_id)"
	}
	return "(SELECT qa.value AS user_id, qb.value AS org_id FROM json_each(" + a + ") qa JOIN json_each(" + b + ") qb ON qb.key = qa.key) q"
}

// grantsOnPath joins to each row of q(user_id) and orgs t the live grants g of the user
// on the orgs of t's path, one lookup of grants_user per (user, org): on PostgreSQL a
// LATERAL subquery that the planner may not flatten (OFFSET 0), since flattened it reads
// every grant of the user from the heap and filters them by org (its estimate of ten
// grants per user makes that look cheaper), which is where a batch's time went.
func (d dialect) grantsOnPath() string {
	if d.name == "postgres" {
		return `CROSS JOIN LATERAL unnest(string_to_array(trim(both '/' from t.path), '/')) AS a(org_id)
		CROSS JOIN LATERAL (SELECT * FROM grants WHERE user_id = q.user_id AND org_id = a.org_id AND revoked_at IS NULL OFFSET 0) g`
	}
	return `JOIN json_each('["' || replace(trim(t.path, '/'), '/', '","') || '"]') a
		JOIN grants g ON g.user_id = q.user_id AND g.org_id = a.value AND g.revoked_at IS NULL`
}

// pathIDs is a one-column subquery of the ids on the paths of the orgs t that match cond.
func (d dialect) pathIDs(cond string) string {
	if d.name == "postgres" {
		return "SELECT unnest(string_to_array(trim(both '/' from t.path), '/')) FROM orgs t WHERE " + cond
	}
	return `SELECT j.value FROM orgs t, json_each('["' || replace(trim(t.path, '/'), '/', '","') || '"]') j WHERE ` + cond
}

// nulls are NULL columns of these types, for a UNION branch that has no such columns:
// typed, so that PostgreSQL matches them with another branch's columns whichever branch
// comes first.
func nulls(types ...[]string) string {
	var cols []string
	for _, ts := range types {
		for _, t := range ts {
			cols = append(cols, "CAST(NULL AS "+t+")")
		}
	}
	return strings.Join(cols, ", ")
}

// The types of the columns of orgCols, of a user's standing, of connectionCols, of
// grantCols and of roleCols, for nulls.
var (
	orgTypes        = []string{"TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT"}
	userTypes       = []string{"TEXT", "TEXT", "TEXT", "BOOLEAN"}
	connectionTypes = []string{"TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "TEXT"}
	grantTypes      = []string{"TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT", "BIGINT", "TEXT", "TEXT"}
	roleTypes       = []string{"TEXT", "TEXT", "TEXT", "BOOLEAN", "BIGINT", "BOOLEAN", "BIGINT"}
)

const (
	connectionCols = "id, slug, org_id, idp, status, created_at, placement"
	grantCols      = `id, connection_id, user_id, role_id, org_id, source, source_id, granted_by, granted_under, approved_by,
	reason, valid_from, expires_at, created_at, revoked_at, revoked_by, revoke_reason`
	roleCols = "key, description, permissions, privileged, max_seconds, inherits, created_at"
)

// checkStatements are the access check's fixed statements of one dialect.
type checkStatements struct {
	orgPaths   string // $1 org ids: each org on the path of each of them (itself included)
	orgsBySlug string // $1 slugs
	// names: $1 connection slugs, $2 org slugs: rows of kind 'c', the connections, and
	// of kind 'o', the orgs, that exist among them (the other kind's columns NULL).
	names     string
	name      string // names of one connection and one org: planned once per connection (see userFact)
	connsByID string // $1 ids
	// userFacts: $1 connection ids, $2 user ids, $3 target org ids: every fact a user's
	// question needs, in one statement of two branches. Rows of kind 'o' are the orgs on
	// the targets' paths (user and grant columns NULL); rows of kind 'u' the live users
	// among the ids, each with one of its live grants on those orgs and the grant's role,
	// or with NULL grant columns.
	userFacts string
	// userFact is userFacts of one question, its parameters single ids: PostgreSQL plans
	// it once for the connection (its generic plan costs what a custom one does), where
	// userFacts, over arrays of unknown length, is planned again at every execution —
	// about 0.4 ms, more than it takes to run for one question.
	userFact   string
	liveGrants string // $1 holder ids, $2 org ids: live grants and their roles
}

func (d dialect) checkStatements() checkStatements {
	return checkStatements{
		// An org shared by the paths of several targets comes once per target: a join
		// through the primary key, which PostgreSQL's planner keeps (with id IN (...) of
		// the paths, it scans the table).
		orgPaths:   "SELECT " + aliased("p.", "", orgCols) + " FROM orgs t JOIN orgs p ON " + d.idInPath("p.id", "t.path") + " WHERE " + d.inList("t.id", "$1"),
		orgsBySlug: "SELECT " + orgCols + " FROM orgs WHERE " + d.inList("slug", "$1"),
		names:      d.names(false),
		name:       d.names(true),
		connsByID:  "SELECT " + connectionCols + " FROM connections WHERE " + d.inList("id", "$1"),
		userFacts:  d.userFacts(false),
		userFact:   d.userFacts(true),
		liveGrants: "SELECT " + aliased("g.", "g_", grantCols) + ", " + aliased("r.", "r_", roleCols) + `
			FROM grants g JOIN roles r ON r.id = g.role_id
			WHERE g.revoked_at IS NULL AND ` + d.inList("g.user_id", "$1") + " AND " + d.inList("g.org_id", "$2"),
	}
}

// names builds checkStatements.names, or name when one.
func (d dialect) names(one bool) string {
	in := d.inSet
	if one {
		in = func(col, n string) string { return col + " = " + n }
	}
	return "SELECT 'c', " + connectionCols + ", " + nulls(orgTypes) + " FROM connections WHERE " + in("slug", "$1") + `
		UNION ALL
		SELECT 'o', ` + nulls(connectionTypes) + ", " + orgCols + " FROM orgs WHERE " + in("slug", "$2")
}

// userFacts builds checkStatements.userFacts, or userFact when one.
func (d dialect) userFacts(one bool) string {
	in := func(col, n string) string {
		if one {
			return col + " = " + n
		}
		return d.inList(col, n)
	}
	pairs := d.pairs("$2", "$3")
	if one {
		pairs = "(SELECT CAST($2 AS TEXT) AS user_id, CAST($3 AS TEXT) AS org_id) q"
	}
	// One target's path: a join through the primary key. Many targets' paths share
	// orgs, so a batch reads each org once (a semi-join) instead of once per target.
	onPaths := "orgs t JOIN orgs p ON " + d.idInPath("p.id", "t.path") + " WHERE " + in("t.id", "$3")
	if !one {
		onPaths = "orgs p WHERE p.id IN (" + d.pathIDs(d.inSet("t.id", "$3")) + ")"
	}
	return "SELECT 'o', " + aliased("p.", "", orgCols) + ", " + nulls(userTypes, grantTypes, roleTypes) + `
		FROM ` + onPaths + `
		UNION ALL
		SELECT 'u', ` + nulls(orgTypes) + ", u.connection_id, u.id, u.user_name, u.active, " + nulls(grantTypes, roleTypes) + `
		FROM scim_users u WHERE ` + in("u.connection_id", "$1") + " AND " + in("u.id", "$2") + ` AND u.deleted_at IS NULL
		UNION ALL
		SELECT 'g', ` + nulls(orgTypes, userTypes) + ", " + aliased("g.", "g_", grantCols) + ", " + aliased("r.", "r_", roleCols) + `
		FROM ` + pairs + ` JOIN orgs t ON t.id = q.org_id ` + d.grantsOnPath() + `
		JOIN roles r ON r.id = g.role_id`
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

// nullOrg is an org's columns in a row where they may be NULL.
type nullOrg struct {
	ID, Slug, Name, Path, Kind, Status, Owner       sql.NullString
	BrandName, BrandLogo, BrandPrimary, BrandAccent sql.NullString
	ParentID                                        *string
	ContractStart, ContractEnd                      *int64
	GraceSeconds, Version, CreatedAt, UpdatedAt     sql.NullInt64
}

func (o *nullOrg) fields() []any {
	return []any{&o.ID, &o.Slug, &o.Name, &o.ParentID, &o.Path, &o.Kind, &o.Status, &o.ContractStart, &o.ContractEnd,
		&o.GraceSeconds, &o.Owner, &o.BrandName, &o.BrandLogo, &o.BrandPrimary, &o.BrandAccent, &o.Version, &o.CreatedAt, &o.UpdatedAt}
}

func (o *nullOrg) row() orgRow {
	return orgRow{ID: o.ID.String, Slug: o.Slug.String, Name: o.Name.String, ParentID: o.ParentID, Path: o.Path.String,
		Kind: o.Kind.String, Status: o.Status.String, ContractStart: o.ContractStart, ContractEnd: o.ContractEnd,
		GraceSeconds: o.GraceSeconds.Int64, Owner: o.Owner.String, BrandDisplayName: o.BrandName.String, BrandLogoURL: o.BrandLogo.String,
		BrandPrimaryColor: o.BrandPrimary.String, BrandAccentColor: o.BrandAccent.String, Version: o.Version.Int64,
		CreatedAt: o.CreatedAt.Int64, UpdatedAt: o.UpdatedAt.Int64}
}

// nullConnection is a connection's columns in a row where they may be NULL.
type nullConnection struct {
	ID, Slug, OrgID, IdP, Status, Placement sql.NullString
	CreatedAt                               sql.NullInt64
}

func (c *nullConnection) fields() []any {
	return []any{&c.ID, &c.Slug, &c.OrgID, &c.IdP, &c.Status, &c.CreatedAt, &c.Placement}
}

func (c *nullConnection) row() connectionRow {
	return connectionRow{ID: c.ID.String, Slug: c.Slug.String, OrgID: c.OrgID.String, IdP: c.IdP.String, Status: c.Status.String,
		CreatedAt: c.CreatedAt.Int64, Placement: c.Placement.String}
}

func (r *connectionRow) fields() []any {
	return []any{&r.ID, &r.Slug, &r.OrgID, &r.IdP, &r.Status, &r.CreatedAt, &r.Placement}
}
