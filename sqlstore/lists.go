package sqlstore

import (
	"context"

	"github.com/orgscim/orgscim/orgs"
)

// Lists pages through the control plane's collections for the admin API: ordered by
// id, each page starting after the previous page's last id, so a page costs one index
// range however deep the listing goes.
type Lists struct{ db *DB }

// Lists returns the admin API's listings.
func (db *DB) Lists() Lists { return Lists{db} }

// ChildOrgs lists the orgs whose parent is parentID ("" for the roots).
func (s Lists) ChildOrgs(ctx context.Context, parentID, after string, limit int) ([]*orgs.Org, error) {
	where, args := "parent_id = ?", []any{parentID}
	if parentID == "" {
		where, args = "parent_id IS NULL", nil
	}
	var rows []orgRow
	err := s.db.q(ctx).Raw("SELECT "+orgCols+" FROM orgs WHERE "+where+" AND id > ? ORDER BY id LIMIT ?",
		append(args, after, limit)...).Scan(&rows).Error
	out := make([]*orgs.Org, len(rows))
	for i, r := range rows {
		out[i] = r.org()
	}
	return out, err
}

// Connections lists the connections bound to an org.
func (s Lists) Connections(ctx context.Context, orgID, after string, limit int) ([]*orgs.Connection, error) {
	var rows []connectionRow
	err := s.db.q(ctx).Raw("SELECT id, slug, org_id, idp, status, created_at, placement FROM connections WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?",
		orgID, after, limit).Scan(&rows).Error
	out := make([]*orgs.Connection, len(rows))
	for i, r := range rows {
		out[i] = r.connection()
	}
	return out, err
}

// Roles lists the role catalogue.
func (s Lists) Roles(ctx context.Context, after string, limit int) ([]*orgs.Role, error) {
	var rows []roleRow
	if err := s.db.q(ctx).Raw("SELECT * FROM roles WHERE id > ? ORDER BY id LIMIT ?", after, limit).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*orgs.Role, len(rows))
	for i, r := range rows {
		role, err := r.role()
		if err != nil {
			return nil, err
		}
		out[i] = role
	}
	return out, nil
}

// Mappings lists a connection's mappings, of one state when state is set.
func (s Lists) Mappings(ctx context.Context, connID, state, after string, limit int) ([]*orgs.Mapping, error) {
	q, args := "SELECT "+mappingCols+" FROM mappings WHERE connection_id = ? AND id > ?", []any{connID, after}
	if state != "" {
		q, args = q+" AND state = ?", append(args, state)
	}
	var rows []mappingRow
	err := s.db.q(ctx).Raw(q+" ORDER BY id LIMIT ?", append(args, limit)...).Scan(&rows).Error
	out := make([]*orgs.Mapping, len(rows))
	for i, r := range rows {
		out[i] = r.mapping()
	}
	return out, err
}

// Grants lists the grants on an org, only the unrevoked ones when live is set.
func (s Lists) Grants(ctx context.Context, orgID string, live bool, after string, limit int) ([]*orgs.Grant, error) {
	q := "SELECT * FROM grants WHERE org_id = ? AND id > ?"
	if live {
		q += " AND revoked_at IS NULL"
	}
	var rows []grantRow
	err := s.db.q(ctx).Raw(q+" ORDER BY id LIMIT ?", orgID, after, limit).Scan(&rows).Error
	out := make([]*orgs.Grant, len(rows))
	for i, r := range rows {
		out[i] = r.grant()
	}
	return out, err
}

// CountGrants counts the grants on an org (only the unrevoked ones when live is set):
// all of them, and those a page starting after the id after comes behind, so that a
// listing says which of how many it shows, in one statement.
func (s Lists) CountGrants(ctx context.Context, orgID string, live bool, after string) (total, before int, err error) {
	q := "SELECT COUNT(*) AS n_total, COALESCE(SUM(CASE WHEN id <= ? THEN 1 ELSE 0 END), 0) AS n_before FROM grants WHERE org_id = ?"
	if live {
		q += " AND revoked_at IS NULL"
	}
	var n struct{ NTotal, NBefore int64 }
	err = s.db.q(ctx).Raw(q, after, orgID).Scan(&n).Error
	return int(n.NTotal), int(n.NBefore), err
}

// Delegations lists the delegations on an org, revoked ones included.
func (s Lists) Delegations(ctx context.Context, orgID, after string, limit int) ([]*orgs.Delegation, error) {
	var rows []delegationRow
	if err := s.db.q(ctx).Raw("SELECT "+delegationCols+" FROM delegations WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?",
		orgID, after, limit).Scan(&rows).Error; err != nil {
		return nil, err
	}
	return delegations(rows)
}
