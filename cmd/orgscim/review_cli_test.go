package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reviews"
	"github.com/orgscim/orgscim/sqlstore"
)

// The CLI starts, lists and shows reviews, and close-due revokes what nobody confirmed
// by the deadline, once.
func TestReviewCommands(t *testing.T) {
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
			// Two hours ago: a grant, and a review due an hour ago.
			past := func() time.Time { return time.Now().Add(-2 * time.Hour) }
			svc := newServices(db, past)
			conn, _, err := svc.dir.CreateConnection(ctx, "acme", "acme", "")
			if err != nil {
				t.Fatal(err)
			}
			u, err := svc.users.Create(ctx, conn.ID, map[string]any{"userName": "ann", "active": true}, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.access.CreateRole(ctx, orgs.Role{Key: "viewer", Permissions: []string{"reports.read"}}); err != nil {
				t.Fatal(err)
			}
			op := orgs.Principal{Operator: "ops"}
			g, err := svc.access.AssignRole(ctx, op, conn, u.ID, "viewer", conn.OrgID, "reports", nil)
			if err != nil {
				t.Fatal(err)
			}
			due, err := svc.reviews.StartReview(ctx, op, conn.OrgID, "last quarter", "", past().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}

			var created struct {
				ID     string
				State  string
				Counts struct{ Items int }
			}
			out := mustCLI(t, "review", "create", "--org", "acme", "--name", "this quarter", "--deadline", "336h", "--json", "--database", url)
			if err := json.Unmarshal([]byte(out), &created); err != nil || created.State != "open" || created.Counts.Items != 1 {
				t.Fatalf("review create: %v\n%s", err, out)
			}
			if out, err := cli(t, "review", "create", "--org", "acme", "--name", "x", "--deadline", "yesterday", "--database", url); err == nil {
				t.Errorf("a bad deadline was accepted: %s", out)
			}
			if out := mustCLI(t, "review", "list", "--state", "open", "--database", url); !strings.Contains(out, created.ID) || !strings.Contains(out, due.ID) {
				t.Errorf("review list printed %q", out)
			}
			if out := mustCLI(t, "review", "show", due.ID, "--database", url); !strings.Contains(out, "open") || !strings.Contains(out, "1 pending") {
				t.Errorf("review show printed %q", out)
			}
			if out := mustCLI(t, "review", "close-due", "--dry-run", "--database", url); !strings.Contains(out, "would close") ||
				!strings.Contains(out, "1 unconfirmed") {
				t.Errorf("close-due --dry-run printed %q", out)
			}
			var closed struct {
				Closed  []string
				Revoked int
			}
			out = mustCLI(t, "review", "close-due", "--json", "--database", url)
			if err := json.Unmarshal([]byte(out), &closed); err != nil || closed.Revoked != 1 || len(closed.Closed) != 1 || closed.Closed[0] != due.ID {
				t.Fatalf("close-due: %v\n%s", err, out)
			}
			got, err := db.Access().(orgs.GrantStore).Grant(ctx, g.ID)
			if err != nil || got.Revoked == nil || got.RevokeReason != reviews.UnconfirmedReason(due.ID) {
				t.Errorf("grant after close-due: %+v %v", got, err)
			}
			if out := mustCLI(t, "review", "close-due", "--json", "--database", url); !strings.Contains(out, `"revoked": 0`) {
				t.Errorf("second close-due printed %q", out)
			}
			if out := mustCLI(t, "review", "show", created.ID, "--database", url); !strings.Contains(out, "open") {
				t.Errorf("the review due later: %q", out)
			}
		})
	}
}
