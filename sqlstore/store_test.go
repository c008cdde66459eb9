package sqlstore_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/domains"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
)

// The storage contract, run on every engine.

var ctx = context.Background()

// setup creates an org with two connections and returns their ids.
func setup(t *testing.T, db *sqlstore.DB) (string, string) {
	t.Helper()
	dir := &orgs.Directory{Store: db.Orgs()}
	if _, err := dir.CreateOrg(ctx, "Acme", "acme", ""); err != nil {
		t.Fatal(err)
	}
	a, _, err := dir.CreateConnection(ctx, "acme", "acme-a", "entra")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := dir.CreateConnection(ctx, "acme", "acme-b", "okta")
	if err != nil {
		t.Fatal(err)
	}
	return a.ID, b.ID
}

func newUser(t *testing.T, svc *provisioning.Users, conn, userName string, extra map[string]any) *provisioning.User {
	t.Helper()
	attrs := map[string]any{"userName": userName}
	for k, v := range extra {
		attrs[k] = v
	}
	u, err := svc.Create(ctx, conn, attrs, "")
	if err != nil {
		t.Fatalf("create %s: %v", userName, err)
	}
	return u
}

func TestMigrationsConcurrent(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			url := dbtest.URL(t, engine)
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					db, err := sqlstore.Open(ctx, url)
					if err == nil {
						err = db.Ready(ctx)
						db.Close()
					}
					errs[i] = err
				}(i)
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
			}
		})
	}
}

func TestUserUniquenessIsPerConnectionAndCaseInsensitive(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, b := setup(t, db)
		svc := &provisioning.Users{Store: db.Users()}
		newUser(t, svc, a, "Åsa.Berg@example.com", nil)
		for _, dup := range []string{"åsa.berg@example.com", "ÅSA.BERG@EXAMPLE.COM", "A\u030asa.berg@example.com", " åsa.berg@example.com "} {
			_, err := svc.Create(ctx, a, map[string]any{"userName": dup}, "")
			if orgscim.ErrorCode(err) != orgscim.Conflict {
				t.Errorf("userName %q: got %v, want a conflict", dup, err)
			}
		}
		// Another connection has its own namespace.
		newUser(t, svc, b, "åsa.berg@example.com", nil)
	})
}

func TestUserTenantIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, b := setup(t, db)
		svc := &provisioning.Users{Store: db.Users()}
		u := newUser(t, svc, a, "alice", nil)
		if _, err := svc.Get(ctx, b, u.ID); orgscim.ErrorCode(err) != orgscim.NotFound {
			t.Fatalf("get from other connection: %v", err)
		}
		if _, err := svc.Update(ctx, b, u.ID, func(*provisioning.User) error { return nil }); orgscim.ErrorCode(err) != orgscim.NotFound {
			t.Fatalf("update from other connection: %v", err)
		}
		if err := svc.Delete(ctx, b, u.ID, nil); orgscim.ErrorCode(err) != orgscim.NotFound {
			t.Fatalf("delete from other connection: %v", err)
		}
		page, err := svc.List(ctx, b, provisioning.Query{StartIndex: 1, Count: 10})
		if err != nil || page.Total != 0 {
			t.Fatalf("list other connection: %+v %v", page, err)
		}
	})
}

