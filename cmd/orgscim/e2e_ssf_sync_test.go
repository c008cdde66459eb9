package main

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/ssf"
)

// TestSharedSignalsGrantsSync: grants revoked together by a consequence rather than
// one by one — a member leaving a mapped group, its holder deactivated by the IdP, a
// mapping retired by hand, a mapping a reviewer rejects, a delegation revoked on a
// compromise with everything made under it, a person's grant and a service account's —
// each reach Shared Signals receivers as a grant-revoked SET, one per grant, about its
// holder: a person by e-mail in its connection's tenant, a service account by its opaque
// id in its owner's, naming the account. Received, and verified against the published
// JWKS, by the independent receiver over push (a receiver of acme's tenant) and over
// poll (a receiver of every tenant). On both engines.
func TestSharedSignalsGrantsSync(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env, keys, _ := newE2ESSF(t, db)
		base := env.srv.URL
		w := newSAWorldOn(t, env)
		oper, oper2 := w.oper, w.ops2
		_, more := env.operators(t, "ops3")
		oper3 := more[0]
		acme, err := newServices(db, env.clock.Now).dir.Connection(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		streams := ssfStreams(db)
		_, tenantToken, err := streams.AddReceiver(ctx, "acme-app", "https://acme-app.example", acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, allToken, err := streams.AddReceiver(ctx, "siem", "https://siem.example", "")
		if err != nil {
			t.Fatal(err)
		}
		recv := newSETReceiver(t, base+"/ssf/jwks", base, "https://acme-app.example", "Bearer acme-secret")
		if st, v := ssfCall(t, base, tenantToken, "POST", "/ssf/stream", map[string]any{
			"delivery": map[string]any{"method": ssf.PushMethod, "endpoint_url": recv.srv.URL + "/events",
				"authorization_header": "Bearer acme-secret"},
			"events_requested": ssf.Supported}); st != http.StatusCreated {
			t.Fatalf("push stream: %d %v", st, v)
		}
		st, v := ssfCall(t, base, allToken, "POST", "/ssf/stream", map[string]any{
			"delivery": map[string]any{"method": ssf.PollMethod}, "events_requested": []string{ssf.GrantRevoked}})
		if st != http.StatusCreated {
			t.Fatalf("poll stream: %d %v", st, v)
		}
		pollID := field(v, "stream_id")
		p := &ssf.Pusher{Outbox: db.SSF(), Keys: keys, Issuer: base, Now: env.clock.Now, BaseDelay: time.Second, MaxDelay: time.Second}

		people := map[string]string{}
		for _, n := range []string{"ann", "bob", "cat", "dan"} {
			people[n] = w.acme.create(map[string]any{"userName": n + "@acme.example"})["id"].(string)
		}
		oper.post("/roles", map[string]any{"key": "crm.viewer", "permissions": []string{"crm.read"}}).must(t, http.StatusCreated)
		finance := w.acme.createGroup("Finance", people["ann"], people["bob"], people["cat"])["id"].(string)
		sales := w.acme.createGroup("Sales", people["cat"], people["dan"])["id"].(string)
		mapping := func(group, org string) string {
			t.Helper()
			m := field(oper.post("/mappings", map[string]any{"connection": "acme", "group_id": group, "role": "crm.viewer", "org": org}).
				must(t, http.StatusCreated).JSON, "id")
			oper2.post("/mappings/"+m+"/approve", nil).must(t, http.StatusOK)
			return m
		}
		financeMapping, salesMapping := mapping(finance, "acme"), mapping(sales, "emea")
		// grantOf is the grant the mapping gave the person.
		grantOf := func(m, org, person string) string {
			t.Helper()
			for _, g := range oper.get("/grants?org="+org+"&limit=100").must(t, http.StatusOK).JSON["items"].([]any) {
				if field(g, "source_id") == m && field(g, "user_id") == people[person] {
					return field(g, "id")
				}
			}
			t.Fatalf("%s holds no grant from mapping %s on %s", person, m, org)
			return ""
		}
		annFin, bobFin, catFin := grantOf(financeMapping, "acme", "ann"), grantOf(financeMapping, "acme", "bob"), grantOf(financeMapping, "acme", "cat")
		catSales, danSales := grantOf(salesMapping, "emea", "cat"), grantOf(salesMapping, "emea", "dan")

		// What a receiver got, as "type subject grant org reason": the subject a person's
		// e-mail or "sa:<name>" for a service account (whose subject is then checked).
		line := func(s receivedSET) string {
			t.Helper()
			who := field(s.Claims, "sub_id", "user", "email")
			if name, ok := s.Event["service_account"].(string); ok {
				want := map[string]any{"format": "complex", "user": map[string]any{"format": "opaque", "id": at(s.Claims, "sub_id", "user", "id")},
					"tenant": map[string]any{"format": "opaque", "id": "acme"}}
				if !reflect.DeepEqual(s.Claims["sub_id"], want) || at(s.Claims, "sub_id", "user", "format") != "opaque" {
					t.Errorf("%s about service account %s: sub_id %v", s.Type, name, s.Claims["sub_id"])
				}
				who = "sa:" + name
			} else if tenant := field(s.Claims, "sub_id", "tenant", "id"); tenant != "acme" {
				t.Errorf("%s about %s in tenant %q, want acme", s.Type, who, tenant)
			}
			if s.Type != ssf.GrantRevoked {
				return s.Type + " " + who
			}
			if s.Event["initiating_entity"] == nil || s.Event["event_timestamp"] == nil {
				t.Errorf("grant-revoked without its initiator or time: %v", s.Event)
			}
			why, _ := at(s.Event, "reason_admin", "en").(string)
			if i := strings.IndexAny(why, ":("); i > 0 {
				why = strings.TrimSpace(why[:i])
			}
			return strings.Join([]string{s.Type, who, field(s.Event, "grant"), field(s.Event, "org"), why}, " ")
		}
		pushed := func() []string {
			t.Helper()
			pushOnce(t, p)
			var out []string
			for _, s := range recv.take() {
				out = append(out, line(s))
			}
			return out
		}
		expect := func(step string, got []string, want ...string) {
			t.Helper()
			sort.Strings(got)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s sent\n  %s\nwant\n  %s", step, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		}
		revoked := func(who, grant, org, why string) string {
			return strings.Join([]string{ssf.GrantRevoked, who, grant, org, why}, " ")
		}
		expect("approving the mappings", pushed())

		// bob leaves Finance: the grant it gave him goes with the membership.
		if r := w.acme.do("PATCH", "/Groups/"+finance, patchBody(op("remove", `members[value eq "`+people["bob"]+`"]`, nil))); r.Status != http.StatusOK &&
			r.Status != http.StatusNoContent {
			t.Fatalf("bob out of Finance: %d %s", r.Status, r.Raw)
		}
		expect("bob leaving the mapped group", pushed(),
			revoked("bob@acme.example", bobFin, "acme", "no longer a member of the mapped group"))

		// ann is deactivated by the IdP: her account, and her grant.
		w.acme.patch(people["ann"], op("replace", "active", false)).must(t, http.StatusOK)
		expect("ann deactivated", pushed(), ssf.AccountDisabled+" ann@acme.example", ssf.SessionRevoked+" ann@acme.example",
			revoked("ann@acme.example", annFin, "acme", "user deactivated by the IdP"))

		// The Finance mapping retired by hand: what it still gives (cat's grant).
		oper.post("/mappings/"+financeMapping+"/retire", map[string]any{"reason": "finance moved"}).must(t, http.StatusOK)
		expect("the Finance mapping retired", pushed(), revoked("cat@acme.example", catFin, "acme", "mapping retired"))

		// A reviewer rejects the Sales mapping: cat's and dan's grants on emea.
		review := field(oper.post("/reviews", map[string]any{"org": "acme", "name": "Q1",
			"deadline": env.clock.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)}).must(t, http.StatusCreated).JSON, "id")
		oper3.post("/reviews/"+review+"/mappings/"+salesMapping+"/retire", map[string]any{"note": "sales has its own CRM"}).
			must(t, http.StatusOK)
		expect("the Sales mapping rejected in review", pushed(), revoked("cat@acme.example", catSales, "emea", "mapping retired"),
			revoked("dan@acme.example", danSales, "emea", "mapping retired"))

		// pat's delegation over acme, revoked on a compromise: the grants pat made under
		// it go with it — bob's, and those of the service account pat created.
		// (A delegate grants only what it holds: pat holds reports.viewer on acme, which
		// inherits, from the operator, not under the delegation.)
		oper.post("/grants", map[string]any{"connection": "acme", "user_id": w.pat, "role": "reports.viewer", "org": "acme",
			"reason": "runs reporting"}).must(t, http.StatusCreated)
		d := oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": w.pat,
			"capabilities": []string{"manage_members"}, "depth": 0}).must(t, http.StatusCreated).JSON
		pat := env.admin(t, field(oper.post("/delegations/"+field(d, "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key"), w.doc)
		bobDirect := field(pat.post("/grants", map[string]any{"connection": "acme", "user_id": people["bob"], "role": "reports.viewer",
			"org": "emea", "reason": "quarterly report"}).must(t, http.StatusCreated).JSON, "id")
		sa := field(pat.post("/service-accounts", map[string]any{"org": "acme", "name": "crm-export",
			"owner": map[string]any{"connection": "acme", "user_id": w.pat}}).must(t, http.StatusCreated).JSON, "id")
		saGrants := []string{}
		for _, org := range []string{"acme", "emea"} {
			saGrants = append(saGrants, field(pat.post("/service-accounts/"+sa+"/grants", map[string]any{"role": "reports.viewer", "org": org,
				"reason": "exports the reports"}).must(t, http.StatusCreated).JSON, "id"))
		}
		expect("grants made under pat's delegation", pushed())
		rv := oper.call("DELETE", "/delegations/"+field(d, "id"), map[string]any{"reason": "key leaked", "compromise": true}).
			must(t, http.StatusOK).JSON
		if n := num(t, at(rv, "handover", "revoked_grants")); n != 3 {
			t.Errorf("the compromise revoked %d grants, want 3: %v", n, rv)
		}
		expect("pat's delegation revoked on a compromise", pushed(),
			revoked("bob@acme.example", bobDirect, "emea", "made under revoked delegation "+field(d, "id")),
			revoked("sa:crm-export", saGrants[0], "acme", "made under revoked delegation "+field(d, "id")),
			revoked("sa:crm-export", saGrants[1], "emea", "made under revoked delegation "+field(d, "id")))

		// The receiver of every tenant polls every one of them, each verified, each once.
		st, v = ssfCall(t, base, allToken, "POST", "/ssf/poll/"+pollID, map[string]any{"returnImmediately": true, "maxEvents": 100})
		if st != http.StatusOK {
			t.Fatalf("poll: %d %v", st, v)
		}
		var polled []string
		for jti, tok := range at(v, "sets").(map[string]any) {
			s, err := verifySET(tok.(string), base+"/ssf/jwks", base, "https://siem.example")
			if err != nil {
				t.Fatalf("polled SET %s: %v", jti, err)
			}
			polled = append(polled, line(s))
		}
		delegation := "made under revoked delegation " + field(d, "id")
		expect("the poll", polled,
			revoked("bob@acme.example", bobFin, "acme", "no longer a member of the mapped group"),
			revoked("ann@acme.example", annFin, "acme", "user deactivated by the IdP"),
			revoked("cat@acme.example", catFin, "acme", "mapping retired"),
			revoked("cat@acme.example", catSales, "emea", "mapping retired"),
			revoked("dan@acme.example", danSales, "emea", "mapping retired"),
			revoked("bob@acme.example", bobDirect, "emea", delegation),
			revoked("sa:crm-export", saGrants[0], "acme", delegation),
			revoked("sa:crm-export", saGrants[1], "emea", delegation))
	})
}

