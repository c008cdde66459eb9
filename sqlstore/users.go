package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/provisioning"
	"gorm.io/gorm"
)

// Users is the provisioning.UserStore of a DB.
func (db *DB) Users() provisioning.UserStore { return userStore{db} }

type userStore struct{ db *DB }

type userRow struct {
	ConnectionID string
	ID           string
	UserName     string
	UserNameKey  string
	ExternalID   *string
	DisplayName  *string
	GivenName    *string
	FamilyName   *string
	Email        *string
	Active       bool
	PasswordHash *string
	Doc          string
	Version      int64
	CreatedAt    int64
	UpdatedAt    int64
	DeletedAt    *int64
	OrgID        *string
	Unclaimed    bool
	InNoGroup    bool
	NoQuarantine bool
}

// userCols are the columns a user is written with; placement (org_id) is written apart.
const userCols = "connection_id, id, user_name, user_name_key, external_id, display_name, given_name, family_name, email, active, password_hash, doc, version, created_at, updated_at, deleted_at"

// userReadCols are the columns a user is read with; unclaimed says whether it was
// created ahead of its IdP (imported, or an onboarded administrator) and not yet claimed.
//
// in_no_group rides along (an index probe of scim_memberships) so that rendering a user
// in no group skips the recursive query of its groups.
const userReadCols = userCols + `, org_id, (import_batch_id IS NOT NULL AND linked_at IS NULL) AS unclaimed,
	NOT EXISTS (SELECT 1 FROM scim_memberships m WHERE m.connection_id = scim_users.connection_id AND m.member_id = scim_users.id) AS in_no_group,
	NOT EXISTS (SELECT 1 FROM user_quarantine q WHERE q.connection_id = scim_users.connection_id AND q.user_id = scim_users.id) AS no_quarantine`

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (r *userRow) user() (*provisioning.User, error) {
	u := &provisioning.User{
		ID: r.ID, ConnectionID: r.ConnectionID,
		UserName: r.UserName, ExternalID: deref(r.ExternalID), DisplayName: deref(r.DisplayName),
		GivenName: deref(r.GivenName), FamilyName: deref(r.FamilyName), Email: deref(r.Email),
		Active: r.Active, PasswordHash: deref(r.PasswordHash), Version: r.Version,
		Created: fromMicros(r.CreatedAt), LastModified: fromMicros(r.UpdatedAt), Deleted: fromMicrosPtr(r.DeletedAt),
		OrgID: deref(r.OrgID), Unclaimed: r.Unclaimed, InNoGroup: r.InNoGroup,
		NoQuarantine: r.NoQuarantine,
	}
	if err := json.Unmarshal([]byte(r.Doc), &u.Attributes); err != nil {
		return nil, fmt.Errorf("sqlstore: user %s: corrupt document: %w", r.ID, err)
	}
	return u, nil
}

func userArgs(u *provisioning.User) ([]any, error) {
	doc, err := json.Marshal(u.Attributes)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: encode user: %w", err)
	}
	return []any{u.ConnectionID, u.ID, u.UserName, provisioning.FoldKey(u.UserName), nullable(u.ExternalID),
		nullable(u.DisplayName), nullable(u.GivenName), nullable(u.FamilyName), nullable(u.Email), u.Active,
		nullable(u.PasswordHash), string(doc), u.Version, micros(u.Created), micros(u.LastModified), microsPtr(u.Deleted)}, nil
}

func userNameTaken(u *provisioning.User) error {
	return orgscim.Errorf(orgscim.Conflict, "userName %q is already in use in this connection", u.UserName)
}