func TestUserTombstoneRestoreByExternalID(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := setup(t, db)
		svc := &provisioning.Users{Store: db.Users()}
		u := newUser(t, svc, a, "bob", map[string]any{"externalId": "okta-00u1"})
		if err := svc.Delete(ctx, a, u.ID, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Get(ctx, a, u.ID); orgscim.ErrorCode(err) != orgscim.NotFound {
			t.Fatalf("deleted user still readable: %v", err)
		}
		// The userName is free again while the user is deleted.
		again, err := svc.Create(ctx, a, map[string]any{"userName": "bob2", "externalId": "okta-00u1"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != u.ID {
			t.Fatalf("restored id %s, want %s", again.ID, u.ID)
		}
		if again.UserName != "bob2" || again.Version <= u.Version {
			t.Fatalf("restored user not updated: %+v", again)
		}
		got, err := svc.Get(ctx, a, u.ID)
		if err != nil || got.UserName != "bob2" {
			t.Fatalf("get restored: %+v %v", got, err)
		}
	})
}

func TestUserConcurrentUpdatesLoseNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := setup(t, db)
		svc := &provisioning.Users{Store: db.Users()}
		u := newUser(t, svc, a, "carol", map[string]any{"emails": []any{}})
		const n = 20
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, err := svc.Update(ctx, a, u.ID, func(u *provisioning.User) error {
					emails, _ := u.Attributes["emails"].([]any)
					u.Attributes["emails"] = append(emails, map[string]any{"value": fmt.Sprintf("c%d@example.com", i)})
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		got, err := svc.Get(ctx, a, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if emails := got.Attributes["emails"].([]any); len(emails) != n {
			t.Fatalf("%d e-mails after %d concurrent appends", len(emails), n)
		}
		if got.Version != 1+n {
			t.Fatalf("version %d, want %d", got.Version, 1+n)
		}
	})
}

func TestUserUpdateErrorChangesNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := setup(t, db)
		svc := &provisioning.Users{Store: db.Users()}
		u := newUser(t, svc, a, "dave", map[string]any{"displayName": "Dave"})
		_, err := svc.Update(ctx, a, u.ID, func(u *provisioning.User) error {
			u.Attributes["displayName"] = "Changed"
			return orgscim.Errorf(orgscim.InvalidValue, "no")
		})
		if orgscim.ErrorCode(err) != orgscim.InvalidValue {
			t.Fatal(err)
		}
		got, _ := svc.Get(ctx, a, u.ID)
		if got.DisplayName != "Dave" || got.Version != 1 {
			t.Fatalf("failed update leaked: %+v", got)
		}
	})
}

func ids(page provisioning.UserPage) []string {
	var out []string
	for _, u := range page.Users {
		out = append(out, u.UserName)
	}
	return out
}

func TestUserQueries(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, b := setup(t, db)
		clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		svc := &provisioning.Users{Store: db.Users(), Now: func() time.Time { clock = clock.Add(time.Second); return clock }}
		newUser(t, svc, a, "anna", map[string]any{"displayName": "Anna Z", "active": true, "name": map[string]any{"familyName": "Çelik"},
			"emails":                   []any{map[string]any{"value": "anna@work.example", "type": "work", "primary": true}},
			provisioning.EnterpriseURN: map[string]any{"department": "Sales"}})
		newUser(t, svc, a, "Bert", map[string]any{"displayName": "bert y", "active": false,
			"emails": []any{map[string]any{"value": "bert@home.example", "type": "home"}}})
		newUser(t, svc, a, "carl", map[string]any{"active": true,
			provisioning.EnterpriseURN: map[string]any{"department": "sales"}})
		newUser(t, svc, b, "anna-other", map[string]any{"displayName": "Anna Z"})

		str := func(path ...string) provisioning.Attr {
			return provisioning.Attr{Path: path, Type: provisioning.TypeString}
		}
		cases := []struct {
			name string
			f    provisioning.Filter
			want []string
		}{
			{"eq case-insensitive", provisioning.Compare{Attr: str("userName"), Op: provisioning.OpEq, Value: "BERT"}, []string{"Bert"}},
			{"sw", provisioning.Compare{Attr: str("userName"), Op: provisioning.OpSw, Value: "a"}, []string{"anna"}},
			{"co wildcard is literal", provisioning.Compare{Attr: str("userName"), Op: provisioning.OpCo, Value: "%"}, nil},
			{"unicode case-insensitive", provisioning.Compare{Attr: str("name", "familyName"), Op: provisioning.OpEq, Value: "ÇELIK"}, []string{"anna"}},
			{"ew", provisioning.Compare{Attr: str("displayName"), Op: provisioning.OpEw, Value: " Y"}, []string{"Bert"}},
			{"ne includes absent", provisioning.Compare{Attr: str("displayName"), Op: provisioning.OpNe, Value: "anna z"}, []string{"Bert", "carl"}},
			{"pr", provisioning.Compare{Attr: str("displayName"), Op: provisioning.OpPresent}, []string{"anna", "Bert"}},
			{"gt", provisioning.Compare{Attr: str("userName"), Op: provisioning.OpGt, Value: "b"}, []string{"Bert", "carl"}},
			{"active", provisioning.Compare{Attr: provisioning.Attr{Path: []string{"active"}, Type: provisioning.TypeBoolean}, Op: provisioning.OpEq, Value: false}, []string{"Bert"}},
			{"extension case-insensitive", provisioning.Compare{Attr: str(provisioning.EnterpriseURN, "department"), Op: provisioning.OpEq, Value: "SALES"}, []string{"anna", "carl"}},
			{"any element", provisioning.Any{Path: []string{"emails"}, Filter: provisioning.And{
				Left:  provisioning.Compare{Attr: str("type"), Op: provisioning.OpEq, Value: "work"},
				Right: provisioning.Compare{Attr: str("value"), Op: provisioning.OpCo, Value: "@WORK"}}}, []string{"anna"}},
			{"not", provisioning.Not{Filter: provisioning.Compare{Attr: str("displayName"), Op: provisioning.OpPresent}}, []string{"carl"}},
			{"or", provisioning.Or{
				Left:  provisioning.Compare{Attr: str("userName"), Op: provisioning.OpEq, Value: "carl"},
				Right: provisioning.Compare{Attr: str("userName"), Op: provisioning.OpEq, Value: "anna"}}, []string{"anna", "carl"}},
			{"created", provisioning.Compare{Attr: provisioning.Attr{Path: []string{"meta", "created"}, Type: provisioning.TypeDateTime}, Op: provisioning.OpGt,
				Value: time.Date(2026, 1, 1, 0, 0, 1, 500, time.UTC)}, []string{"Bert", "carl"}},
		}
		for _, tc := range cases {
			page, err := svc.List(ctx, a, provisioning.Query{Filter: tc.f, StartIndex: 1, Count: 50})
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			got := ids(page)
			sort.Strings(got)
			sort.Strings(tc.want)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || page.Total != len(tc.want) {
				t.Errorf("%s: got %v (total %d), want %v", tc.name, got, page.Total, tc.want)
			}
		}

		// Sorting and paging.
		page, err := svc.List(ctx, a, provisioning.Query{SortBy: &provisioning.Attr{Path: []string{"userName"}, Type: provisioning.TypeString},
			Descending: true, StartIndex: 2, Count: 1})
		if err != nil || page.Total != 3 || fmt.Sprint(ids(page)) != "[Bert]" {
			t.Fatalf("sorted page: %v total %d err %v", ids(page), page.Total, err)
		}
		page, err = svc.List(ctx, a, provisioning.Query{StartIndex: 1, Count: 0})
		if err != nil || page.Total != 3 || len(page.Users) != 0 {
			t.Fatalf("count=0: %+v %v", page, err)
		}
	})
}

func TestTokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		dir := &orgs.Directory{Store: db.Orgs(), Now: func() time.Time { return now }}
		if _, err := dir.CreateOrg(ctx, "Acme", "", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := dir.CreateOrg(ctx, "Acme", "", ""); orgscim.ErrorCode(err) != orgscim.Conflict {
			t.Fatalf("duplicate org slug: %v", err)
		}
		c, first, err := dir.CreateConnection(ctx, "acme", "", "okta")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dir.Authenticate(ctx, c.Slug, first); err != nil {
			t.Fatalf("first token: %v", err)
		}
		now = now.Add(time.Minute) // tokens list in creation order
		exp := now.Add(time.Hour)
		tok2, second, err := dir.IssueToken(ctx, c.Slug, &exp)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := dir.IssueToken(ctx, c.Slug, nil); orgscim.ErrorCode(err) != orgscim.Conflict {
			t.Fatalf("third usable token: %v", err)
		}
		for _, s := range []string{first, second} {
			if _, err := dir.Authenticate(ctx, c.Slug, s); err != nil {
				t.Fatalf("both tokens valid during rotation: %v", err)
			}
		}
		if _, err := dir.Authenticate(ctx, "other", first); orgscim.ErrorCode(err) != orgscim.Unauthorized {
			t.Fatalf("token for wrong connection: %v", err)
		}
		now = now.Add(2 * time.Hour)
		if _, err := dir.Authenticate(ctx, c.Slug, second); orgscim.ErrorCode(err) != orgscim.Unauthorized {
			t.Fatalf("expired token: %v", err)
		}
		list, err := dir.Tokens(ctx, c.Slug)
		if err != nil || len(list) != 2 {
			t.Fatalf("tokens: %v %v", list, err)
		}
		if list[0].LastUsed == nil {
			t.Fatalf("last use not recorded")
		}
		for _, tk := range list {
			if tk.Hash == first || tk.Hash == second || len(tk.Hash) != 64 {
				t.Fatalf("token stored in the clear or unhashed: %q", tk.Hash)
			}
		}
		if err := dir.RevokeToken(ctx, c.Slug, list[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := dir.Authenticate(ctx, c.Slug, first); orgscim.ErrorCode(err) != orgscim.Unauthorized {
			t.Fatalf("revoked token: %v", err)
		}
		if list[1].ID != tok2.ID || list[1].Expires == nil || !list[1].Expires.Equal(exp) {
			t.Fatalf("second token listed as %+v", list[1])
		}
	})
}