// TestSharedSignalsLargeRevocationNamesEveryGrant: a mapping of a group of 1,001
// people retired revokes 1,001 grants; the audit trail names every one of them, at most
// 1,000 an event (so two grants.sync events, however many it counts), and a receiver
// polls a verified grant-revoked SET for each grant, exactly once. On both engines.
func TestSharedSignalsLargeRevocationNamesEveryGrant(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env, _, _ := newE2ESSF(t, db)
		base := env.srv.URL
		sc := env.connect("acme", "okta")
		_, ops := env.operators(t, "ops", "ops2")
		oper, oper2 := ops[0], ops[1]
		_, token, err := ssfStreams(db).AddReceiver(ctx, "siem", "https://siem.example", "")
		if err != nil {
			t.Fatal(err)
		}
		st, v := ssfCall(t, base, token, "POST", "/ssf/stream", map[string]any{
			"delivery": map[string]any{"method": ssf.PollMethod}, "events_requested": []string{ssf.GrantRevoked}})
		if st != http.StatusCreated {
			t.Fatalf("poll stream: %d %v", st, v)
		}
		pollID := field(v, "stream_id")

		// The people are created in process, the group and everything after through the server.
		const n = 1001
		users := newServices(db, env.clock.Now).users
		members := make([]string, n)
		email := map[string]string{}
		for i := range members {
			name := fmt.Sprintf("p%04d@acme.example", i)
			u, err := users.Create(ctx, sc.conn.ID, map[string]any{"userName": name, "active": true}, "")
			if err != nil {
				t.Fatal(err)
			}
			members[i], email[u.ID] = u.ID, name
		}
		group := sc.createGroup("Everyone", members...)["id"].(string)
		oper.post("/roles", map[string]any{"key": "viewer", "permissions": []string{"reports.read"}}).must(t, http.StatusCreated)
		m := field(oper.post("/mappings", map[string]any{"connection": "acme", "group_id": group, "role": "viewer", "org": "acme"}).
			must(t, http.StatusCreated).JSON, "id")
		oper2.post("/mappings/"+m+"/approve", nil).must(t, http.StatusOK)
		holder := map[string]string{} // grant id → the person's e-mail
		for cursor := ""; ; {
			page := oper.get("/grants?org=acme&limit=1000&cursor="+cursor).must(t, http.StatusOK).JSON
			for _, g := range page["items"].([]any) {
				if field(g, "source_id") == m {
					holder[field(g, "id")] = email[field(g, "user_id")]
				}
			}
			if cursor = field(page, "next_cursor"); cursor == "" {
				break
			}
		}
		if len(holder) != n {
			t.Fatalf("the mapping gave %d grants, want %d", len(holder), n)
		}
		oper.post("/mappings/"+m+"/retire", map[string]any{"reason": "reorganised"}).must(t, http.StatusOK)

		named := map[string]int{}
		var sizes []int
		for _, e := range oper.get("/audit?target="+m+"&action=grants.sync&limit=1000").must(t, http.StatusOK).JSON["events"].([]any) {
			ids := strSlice(at(e, "diff", "revoked_grant_ids"))
			if len(ids) == 0 {
				continue // the approval's, which added them
			}
			if num(t, at(e, "diff", "revoked")) != len(ids) || field(e, "connection_id") != sc.conn.ID {
				t.Errorf("a revocation event counts %v and names %d, on connection %q", at(e, "diff", "revoked"), len(ids), field(e, "connection_id"))
			}
			sizes = append(sizes, len(ids))
			for _, id := range ids {
				named[id]++
			}
		}
		sort.Ints(sizes)
		if !reflect.DeepEqual(sizes, []int{1, 1000}) || len(named) != n {
			t.Errorf("the retirement's events name %v grants (%d distinct), want 1,000 and 1 (%d)", sizes, len(named), n)
		}
		for id, k := range named {
			if holder[id] == "" || k != 1 {
				t.Errorf("grant %s named %d times, held by %q", id, k, holder[id])
			}
		}

		got := map[string]int{}
		var ack []string
		for {
			st, v := ssfCall(t, base, token, "POST", "/ssf/poll/"+pollID, map[string]any{"ack": ack, "returnImmediately": true, "maxEvents": 1000})
			if st != http.StatusOK {
				t.Fatalf("poll: %d %v", st, v)
			}
			sets := at(v, "sets").(map[string]any)
			if len(sets) == 0 {
				break
			}
			ack = ack[:0]
			for jti, tok := range sets {
				s, err := verifySET(tok.(string), base+"/ssf/jwks", base, "https://siem.example")
				if err != nil {
					t.Fatalf("SET %s: %v", jti, err)
				}
				g := field(s.Event, "grant")
				if who := field(s.Claims, "sub_id", "user", "email"); s.Type != ssf.GrantRevoked || who != holder[g] || field(s.Event, "org") != "acme" {
					t.Errorf("SET %s: %s about %q for grant %s (held by %q)", jti, s.Type, who, g, holder[g])
				}
				got[g]++
				ack = append(ack, jti)
			}
		}
		if len(got) != n {
			t.Errorf("polled grant-revoked SETs for %d grants, want %d", len(got), n)
		}
		for g, k := range got {
			if k != 1 {
				t.Errorf("grant %s: %d SETs", g, k)
			}
		}
	})
}