func (s userStore) CreateUser(ctx context.Context, conn string, u *provisioning.User) error {
	defer s.db.pages.changed(conn)
	u.ConnectionID = conn
	args, err := userArgs(u)
	if err != nil {
		return err
	}
	err = s.db.q(ctx).Exec("INSERT INTO scim_users ("+userCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", args...).Error
	if isUniqueViolation(err) {
		return userNameTaken(u)
	}
	return err
}

// CreateFreshUser inserts u unless the connection holds a user that its creation must
// restore or adopt instead (see provisioning.FreshCheck): the lookups ride in the insert,
// so the usual creation is one statement. created is false, and nothing is written,
// when such a user exists.
func (s userStore) CreateFreshUser(ctx context.Context, conn string, u *provisioning.User, check provisioning.FreshCheck) (bool, error) {
	u.ConnectionID = conn
	args, err := userArgs(u)
	if err != nil {
		return false, err
	}
	args = append(args, nullable(check.Tombstone), nullable(check.ImportExternalID), nullable(check.ImportEmailKey))
	res, err := s.db.exec(ctx, s.db.pool(ctx), s.db.hot.insertFreshUser, args...)
	if isUniqueViolation(err) {
		return false, userNameTaken(u)
	}
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	s.db.pages.changed(conn)
	return true, nil
}

func (s userStore) User(ctx context.Context, conn, id string) (*provisioning.User, error) {
	r, err := s.db.userRow(ctx, s.db.pool(ctx), s.db.hot.userByID, conn, id)
	if isNoRows(err) || err == nil && r.DeletedAt != nil {
		return nil, userNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return r.user()
}
func userNotFound(id string) error {
	return orgscim.Errorf(orgscim.NotFound, "user %q not found", id)
}

// update runs fn on the row that the fixed statement lock selects with conn and arg
// (locked on PostgreSQL) and writes the result back in the same transaction.
func (s userStore) update(ctx context.Context, conn string, notFound error, lock string, arg any, fn func(*provisioning.User) error) (*provisioning.User, error) {
	defer s.db.pages.changed(conn)
	var out *provisioning.User
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		r, err := s.db.userRow(ctx, txPool(tx), lock, conn, arg)
		if isNoRows(err) || err == nil && lock == s.db.hot.lockUserByID && r.DeletedAt != nil {
			return notFound
		}
		if err != nil {
			return err
		}
		u, err := r.user()
		if err != nil {
			return err
		}
		id := u.ID
		if err := fn(u); err != nil {
			return err
		}
		u.ID, u.ConnectionID = id, conn
		args, err := userArgs(u)
		if err != nil {
			return err
		}
		_, err = s.db.exec(ctx, txPool(tx), s.db.hot.updateUser, append(args[2:], conn, id)...)
		if isUniqueViolation(err) {
			return userNameTaken(u)
		}
		if err != nil {
			return err
		}
		if u.Deleted != nil && r.DeletedAt == nil {
			// A deleted user leaves its groups in the same transaction; an IdP that
			// restores it pushes its memberships again.
			if _, err := s.db.exec(ctx, txPool(tx), s.db.hot.leaveGroups, conn, id); err != nil {
				return err
			}
		}
		out = u
		return nil
	})
	return out, err
}

func (s userStore) UpdateUser(ctx context.Context, conn, id string, fn func(*provisioning.User) error) (*provisioning.User, error) {
	return s.update(ctx, conn, userNotFound(id), s.db.hot.lockUserByID, id, fn)
}

func (s userStore) RestoreUser(ctx context.Context, conn, externalID string, fn func(*provisioning.User) error) (*provisioning.User, error) {
	return s.update(ctx, conn, orgscim.Errorf(orgscim.NotFound, "no deleted user with this externalId"),
		s.db.hot.lockTombstone, externalID, fn)
}

