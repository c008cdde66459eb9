package sqlstore

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"gorm.io/gorm"
)

// Access is the orgs.AccessStore of a DB.
func (db *DB) Access() orgs.AccessStore { return accessStore{db} }

type accessStore struct{ db *DB }

type roleRow struct {
	ID          string
	Key         string
	Description string
	Permissions string
	Privileged  bool
	MaxSeconds  int64
	Inherits    bool
	CreatedAt   int64
}

func (r roleRow) role() (*orgs.Role, error) {
	ro := &orgs.Role{ID: r.ID, Key: r.Key, Description: r.Description, Privileged: r.Privileged,
		MaxDuration: time.Duration(r.MaxSeconds) * time.Second, Inherits: r.Inherits, Created: fromMicros(r.CreatedAt)}
	if err := json.Unmarshal([]byte(r.Permissions), &ro.Permissions); err != nil {
		return nil, err
	}
	return ro, nil
}

func (s accessStore) CreateRole(ctx context.Context, r *orgs.Role) error {
	perms, _ := json.Marshal(r.Permissions)
	return s.db.tx(ctx, func(tx *gorm.DB) error {
		err := tx.Exec("INSERT INTO roles (id, key, description, permissions, privileged, max_seconds, inherits, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			r.ID, r.Key, r.Description, string(perms), r.Privileged, int64(r.MaxDuration/time.Second), r.Inherits, micros(r.Created)).Error
		if isUniqueViolation(err) {
			return orgscim.Errorf(orgscim.Conflict, "a role %q exists", r.Key)
		}
		if err != nil {
			return err
		}
		for _, p := range r.Permissions {
			if err := tx.Exec("INSERT INTO role_permissions (role_id, permission) VALUES (?, ?)", r.ID, p).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

func (s accessStore) role(ctx context.Context, where, arg string) (*orgs.Role, error) {
	var r roleRow
	err := s.db.q(ctx).Raw("SELECT * FROM roles WHERE "+where, arg).Take(&r).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "no role %q", arg)
	}
	if err != nil {
		return nil, err
	}
	return r.role()
}

func (s accessStore) RoleByKey(ctx context.Context, key string) (*orgs.Role, error) {
	return s.role(ctx, "key = ?", key)
}

func (s accessStore) RoleByID(ctx context.Context, id string) (*orgs.Role, error) {
	return s.role(ctx, "id = ?", id)
}

type mappingRow struct {
	ID            string
	ConnectionID  string
	GroupID       string
	RoleID        string
	OrgID         string
	State         string
	Replaces      *string
	DraftedBy     string
	ApprovedBy    *string
	ApprovedUnder *string
	Reason        string
	CreatedAt     int64
	ActivatedAt   *int64
	RetiredAt     *int64
}

const mappingCols = "id, connection_id, group_id, role_id, org_id, state, replaces, drafted_by, approved_by, approved_under, reason, created_at, activated_at, retired_at"

func (r mappingRow) mapping() *orgs.Mapping {
	return &orgs.Mapping{ID: r.ID, ConnectionID: r.ConnectionID, GroupID: r.GroupID, RoleID: r.RoleID, OrgID: r.OrgID,
		State: orgs.MappingState(r.State), Replaces: deref(r.Replaces), DraftedBy: r.DraftedBy, ApprovedBy: deref(r.ApprovedBy),
		ApprovedUnder: deref(r.ApprovedUnder), Reason: r.Reason, Created: fromMicros(r.CreatedAt), Activated: fromMicrosPtr(r.ActivatedAt), Retired: fromMicrosPtr(r.RetiredAt)}
}

func mappingArgs(m *orgs.Mapping) []any {
	return []any{m.ID, m.ConnectionID, m.GroupID, m.RoleID, m.OrgID, string(m.State), nullable(m.Replaces), m.DraftedBy,
		nullable(m.ApprovedBy), nullable(m.ApprovedUnder), m.Reason, micros(m.Created), microsPtr(m.Activated), microsPtr(m.Retired)}
}

func (s accessStore) CreateMapping(ctx context.Context, m *orgs.Mapping) error {
	return s.db.q(ctx).Exec("INSERT INTO mappings ("+mappingCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", mappingArgs(m)...).Error
}

func (s accessStore) Mapping(ctx context.Context, id string) (*orgs.Mapping, error) {
	var r mappingRow
	err := s.db.q(ctx).Raw("SELECT "+mappingCols+" FROM mappings WHERE id = ?", id).Take(&r).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "no mapping %q", id)
	}
	if err != nil {
		return nil, err
	}
	return r.mapping(), nil
}

func (s accessStore) UpdateMapping(ctx context.Context, id string, fn func(*orgs.Mapping) error) (*orgs.Mapping, error) {
	var out *orgs.Mapping
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var r mappingRow
		err := tx.Raw("SELECT "+mappingCols+" FROM mappings WHERE id = ?"+s.db.dialect.forUpdate, id).Take(&r).Error
		if isNoRows(err) {
			return orgscim.Errorf(orgscim.NotFound, "no mapping %q", id)
		}
		if err != nil {
			return err
		}
		m := r.mapping()
		if err := fn(m); err != nil {
			return err
		}
		m.ID = id
		if err := tx.Exec("UPDATE mappings SET state = ?, approved_by = ?, approved_under = ?, reason = ?, activated_at = ?, retired_at = ? WHERE id = ?",
			string(m.State), nullable(m.ApprovedBy), nullable(m.ApprovedUnder), m.Reason, microsPtr(m.Activated), microsPtr(m.Retired), id).Error; err != nil {
			return err
		}
		out = m
		return nil
	})
	return out, err
}

