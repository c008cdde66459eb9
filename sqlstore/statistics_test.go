package sqlstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
)

func TestRefreshStatisticsAnalyzesWhatChanged(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := setup(t, db)
		svc := &provisioning.Users{Store: db.Users()}
		for i := range 120 {
			newUser(t, svc, a, fmt.Sprintf("user%03d@example.com", i), nil)
		}
		if db.Engine() != "postgres" {
			if _, err := db.RefreshStatistics(ctx); err != nil {
				t.Fatal(err)
			}
			return
		}
		// PostgreSQL publishes a backend's row counts within about a second of its
		// commit, so the first refresh may come too early to see them.
		var analyzed []string
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			got, err := db.RefreshStatistics(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if analyzed = append(analyzed, got...); slices.Contains(analyzed, "scim_users") {
				break
			}
		}
		if !slices.Contains(analyzed, "scim_users") {
			t.Fatalf("120 new users, analyzed %v; want scim_users among them", analyzed)
		}
		got, err := db.RefreshStatistics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(got, "scim_users") {
			t.Errorf("nothing changed since the last refresh, yet scim_users analyzed again")
		}
	})
}

// A table's first ANALYZE does not wait for the statistics collector or the refresh's
// threshold: once the never-analyzed table holds a few hundred rows it is analyzed, and
// only once.
func TestAnalyzeFirstAnalyzesANewTableOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := setup(t, db)
		got, err := db.AnalyzeFirst(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(got, "scim_users") {
			t.Fatalf("empty scim_users analyzed: %v", got)
		}
		svc := &provisioning.Users{Store: db.Users()}
		for i := range 400 {
			newUser(t, svc, a, fmt.Sprintf("user%03d@example.com", i), map[string]any{"displayName": "A user with a name"})
		}
		got, err = db.AnalyzeFirst(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if db.Engine() != "postgres" {
			if len(got) != 0 {
				t.Errorf("SQLite analyzed %v", got)
			}
			return
		}
		if !slices.Contains(got, "scim_users") {
			t.Fatalf("400 users in a never-analyzed table, analyzed %v; want scim_users among them", got)
		}
		if again, err := db.AnalyzeFirst(ctx); err != nil || slices.Contains(again, "scim_users") {
			t.Errorf("scim_users analyzed a second time (%v, %v)", again, err)
		}
	})
}
