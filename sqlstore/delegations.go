package sqlstore

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
	"gorm.io/gorm"
)

// Delegations is the orgs.DelegationStore of a DB.
func (db *DB) Delegations() orgs.DelegationStore { return delegationStore{db} }

type delegationStore struct{ db *DB }

type delegationRow struct {
	ID                 string
	OrgID              string
	HolderConnectionID string
	HolderUserID       string
	Capabilities       string
	Depth              int
	ParentID           *string
	GrantedBy          string
	CreatedAt          int64
	ExpiresAt          *int64
	RevokedAt          *int64
	RevokedBy          *string
	RevokeReason       *string
	EngagementID       *string
}

const delegationCols = `id, org_id, holder_connection_id, holder_user_id, capabilities, depth, parent_id, granted_by,
	created_at, expires_at, revoked_at, revoked_by, revoke_reason, engagement_id`

func (r delegationRow) delegation() (*orgs.Delegation, error) {
	d := &orgs.Delegation{ID: r.ID, OrgID: r.OrgID, HolderConnectionID: r.HolderConnectionID, HolderUserID: r.HolderUserID,
		Depth: r.Depth, ParentID: deref(r.ParentID), GrantedBy: r.GrantedBy, Created: fromMicros(r.CreatedAt),
		Expires: fromMicrosPtr(r.ExpiresAt), Revoked: fromMicrosPtr(r.RevokedAt), RevokedBy: deref(r.RevokedBy),
		RevokeReason: deref(r.RevokeReason), EngagementID: deref(r.EngagementID)}
	if err := json.Unmarshal([]byte(r.Capabilities), &d.Capabilities); err != nil {
		return nil, err
	}
	return d, nil
}

func delegations(rows []delegationRow) ([]*orgs.Delegation, error) {
	out := make([]*orgs.Delegation, len(rows))
	for i, r := range rows {
		d, err := r.delegation()
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

func (s delegationStore) CreateDelegation(ctx context.Context, d *orgs.Delegation) error {
	caps, _ := json.Marshal(d.Capabilities)
	return s.db.q(ctx).Exec("INSERT INTO delegations ("+delegationCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		d.ID, d.OrgID, d.HolderConnectionID, d.HolderUserID, string(caps), d.Depth, nullable(d.ParentID), d.GrantedBy,
		micros(d.Created), microsPtr(d.Expires), nil, nil, nil, nullable(d.EngagementID)).Error
}

func (s delegationStore) Delegation(ctx context.Context, id string) (*orgs.Delegation, error) {
	var r delegationRow
	err := s.db.q(ctx).Raw("SELECT "+delegationCols+" FROM delegations WHERE id = ?", id).Take(&r).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "no delegation %q", id)
	}
	if err != nil {
		return nil, err
	}
	return r.delegation()
}

func (s delegationStore) RevokeDelegationTree(ctx context.Context, id string, at time.Time, by, reason string) ([]*orgs.Delegation, error) {
	var out []*orgs.Delegation
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var rows []delegationRow
		err := tx.Raw(`WITH RECURSIVE tree(id, depth) AS (
				SELECT id, 0 FROM delegations WHERE id = ?
				UNION
				SELECT d.id, tree.depth + 1 FROM delegations d JOIN tree ON d.parent_id = tree.id WHERE tree.depth < 64)
			SELECT `+delegationCols+` FROM delegations WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL`, id).Scan(&rows).Error
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return orgscim.Errorf(orgscim.NotFound, "no live delegation %q", id)
		}
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		if err := tx.Exec("UPDATE delegations SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE id IN ? AND revoked_at IS NULL",
			micros(at), by, reason, ids).Error; err != nil {
			return err
		}
		out, err = delegations(rows)
		return err
	})
	return out, err
}

func (s delegationStore) LiveDelegations(ctx context.Context, orgIDs []string, at time.Time) ([]*orgs.Delegation, error) {
	if len(orgIDs) == 0 {
		return nil, nil
	}
	var rows []delegationRow
	if err := s.db.q(ctx).Raw("SELECT "+delegationCols+" FROM delegations WHERE org_id IN ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
		orgIDs, micros(at)).Scan(&rows).Error; err != nil {
		return nil, err
	}
	return delegations(rows)
}

