package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/provisioning"
	"gorm.io/gorm"
)

// Groups is the provisioning.GroupStore of a DB.
func (db *DB) Groups() provisioning.GroupStore { return groupStore{db} }

type groupStore struct{ db *DB }

type groupRow struct {
	ConnectionID   string
	ID             string
	DisplayName    string
	DisplayNameKey string
	ExternalID     *string
	Doc            string
	Version        int64
	CreatedAt      int64
	UpdatedAt      int64
	DeletedAt      *int64
}

const groupCols = "connection_id, id, display_name, display_name_key, external_id, doc, version, created_at, updated_at, deleted_at"

var groupColumns = columns{
	"id":                {expr: "id", kind: provisioning.TypeString},
	"externalId":        {expr: "external_id", kind: provisioning.TypeString},
	"displayName":       {expr: "display_name_key", folded: true, kind: provisioning.TypeString},
	"meta.created":      {expr: "created_at", kind: provisioning.TypeDateTime},
	"meta.lastModified": {expr: "updated_at", kind: provisioning.TypeDateTime},
}

var groupRelations = map[string]relation{
	"members": {
		from: "scim_memberships m WHERE m.connection_id = scim_groups.connection_id AND m.group_id = scim_groups.id",
		cols: columns{
			"value":   {expr: "m.member_id", kind: provisioning.TypeString},
			"type":    {expr: "m.member_type", kind: provisioning.TypeString},
			"display": {expr: "m.display", kind: provisioning.TypeString},
		},
	},
}

// userRelations lets users be filtered by their direct groups (groups.value).
var userRelations = map[string]relation{
	"groups": {
		from: "scim_memberships m WHERE m.connection_id = scim_users.connection_id AND m.member_id = scim_users.id",
		cols: columns{"value": {expr: "m.group_id", kind: provisioning.TypeString}},
	},
}

func (r *groupRow) group() (*provisioning.Group, error) {
	g := &provisioning.Group{
		ID: r.ID, ConnectionID: r.ConnectionID, DisplayName: r.DisplayName, ExternalID: deref(r.ExternalID),
		Version: r.Version, Created: fromMicros(r.CreatedAt), LastModified: fromMicros(r.UpdatedAt), Deleted: fromMicrosPtr(r.DeletedAt),
	}
	if err := json.Unmarshal([]byte(r.Doc), &g.Attributes); err != nil {
		return nil, fmt.Errorf("sqlstore: group %s: corrupt document: %w", r.ID, err)
	}
	return g, nil
}

func groupArgs(g *provisioning.Group) ([]any, error) {
	doc, err := json.Marshal(g.Attributes)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: encode group: %w", err)
	}
	return []any{g.ConnectionID, g.ID, g.DisplayName, provisioning.FoldKey(g.DisplayName), nullable(g.ExternalID),
		string(doc), g.Version, micros(g.Created), micros(g.LastModified), microsPtr(g.Deleted)}, nil
}

func displayNameTaken(g *provisioning.Group) error {
	return orgscim.Errorf(orgscim.Conflict, "displayName %q is already in use in this connection", g.DisplayName)
}

func groupNotFound(id string) error {
	return orgscim.Errorf(orgscim.NotFound, "group %q not found", id)
}

