package orgs

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/orgscim/orgscim/audit"
)

type recordedEvents []audit.Event

func (r *recordedEvents) Record(_ context.Context, e audit.Event) error {
	*r = append(*r, e)
	return nil
}

// A bulk change of grants names every grant it revoked, at most maxListedIDs ids an
// event, each grant on its own tenant's chain (the change's connection for a grant of
// none), the grants it added in the first event on the change's connection; an event's
// "revoked" counts the grants it names.
func TestRecordGrantsNamesEveryRevokedGrant(t *testing.T) {
	grants := func(conn string, n int) []*Grant {
		out := make([]*Grant, n)
		for i := range out {
			out[i] = &Grant{ID: fmt.Sprintf("%s-g%05d", conn, i), ConnectionID: conn, UserID: fmt.Sprintf("u%d", i)}
		}
		return out
	}
	ids := func(n int, prefix string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%05d", prefix, i)
		}
		return out
	}
	// Each event as "connection added/ids revoked/ids".
	type ev struct {
		conn                string
		added, addedIDs     int
		revoked, revokedIDs int
		truncated           bool
	}
	for _, c := range []struct {
		name     string
		conn     string
		added    int
		addedIDs []string
		revoked  []*Grant
		want     []ev
	}{
		{"a few revoked", "c1", 0, nil, grants("c1", 3), []ev{{"c1", 0, 0, 3, 3, false}}},
		{"exactly a thousand", "c1", 0, nil, grants("c1", 1000), []ev{{"c1", 0, 0, 1000, 1000, false}}},
		{"a thousand and one", "c1", 0, nil, grants("c1", 1001), []ev{{"c1", 0, 0, 1000, 1000, false}, {"c1", 0, 0, 1, 1, false}}},
		{"added and revoked share the first event", "c1", 400, ids(400, "a"), grants("c1", 700),
			[]ev{{"c1", 400, 400, 600, 600, false}, {"c1", 0, 0, 100, 100, false}}},
		{"more added than listed", "c1", 5000, ids(1000, "a"), grants("c1", 2),
			[]ev{{"c1", 5000, 1000, 0, 0, true}, {"c1", 0, 0, 2, 2, false}}},
		{"only added", "c1", 2, ids(2, "a"), nil, []ev{{"c1", 2, 2, 0, 0, false}}},
		{"a delegation's grants in several tenants", "", 0, nil, append(append(grants("c2", 2), grants("c1", 1001)...), grants("", 1)...),
			[]ev{{"", 0, 0, 1, 1, false}, {"c1", 0, 0, 1000, 1000, false}, {"c1", 0, 0, 1, 1, false}, {"c2", 0, 0, 2, 2, false}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var log recordedEvents
			a := &Access{Audit: &log}
			if err := a.recordGrants(context.Background(), time.Unix(0, 0), "mapping", "m1", c.conn, "o1", "why", c.added, c.addedIDs, c.revoked); err != nil {
				t.Fatal(err)
			}
			var got []ev
			named := map[string]int{}
			for _, e := range log {
				var d grantChanges
				if err := json.Unmarshal(e.Diff, &d); err != nil || e.Action != ActGrantsSync || e.OrgID != "o1" || d.Reason != "why" {
					t.Fatalf("event %+v: %v", e, err)
				}
				got = append(got, ev{e.ConnectionID, d.Added, len(d.AddedIDs), d.Revoked, len(d.RevokedIDs), d.IDsTruncated})
				if len(d.AddedIDs)+len(d.RevokedIDs) > maxListedIDs {
					t.Errorf("an event lists %d ids", len(d.AddedIDs)+len(d.RevokedIDs))
				}
				for _, id := range d.RevokedIDs {
					named[id]++
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("events %+v, want %+v", got, c.want)
			}
			var want []string
			for _, g := range c.revoked {
				want = append(want, g.ID)
			}
			var gotIDs []string
			for id, n := range named {
				if n != 1 {
					t.Errorf("grant %s named %d times", id, n)
				}
				gotIDs = append(gotIDs, id)
			}
			sort.Strings(want)
			sort.Strings(gotIDs)
			if !reflect.DeepEqual(gotIDs, want) {
				t.Errorf("named %d grants, want %d", len(gotIDs), len(want))
			}
		})
	}
}
