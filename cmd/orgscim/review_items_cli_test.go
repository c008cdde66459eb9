package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// review show --items lists a review's lines, a service account's naming the account
// and its owner, in text and with the admin API's names in JSON.
func TestReviewShowItems(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			url := dbtest.URL(t, engine)
			mustCLI(t, "org", "create", "--name", "Acme", "--slug", "acme", "--database", url)
			db, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			svc := newServices(db, nil)
			conn, _, err := svc.dir.CreateConnection(ctx, "acme", "acme", "")
			if err != nil {
				t.Fatal(err)
			}
			ann, err := svc.users.Create(ctx, conn.ID, map[string]any{"userName": "ann", "active": true}, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.access.CreateRole(ctx, orgs.Role{Key: "viewer", Permissions: []string{"reports.read"}}); err != nil {
				t.Fatal(err)
			}
			op := orgs.Principal{Operator: "ops"}
			if _, err := svc.access.AssignRole(ctx, op, conn, ann.ID, "viewer", conn.OrgID, "reports", nil); err != nil {
				t.Fatal(err)
			}
			sa, err := svc.serviceAccounts.Create(ctx, op, orgs.ServiceAccountRequest{OrgID: conn.OrgID, Name: "billing-sync",
				OwnerConnectionID: conn.ID, OwnerUserID: ann.ID})
			if err != nil {
				t.Fatal(err)
			}
			sg, err := svc.serviceAccounts.Grant(ctx, op, sa.ID, "viewer", conn.OrgID, "exports", nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := svc.reviews.StartReview(ctx, op, conn.OrgID, "Q4", "", time.Now().Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}

			var shown struct {
				ID     string
				Counts struct{ Items int }
				Items  []struct {
					GrantID        string `json:"grant_id"`
					Holder         string
					Connection     string
					UserID         string `json:"user_id"`
					Role, Org      string
					Decision       string
					ServiceAccount *struct {
						ID, Name, State string
						Owner           struct {
							Connection string
							UserID     string `json:"user_id"`
						}
					} `json:"service_account"`
				}
			}
			out := mustCLI(t, "review", "show", r.ID, "--items", "--json", "--database", url)
			if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.ID != r.ID || shown.Counts.Items != 2 || len(shown.Items) != 2 {
				t.Fatalf("review show --items --json: %v\n%s", err, out)
			}
			for _, it := range shown.Items {
				switch it.GrantID {
				case sg.ID:
					if a := it.ServiceAccount; it.Holder != "service_account" || a == nil || a.ID != sa.ID || a.Name != "billing-sync" ||
						a.State != "active" || a.Owner.Connection != "acme" || a.Owner.UserID != ann.ID || it.Connection != "" ||
						it.Role != "viewer" || it.Org != "acme" || it.Decision != "pending" {
						t.Errorf("the account's line: %+v (%+v)", it, a)
					}
				default:
					if it.Holder != "user" || it.ServiceAccount != nil || it.Connection != "acme" || it.UserID != ann.ID {
						t.Errorf("ann's line: %+v", it)
					}
				}
			}
			// The API's decision filter: ann's line confirmed, the account's left pending.
			// (Lines come in grant id order, which is random: pick ann's by its holder.)
			confirmed, pending := shown.Items[0].GrantID, shown.Items[1].GrantID
			if confirmed == sg.ID {
				confirmed, pending = pending, confirmed
			}
			if _, err := svc.reviews.Confirm(ctx, op, r.ID, confirmed, "still needed"); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				decision string
				want     []string
			}{{"confirmed", []string{confirmed}}, {"pending", []string{pending}}, {"revoked", nil}, {"lapsed", nil}} {
				var got struct {
					Total int
					Items []struct {
						GrantID  string `json:"grant_id"`
						Decision string
					}
				}
				out := mustCLI(t, "review", "show", r.ID, "--items", "--decision", c.decision, "--json", "--database", url)
				if err := json.Unmarshal([]byte(out), &got); err != nil || got.Total != len(c.want) || len(got.Items) != len(c.want) {
					t.Fatalf("--decision %s: %v\n%s", c.decision, err, out)
				}
				for i, it := range got.Items {
					if it.GrantID != c.want[i] || it.Decision != c.decision {
						t.Errorf("--decision %s: line %+v, want grant %s", c.decision, it, c.want[i])
					}
				}
			}
			if text := mustCLI(t, "review", "show", r.ID, "--items", "--decision", "pending", "--database", url); !strings.Contains(text, "  pending lines: 1\n  "+pending+"  pending") ||
				strings.Contains(text, confirmed) {
				t.Errorf("review show --items --decision pending:\n%s", text)
			}
			text := mustCLI(t, "review", "show", r.ID, "--items", "--database", url)
			if !strings.Contains(text, sg.ID+"  pending   service account billing-sync (active, owner acme/"+ann.ID+"): viewer on acme") ||
				!strings.Contains(text, "acme/"+ann.ID+": viewer on acme") {
				t.Errorf("review show --items:\n%s", text)
			}
		})
	}
}