func (s groupStore) CreateGroup(ctx context.Context, conn string, g *provisioning.Group, members []provisioning.Member) ([]provisioning.MembershipChange, error) {
	defer s.db.pages.changed(conn) // users filter by their groups
	g.ConnectionID = conn
	args, err := groupArgs(g)
	if err != nil {
		return nil, err
	}
	var changes []provisioning.MembershipChange
	err = s.db.tx(ctx, func(tx *gorm.DB) error {
		err := tx.Exec("INSERT INTO scim_groups ("+groupCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", args...).Error
		if isUniqueViolation(err) {
			return displayNameTaken(g)
		}
		if err != nil {
			return err
		}
		changes, err = s.addMembers(tx, conn, g.ID, members, micros(g.Created), nil)
		return err
	})
	return changes, err
}

func (s groupStore) Group(ctx context.Context, conn, id string) (*provisioning.Group, error) {
	var r groupRow
	err := s.db.q(ctx).Raw("SELECT "+groupCols+" FROM scim_groups WHERE connection_id = ? AND id = ? AND deleted_at IS NULL", conn, id).Take(&r).Error
	if isNoRows(err) {
		return nil, groupNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return r.group()
}

func (s groupStore) EachMember(ctx context.Context, conn, groupID string, fn func(provisioning.Member) error) error {
	// The display shown is what the IdP sent, else the member's current name.
	rows, err := s.db.q(ctx).Raw(`SELECT m.member_id, m.member_type,
		COALESCE(m.display, u.display_name, u.user_name, g.display_name, '')
		FROM scim_memberships m
		LEFT JOIN scim_users u ON m.member_type = 'User' AND u.connection_id = m.connection_id AND u.id = m.member_id
		LEFT JOIN scim_groups g ON m.member_type = 'Group' AND g.connection_id = m.connection_id AND g.id = m.member_id
		WHERE m.connection_id = ? AND m.group_id = ? ORDER BY m.member_id`, conn, groupID).Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var m provisioning.Member
		if err := rows.Scan(&m.Value, &m.Type, &m.Display); err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s groupStore) UpdateGroup(ctx context.Context, conn, id string, fn func(*provisioning.Group) ([]provisioning.MemberChange, error)) (*provisioning.Group, []provisioning.MembershipChange, error) {
	defer s.db.pages.changed(conn) // users filter by their groups
	var (
		out     *provisioning.Group
		changed []provisioning.MembershipChange
	)
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var r groupRow
		err := tx.Raw("SELECT "+groupCols+" FROM scim_groups WHERE connection_id = ? AND id = ? AND deleted_at IS NULL"+s.db.dialect.forUpdate, conn, id).Take(&r).Error
		if isNoRows(err) {
			return groupNotFound(id)
		}
		if err != nil {
			return err
		}
		g, err := r.group()
		if err != nil {
			return err
		}
		changes, err := fn(g)
		if err != nil {
			return err
		}
		g.ID, g.ConnectionID = id, conn
		args, err := groupArgs(g)
		if err != nil {
			return err
		}
		err = tx.Exec(`UPDATE scim_groups SET display_name = ?, display_name_key = ?, external_id = ?, doc = ?, version = ?,
			created_at = ?, updated_at = ?, deleted_at = ? WHERE connection_id = ? AND id = ?`, append(args[2:], conn, id)...).Error
		if isUniqueViolation(err) {
			return displayNameTaken(g)
		}
		if err != nil {
			return err
		}
		if g.Deleted != nil {
			// A deleted group stops being a member of other groups.
			var parents []string
			if err := tx.Raw("DELETE FROM scim_memberships WHERE connection_id = ? AND member_id = ? RETURNING group_id", conn, id).Scan(&parents).Error; err != nil {
				return err
			}
			for _, p := range parents {
				changed = append(changed, provisioning.MembershipChange{GroupID: p, MemberID: id, MemberType: provisioning.MemberGroup})
			}
		}
		now := micros(g.LastModified)
		for _, c := range changes {
			if changed, err = s.applyChange(tx, conn, id, c, now, changed); err != nil {
				return err
			}
		}
		out = g
		return nil
	})
	return out, changed, err
}

// removed is a row of a DELETE ... RETURNING on scim_memberships.
type removed struct {
	MemberID   string
	MemberType string
}

func removals(groupID string, rows []removed, into []provisioning.MembershipChange) []provisioning.MembershipChange {
	for _, r := range rows {
		into = append(into, provisioning.MembershipChange{GroupID: groupID, MemberID: r.MemberID, MemberType: r.MemberType})
	}
	return into
}

