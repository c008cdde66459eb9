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

// Orgs is the orgs.Store of a DB.
func (db *DB) Orgs() orgs.Store { return orgStore{db} }

type orgStore struct{ db *DB }

type orgRow struct {
	ID                string
	Slug              string
	Name              string
	ParentID          *string
	Path              string
	Kind              string
	Status            string
	ContractStart     *int64
	ContractEnd       *int64
	GraceSeconds      int64
	Owner             string
	BrandDisplayName  string
	BrandLogoURL      string `gorm:"column:brand_logo_url"`
	BrandPrimaryColor string
	BrandAccentColor  string
	Version           int64
	CreatedAt         int64
	UpdatedAt         int64
}

const orgCols = `id, slug, name, parent_id, path, kind, status, contract_start, contract_end, grace_seconds, owner,
	brand_display_name, brand_logo_url, brand_primary_color, brand_accent_color, version, created_at, updated_at`

type connectionRow struct {
	ID        string
	Slug      string
	OrgID     string
	IdP       string `gorm:"column:idp"`
	Status    string
	CreatedAt int64
	Placement string
}

type tokenRow struct {
	ID           string
	ConnectionID string
	Hash         string
	Hint         string
	CreatedAt    int64
	ExpiresAt    *int64
	RevokedAt    *int64
	LastUsedAt   *int64
}

func (r orgRow) org() *orgs.Org {
	o := &orgs.Org{
		ID: r.ID, Slug: r.Slug, Name: r.Name, ParentID: deref(r.ParentID), Path: r.Path,
		Kind: orgs.Kind(r.Kind), Status: orgs.Status(r.Status),
		ContractStart: fromMicrosPtr(r.ContractStart), ContractEnd: fromMicrosPtr(r.ContractEnd),
		Grace: time.Duration(r.GraceSeconds) * time.Second, Owner: r.Owner,
		Brand: orgs.Brand{DisplayName: r.BrandDisplayName, LogoURL: r.BrandLogoURL,
			PrimaryColor: r.BrandPrimaryColor, AccentColor: r.BrandAccentColor},
		Version: r.Version, Created: fromMicros(r.CreatedAt), Updated: fromMicros(r.UpdatedAt),
	}
	return o
}

func orgArgs(o *orgs.Org) []any {
	return []any{o.ID, o.Slug, o.Name, nullable(o.ParentID), o.Path, string(o.Kind), string(o.Status),
		microsPtr(o.ContractStart), microsPtr(o.ContractEnd), int64(o.Grace / time.Second), o.Owner,
		o.Brand.DisplayName, o.Brand.LogoURL, o.Brand.PrimaryColor, o.Brand.AccentColor,
		o.Version, micros(o.Created), micros(o.Updated)}
}

func (r connectionRow) connection() *orgs.Connection {
	c := &orgs.Connection{ID: r.ID, Slug: r.Slug, OrgID: r.OrgID, IdP: r.IdP, Status: r.Status, Created: fromMicros(r.CreatedAt)}
	if r.Placement != "" {
		// Written only by SetPlacement from valid rules; a corrupt value places nobody.
		_ = json.Unmarshal([]byte(r.Placement), &c.Placement)
	}
	return c
}

func (r tokenRow) token() *orgs.Token {
	return &orgs.Token{
		ID: r.ID, ConnectionID: r.ConnectionID, Hash: r.Hash, Hint: r.Hint,
		Created: fromMicros(r.CreatedAt), Expires: fromMicrosPtr(r.ExpiresAt),
		Revoked: fromMicrosPtr(r.RevokedAt), LastUsed: fromMicrosPtr(r.LastUsedAt),
	}
}

