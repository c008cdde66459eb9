package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	"github.com/orgscim/orgscim/orgs"
)

// The access store answers many access questions at once (orgs.CheckStore): each kind
// of fact the rule asks — the orgs on the paths; the users with their grants;
// connections, mappings, memberships — in one query for the whole batch, read as the rows
// are now. The queries select by the sets of ids involved; the pairs a question asks
// about are picked out in Go. The hottest are fixed SQL (checksql.go).

var _ orgs.CheckStore = accessStore{}

// checkChunk bounds the ids of one IN list, well under either engine's parameter limit.
const checkChunk = 1000

// chunked runs fn over ids in slices of at most checkChunk.
func chunked(ids []string, fn func(part []string) error) error {
	for len(ids) > 0 {
		n := min(len(ids), checkChunk)
		if err := fn(ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func uniq(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// OrgPaths reads the orgs of ids and every org on their paths in one statement.
func (s accessStore) OrgPaths(ctx context.Context, ids []string) (map[string]*orgs.Org, error) {
	out := map[string]*orgs.Org{}
	err := s.db.checkRows(ctx, s.db.check.orgPaths, func(rows *sql.Rows) error {
		var r orgRow
		if err := rows.Scan(r.fields()...); err != nil {
			return err
		}
		out[r.ID] = r.org()
		return nil
	}, s.db.dialect.listArg(uniq(ids)))
	return out, err
}

// UserFacts reads every fact of users' questions in one statement (userFacts). The
// users are selected by the sets of connections and ids, and picked out here.
func (s accessStore) UserFacts(ctx context.Context, refs []orgs.UserRef, targetIDs []string) (orgs.UserFacts, error) {
	conns, users := make([]string, len(refs)), make([]string, len(refs))
	want := make(map[orgs.UserRef]bool, len(refs))
	for i, r := range refs {
		conns[i], users[i] = r.ConnectionID, r.UserID
		want[r] = true
	}
	f := orgs.UserFacts{Orgs: map[string]*orgs.Org{}, Users: make(map[orgs.UserRef]orgs.UserStanding, len(refs))}
	gr := newGrantRoles()
	var (
		kind string
		o    nullOrg
		ref  struct{ conn, id, name sql.NullString }
		live sql.NullBool
		g    nullGrant
	)
	dest := append(append([]any{&kind}, o.fields()...), &ref.conn, &ref.id, &ref.name, &live)
	dest = append(dest, g.fields()...)
	d := s.db.dialect
	stmt, args := s.db.check.userFacts, []any{d.listArg(uniq(conns)), d.listArg(users), d.listArg(targetIDs)}
	if len(refs) == 1 {
		stmt, args = s.db.check.userFact, []any{conns[0], users[0], targetIDs[0]}
	}
	err := s.db.checkRows(ctx, stmt, func(rows *sql.Rows) error {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		switch kind {
		case "o":
			if _, ok := f.Orgs[o.ID.String]; !ok {
				f.Orgs[o.ID.String] = o.row().org()
			}
		case "u":
			if r := (orgs.UserRef{ConnectionID: ref.conn.String, UserID: ref.id.String}); want[r] {
				f.Users[r] = orgs.UserStanding{UserName: ref.name.String, Active: live.Bool}
			}
		default:
			return gr.add(&g)
		}
		return nil
	}, args...)
	if err != nil {
		return orgs.UserFacts{}, err
	}
	f.Grants, f.Roles = gr.sorted(), gr.roles
	return f, nil
}

func (s accessStore) LiveGrantsOf(ctx context.Context, holderIDs, orgIDs []string) ([]*orgs.Grant, map[string]*orgs.Role, error) {
	gr := newGrantRoles()
	var g nullGrant
	dest := g.fields()
	d := s.db.dialect
	err := s.db.checkRows(ctx, s.db.check.liveGrants, func(rows *sql.Rows) error {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		return gr.add(&g)
	}, d.listArg(uniq(holderIDs)), d.listArg(uniq(orgIDs)))
	if err != nil {
		return nil, nil, err
	}
	return gr.sorted(), gr.roles, nil
}

func (s accessStore) ConnectionsByID(ctx context.Context, ids []string) (map[string]*orgs.Connection, error) {
	return s.connections(ctx, s.db.check.connsByID, ids, func(c *orgs.Connection) string { return c.ID })
}

// ConnectionsAndOrgsBySlug returns the connections that exist among connSlugs and the
// orgs that exist among orgSlugs, by slug, in one statement.
func (s accessStore) ConnectionsAndOrgsBySlug(ctx context.Context, connSlugs, orgSlugs []string) (map[string]*orgs.Connection, map[string]*orgs.Org, error) {
	conns, found := map[string]*orgs.Connection{}, map[string]*orgs.Org{}
	var (
		kind string
		c    nullConnection
		o    nullOrg
	)
	dest := append(append([]any{&kind}, c.fields()...), o.fields()...)
	d := s.db.dialect
	connSlugs, orgSlugs = uniq(connSlugs), uniq(orgSlugs)
	stmt, args := s.db.check.names, []any{d.listArg(connSlugs), d.listArg(orgSlugs)}
	if len(connSlugs) == 1 && len(orgSlugs) == 1 {
		stmt, args = s.db.check.name, []any{connSlugs[0], orgSlugs[0]}
	}
	err := s.db.checkRows(ctx, stmt, func(rows *sql.Rows) error {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if kind == "c" {
			conn := c.row()
			conns[conn.Slug] = conn.connection()
		} else {
			found[o.Slug.String] = o.row().org()
		}
		return nil
	}, args...)
	return conns, found, err
}

func (s accessStore) connections(ctx context.Context, stmt string, keys []string, key func(*orgs.Connection) string) (map[string]*orgs.Connection, error) {
	out := map[string]*orgs.Connection{}
	err := s.db.checkRows(ctx, stmt, func(rows *sql.Rows) error {
		var r connectionRow
		if err := rows.Scan(r.fields()...); err != nil {
			return err
		}
		c := r.connection()
		out[key(c)] = c
		return nil
	}, s.db.dialect.listArg(uniq(keys)))
	return out, err
}

// OrgsBySlug returns the orgs that exist among slugs, by slug.
func (s accessStore) OrgsBySlug(ctx context.Context, slugs []string) (map[string]*orgs.Org, error) {
	out := map[string]*orgs.Org{}
	err := s.db.checkRows(ctx, s.db.check.orgsBySlug, func(rows *sql.Rows) error {
		var r orgRow
		if err := rows.Scan(r.fields()...); err != nil {
			return err
		}
		out[r.Slug] = r.org()
		return nil
	}, s.db.dialect.listArg(uniq(slugs)))
	return out, err
}

func (s accessStore) MappingsByID(ctx context.Context, ids []string) (map[string]*orgs.Mapping, error) {
	out := map[string]*orgs.Mapping{}
	err := chunked(uniq(ids), func(part []string) error {
		ms, err := s.mappings(ctx, "SELECT "+mappingCols+" FROM mappings WHERE id IN ?", part)
		for _, m := range ms {
			out[m.ID] = m
		}
		return err
	})
	return out, err
}

// MembershipPaths walks up from every asked user's groups at once (the recursive CTE of
// MembershipPath, carrying the user along) and keeps, for each ref, the shortest chain
// to its group; among chains of one length, the first by its groups' ids, so that the
// answer does not depend on the engine's order.
func (s accessStore) MembershipPaths(ctx context.Context, refs []orgs.MembershipRef) (map[orgs.MembershipRef][]string, error) {
	var conns, users, groups []string
	want := make(map[orgs.MembershipRef]bool, len(refs))
	for _, r := range refs {
		conns, users, groups = append(conns, r.ConnectionID), append(users, r.UserID), append(groups, r.GroupID)
		want[r] = true
	}
	conns, groups = uniq(conns), uniq(groups)
	out := map[orgs.MembershipRef][]string{}
	err := chunked(uniq(users), func(part []string) error {
		var rows []struct {
			ConnectionID string
			UserID       string
			ID           string
			Path         string
		}
		if err := s.db.q(ctx).Raw(`WITH RECURSIVE up(connection_id, user_id, id, path, depth) AS (
				SELECT connection_id, member_id, group_id, CAST(group_id AS TEXT), 0 FROM scim_memberships
				WHERE connection_id IN ? AND member_id IN ?
				UNION
				SELECT up.connection_id, up.user_id, m.group_id, up.path || ',' || m.group_id, up.depth + 1
				FROM scim_memberships m JOIN up ON m.connection_id = up.connection_id AND m.member_id = up.id
				WHERE m.member_type = 'Group' AND up.depth < 64)
			SELECT connection_id, user_id, id, path FROM up WHERE id IN ? ORDER BY depth, path`, conns, part, groups).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			ref := orgs.MembershipRef{ConnectionID: r.ConnectionID, UserID: r.UserID, GroupID: r.ID}
			if _, done := out[ref]; want[ref] && !done {
				out[ref] = strings.Split(r.Path, ",")
			}
		}
		return nil
	})
	return out, err
}

// sortGrants orders grants oldest first, as grantsWithRoles lists them.
func sortGrants(gs []*orgs.Grant) {
	slices.SortStableFunc(gs, func(a, b *orgs.Grant) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// GroupNames returns the display names of the groups of conn that exist among ids.
func (s accessStore) GroupNames(ctx context.Context, conn string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	err := chunked(uniq(ids), func(part []string) error {
		var rows []struct{ ID, DisplayName string }
		if err := s.db.q(ctx).Raw("SELECT id, display_name FROM scim_groups WHERE connection_id = ? AND id IN ? AND deleted_at IS NULL",
			conn, part).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			out[r.ID] = r.DisplayName
		}
		return nil
	})
	return out, err
}