// applyChange applies one member change and appends the memberships it really changed
// to changed. A replace reports only the difference between the old and new lists.
func (s groupStore) applyChange(tx *gorm.DB, conn, groupID string, c provisioning.MemberChange, now int64, changed []provisioning.MembershipChange) ([]provisioning.MembershipChange, error) {
	switch c.Kind {
	case provisioning.RemoveAllMembers:
		var rows []removed
		if err := tx.Raw("DELETE FROM scim_memberships WHERE connection_id = ? AND group_id = ? RETURNING member_id, member_type", conn, groupID).Scan(&rows).Error; err != nil {
			return nil, err
		}
		return removals(groupID, rows, changed), nil
	case provisioning.ReplaceMembers:
		keep := memberIDs(c.Members)
		var rows []removed
		q := "DELETE FROM scim_memberships WHERE connection_id = ? AND group_id = ?"
		args := []any{conn, groupID}
		if len(keep) > 0 {
			q += " AND member_id NOT IN ?"
			args = append(args, keep)
		}
		if err := tx.Raw(q+" RETURNING member_id, member_type", args...).Scan(&rows).Error; err != nil {
			return nil, err
		}
		return s.addMembers(tx, conn, groupID, c.Members, now, removals(groupID, rows, changed))
	case provisioning.RemoveMembers:
		ids := memberIDs(c.Members)
		for len(ids) > 0 {
			n := min(len(ids), batch)
			var rows []removed
			if err := tx.Raw("DELETE FROM scim_memberships WHERE connection_id = ? AND group_id = ? AND member_id IN ? RETURNING member_id, member_type",
				conn, groupID, ids[:n]).Scan(&rows).Error; err != nil {
				return nil, err
			}
			changed = removals(groupID, rows, changed)
			ids = ids[n:]
		}
		return changed, nil
	case provisioning.AddMembers:
		return s.addMembers(tx, conn, groupID, c.Members, now, changed)
	}
	return nil, fmt.Errorf("sqlstore: unknown member change %d", c.Kind)
}

// batch bounds the parameters of one statement, well under both engines' limits.
const batch = 500

func memberIDs(members []provisioning.Member) []string {
	seen := make(map[string]bool, len(members))
	ids := make([]string, 0, len(members))
	for _, m := range members {
		if m.Value != "" && !seen[m.Value] {
			seen[m.Value] = true
			ids = append(ids, m.Value)
		}
	}
	return ids
}

// liveIDs returns which of ids are live rows of table in the connection.
func liveIDs(tx *gorm.DB, table, conn string, ids []string) (map[string]bool, error) {
	found := map[string]bool{}
	for len(ids) > 0 {
		n := min(len(ids), batch)
		var got []string
		if err := tx.Raw("SELECT id FROM "+table+" WHERE connection_id = ? AND id IN ? AND deleted_at IS NULL", conn, ids[:n]).Scan(&got).Error; err != nil {
			return nil, err
		}
		for _, id := range got {
			found[id] = true
		}
		ids = ids[n:]
	}
	return found, nil
}

// addMembers inserts the members that are live users or groups of the connection,
// ignoring the others and those already present, and appends the memberships it added
// to changed. Costs O(len(members)).
func (s groupStore) addMembers(tx *gorm.DB, conn, groupID string, members []provisioning.Member, now int64, changed []provisioning.MembershipChange) ([]provisioning.MembershipChange, error) {
	ids := memberIDs(members)
	if len(ids) == 0 {
		return changed, nil
	}
	users, err := liveIDs(tx, "scim_users", conn, ids)
	if err != nil {
		return nil, err
	}
	var groups map[string]bool
	if len(users) < len(ids) {
		if groups, err = liveIDs(tx, "scim_groups", conn, ids); err != nil {
			return nil, err
		}
	}
	if len(groups) > 0 {
		if err := s.checkCycles(tx, conn, groupID, groups); err != nil {
			return nil, err
		}
	}
	display := map[string]string{}
	for _, m := range members {
		if m.Display != "" {
			display[m.Value] = m.Display
		}
	}
	var (
		values []string
		args   []any
	)
	flush := func() error {
		if len(values) == 0 {
			return nil
		}
		var rows []removed // the same shape: the rows this insert really added
		err := tx.Raw("INSERT INTO scim_memberships (connection_id, group_id, member_id, member_type, display, created_at) VALUES "+
			strings.Join(values, ", ")+" ON CONFLICT (connection_id, group_id, member_id) DO NOTHING RETURNING member_id, member_type", args...).Scan(&rows).Error
		for _, r := range rows {
			changed = append(changed, provisioning.MembershipChange{GroupID: groupID, MemberID: r.MemberID, MemberType: r.MemberType, Added: true})
		}
		values, args = values[:0], args[:0]
		return err
	}
	for _, id := range ids {
		typ := ""
		switch {
		case users[id]:
			typ = provisioning.MemberUser
		case groups[id]:
			typ = provisioning.MemberGroup
		default:
			continue
		}
		values = append(values, "(?, ?, ?, ?, ?, ?)")
		args = append(args, conn, groupID, id, typ, nullable(display[id]), now)
		if len(values) == batch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	return changed, flush()
}

// checkCycles refuses to add a group that is, or contains, groupID. On PostgreSQL a
// per-connection advisory lock serialises these checks, so that two concurrent PATCHes
// cannot each add half of a cycle.
func (s groupStore) checkCycles(tx *gorm.DB, conn, groupID string, candidates map[string]bool) error {
	if s.db.dialect.name == "postgres" {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtext(?))", "orgscim/group-nesting/"+conn).Error; err != nil {
			return err
		}
	}
	for id := range candidates {
		if id == groupID {
			return orgscim.Errorf(orgscim.InvalidValue, "a group cannot be a member of itself")
		}
		var n int64
		err := tx.Raw(`WITH RECURSIVE down(id, depth) AS (
				SELECT member_id, 1 FROM scim_memberships WHERE connection_id = ? AND group_id = ? AND member_type = 'Group'
				UNION
				SELECT m.member_id, down.depth + 1 FROM scim_memberships m JOIN down ON m.group_id = down.id
				WHERE m.connection_id = ? AND m.member_type = 'Group' AND down.depth < 64
			) SELECT count(*) FROM down WHERE id = ?`, conn, id, conn, groupID).Scan(&n).Error
		if err != nil {
			return err
		}
		if n > 0 {
			return orgscim.Errorf(orgscim.InvalidValue, "adding group %q would make a cycle of nested groups", id)
		}
	}
	return nil
}