// TestPagingContinuesWhereThePreviousPageEnded walks a connection page by page, as an
// IdP's full sync does, and checks that the cache that continues each page from the
// previous one gives exactly the pages that OFFSET gives, also when a write lands
// between two pages.
func TestPagingContinuesWhereThePreviousPageEnded(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			url := dbtest.URL(t, engine)
			db, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			a, _ := setup(t, db)
			clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			svc := &provisioning.Users{Store: db.Users(), Now: func() time.Time { return clock }} // equal times: ties broken by id
			var ids []string
			for i := 0; i < 95; i++ {
				ids = append(ids, newUser(t, svc, a, fmt.Sprintf("u%03d", i), nil).ID)
			}
			// Sorting by meta.created names the same order but always takes OFFSET.
			byCreated := &provisioning.Attr{Path: []string{"meta", "created"}, Type: provisioning.TypeDateTime}
			walk := func(sortBy *provisioning.Attr, start, count int) []string {
				page, err := db.Users().Users(ctx, a, provisioning.Query{SortBy: sortBy, StartIndex: start, Count: count})
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, u := range page.Users {
					out = append(out, u.ID)
				}
				return out
			}
			for start := 1; start <= 95; start += 10 {
				if start == 41 {
					// A write between pages: the cached walk must not skip or repeat.
					if err := svc.Delete(ctx, a, ids[3], nil); err != nil {
						t.Fatal(err)
					}
				}
				got, want := walk(nil, start, 10), walk(byCreated, start, 10)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("page at %d: %v, OFFSET gives %v", start, got, want)
				}
			}
		})
	}
}

// A user's read says whether it has a quarantine record: an update that clears the
// domain rule skips clearing a record only on that word, so a wrong "none" would leave
// a user held after its domain was verified.
func TestUserReadSaysWhetherQuarantined(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a, _ := setup(t, db)
		svc := &provisioning.Users{Store: db.Users(), Quarantine: db.Quarantine(), Tx: db,
			Domains: &domains.Service{Store: db.Domains(), Orgs: db.Orgs(), Policies: db.Orgs().(orgs.PolicyStore), Tx: db}}
		u := newUser(t, svc, a, "carol", nil)
		got, err := svc.Get(ctx, a, u.ID)
		if err != nil || !got.NoQuarantine {
			t.Fatalf("user without a record: NoQuarantine %v, %v", got != nil && got.NoQuarantine, err)
		}
		if err := db.Quarantine().SetQuarantine(ctx, &provisioning.Quarantine{ConnectionID: a, UserID: u.ID,
			Domain: "example.com", State: provisioning.QuarantineHeld, Since: time.Now()}); err != nil {
			t.Fatal(err)
		}
		for _, read := range []struct {
			name string
			get  func() (*provisioning.User, error)
		}{
			{"by id", func() (*provisioning.User, error) { return svc.Get(ctx, a, u.ID) }},
			{"in its update", func() (*provisioning.User, error) {
				var seen *provisioning.User
				_, err := db.Users().UpdateUser(ctx, a, u.ID, func(u *provisioning.User) error {
					c := *u
					seen = &c
					return nil
				})
				return seen, err
			}},
		} {
			got, err := read.get()
			if err != nil || got.NoQuarantine {
				t.Fatalf("%s: user with a record read as NoQuarantine (%v)", read.name, err)
			}
		}
		// No claim on any domain and no address: the update clears the rule, and the
		// record goes.
		if _, err := svc.Update(ctx, a, u.ID, func(u *provisioning.User) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if q, err := db.Quarantine().Quarantine(ctx, a, u.ID); err != nil || q != nil {
			t.Fatalf("record after an update that clears the rule: %+v, %v", q, err)
		}
	})
}
