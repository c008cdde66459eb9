package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestPlacementFollowsTheIdP: a connection's rules place its users into sub-orgs by
// attribute or by group, and the placement follows every change the IdP pushes.
func TestPlacementFollowsTheIdP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env := newE2E(t, db)
		c := env.connect("acme", "okta")
		for _, o := range [][2]string{{"acme-sales", "acme"}, {"acme-paris", "acme"}, {"other", ""}} {
			if _, err := env.dir.CreateOrg(ctx, o[0], o[0], o[1]); err != nil {
				t.Fatal(err)
			}
		}
		orgID := func(slug string) string {
			o, err := db.Orgs().OrgBySlug(ctx, slug)
			if err != nil {
				t.Fatal(err)
			}
			return o.ID
		}
		paris := c.createGroup("Paris office")["id"].(string)
		err := env.dir.SetPlacement(ctx, "acme", []orgs.PlacementRule{
			{GroupID: paris, OrgID: orgID("acme-paris")},
			{Attribute: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", Value: "sales", OrgID: orgID("acme-sales")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := env.dir.SetPlacement(ctx, "acme", []orgs.PlacementRule{{Attribute: "title", Value: "x", OrgID: orgID("other")}}); orgscim.ErrorCode(err) != orgscim.Forbidden {
			t.Fatalf("placement outside the subtree: %v", err)
		}
		placed := func(id string) string {
			t.Helper()
			u, err := db.Users().User(ctx, c.conn.ID, id)
			if err != nil {
				t.Fatal(err)
			}
			return u.OrgID
		}
		ann := c.create(map[string]any{"userName": "ann", enterpriseURN: map[string]any{"department": "Sales"}})["id"].(string)
		if got := placed(ann); got != orgID("acme-sales") {
			t.Fatalf("placed in %q, want acme-sales", got)
		}
		c.do("PATCH", "/Users/"+ann, patchBody(op("replace", "", map[string]any{enterpriseURN + ":department": "Ops"}))).must(t, http.StatusOK)
		if got := placed(ann); got != orgID("acme") {
			t.Fatalf("after the department changed: %q, want the connection's org", got)
		}
		c.do("PATCH", "/Groups/"+paris, patchBody(op("add", "members", []any{map[string]any{"value": ann}}))).must(t, http.StatusOK)
		if got := placed(ann); got != orgID("acme-paris") {
			t.Fatalf("after joining Paris office: %q, want acme-paris", got)
		}
		c.do("PATCH", "/Groups/"+paris, patchBody(op("remove", `members[value eq "`+ann+`"]`, nil))).must(t, http.StatusOK)
		if got := placed(ann); got != orgID("acme") {
			t.Fatalf("after leaving Paris office: %q, want acme", got)
		}
	})
}
