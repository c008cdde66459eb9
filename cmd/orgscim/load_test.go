package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/scim"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestLoadTool runs every phase of `orgscim load` against the real server and checks
// that each phase did what it says, without errors.
func TestLoadTool(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env := newE2E(t, db)
		c := env.connect("acme", "entra")
		srv := httptest.NewServer(newHandler(db, slog.New(slog.NewTextHandler(io.Discard, nil)), httpConfig{Limits: scim.Limits{RateLimit: -1}}))
		defer srv.Close()
		const users = 250
		res, err := runLoad(ctx, srv.URL+"/scim/v2/acme", c.token, loadOptions{Users: users, Concurrency: 8, Lookups: 100, Batch: 100, Phases: allPhases})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"create": users, "get": 100, "filter": 100, "page": 3, "groupadd": 3, "deactivate": users, "delete": users}
		for phase, n := range want {
			r, ok := res[phase]
			if !ok || r.Requests != n || r.Errors != 0 || r.PerSecond <= 0 || r.P99ms < r.P50ms {
				t.Errorf("%s: %+v, want %d requests without errors", phase, r, n)
			}
		}
		// Everything the run created is gone again.
		if left := c.list("count", "0").JSON["totalResults"]; num(t, left) != 0 {
			t.Errorf("%v users left after the delete phase", left)
		}
	})
}