func (s orgStore) CreateOrg(ctx context.Context, o *orgs.Org) error {
	return s.db.tx(ctx, func(tx *gorm.DB) error {
		o.Path = "/" + o.ID + "/"
		if o.ParentID != "" {
			var parent string
			err := tx.Raw("SELECT path FROM orgs WHERE id = ?"+s.db.dialect.forUpdate, o.ParentID).Take(&parent).Error
			if isNoRows(err) {
				return orgscim.Errorf(orgscim.NotFound, "no parent org %q", o.ParentID)
			}
			if err != nil {
				return err
			}
			o.Path = parent + o.ID + "/"
		}
		err := tx.Exec("INSERT INTO orgs ("+orgCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", orgArgs(o)...).Error
		if isUniqueViolation(err) {
			return orgscim.Errorf(orgscim.Conflict, "an org with slug %q exists", o.Slug)
		}
		return err
	})
}

func (s orgStore) org(ctx context.Context, where string, arg any, notFound error) (*orgs.Org, error) {
	var r orgRow
	err := s.db.q(ctx).Raw("SELECT "+orgCols+" FROM orgs WHERE "+where, arg).Take(&r).Error
	if isNoRows(err) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	return r.org(), nil
}

func (s orgStore) OrgBySlug(ctx context.Context, slug string) (*orgs.Org, error) {
	return s.org(ctx, "slug = ?", slug, orgscim.Errorf(orgscim.NotFound, "no org %q", slug))
}

func (s orgStore) OrgByID(ctx context.Context, id string) (*orgs.Org, error) {
	return s.org(ctx, "id = ?", id, orgscim.Errorf(orgscim.NotFound, "no org %q", id))
}

func (s orgStore) UpdateOrg(ctx context.Context, id string, fn func(*orgs.Org) error) (*orgs.Org, error) {
	var out *orgs.Org
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var r orgRow
		err := tx.Raw("SELECT "+orgCols+" FROM orgs WHERE id = ?"+s.db.dialect.forUpdate, id).Take(&r).Error
		if isNoRows(err) {
			return orgscim.Errorf(orgscim.NotFound, "no org %q", id)
		}
		if err != nil {
			return err
		}
		o := r.org()
		if err := fn(o); err != nil {
			return err
		}
		// Identity and place in the tree change only through MoveOrg.
		o.ID, o.ParentID, o.Path = r.ID, deref(r.ParentID), r.Path
		args := orgArgs(o)
		err = tx.Exec(`UPDATE orgs SET slug = ?, name = ?, kind = ?, status = ?, contract_start = ?, contract_end = ?,
			grace_seconds = ?, owner = ?, brand_display_name = ?, brand_logo_url = ?, brand_primary_color = ?,
			brand_accent_color = ?, version = ?, updated_at = ? WHERE id = ?`,
			append(append([]any{args[1], args[2]}, args[5:15]...), args[15], args[17], id)...).Error
		if isUniqueViolation(err) {
			return orgscim.Errorf(orgscim.Conflict, "an org with slug %q exists", o.Slug)
		}
		if err != nil {
			return err
		}
		out = o
		return nil
	})
	return out, err
}

func (s orgStore) MoveOrg(ctx context.Context, id, newParentID string, at time.Time) error {
	return s.db.tx(ctx, func(tx *gorm.DB) error {
		// Lock both rows in id order so two moves cannot deadlock or race into a cycle.
		var rows []orgRow
		if err := tx.Raw("SELECT "+orgCols+" FROM orgs WHERE id IN ? ORDER BY id"+s.db.dialect.forUpdate,
			[]string{id, newParentID}).Scan(&rows).Error; err != nil {
			return err
		}
		var self, parent *orgRow
		for i := range rows {
			switch rows[i].ID {
			case id:
				self = &rows[i]
			case newParentID:
				parent = &rows[i]
			}
		}
		if self == nil || parent == nil {
			return orgscim.Errorf(orgscim.NotFound, "no such org")
		}
		if strings.HasPrefix(parent.Path, self.Path) {
			return orgscim.Errorf(orgscim.Invalid, "an org cannot move into its own subtree")
		}
		newPath := parent.Path + id + "/"
		if err := tx.Exec("UPDATE orgs SET parent_id = ?, version = version + 1, updated_at = ? WHERE id = ?",
			newParentID, micros(at), id).Error; err != nil {
			return err
		}
		// Rewrite the prefix of every path in the subtree, the org's own included.
		return tx.Exec("UPDATE orgs SET path = ? || substr(path, ?) WHERE path LIKE ? ESCAPE '\\'",
			newPath, len(self.Path)+1, likePrefix(self.Path)).Error
	})
}

// likePrefix is a LIKE pattern matching strings that start with p.
func likePrefix(p string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p) + "%"
}