func (s userStore) Users(ctx context.Context, conn string, q provisioning.Query) (provisioning.UserPage, error) {
	b := &whereBuilder{d: s.db.dialect, cols: userColumns, relations: userRelations, doc: "doc"}
	where := "connection_id = ? AND deleted_at IS NULL"
	b.args = append(b.args, conn)
	if q.Filter != nil {
		cond, err := b.build(q.Filter)
		if err != nil {
			return provisioning.UserPage{}, err
		}
		where += " AND " + cond
	}
	var page provisioning.UserPage
	g := s.db.q(ctx)
	// Inside a transaction the cache is bypassed: it cannot see uncommitted writes.
	inTx := s.db.inTx(ctx)
	key := pageKey("scim_users", conn, where, b.args)
	offset := max(q.StartIndex-1, 0)
	hint := s.db.pages.lookup(conn, key, offset)
	gen := hint.gen
	var rows []userRow
	fetched := false
	// fetch reads the page's rows. In creation order a page continues from the previous
	// page's last row when the cache knows it; otherwise OFFSET. Both give the same rows.
	fetch := func() error {
		fetched = true
		if q.SortBy != nil {
			order := b.orderBy(q.SortBy, q.Descending) + ", created_at, id"
			args := append(append([]any{}, b.args...), q.Count, offset)
			return g.Raw("SELECT "+userReadCols+" FROM scim_users WHERE "+where+" ORDER BY "+order+" LIMIT ? OFFSET ?", args...).Scan(&rows).Error
		}
		if found, ok, err := s.db.userLookup(ctx, conn, q.Filter, q.Count, offset); ok {
			rows = found
			return err
		}
		q2, args := "SELECT "+userReadCols+" FROM scim_users WHERE "+where, append([]any{}, b.args...)
		if uniqueLookup(q.Filter) {
			// At most one live user matches, so order is moot; without ORDER BY the
			// planner cannot pick the creation-order index and filter its way through
			// every user, which a generic plan on stale statistics does.
			q2 += " LIMIT ? OFFSET ?"
			args = append(args, q.Count, offset)
		} else if hint.hasCursor && !inTx {
			cur := hint.cursor
			// A row comparison, not "a > x OR (a = x AND b > y)": only this form becomes
			// a range of the (connection_id, created_at, id) index; the OR form scans
			// every row before the cursor, and the last page of 100,000 costs 30 ms.
			q2 += " AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?"
			args = append(args, cur.createdAt, cur.id, q.Count)
		} else {
			q2 += " ORDER BY created_at, id LIMIT ? OFFSET ?"
			args = append(args, q.Count, offset)
		}
		return g.Raw(q2, args...).Scan(&rows).Error
	}
	switch {
	case hint.hasTotal && !inTx:
		page.Total = hint.total
	case offset == 0 && q.Count > 0:
		// A first page that is not full is every match: its length is the total, and
		// the count is not asked (a lookup by userName or externalId is such a page).
		if err := fetch(); err != nil {
			return page, err
		}
		if len(rows) < q.Count {
			page.Total = len(rows)
			break
		}
		fallthrough
	default:
		var total int64
		if err := g.Raw("SELECT count(*) FROM scim_users WHERE "+where, b.args...).Scan(&total).Error; err != nil {
			return page, err
		}
		page.Total = int(total)
	}
	if q.Count <= 0 || page.Total == 0 || offset >= page.Total {
		if !inTx {
			s.db.pages.store(key, gen, page.Total, 0, nil)
		}
		return page, nil
	}
	if !fetched {
		if err := fetch(); err != nil {
			return page, err
		}
	}
	if n := len(rows); n > 0 && !inTx && q.SortBy == nil {
		last := rows[n-1]
		s.db.pages.store(key, gen, page.Total, offset+n, &pageCursor{createdAt: last.CreatedAt, id: last.ID})
	}
	page.Users = make([]*provisioning.User, 0, len(rows))
	for i := range rows {
		u, err := rows[i].user()
		if err != nil {
			return page, err
		}
		page.Users = append(page.Users, u)
	}
	return page, nil
}

// uniqueLookup reports whether f is `userName eq "value"` or `id eq "value"`, which the
// unique keys of live users answer with at most one row.
func uniqueLookup(f provisioning.Filter) bool {
	c, ok := compareOf(f)
	if !ok || c.Op != provisioning.OpEq || len(c.Attr.Elements) > 0 || len(c.Attr.Path) != 1 {
		return false
	}
	if _, isString := c.Value.(string); !isString {
		return false
	}
	return c.Attr.Path[0] == "userName" || c.Attr.Path[0] == "id"
}

// compareOf is f as a single comparison, if it is one.
func compareOf(f provisioning.Filter) (provisioning.Compare, bool) {
	c, ok := f.(provisioning.Compare)
	if !ok {
		if p, isPtr := f.(*provisioning.Compare); isPtr && p != nil {
			c, ok = *p, true
		}
	}
	return c, ok
}