func (s accessStore) mappings(ctx context.Context, query string, args ...any) ([]*orgs.Mapping, error) {
	var rows []mappingRow
	if err := s.db.q(ctx).Raw(query, args...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*orgs.Mapping, len(rows))
	for i, r := range rows {
		out[i] = r.mapping()
	}
	return out, nil
}

// upGroups is a recursive CTE "up(id)" of the groups given by the anchor query and every
// group that contains them, directly or through nesting. Its parameters: the anchor's,
// then the connection.
func upGroups(anchor string) string {
	return `WITH RECURSIVE up(id, depth) AS (` + anchor + `
		UNION
		SELECT m.group_id, up.depth + 1 FROM scim_memberships m JOIN up ON m.member_id = up.id
		WHERE m.connection_id = ? AND m.member_type = 'Group' AND up.depth < 64) `
}

func (s accessStore) MappingsAbove(ctx context.Context, conn string, groupIDs []string) ([]*orgs.Mapping, error) {
	return s.mappings(ctx, upGroups(`SELECT id, 0 FROM scim_groups WHERE connection_id = ? AND id IN ?`)+
		`SELECT `+mappingCols+` FROM mappings WHERE connection_id = ? AND state = 'active' AND group_id IN (SELECT id FROM up)`,
		conn, groupIDs, conn, conn)
}

func (s accessStore) MappingsOfUser(ctx context.Context, conn, userID string) ([]*orgs.Mapping, error) {
	return s.mappings(ctx, upGroups(`SELECT group_id, 0 FROM scim_memberships WHERE connection_id = ? AND member_id = ?`)+
		`SELECT `+mappingCols+` FROM mappings WHERE connection_id = ? AND state = 'active' AND group_id IN (SELECT id FROM up)`,
		conn, userID, conn, conn)
}

// downUsers selects the live, active users in the groups of "down(id)" and optionally
// among the given ids.
const downGroups = `WITH RECURSIVE down(id, depth) AS (
		SELECT id, 0 FROM scim_groups WHERE connection_id = ? AND id IN ?
		UNION
		SELECT m.member_id, down.depth + 1 FROM scim_memberships m JOIN down ON m.group_id = down.id
		WHERE m.connection_id = ? AND m.member_type = 'Group' AND down.depth < 64) `

func (s accessStore) UsersUnder(ctx context.Context, conn string, groupIDs []string) ([]string, error) {
	var ids []string
	err := s.db.q(ctx).Raw(downGroups+`SELECT DISTINCT m.member_id FROM scim_memberships m JOIN down ON m.group_id = down.id
		WHERE m.connection_id = ? AND m.member_type = 'User'`, conn, groupIDs, conn, conn).Scan(&ids).Error
	return ids, err
}

