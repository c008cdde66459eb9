package sqlstore

import (
	"context"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/domains"
	"gorm.io/gorm"
)

// Domains returns the store of domain claims.
func (db *DB) Domains() domains.Store { return domainStore{db} }

type domainStore struct{ db *DB }

type claimRow struct {
	ID            string
	OrgID         string
	Domain        string
	Token         string
	Status        string
	Method        string
	CreatedAt     int64
	VerifiedAt    *int64
	LastCheckedAt *int64
}

const claimCols = "id, org_id, domain, token, status, method, created_at, verified_at, last_checked_at"

func (r claimRow) claim() *domains.Claim {
	return &domains.Claim{ID: r.ID, OrgID: r.OrgID, Domain: r.Domain, Token: r.Token, Status: domains.Status(r.Status),
		Method: r.Method, Created: fromMicros(r.CreatedAt), VerifiedAt: fromMicrosPtr(r.VerifiedAt),
		LastCheckedAt: fromMicrosPtr(r.LastCheckedAt)}
}

func claims(rows []claimRow) []*domains.Claim {
	out := make([]*domains.Claim, len(rows))
	for i, r := range rows {
		out[i] = r.claim()
	}
	return out
}

func (s domainStore) list(ctx context.Context, where string, args ...any) ([]*domains.Claim, error) {
	var rows []claimRow
	if err := s.db.q(ctx).Raw("SELECT "+claimCols+" FROM domain_claims "+where, args...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	return claims(rows), nil
}

func (s domainStore) CreateClaim(ctx context.Context, c *domains.Claim) error {
	err := s.db.q(ctx).Exec("INSERT INTO domain_claims ("+claimCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		c.ID, c.OrgID, c.Domain, c.Token, string(c.Status), c.Method, micros(c.Created), microsPtr(c.VerifiedAt),
		microsPtr(c.LastCheckedAt)).Error
	if isUniqueViolation(err) {
		return orgscim.Errorf(orgscim.Conflict, "the org already claims %s", c.Domain)
	}
	return err
}

func (s domainStore) Claim(ctx context.Context, id string) (*domains.Claim, error) {
	cs, err := s.list(ctx, "WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, orgscim.Errorf(orgscim.NotFound, "no domain claim %q", id)
	}
	return cs[0], nil
}

func (s domainStore) ClaimsOf(ctx context.Context, orgIDs []string) ([]*domains.Claim, error) {
	if len(orgIDs) == 0 {
		return nil, nil
	}
	return s.list(ctx, "WHERE org_id IN ? ORDER BY domain, id", orgIDs)
}

func (s domainStore) ClaimsUnder(ctx context.Context, orgPath string) ([]*domains.Claim, error) {
	var rows []claimRow
	err := s.db.q(ctx).Raw(`SELECT d.id, d.org_id, d.domain, d.token, d.status, d.method, d.created_at, d.verified_at,
		d.last_checked_at FROM domain_claims d JOIN orgs o ON o.id = d.org_id
		WHERE substr(o.path, 1, ?) = ? ORDER BY d.domain, d.id`, len(orgPath), orgPath).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	return claims(rows), nil
}

func (s domainStore) ClaimsOfConnection(ctx context.Context, conn string) ([]*domains.Claim, error) {
	var rows []claimRow
	// From the claims, a small table, to the orgs inside the connection's org.
	err := s.db.q(ctx).Raw(`SELECT d.id, d.org_id, d.domain, d.token, d.status, d.method, d.created_at, d.verified_at,
		d.last_checked_at FROM domain_claims d JOIN orgs o ON o.id = d.org_id JOIN connections c ON c.id = ?
		JOIN orgs h ON h.id = c.org_id WHERE substr(o.path, 1, length(h.path)) = h.path ORDER BY d.domain, d.id`, conn).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	return claims(rows), nil
}

func (s domainStore) ClaimsOn(ctx context.Context, ds []string) ([]*domains.Claim, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	return s.list(ctx, "WHERE domain IN ? ORDER BY domain, id", ds)
}

func (s domainStore) VerifiedClaims(ctx context.Context, afterID string, limit int) ([]*domains.Claim, error) {
	return s.list(ctx, "WHERE status = 'verified' AND id > ? ORDER BY id LIMIT ?", afterID, limit)
}

func (s domainStore) UpdateClaim(ctx context.Context, id string, fn func(*domains.Claim) error) (*domains.Claim, error) {
	var out *domains.Claim
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var rows []claimRow
		if err := tx.Raw("SELECT "+claimCols+" FROM domain_claims WHERE id = ?"+s.db.dialect.forUpdate, id).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return orgscim.Errorf(orgscim.NotFound, "no domain claim %q", id)
		}
		c := rows[0].claim()
		if err := fn(c); err != nil {
			return err
		}
		err := tx.Exec("UPDATE domain_claims SET status = ?, method = ?, verified_at = ?, last_checked_at = ? WHERE id = ?",
			string(c.Status), c.Method, microsPtr(c.VerifiedAt), microsPtr(c.LastCheckedAt), id).Error
		if isUniqueViolation(err) {
			// Never say which org holds it.
			return orgscim.Errorf(orgscim.Conflict, "the domain %s is verified by another organisation", c.Domain)
		}
		if err != nil {
			return err
		}
		out = c
		return nil
	})
	return out, err
}