func (s delegationStore) DelegationsHeldBy(ctx context.Context, conn, userID string) ([]*orgs.Delegation, error) {
	// $N SQL through database/sql (see rawsql.go): every deactivation and deletion asks.
	res, err := s.db.query(ctx, s.db.pool(ctx), "SELECT "+delegationCols+
		" FROM delegations WHERE holder_connection_id = $1 AND holder_user_id = $2 AND revoked_at IS NULL ORDER BY created_at", conn, userID)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var rows []delegationRow
	for res.Next() {
		var r delegationRow
		if err := res.Scan(&r.ID, &r.OrgID, &r.HolderConnectionID, &r.HolderUserID, &r.Capabilities, &r.Depth, &r.ParentID,
			&r.GrantedBy, &r.CreatedAt, &r.ExpiresAt, &r.RevokedAt, &r.RevokedBy, &r.RevokeReason, &r.EngagementID); err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	if err := markUnavailable(res.Err()); err != nil {
		return nil, err
	}
	return delegations(rows)
}

type chainRow struct {
	D                delegationRow `gorm:"embedded"`
	OrgPath          string
	HolderActive     *bool
	HolderConnStatus *string
	Link             int
	A                orgRow `gorm:"embedded;embeddedPrefix:a_"`
}

// DelegationChain reads, in one query, the delegation and every delegation above it,
// with what the authority rule asks of each — its org's path, whether its holder is a
// live, active user, the status of the holder's connection — and every org on their
// paths.
func (s delegationStore) DelegationChain(ctx context.Context, id string) ([]orgs.ChainLink, map[string]*orgs.Org, error) {
	var rows []chainRow
	err := s.db.q(ctx).Raw(chainSQL(s.db.dialect, "SELECT id, 0 FROM delegations WHERE id = ?", "", "")+
		" ORDER BY links.link", id).Find(&rows).Error
	if err != nil {
		return nil, nil, err
	}
	if len(rows) == 0 {
		return nil, nil, orgscim.Errorf(orgscim.NotFound, "no delegation %q", id)
	}
	links, byID, err := chainOf(rows)
	if err != nil {
		return nil, nil, err
	}
	return links, byID, s.db.withReach(ctx, links, byID)
}

// chainSQL is the query of a delegation's chain: seed selects (id, 0) of the delegation
// it starts from; from, when given, is a row source beside the chain (the admin key whose
// delegation it is), joined to every row (and kept when there is no chain), and
// selectMore its columns, ending in a comma.
func chainSQL(d dialect, seed, selectMore, from string) string {
	links := `links`
	if from != "" {
		links = from + ` LEFT JOIN links ON true`
	}
	return `WITH RECURSIVE chain(id, link) AS (
			` + seed + `
			UNION ALL
			SELECT d.parent_id, chain.link + 1 FROM delegations d JOIN chain ON d.id = chain.id
			WHERE d.parent_id IS NOT NULL AND chain.link < 64),
		links AS (
			SELECT ` + aliased("d.", "", delegationCols) + `, o.path AS org_path, chain.link AS link,
				(u.active AND u.deleted_at IS NULL) AS holder_active, c.status AS holder_conn_status
			FROM chain JOIN delegations d ON d.id = chain.id
			JOIN orgs o ON o.id = d.org_id
			LEFT JOIN scim_users u ON u.connection_id = d.holder_connection_id AND u.id = d.holder_user_id
			LEFT JOIN connections c ON c.id = d.holder_connection_id)
		SELECT ` + selectMore + `links.*, ` + aliased("a.", "a_", orgCols) + `
		FROM ` + links + ` LEFT JOIN orgs a ON ` + d.idInPath("a.id", "links.org_path")
}

// chainOf turns the rows of chainSQL, ordered by link, into the chain and its orgs.
func chainOf(rows []chainRow) ([]orgs.ChainLink, map[string]*orgs.Org, error) {
	var out []orgs.ChainLink
	byID := map[string]*orgs.Org{}
	for _, r := range rows {
		if r.A.ID != "" {
			byID[r.A.ID] = r.A.org()
		}
		if r.D.ID == "" || len(out) > 0 && out[len(out)-1].Delegation.ID == r.D.ID {
			continue // no chain (an operator's key), or the same link, another org of its path
		}
		d, err := r.D.delegation()
		if err != nil {
			return nil, nil, err
		}
		out = append(out, orgs.ChainLink{Delegation: d, OrgPath: r.OrgPath, HolderActive: r.HolderActive != nil && *r.HolderActive,
			HolderConnectionStatus: deref(r.HolderConnStatus)})
	}
	return out, byID, nil
}

// aliased qualifies each column of a comma-separated list with prefix and names it with
// as before its name: aliased("a.", "a_", "id, slug") is "a.id AS a_id, a.slug AS a_slug".
func aliased(prefix, as, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		c = strings.TrimSpace(c)
		parts[i] = prefix + c + " AS " + as + c
	}
	return strings.Join(parts, ", ")
}

func (s delegationStore) MadeUnder(ctx context.Context, id string, limit int) (*orgs.MadeUnder, error) {
	out := &orgs.MadeUnder{}
	for _, q := range []struct {
		ids   *[]string
		count *int
		from  string
		args  []any
	}{
		{&out.Delegations, &out.DelegationCount, "delegations WHERE parent_id = ? AND revoked_at IS NULL", []any{id}},
		{&out.Keys, &out.KeyCount, "admin_keys WHERE (delegation_id = ? OR issued_under = ?) AND revoked_at IS NULL", []any{id, id}},
		{&out.Grants, &out.GrantCount, "grants WHERE granted_under = ? AND revoked_at IS NULL", []any{id}},
		{&out.Mappings, &out.MappingCount, "mappings WHERE approved_under = ? AND state = 'active'", []any{id}},
	} {
		if err := s.db.q(ctx).Raw("SELECT id FROM "+q.from+" ORDER BY id LIMIT ?", append(q.args, limit)...).Scan(q.ids).Error; err != nil {
			return nil, err
		}
		*q.count = len(*q.ids)
		if *q.count < limit {
			continue // the list is whole: no count needed
		}
		var n int64
		if err := s.db.q(ctx).Raw("SELECT count(*) FROM "+q.from, q.args...).Scan(&n).Error; err != nil {
			return nil, err
		}
		*q.count = int(n)
	}
	return out, nil
}
