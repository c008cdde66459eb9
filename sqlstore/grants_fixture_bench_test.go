package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// grantsOnOnePartner is a partner org (under parent, "" for a root) with one connection and
// n live grants of one role on it, loaded in one statement: what the benchmarks of the
// pages and reviews over a big org start from.
type grantsOnOnePartner struct {
	partner *orgs.Org
	access  *orgs.Access
}

func seedGrants(b *testing.B, db *sqlstore.DB, engine, parent string, n int, clock func() time.Time) grantsOnOnePartner {
	b.Helper()
	ctx := context.Background()
	dir := &orgs.Directory{Store: db.Orgs(), Tx: db, Audit: db.Audit(), Now: clock}
	partner, err := dir.CreateOrg(ctx, "Partner", "partner", parent)
	if err != nil {
		b.Fatal(err)
	}
	conn, _, err := dir.CreateConnection(ctx, "partner", "partner", "entra")
	if err != nil {
		b.Fatal(err)
	}
	access := &orgs.Access{Store: db.Access(), Tx: db, Audit: db.Audit(), Now: clock}
	role, err := access.CreateRole(ctx, orgs.Role{Key: "viewer", Permissions: []string{"reports.read"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Exec(`INSERT INTO grants (id, connection_id, user_id, role_id, org_id, source, source_id, granted_by, reason, valid_from, created_at)
		WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		SELECT 'g' || i, ?, 'u' || i, ?, ?, 'direct', '', 'bench', '', 0, 0 FROM seq`,
		n-1, conn.ID, role.ID, partner.ID); err != nil {
		b.Fatal(err)
	}
	if engine == "postgres" {
		if err := db.Analyze(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return grantsOnOnePartner{partner: partner, access: access}
}
