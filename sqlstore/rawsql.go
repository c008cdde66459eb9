package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"

	"github.com/orgscim/orgscim/provisioning"
	"gorm.io/gorm"
)

// Fixed SQL for the statements an IdP's requests send most: the bearer token by its
// hash, a user by id, the `userName eq` / `id eq` lookup, the locked read and the
// write-back of PATCH, PUT, deactivate and delete, a deleted user's leaving its groups,
// and the create's insert. A CPU profile of the HTTP handler (docs/PERFORMANCE.md,
// "Fixed SQL on the hot statements") had gorm's statement building (the SQL text and its
// variables rebuilt on every call), its callbacks and its reflective Scan at about a
// third of the database side of a request; these statements are built once per dialect
// when the database opens, sent through database/sql on the same pool or transaction
// gorm uses, and scanned field by field into the same rows as the gorm path.
//
// Placeholders are $N on both engines: PostgreSQL's own, and SQLite binds $N by its
// ordinal. What else differs (the row lock, the org-path join) comes from the dialect.
// Every statement is counted like gorm's (Statements), and its errors pass through
// markUnavailable like gorm's (TranslateError).

// hotStatements are the fixed statements of one dialect.
type hotStatements struct {
	adminKeyByHash  string // $1 hash: the admin key, its identity and its delegation chain (adminkeys.go)
	tokenByHash     string // $1 hash: the token, its connection and one row per org on its path
	userByID        string // $1 connection, $2 id: the user, deleted or not (see byKey)
	userByNameKey   string // $1 connection, $2 folded userName
	userByIDLookup  string // $1 connection, $2 id, deleted or not
	lockUserByID    string // $1 connection, $2 id: the user, deleted or not, locked for its update
	lockTombstone   string // $1 connection, $2 externalId: the latest deleted user, locked
	updateUser      string // $1..$14 the user's columns after id, $15 connection, $16 id
	leaveGroups     string // $1 connection, $2 member id
	insertFreshUser string // $1..$16 the user's columns; $17 tombstone, $18 import externalId, $19 import e-mail key, or NULL
}

func (d dialect) hotStatements() hotStatements {
	const unlinked = " AND import_batch_id IS NOT NULL AND linked_at IS NULL AND deleted_at IS NULL"
	return hotStatements{
		adminKeyByHash: d.adminKeyByHash(),
		tokenByHash: `SELECT t.id, t.connection_id, t.hash, t.hint, t.created_at, t.expires_at, t.revoked_at, t.last_used_at,
		c.slug, c.org_id, c.idp, c.status, c.created_at, c.placement, o.path, ` + aliased("p.", "p_", orgCols) + `
		FROM tokens t JOIN connections c ON c.id = t.connection_id JOIN orgs o ON o.id = c.org_id
		JOIN orgs p ON ` + d.idInPath("p.id", "o.path") + `
		WHERE t.hash = $1`,
		// byKey: by the primary key alone, the deleted left out by the caller. With
		// "deleted_at IS NULL" here every partial index on (connection_id, …) was a
		// candidate too, and the generic plan a connection cached before the table's
		// first ANALYZE walked one of them through all the connection's users
		// (EXPLAIN: scim_users_org, Filter: id = $2).
		userByID: "SELECT " + userReadCols + " FROM scim_users WHERE connection_id = $1 AND id = $2",
		// No ORDER BY: at most one live user matches (see Users). Nor LIMIT and OFFSET,
		// which userLookup applies: the generic plan of "LIMIT $3 OFFSET $4" costs an
		// unknown offset, twice the custom plans' cost, so it was never chosen and
		// PostgreSQL planned every lookup afresh (pg_stat_statements: as many plans as
		// calls, 0.13 ms planning against 0.03 ms executing on a quiet machine).
		userByNameKey:  "SELECT " + userReadCols + " FROM scim_users WHERE connection_id = $1 AND deleted_at IS NULL AND user_name_key = $2",
		userByIDLookup: "SELECT " + userReadCols + " FROM scim_users WHERE connection_id = $1 AND id = $2",               // byKey
		lockUserByID:   "SELECT " + userReadCols + " FROM scim_users WHERE connection_id = $1 AND id = $2" + d.forUpdate, // byKey
		lockTombstone: "SELECT " + userReadCols + " FROM scim_users WHERE connection_id = $1 AND external_id = $2 AND deleted_at IS NOT NULL" +
			" ORDER BY deleted_at DESC LIMIT 1" + d.forUpdate,
		updateUser: `UPDATE scim_users SET user_name = $1, user_name_key = $2, external_id = $3, display_name = $4, given_name = $5,
			family_name = $6, email = $7, active = $8, password_hash = $9, doc = $10, version = $11, created_at = $12, updated_at = $13, deleted_at = $14
			WHERE connection_id = $15 AND id = $16`,
		leaveGroups: "DELETE FROM scim_memberships WHERE connection_id = $1 AND member_id = $2",
		// A NULL check compares with nothing, so its NOT EXISTS holds: one statement
		// whichever of the three lookups provisioning asks for.
		insertFreshUser: "INSERT INTO scim_users (" + userCols + ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16" +
			" WHERE NOT EXISTS (SELECT 1 FROM scim_users WHERE connection_id = $1 AND external_id = $17 AND deleted_at IS NOT NULL)" +
			" AND NOT EXISTS (SELECT 1 FROM scim_users WHERE connection_id = $1 AND external_id = $18" + unlinked + ")" +
			" AND NOT EXISTS (SELECT 1 FROM scim_users WHERE connection_id = $1 AND import_email_key = $19" + unlinked + ")",
	}
}

