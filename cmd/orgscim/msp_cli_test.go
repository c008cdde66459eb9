package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// The msp commands: the MSP's administrator proposes and names a technician with their
// own key, the customer's administrator and an operator consent, both sides list it,
// the customer revokes; a bad proposal changes nothing.
func TestMSPCommands(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			url := dbtest.URL(t, engine)
			store, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			svc := newServices(store, nil)
			op := orgs.Principal{Operator: "olga"}
			keys, users := map[string]string{}, map[string]string{}
			if _, err := svc.dir.CreateOrg(ctx, "Vendor", "vendor", ""); err != nil {
				t.Fatal(err)
			}
			for _, o := range [][2]string{{"msp", "ann"}, {"cust", "cara"}} {
				org, err := svc.dir.CreateOrg(ctx, o[0], o[0], "vendor")
				if err != nil {
					t.Fatal(err)
				}
				conn, _, err := svc.dir.CreateConnection(ctx, o[0], o[0], "okta")
				if err != nil {
					t.Fatal(err)
				}
				for _, name := range []string{o[1], "tim"} {
					u, err := svc.users.Create(ctx, conn.ID, map[string]any{"userName": name + "@" + o[0] + ".example", "active": true}, "")
					if err != nil {
						t.Fatal(err)
					}
					users[o[0]+"/"+name] = u.ID
				}
				d, err := svc.delegations.Delegate(ctx, op, orgs.DelegationRequest{OrgID: org.ID, HolderConnectionID: conn.ID,
					HolderUserID: users[o[0]+"/"+o[1]], Capabilities: []orgs.Capability{orgs.CapManageMembers, orgs.CapDelegate}, Depth: 1})
				if err != nil {
					t.Fatal(err)
				}
				if _, keys[o[1]], err = svc.keys.IssueDelegateKey(ctx, op, d.ID, nil); err != nil {
					t.Fatal(err)
				}
			}
			store.Close()
			jsonOf := func(args ...string) map[string]any {
				t.Helper()
				var out map[string]any
				if err := json.Unmarshal([]byte(mustCLI(t, append(args, "--json", "--database", url)...)), &out); err != nil {
					t.Fatal(err)
				}
				return out
			}
			list := func(args ...string) []any {
				t.Helper()
				var out []any
				if err := json.Unmarshal([]byte(mustCLI(t, append(args, "--json", "--database", url)...)), &out); err != nil {
					t.Fatal(err)
				}
				return out
			}

			if out, err := cli(t, "msp", "propose", "--key", keys["ann"], "--msp", "msp", "--customer", "cust", "--capabilities", "delegate",
				"--database", url); err == nil || !strings.Contains(err.Error(), "cannot confer delegate") {
				t.Errorf("a proposal conferring delegate: %v %s", err, out)
			}
			if got := list("msp", "list", "--org", "cust"); len(got) != 0 {
				t.Fatalf("a refused proposal was stored: %v", got)
			}
			e := jsonOf("msp", "propose", "--key", keys["ann"], "--msp", "msp", "--customer", "cust", "--capabilities", "manage_members",
				"--reason", "managed IT")
			id := field(e, "id")
			if field(e, "state") != "proposed" || e["in_force"] != false || field(e, "msp") != "msp" || field(e, "customer") != "cust" {
				t.Fatalf("proposed %v", e)
			}
			d := jsonOf("msp", "technician", "add", "--key", keys["ann"], id, "--connection", "msp", "--user-id", users["msp/tim"],
				"--capabilities", "manage_members")
			if field(d, "engagement") != id {
				t.Fatalf("technician %v", d)
			}
			if out, err := cli(t, "msp", "consent-customer", "--as", "olga", id, "--database", url); err == nil {
				t.Errorf("an operator consented for the customer: %s", out)
			}
			jsonOf("msp", "consent-customer", "--key", keys["cara"], id)
			if v := jsonOf("msp", "consent-vendor", "--as", "olga", id); v["in_force"] != true || field(v, "vendor_consent_by") != "operator:olga" {
				t.Fatalf("after both consents %v", v)
			}
			for _, org := range []string{"msp", "cust"} {
				if got := list("msp", "list", "--org", org); len(got) != 1 || field(got[0], "id") != id {
					t.Errorf("list --org %s: %v", org, got)
				}
			}
			if got := list("msp", "technician", "list", id); len(got) != 1 || field(got[0], "user_id") != users["msp/tim"] {
				t.Errorf("technicians %v", got)
			}
			rv := jsonOf("msp", "revoke", "--key", keys["cara"], id, "--reason", "contract over")
			if got := strSlice(rv["technicians_revoked"]); len(got) != 1 || got[0] != field(d, "id") {
				t.Fatalf("revoked %v", rv)
			}
			if s := jsonOf("msp", "show", id); field(s, "state") != "revoked" || s["in_force"] != false {
				t.Fatalf("after the revocation %v", s)
			}
			if out := mustCLI(t, "msp", "list", "--org", "cust", "--database", url); !strings.Contains(out, "revoked") || !strings.Contains(out, "customer cust") {
				t.Errorf("list printed %q", out)
			}
		})
	}
}