func (s orgStore) CreateConnection(ctx context.Context, c *orgs.Connection, first *orgs.Token) error {
	return s.db.tx(ctx, func(tx *gorm.DB) error {
		err := tx.Exec("INSERT INTO connections (id, slug, org_id, idp, status, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			c.ID, c.Slug, c.OrgID, c.IdP, c.Status, micros(c.Created)).Error
		if isUniqueViolation(err) {
			return orgscim.Errorf(orgscim.Conflict, "a connection with slug %q exists", c.Slug)
		}
		if err != nil || first == nil {
			return err
		}
		return insertToken(tx, first)
	})
}

func insertToken(tx *gorm.DB, t *orgs.Token) error {
	return tx.Exec("INSERT INTO tokens (id, connection_id, hash, hint, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
		t.ID, t.ConnectionID, t.Hash, t.Hint, micros(t.Created), microsPtr(t.Expires)).Error
}

func (s orgStore) ConnectionBySlug(ctx context.Context, slug string) (*orgs.Connection, error) {
	var r connectionRow
	err := s.db.q(ctx).Raw("SELECT * FROM connections WHERE slug = ?", slug).Take(&r).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "no connection %q", slug)
	}
	if err != nil {
		return nil, err
	}
	return r.connection(), nil
}

func (s orgStore) AddToken(ctx context.Context, t *orgs.Token, max int) error {
	return s.db.tx(ctx, func(tx *gorm.DB) error {
		// Lock the connection row so that two rotations at once cannot both pass the count.
		var id string
		if err := tx.Raw("SELECT id FROM connections WHERE id = ?"+s.db.dialect.forUpdate, t.ConnectionID).Take(&id).Error; err != nil {
			if isNoRows(err) {
				return orgscim.Errorf(orgscim.NotFound, "no such connection")
			}
			return err
		}
		now := micros(t.Created)
		var n int64
		if err := tx.Raw("SELECT count(*) FROM tokens WHERE connection_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
			t.ConnectionID, now).Scan(&n).Error; err != nil {
			return err
		}
		if int(n) >= max {
			return orgscim.Errorf(orgscim.Conflict, "the connection already has %d usable tokens; revoke one first", max)
		}
		return insertToken(tx, t)
	})
}

func (s orgStore) Tokens(ctx context.Context, connectionID string) ([]*orgs.Token, error) {
	var rows []tokenRow
	if err := s.db.q(ctx).Raw("SELECT * FROM tokens WHERE connection_id = ? ORDER BY created_at, id", connectionID).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*orgs.Token, len(rows))
	for i, r := range rows {
		out[i] = r.token()
	}
	return out, nil
}

func (s orgStore) RevokeToken(ctx context.Context, connectionID, tokenID string, at time.Time) error {
	res := s.db.q(ctx).Exec("UPDATE tokens SET revoked_at = ? WHERE connection_id = ? AND id = ? AND revoked_at IS NULL",
		micros(at), connectionID, tokenID)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return orgscim.Errorf(orgscim.NotFound, "no usable token %q on this connection", tokenID)
	}
	return nil
}

// TokenByHash answers a request's authentication in one round trip: the token, its
// connection, and every org on the connection's path (one row each), which orgs needs to
// refuse a token of a suspended or ended partner.
func (s orgStore) TokenByHash(ctx context.Context, hash string) (*orgs.Token, *orgs.Connection, map[string]*orgs.Org, error) {
	rows, err := s.db.tokenPath(ctx, hash)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(rows) == 0 {
		return nil, nil, nil, orgscim.Errorf(orgscim.NotFound, "no such token")
	}
	conn := rows[0].conn.connection()
	conn.OrgPath = rows[0].orgPath
	path := make(map[string]*orgs.Org, len(rows))
	for _, r := range rows {
		path[r.org.ID] = r.org.org()
	}
	return rows[0].token.token(), conn, path, nil
}

func (s orgStore) OrgsByID(ctx context.Context, ids []string) (map[string]*orgs.Org, error) {
	return accessStore{s.db}.OrgsByID(ctx, ids)
}

func (s orgStore) SetPlacement(ctx context.Context, connectionID string, rules []orgs.PlacementRule) error {
	if rules == nil {
		rules = []orgs.PlacementRule{}
	}
	b, err := json.Marshal(rules)
	if err != nil {
		return err
	}
	return s.db.q(ctx).Exec("UPDATE connections SET placement = ? WHERE id = ?", string(b), connectionID).Error
}

func (s orgStore) TouchToken(ctx context.Context, tokenID string, at time.Time) error {
	return s.db.q(ctx).Exec("UPDATE tokens SET last_used_at = ? WHERE id = ?", micros(at), tokenID).Error
}