// pool is what a fixed statement runs on: the context's transaction, or the pool.
func (db *DB) pool(ctx context.Context) gorm.ConnPool {
	if t, ok := ctx.Value(txKey{db}).(*txn); ok {
		return t.g.Statement.ConnPool
	}
	return db.gorm.ConnPool
}

// txPool is the connection of a transaction handle that store code holds (db.tx's).
func txPool(tx *gorm.DB) gorm.ConnPool { return tx.Statement.ConnPool }

// query sends one fixed statement that returns rows.
func (db *DB) query(ctx context.Context, p gorm.ConnPool, stmt string, args ...any) (*sql.Rows, error) {
	db.statements.Add(1)
	rows, err := p.QueryContext(ctx, stmt, args...)
	return rows, markUnavailable(err)
}

// exec sends one fixed statement that returns no rows.
func (db *DB) exec(ctx context.Context, p gorm.ConnPool, stmt string, args ...any) (sql.Result, error) {
	db.statements.Add(1)
	res, err := p.ExecContext(ctx, stmt, args...)
	return res, markUnavailable(err)
}

// scanner is a row of *sql.Rows (or *sql.Row).
type scanner interface{ Scan(dest ...any) error }

// scan reads a row of userReadCols.
func (r *userRow) scan(s scanner) error {
	return s.Scan(&r.ConnectionID, &r.ID, &r.UserName, &r.UserNameKey, &r.ExternalID, &r.DisplayName, &r.GivenName,
		&r.FamilyName, &r.Email, &r.Active, &r.PasswordHash, &r.Doc, &r.Version, &r.CreatedAt, &r.UpdatedAt, &r.DeletedAt,
		&r.OrgID, &r.Unclaimed, &r.InNoGroup, &r.NoQuarantine)
}

// orgFields are the destinations of orgCols, in order.
func (r *orgRow) fields() []any {
	return []any{&r.ID, &r.Slug, &r.Name, &r.ParentID, &r.Path, &r.Kind, &r.Status, &r.ContractStart, &r.ContractEnd,
		&r.GraceSeconds, &r.Owner, &r.BrandDisplayName, &r.BrandLogoURL, &r.BrandPrimaryColor, &r.BrandAccentColor,
		&r.Version, &r.CreatedAt, &r.UpdatedAt}
}

