package sqlstore_test

import (
	"testing"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

func TestOrgTree(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		dir := &orgs.Directory{Store: db.Orgs(), Now: func() time.Time { return now }}
		mk := func(name, parent string) *orgs.Org {
			o, err := dir.CreateOrg(ctx, name, "", parent)
			if err != nil {
				t.Fatalf("create %s: %v", name, err)
			}
			return o
		}
		vendor := mk("Vendor", "")
		acme := mk("Acme", "vendor")
		emea := mk("Acme EMEA", "acme")
		paris := mk("Acme Paris", "acme-emea")
		globex := mk("Globex", "vendor")
		if vendor.Kind != orgs.KindVendor || acme.Kind != orgs.KindPartner || emea.Kind != orgs.KindSubsidiary {
			t.Fatalf("kinds %s %s %s", vendor.Kind, acme.Kind, emea.Kind)
		}
		if want := vendor.Path + acme.ID + "/" + emea.ID + "/" + paris.ID + "/"; paris.Path != want {
			t.Fatalf("path %q, want %q", paris.Path, want)
		}
		if !acme.Contains(paris) || globex.Contains(paris) || paris.Contains(acme) {
			t.Fatal("Contains is wrong")
		}

		// Cycles are refused; a move carries the subtree.
		if err := dir.MoveOrg(ctx, "acme", "acme-paris"); orgscim.ErrorCode(err) != orgscim.Invalid {
			t.Fatalf("move into own subtree: %v", err)
		}
		if err := dir.MoveOrg(ctx, "acme", "acme"); orgscim.ErrorCode(err) != orgscim.Invalid {
			t.Fatalf("move under itself: %v", err)
		}
		if err := dir.MoveOrg(ctx, "acme-emea", "globex"); err != nil {
			t.Fatal(err)
		}
		moved, err := db.Orgs().OrgBySlug(ctx, "acme-paris")
		if err != nil {
			t.Fatal(err)
		}
		if want := vendor.Path + globex.ID + "/" + emea.ID + "/" + paris.ID + "/"; moved.Path != want {
			t.Fatalf("path after move %q, want %q", moved.Path, want)
		}

		// Relationship and contract decide access at query time.
		end := now.Add(24 * time.Hour)
		grace := 48 * time.Hour
		suspended := orgs.StatusSuspended
		o, err := dir.UpdateOrg(ctx, "globex", orgs.OrgUpdate{ContractEnd: &[]*time.Time{&end}[0], Grace: &grace,
			Owner: &[]string{"owner@globex.example"}[0], Brand: &orgs.Brand{DisplayName: "GLOBEX", PrimaryColor: "#003366"}})
		if err != nil {
			t.Fatal(err)
		}
		if !o.GrantsAccessAt(now) || !o.GrantsAccessAt(end.Add(grace-time.Second)) || o.GrantsAccessAt(end.Add(grace)) {
			t.Fatal("contract end plus grace not honoured")
		}
		if o.Version != 2 || o.Brand.DisplayName != "GLOBEX" || o.Owner != "owner@globex.example" {
			t.Fatalf("update not stored: %+v", o)
		}
		o, err = dir.UpdateOrg(ctx, "globex", orgs.OrgUpdate{Status: &suspended})
		if err != nil || o.GrantsAccessAt(now) {
			t.Fatalf("suspended org grants access: %v", err)
		}
		bad := orgs.Status("paused")
		if _, err := dir.UpdateOrg(ctx, "globex", orgs.OrgUpdate{Status: &bad}); orgscim.ErrorCode(err) != orgscim.Invalid {
			t.Fatalf("unknown status: %v", err)
		}
	})
}
