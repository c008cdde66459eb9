package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/scim"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestGroupConcurrentPatchesLoseNoMember sends 50 PATCHes at once to one group, as Entra
// does, each adding its own members, and removes some in parallel; after every round the
// group holds exactly the members that should be there. Repeated for several rounds.
func TestGroupConcurrentPatchesLoseNoMember(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		const (
			writers   = 50
			perWriter = 4
			rounds    = 10
		)
		ctx := context.Background()
		dir := &orgs.Directory{Store: db.Orgs()}
		if _, err := dir.CreateOrg(ctx, "Acme", "acme", ""); err != nil {
			t.Fatal(err)
		}
		conn, token, err := dir.CreateConnection(ctx, "acme", "acme", "entra")
		if err != nil {
			t.Fatal(err)
		}
		// No rate limit: the subject is concurrent writers, and a fast machine sends more
		// than a connection's default 200 requests/s.
		srv := httptest.NewServer(newHandler(db, slog.New(slog.NewTextHandler(io.Discard, nil)), httpConfig{Limits: scim.Limits{RateLimit: -1}}))
		defer srv.Close()
		base := srv.URL + "/scim/v2/" + conn.Slug

		// Users are made through the service: the subject here is the group endpoint.
		users := &provisioning.Users{Store: db.Users()}
		ids := make([]string, rounds*writers*perWriter)
		for i := range ids {
			u, err := users.Create(ctx, conn.ID, map[string]any{"userName": fmt.Sprintf("u%05d", i)}, "")
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = u.ID
		}

		do := func(method, url string, body any) (int, []byte) {
			var r io.Reader
			if body != nil {
				b, _ := json.Marshal(body)
				r = bytes.NewReader(b)
			}
			req, _ := http.NewRequest(method, url, r)
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/scim+json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return 0, nil
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, b
		}
		status, body := do("POST", base+"/Groups", map[string]any{"displayName": "Engineering"})
		if status != http.StatusCreated {
			t.Fatalf("create group: %d %s", status, body)
		}
		var g struct{ ID string }
		_ = json.Unmarshal(body, &g)

		want := map[string]bool{}
		next := 0
		for round := 0; round < rounds; round++ {
			// Half of the members added in the previous round are removed by value,
			// concurrently with the adds.
			var removals []string
			for id := range want {
				if len(removals) < writers/2 {
					removals = append(removals, id)
				}
			}
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				batch := ids[next : next+perWriter]
				next += perWriter
				for _, id := range batch {
					want[id] = true
				}
				var remove string
				if w < len(removals) {
					remove = removals[w]
					delete(want, remove)
				}
				wg.Add(1)
				go func(batch []string, remove string) {
					defer wg.Done()
					var value []any
					for _, id := range batch {
						value = append(value, map[string]any{"value": id})
					}
					ops := []any{map[string]any{"op": "Add", "path": "members", "value": value}}
					if remove != "" {
						ops = append(ops, map[string]any{"op": "Remove", "path": "members", "value": []any{map[string]any{"value": remove}}})
					}
					status, body := do("PATCH", base+"/Groups/"+g.ID, map[string]any{
						"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
						"Operations": ops,
					})
					if status != http.StatusNoContent {
						t.Errorf("patch: %d %s", status, body)
					}
				}(batch, remove)
			}
			wg.Wait()

			status, body := do("GET", base+"/Groups/"+g.ID, nil)
			if status != http.StatusOK {
				t.Fatalf("get group: %d %s", status, body)
			}
			var got struct{ Members []struct{ Value string } }
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, m := range got.Members {
				have[m.Value] = true
			}
			lost, extra := 0, 0
			for id := range want {
				if !have[id] {
					lost++
				}
			}
			for id := range have {
				if !want[id] {
					extra++
				}
			}
			if lost > 0 || extra > 0 || len(got.Members) != len(want) {
				t.Fatalf("round %d: %d members, want %d: %d lost, %d that should have gone", round, len(got.Members), len(want), lost, extra)
			}
		}
	})
}