// userRows reads every row of a fixed statement over userReadCols.
func (db *DB) userRows(ctx context.Context, p gorm.ConnPool, stmt string, args ...any) ([]userRow, error) {
	rows, err := db.query(ctx, p, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []userRow
	for rows.Next() {
		var r userRow
		if err := r.scan(rows); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, markUnavailable(rows.Err())
}

// userRow reads the one row of a fixed statement over userReadCols; sql.ErrNoRows when
// there is none.
func (db *DB) userRow(ctx context.Context, p gorm.ConnPool, stmt string, args ...any) (userRow, error) {
	var r userRow
	rows, err := db.userRows(ctx, p, stmt, args...)
	if err != nil {
		return r, err
	}
	if len(rows) == 0 {
		return r, sql.ErrNoRows
	}
	return rows[0], nil
}

// tokenPathRow is a row of tokenByHash: the token and its connection (the same on every
// row) and one org of the connection's path.
type tokenPathRow struct {
	token   tokenRow
	conn    connectionRow
	orgPath string
	org     orgRow
}

func (db *DB) tokenPath(ctx context.Context, hash string) ([]tokenPathRow, error) {
	rows, err := db.query(ctx, db.pool(ctx), db.hot.tokenByHash, hash)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tokenPathRow
	for rows.Next() {
		var r tokenPathRow
		t, c := &r.token, &r.conn
		dest := append([]any{&t.ID, &t.ConnectionID, &t.Hash, &t.Hint, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.LastUsedAt,
			&c.Slug, &c.OrgID, &c.IdP, &c.Status, &c.CreatedAt, &c.Placement, &r.orgPath}, r.org.fields()...)
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		c.ID = t.ConnectionID
		out = append(out, r)
	}
	return out, markUnavailable(rows.Err())
}

// userLookup answers `userName eq` (column user_name_key, value folded) or a case-exact
// `id eq` with its fixed statement; ok is false for any other filter.
func (db *DB) userLookup(ctx context.Context, conn string, f provisioning.Filter, count, offset int) (rows []userRow, ok bool, err error) {
	c, isCompare := compareOf(f)
	if !isCompare || !uniqueLookup(f) {
		return nil, false, nil
	}
	v := c.Value.(string)
	var (
		stmt string
		byID bool
	)
	switch {
	case c.Attr.Path[0] == "userName":
		stmt, v = db.hot.userByNameKey, provisioning.FoldKey(v)
	case c.Attr.CaseExact:
		stmt, byID = db.hot.userByIDLookup, true
	default:
		return nil, false, nil
	}
	rows, err = db.userRows(ctx, db.pool(ctx), stmt, conn, v)
	if byID {
		rows = slices.DeleteFunc(rows, func(r userRow) bool { return r.DeletedAt != nil })
	}
	// At most one row, by the unique keys: the page is cut here, not by the statement.
	rows = rows[min(offset, len(rows)):]
	rows = rows[:min(max(count, 0), len(rows))]
	return rows, true, err
}

// sqlArgs numbers the arguments of a statement built at run time for database/sql
// ($1, $2, … in the order added; see the note on placeholders above).
type sqlArgs struct{ args []any }

// add appends v and returns its placeholder.
func (a *sqlArgs) add(v any) string {
	a.args = append(a.args, v)
	return "$" + strconv.Itoa(len(a.args))
}

// list appends vs and returns their parenthesised placeholders, for IN.
func (a *sqlArgs) list(vs []string) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.add(v))
	}
	b.WriteByte(')')
	return b.String()
}

// numberedRows writes n rows of cols placeholders each, numbered from first.
func numberedRows(b *strings.Builder, first, cols, n int) {
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(first))
			first++
		}
		b.WriteByte(')')
	}
}

// numbered replaces each ? of stmt, in order, with $1, $2, …: for statements written
// with gorm's placeholders and no ? of their own (no string literal or operator holds
// one), sent through database/sql.
func numbered(stmt string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(stmt); i++ {
		if stmt[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(stmt[i])
	}
	return b.String()
}
