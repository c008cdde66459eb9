package sqlstore_test

import (
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
)

// An imported user is adoptable only in its own connection, only while alive and
// unclaimed, and is claimed once.
func TestImportLinksAreScopedAndClaimedOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, b := setup(t, db)
		imports := db.Imports()
		imported := func(conn, userName, externalID, email string) *provisioning.User {
			t.Helper()
			now := time.Now().UTC()
			u := &provisioning.User{ID: provisioning.NewID(), Version: 1, Created: now, LastModified: now, Attributes: map[string]any{
				"userName": userName, "externalId": externalID, "emails": []any{map[string]any{"value": email, "primary": true}}}}
			u.Index()
			if err := imports.CreateImportedUser(ctx, conn, u, "batch-1"); err != nil {
				t.Fatal(err)
			}
			return u
		}
		ids := func(us []*provisioning.User) []string {
			var out []string
			for _, u := range us {
				out = append(out, u.ID)
			}
			return out
		}
		ann := imported(a, "ann", "ext-ann", "Ann@Acme.example")
		bob := imported(a, "bob", "ext-bob", "bob@acme.example")
		scimUser := newUser(t, &provisioning.Users{Store: db.Users()}, a, "cy",
			map[string]any{"externalId": "ext-cy", "emails": []any{map[string]any{"value": "cy@acme.example"}}})

		for _, tc := range []struct {
			name, conn, externalID, email string
			want                          []string
		}{
			{"by externalId", a, "ext-ann", "", []string{ann.ID}},
			{"by folded e-mail", a, "", provisioning.FoldKey("ANN@acme.EXAMPLE"), []string{ann.ID}},
			{"both", a, "ext-bob", provisioning.FoldKey("ann@acme.example"), []string{bob.ID, ann.ID}},
			{"another connection", b, "ext-ann", provisioning.FoldKey("ann@acme.example"), nil},
			{"a user the IdP made", a, "ext-cy", provisioning.FoldKey("cy@acme.example"), nil},
			{"nothing", a, "", "", nil},
		} {
			got := ids(linksOrFail(imports.UnlinkedImports(ctx, tc.conn, tc.externalID, tc.email)))
			if len(got) != len(tc.want) || (len(got) > 0 && !sameIDs(got, tc.want)) {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		}
		if ok, err := imports.ClaimImported(ctx, b, ann.ID, time.Now()); ok || err != nil {
			t.Errorf("claimed from another connection: %v %v", ok, err)
		}
		if ok, err := imports.ClaimImported(ctx, a, scimUser.ID, time.Now()); ok || err != nil {
			t.Errorf("claimed a user the IdP made: %v %v", ok, err)
		}
		if ok, err := imports.ClaimImported(ctx, a, ann.ID, time.Now()); !ok || err != nil {
			t.Errorf("first claim: %v %v", ok, err)
		}
		if ok, err := imports.ClaimImported(ctx, a, ann.ID, time.Now()); ok || err != nil {
			t.Errorf("second claim: %v %v", ok, err)
		}
		if got := linksOrFail(imports.UnlinkedImports(ctx, a, "ext-ann", provisioning.FoldKey("ann@acme.example"))); len(got) != 0 {
			t.Errorf("a claimed user is still adoptable: %v", ids(got))
		}
	})
}

func linksOrFail[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func sameIDs(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}
