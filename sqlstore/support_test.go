package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/support"
)

// A new deployment requires support sessions; sessions round-trip and the sweep finds
// exactly those past their expiry, on both engines.
func TestSupportStore(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			db := dbtest.OpenNew(t, engine)
			st := db.Support()
			p, err := st.SupportPolicy(ctx)
			if err != nil || !p.Required || p.MaxDuration != support.DefaultMaxDuration {
				t.Fatalf("new deployment policy %+v, %v", p, err)
			}
			now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			p.Required, p.MaxDuration, p.Updated, p.UpdatedBy = false, time.Hour, now, "operator:cli"
			if err := st.SetSupportPolicy(ctx, p); err != nil {
				t.Fatal(err)
			}
			if got, _ := st.SupportPolicy(ctx); got.Required || got.MaxDuration != time.Hour || got.UpdatedBy != "operator:cli" || !got.Updated.Equal(now) {
				t.Fatalf("policy after set %+v", got)
			}
			dir := &orgs.Directory{Store: db.Orgs(), Now: func() time.Time { return now }}
			if _, err := dir.CreateOrg(ctx, "Vendor", "vendor", ""); err != nil {
				t.Fatal(err)
			}
			acme, err := dir.CreateOrg(ctx, "Acme", "acme", "vendor")
			if err != nil {
				t.Fatal(err)
			}
			exp := now.Add(time.Hour)
			for i, id := range []string{"s1", "s2"} {
				ss := &support.Session{ID: id, OrgID: acme.ID, Staff: "ops", Ticket: "T-1", Reason: "why", State: support.Active,
					Duration: time.Hour, Requested: now, Expires: &exp, BreakGlass: i == 1}
				if err := st.CreateSession(ctx, ss); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.UpdateSession(ctx, "s2", func(ss *support.Session) error {
				ss.State, ss.EndedAt, ss.EndedBy = support.Ended, &now, "user:x"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			got, err := st.Session(ctx, "s2")
			if err != nil || got.State != support.Ended || got.EndedBy != "user:x" || !got.BreakGlass || got.Duration != time.Hour {
				t.Fatalf("s2 %+v %v", got, err)
			}
			if ex, _ := st.ExpiredSessions(ctx, now, 10); len(ex) != 0 {
				t.Fatalf("nothing has expired yet: %d", len(ex))
			}
			if ex, _ := st.ExpiredSessions(ctx, exp, 10); len(ex) != 1 || ex[0].ID != "s1" {
				t.Fatalf("expired at %v: %+v", exp, ex)
			}
			if list, _ := st.SessionsOf(ctx, acme.ID, "", 10); len(list) != 2 {
				t.Fatalf("sessions of acme: %d", len(list))
			}
		})
	}
}