func (s accessStore) SyncMappingGrants(ctx context.Context, m *orgs.Mapping, users []string, g orgs.Grant) (added int, revoked []*orgs.Grant, err error) {
	err = s.db.tx(ctx, func(tx *gorm.DB) error {
		// Who should hold the grant: live, active users in the mapped group's closure.
		// A reviewer's exception overrides the membership.
		q := downGroups + `SELECT DISTINCT m.member_id FROM scim_memberships m JOIN down ON m.group_id = down.id
			JOIN scim_users u ON u.connection_id = m.connection_id AND u.id = m.member_id
			WHERE m.connection_id = ? AND m.member_type = 'User' AND u.deleted_at IS NULL AND u.active
			AND NOT EXISTS (SELECT 1 FROM mapping_exceptions x WHERE x.mapping_id = ? AND x.user_id = m.member_id)`
		args := []any{m.ConnectionID, []string{m.GroupID}, m.ConnectionID, m.ConnectionID, m.ID}
		held := "SELECT user_id FROM grants WHERE source = 'mapping' AND source_id = ? AND revoked_at IS NULL"
		heldArgs := []any{m.ID}
		if users != nil {
			q += " AND m.member_id IN ?"
			args = append(args, users)
			held += " AND user_id IN ?"
			heldArgs = append(heldArgs, users)
		}
		var want, have []string
		if err := tx.Raw(q, args...).Scan(&want).Error; err != nil {
			return err
		}
		if err := tx.Raw(held, heldArgs...).Scan(&have).Error; err != nil {
			return err
		}
		wantSet, haveSet := set(want), set(have)
		for _, u := range want {
			if haveSet[u] {
				continue
			}
			ng := g
			ng.ID, ng.UserID = provisioning.NewID(), u
			if err := insertGrant(tx, &ng); err != nil {
				return err
			}
			added++
		}
		var gone []string
		for _, u := range have {
			if !wantSet[u] {
				gone = append(gone, u)
			}
		}
		for len(gone) > 0 {
			n := min(len(gone), batch)
			var rows []revokedGrantRow
			if err := tx.Raw(`UPDATE grants SET revoked_at = ?, revoked_by = ?, revoke_reason = ?
				WHERE source = 'mapping' AND source_id = ? AND revoked_at IS NULL AND user_id IN ?
				RETURNING `+revokedGrantCols, micros(g.Created), g.GrantedBy, "no longer a member of the mapped group", m.ID, gone[:n]).
				Scan(&rows).Error; err != nil {
				return err
			}
			revoked = append(revoked, revokedGrants(rows)...)
			gone = gone[n:]
		}
		return nil
	})
	return added, revoked, err
}