func (s groupStore) Groups(ctx context.Context, conn string, q provisioning.Query) (provisioning.GroupPage, error) {
	b := &whereBuilder{d: s.db.dialect, cols: groupColumns, relations: groupRelations, doc: "doc"}
	where := "connection_id = ? AND deleted_at IS NULL"
	b.args = append(b.args, conn)
	if q.Filter != nil {
		cond, err := b.build(q.Filter)
		if err != nil {
			return provisioning.GroupPage{}, err
		}
		where += " AND " + cond
	}
	var page provisioning.GroupPage
	g := s.db.q(ctx)
	var total int64
	if err := g.Raw("SELECT count(*) FROM scim_groups WHERE "+where, b.args...).Scan(&total).Error; err != nil {
		return page, err
	}
	page.Total = int(total)
	offset := max(q.StartIndex-1, 0)
	if q.Count <= 0 || offset >= page.Total {
		return page, nil
	}
	order := "created_at, id"
	if q.SortBy != nil {
		order = b.orderBy(q.SortBy, q.Descending) + ", created_at, id"
	}
	var rows []groupRow
	args := append(b.args, q.Count, offset)
	if err := g.Raw("SELECT "+groupCols+" FROM scim_groups WHERE "+where+" ORDER BY "+order+" LIMIT ? OFFSET ?", args...).Scan(&rows).Error; err != nil {
		return page, err
	}
	page.Groups = make([]*provisioning.Group, 0, len(rows))
	for i := range rows {
		gr, err := rows[i].group()
		if err != nil {
			return page, err
		}
		page.Groups = append(page.Groups, gr)
	}
	return page, nil
}

func (s groupStore) GroupsOf(ctx context.Context, conn string, userIDs []string) (map[string][]provisioning.GroupRef, error) {
	out := map[string][]provisioning.GroupRef{}
	if len(userIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		UserID      string
		GroupID     string
		Depth       int
		DisplayName string
	}
	err := s.db.q(ctx).Raw(`WITH RECURSIVE up(user_id, group_id, depth) AS (
			SELECT member_id, group_id, 0 FROM scim_memberships WHERE connection_id = ? AND member_id IN ?
			UNION
			SELECT up.user_id, m.group_id, up.depth + 1 FROM scim_memberships m JOIN up ON m.member_id = up.group_id
			WHERE m.connection_id = ? AND up.depth < 64
		)
		SELECT up.user_id, up.group_id, min(up.depth) AS depth, g.display_name
		FROM up JOIN scim_groups g ON g.connection_id = ? AND g.id = up.group_id AND g.deleted_at IS NULL
		GROUP BY up.user_id, up.group_id, g.display_name ORDER BY up.user_id, g.display_name`, conn, userIDs, conn, conn).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.UserID] = append(out[r.UserID], provisioning.GroupRef{ID: r.GroupID, DisplayName: r.DisplayName, Direct: r.Depth == 0})
	}
	return out, nil
}