func (s domainStore) DeleteClaim(ctx context.Context, id string) error {
	return s.db.q(ctx).Exec("DELETE FROM domain_claims WHERE id = ?", id).Error
}

// Admission reads what the domain rule of one user write needs in one statement: the
// connection's domain policy (a row only when it has one), the claims of the orgs
// inside its org, and every claim on the domains named.
func (s domainStore) Admission(ctx context.Context, conn string, ds []string) (*domains.Admission, error) {
	if len(ds) == 0 {
		ds = []string{""} // IN () is not SQL; no claim is on the empty domain
	}
	// $N SQL through database/sql (see rawsql.go): every user write of every IdP reads
	// this, and gorm rebuilt it each time.
	var q sqlArgs
	c := q.add(conn)
	stmt := `SELECT 'p' AS kind, domain_policy AS id, '' AS org_id, '' AS domain, '' AS token,
			CASE WHEN require_verified_domain THEN 'required' ELSE '' END AS status, '' AS method, 0 AS created_at,
			NULL AS verified_at, NULL AS last_checked_at
		FROM connection_policies WHERE connection_id = ` + c + `
		UNION ALL
		SELECT 'o', d.id, d.org_id, d.domain, d.token, d.status, d.method, d.created_at, d.verified_at, d.last_checked_at
		FROM domain_claims d JOIN orgs o ON o.id = d.org_id JOIN connections c ON c.id = ` + c + `
		JOIN orgs h ON h.id = c.org_id WHERE substr(o.path, 1, length(h.path)) = h.path
		UNION ALL
		SELECT 'd', ` + claimCols + ` FROM domain_claims WHERE domain IN ` + q.list(ds) + `
		ORDER BY 1, 4, 2`
	res, err := s.db.query(ctx, s.db.pool(ctx), stmt, q.args...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	type admissionRow struct {
		Kind string
		claimRow
	}
	var rows []admissionRow
	for res.Next() {
		var r admissionRow
		if err := res.Scan(&r.Kind, &r.ID, &r.OrgID, &r.Domain, &r.Token, &r.Status, &r.Method, &r.CreatedAt,
			&r.VerifiedAt, &r.LastCheckedAt); err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	if err := markUnavailable(res.Err()); err != nil {
		return nil, err
	}
	a := &domains.Admission{}
	for _, r := range rows {
		c := r.claimRow
		switch r.Kind {
		case "p":
			a.DomainPolicy, a.RequireVerifiedDomain = r.ID, r.Status != ""
		case "o":
			a.Own = append(a.Own, c.claim())
		default:
			a.On = append(a.On, c.claim())
		}
	}
	return a, nil
}