func set(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func insertGrant(tx *gorm.DB, g *orgs.Grant) error {
	err := tx.Exec(`INSERT INTO grants (id, connection_id, user_id, role_id, org_id, source, source_id, granted_by, granted_under,
		approved_by, reason, valid_from, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		g.ID, nullable(g.ConnectionID), g.UserID, g.RoleID, g.OrgID, string(g.Source), g.SourceID, g.GrantedBy,
		nullable(g.GrantedUnder), nullable(g.ApprovedBy), g.Reason, micros(g.ValidFrom), microsPtr(g.Expires), micros(g.Created)).Error
	if isUniqueViolation(err) {
		return orgscim.Errorf(orgscim.Conflict, "the user already holds this role on this org from this source")
	}
	return err
}

func (s accessStore) CreateGrant(ctx context.Context, g *orgs.Grant) error {
	return insertGrant(s.db.q(ctx), g)
}

// RevokeGrants revokes the live grants sel selects and returns them, every one, with
// its holder and connection (RETURNING, on both engines), so that the event of the
// revocation names each grant it revoked.
func (s accessStore) RevokeGrants(ctx context.Context, sel orgs.GrantSelector, at time.Time, by, reason string) ([]*orgs.Grant, error) {
	where, args := selectorWhere(sel)
	if len(args) == 0 {
		return nil, orgscim.Errorf(orgscim.Invalid, "refusing to revoke every grant")
	}
	stmt := "UPDATE grants SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE " + strings.Join(where, " AND ") +
		" RETURNING " + revokedGrantCols
	args = append([]any{micros(at), by, reason}, args...)
	var rows []revokedGrantRow
	if len(sel.GrantedUnder) > 0 { // a list to expand: gorm's IN ?
		if err := s.db.q(ctx).Raw(stmt, args...).Scan(&rows).Error; err != nil {
			return nil, err
		}
		return revokedGrants(rows), nil
	}
	// $N SQL through database/sql (see rawsql.go): every deactivation and deletion of a
	// user revokes its grants here.
	res, err := s.db.query(ctx, s.db.pool(ctx), numbered(stmt), args...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	for res.Next() {
		var r revokedGrantRow
		if err := res.Scan(&r.ID, &r.ConnectionID, &r.UserID); err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	if err := markUnavailable(res.Err()); err != nil {
		return nil, err
	}
	return revokedGrants(rows), nil
}

// revokedGrantCols is what a revocation returns of each grant it revoked: enough to
// name it and to find its tenant (orgs.GrantConnections).
const revokedGrantCols = "id, COALESCE(connection_id, '') AS connection_id, user_id"

type revokedGrantRow struct{ ID, ConnectionID, UserID string }

func revokedGrants(rows []revokedGrantRow) []*orgs.Grant {
	out := make([]*orgs.Grant, len(rows))
	for i, r := range rows {
		out[i] = &orgs.Grant{ID: r.ID, ConnectionID: r.ConnectionID, UserID: r.UserID}
	}
	return out
}

type grantRow struct {
	ID           string
	ConnectionID *string
	UserID       string
	RoleID       string
	OrgID        string
	Source       string
	SourceID     string
	GrantedBy    string
	GrantedUnder *string
	ApprovedBy   *string
	Reason       string
	ValidFrom    int64
	ExpiresAt    *int64
	CreatedAt    int64
	RevokedAt    *int64
	RevokedBy    *string
	RevokeReason *string
}

func (r grantRow) grant() *orgs.Grant {
	return &orgs.Grant{ID: r.ID, ConnectionID: deref(r.ConnectionID), UserID: r.UserID, RoleID: r.RoleID, OrgID: r.OrgID,
		Source: orgs.GrantSource(r.Source), SourceID: r.SourceID, GrantedBy: r.GrantedBy, GrantedUnder: deref(r.GrantedUnder), ApprovedBy: deref(r.ApprovedBy),
		Reason: r.Reason, ValidFrom: fromMicros(r.ValidFrom), Expires: fromMicrosPtr(r.ExpiresAt), Created: fromMicros(r.CreatedAt),
		Revoked: fromMicrosPtr(r.RevokedAt), RevokedBy: deref(r.RevokedBy), RevokeReason: deref(r.RevokeReason)}
}

func (s accessStore) LiveGrants(ctx context.Context, userID string, orgIDs []string) ([]*orgs.Grant, map[string]*orgs.Role, error) {
	return s.grantsWithRoles(ctx, "g.user_id = ? AND g.org_id IN ?", userID, orgIDs)
}

func (s accessStore) GrantsOfUser(ctx context.Context, userID string) ([]*orgs.Grant, map[string]*orgs.Role, error) {
	return s.grantsWithRoles(ctx, "g.user_id = ?", userID)
}

func (s accessStore) GrantsOn(ctx context.Context, orgIDs []string) ([]*orgs.Grant, map[string]*orgs.Role, error) {
	return s.grantsWithRoles(ctx, `g.org_id IN ? AND EXISTS (SELECT 1 FROM scim_users u JOIN connections c ON c.id = u.connection_id
		WHERE u.connection_id = g.connection_id AND u.id = g.user_id AND u.deleted_at IS NULL AND u.active AND c.status = 'active')`, orgIDs)
}

// grantsWithRoles returns the unrevoked grants matching where, with their roles, in one
// round trip.
func (s accessStore) grantsWithRoles(ctx context.Context, where string, args ...any) ([]*orgs.Grant, map[string]*orgs.Role, error) {
	var rows []struct {
		G            grantRow `gorm:"embedded"`
		RKey         string
		RDescription string
		RPermissions string
		RPrivileged  bool
		RMaxSeconds  int64
		RInherits    bool
		RCreatedAt   int64
	}
	if err := s.db.q(ctx).Raw(`SELECT g.*, r.key AS r_key, r.description AS r_description, r.permissions AS r_permissions,
			r.privileged AS r_privileged, r.max_seconds AS r_max_seconds, r.inherits AS r_inherits, r.created_at AS r_created_at
		FROM grants g JOIN roles r ON r.id = g.role_id
		WHERE g.revoked_at IS NULL AND `+where+` ORDER BY g.created_at, g.id`, args...).Scan(&rows).Error; err != nil {
		return nil, nil, err
	}
	grants := make([]*orgs.Grant, len(rows))
	roles := map[string]*orgs.Role{}
	for i, r := range rows {
		grants[i] = r.G.grant()
		if roles[r.G.RoleID] == nil {
			ro, err := roleRow{ID: r.G.RoleID, Key: r.RKey, Description: r.RDescription, Permissions: r.RPermissions,
				Privileged: r.RPrivileged, MaxSeconds: r.RMaxSeconds, Inherits: r.RInherits, CreatedAt: r.RCreatedAt}.role()
			if err != nil {
				return nil, nil, err
			}
			roles[r.G.RoleID] = ro
		}
	}
	return grants, roles, nil
}

func (s accessStore) OrgsByID(ctx context.Context, ids []string) (map[string]*orgs.Org, error) {
	var rows []orgRow
	if err := s.db.q(ctx).Raw("SELECT "+orgCols+" FROM orgs WHERE id IN ?", ids).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[string]*orgs.Org, len(rows))
	for _, r := range rows {
		out[r.ID] = r.org()
	}
	return out, nil
}

func (s accessStore) ConnectionByID(ctx context.Context, id string) (*orgs.Connection, error) {
	var r connectionRow
	err := s.db.q(ctx).Raw("SELECT * FROM connections WHERE id = ?", id).Take(&r).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "no connection %q", id)
	}
	if err != nil {
		return nil, err
	}
	return r.connection(), nil
}

func (s accessStore) SetUserOrg(ctx context.Context, conn, userID, orgID string) error {
	defer s.db.pages.changed(conn)
	return s.db.q(ctx).Exec("UPDATE scim_users SET org_id = ? WHERE connection_id = ? AND id = ?", orgID, conn, userID).Error
}

func (s accessStore) MembershipPath(ctx context.Context, conn, userID, groupID string) ([]string, error) {
	var paths []string
	err := s.db.q(ctx).Raw(`WITH RECURSIVE up(id, path, depth) AS (
			SELECT group_id, CAST(group_id AS TEXT), 0 FROM scim_memberships WHERE connection_id = ? AND member_id = ?
			UNION
			SELECT m.group_id, up.path || ',' || m.group_id, up.depth + 1 FROM scim_memberships m JOIN up ON m.member_id = up.id
			WHERE m.connection_id = ? AND m.member_type = 'Group' AND up.depth < 64)
		SELECT path FROM up WHERE id = ? ORDER BY depth LIMIT 1`, conn, userID, conn, groupID).Scan(&paths).Error
	if err != nil || len(paths) == 0 {
		return nil, err
	}
	return strings.Split(paths[0], ","), nil
}

func (s accessStore) AddMappingException(ctx context.Context, x orgs.MappingException) error {
	return s.db.q(ctx).Exec(`INSERT INTO mapping_exceptions (mapping_id, user_id, connection_id, campaign_id, created_by, created_at, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, x.MappingID, x.UserID, x.ConnectionID, nullable(x.ReviewID),
		x.CreatedBy, micros(x.Created), x.Reason).Error
}

func (s accessStore) MappingsApprovedUnder(ctx context.Context, delegationIDs []string) ([]*orgs.Mapping, error) {
	return s.mappings(ctx, "SELECT "+mappingCols+" FROM mappings WHERE state = 'active' AND approved_under IN ? ORDER BY id", delegationIDs)
}

func (s accessStore) HandOver(ctx context.Context, from []string, to string) (grantIDs, mappingIDs []string, err error) {
	err = s.db.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Raw("UPDATE grants SET granted_under = ? WHERE granted_under IN ? AND revoked_at IS NULL RETURNING id",
			nullable(to), from).Scan(&grantIDs).Error; err != nil {
			return err
		}
		return tx.Raw("UPDATE mappings SET approved_under = ? WHERE approved_under IN ? AND state = 'active' RETURNING id",
			nullable(to), from).Scan(&mappingIDs).Error
	})
	sort.Strings(grantIDs)
	sort.Strings(mappingIDs)
	return grantIDs, mappingIDs, err
}
