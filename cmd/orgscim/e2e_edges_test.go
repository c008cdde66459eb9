package main

// End-to-end tests of the SCIM and admin-API edges that third-party conformance suites
// and real clients trip on (issue 14): each drives the real HTTP server over loopback on
// every database engine.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"

	_ "github.com/glebarez/go-sqlite"  // database/sql driver "sqlite", for execSQL
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for execSQL
)

// TestE2EEdgesPatchAnswer: a generic connection answers PATCH of Users and Groups with
// 200 and the resource, shaped by attributes / excludedAttributes; Entra keeps 204.
func TestE2EEdgesPatchAnswer(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		gen := env.connect("gen", "generic")
		entra := env.connect("ent", "entra")

		id := str(gen.create(fullUser("pat@gen", "ext-pat"))["id"])
		res := gen.patch(id, op("replace", "title", "Lead")).must(t, http.StatusOK)
		got := gen.get(id)
		if got["title"] != "Lead" || !reflect.DeepEqual(res.JSON, got) {
			t.Errorf("generic PATCH body differs from GET:\n%s\n%v", res.Raw, got)
		}
		if res.Header.Get("ETag") != at(got, "meta", "version") {
			t.Errorf("ETag %q, version %v", res.Header.Get("ETag"), at(got, "meta", "version"))
		}
		shaped := gen.do("PATCH", "/Users/"+id+"?attributes=title", patchBody(op("replace", "title", "Chief"))).must(t, http.StatusOK)
		if want := map[string]any{"id": id, "title": "Chief", "schemas": shaped.JSON["schemas"]}; !reflect.DeepEqual(shaped.JSON, want) {
			t.Errorf("PATCH ?attributes=title: %s", shaped.Raw)
		}
		lean := gen.do("PATCH", "/Users/"+id+"?excludedAttributes=emails,meta", patchBody(op("replace", "title", "Boss"))).must(t, http.StatusOK)
		if has(lean.JSON, "emails") || has(lean.JSON, "meta") || lean.JSON["title"] != "Boss" || lean.JSON["userName"] != "pat@gen" {
			t.Errorf("PATCH ?excludedAttributes=emails,meta: %s", lean.Raw)
		}

		member := str(gen.create(map[string]any{"userName": "member@gen"})["id"])
		gid := str(gen.createGroup("Staff")["id"])
		gres := gen.do("PATCH", "/Groups/"+gid, patchBody(op("add", "members", []any{map[string]any{"value": member}}))).must(t, http.StatusOK)
		if !reflect.DeepEqual(gres.JSON, gen.getGroup(gid)) || !reflect.DeepEqual(memberValues(gres.JSON), []string{member}) {
			t.Errorf("generic group PATCH body: %s", gres.Raw)
		}

		eid := str(entra.create(fullUser("pat@ent", "ext-pat"))["id"])
		if r := entra.patch(eid, op("replace", "title", "Lead")).must(t, http.StatusNoContent); len(r.Raw) != 0 {
			t.Errorf("Entra 204 with a body: %s", r.Raw)
		}
		egid := str(entra.createGroup("Staff")["id"])
		entra.do("PATCH", "/Groups/"+egid, patchBody(op("replace", "displayName", "Team"))).must(t, http.StatusNoContent)
		if entra.getGroup(egid)["displayName"] != "Team" {
			t.Errorf("Entra group PATCH not stored")
		}
	})
}

// TestE2EEdgesProtocol: PATCH of an extension accepts an echoed schemas like PUT does,
// excludedAttributes=meta is honoured, /Bulk is 501 and /.search at the root searches
// Users and Groups.
func TestE2EEdgesProtocol(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		id := str(c.create(fullUser("pat@acme", "ext-pat"))["id"])

		t.Run("extension value echoing schemas", func(t *testing.T) {
			c := c.in(t)
			value := map[string]any{"schemas": []any{enterpriseURN}, "department": "Sales"}
			c.patch(id, op("add", enterpriseURN, value)).must(t, http.StatusOK)
			if got := at(c.get(id), enterpriseURN, "department"); got != "Sales" {
				t.Errorf("department after PATCH with path = %v", got)
			}
			value["department"] = "Legal"
			c.patch(id, op("replace", "", map[string]any{"schemas": []any{userSchemaURN, enterpriseURN}, enterpriseURN: value})).must(t, http.StatusOK)
			if got := at(c.get(id), enterpriseURN, "department"); got != "Legal" {
				t.Errorf("department after path-less PATCH = %v", got)
			}
			// PUT accepts the same object; the echoed schemas is not stored either way.
			put := fullUser("pat@acme", "ext-pat")
			put[enterpriseURN] = map[string]any{"schemas": []any{enterpriseURN}, "department": "Ops"}
			c.do("PUT", "/Users/"+id, put).must(t, http.StatusOK)
			c.patch(id, op("add", enterpriseURN, value)).must(t, http.StatusOK)
			if has(c.get(id), "schemas", enterpriseURN) {
				t.Errorf("schemas stored inside the extension")
			}
			// A path into the extension that names no attribute is still refused.
			c.patch(id, op("add", enterpriseURN+":nonsense", "x")).scimError(t, http.StatusBadRequest, "invalidPath")
		})

		t.Run("excludedAttributes=meta", func(t *testing.T) {
			c := c.in(t)
			one := c.do("GET", "/Users/"+id+"?excludedAttributes=meta", nil).must(t, http.StatusOK)
			list := c.list("filter", `userName eq "pat@acme"`, "excludedAttributes", "meta").must(t, http.StatusOK)
			for _, doc := range append(resources(t, list), one.JSON) {
				if has(doc, "meta") || doc["userName"] != "pat@acme" {
					t.Errorf("excludedAttributes=meta: %v", doc)
				}
			}
			gid := str(c.createGroup("Metaless")["id"])
			if g := c.getGroup(gid, "excludedAttributes=meta"); has(g, "meta") || g["displayName"] != "Metaless" {
				t.Errorf("group excludedAttributes=meta: %v", g)
			}
			r := c.do("GET", "/Users/"+id+"?excludedAttributes=meta.location", nil).must(t, http.StatusOK)
			if has(r.JSON, "location", "meta") || !has(r.JSON, "version", "meta") {
				t.Errorf("excludedAttributes=meta.location: %s", r.Raw)
			}
			if r := c.do("GET", "/Users/"+id+"?attributes=meta", nil).must(t, http.StatusOK); !has(r.JSON, "created", "meta") || has(r.JSON, "userName") {
				t.Errorf("attributes=meta: %s", r.Raw)
			}
		})

		t.Run("Bulk", func(t *testing.T) {
			c := c.in(t)
			bulk := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": []any{
				map[string]any{"method": "POST", "path": "/Users", "bulkId": "1", "data": map[string]any{"schemas": []string{userSchemaURN}, "userName": "bulk"}},
			}}
			for _, path := range []string{"/Bulk", "/bulk"} {
				r := c.do("POST", path, bulk)
				r.scimError(t, http.StatusNotImplemented, "")
				if d := str(r.JSON["detail"]); d == "" || !strings.Contains(d, "Bulk is not supported") {
					t.Errorf("POST %s detail %q", path, d)
				}
			}
			if n := num(t, c.list("filter", `userName eq "bulk"`).JSON["totalResults"]); n != 0 {
				t.Errorf("a refused Bulk created a user")
			}
			c.as(c.slug, "").do("POST", "/Bulk", bulk).scimError(t, http.StatusUnauthorized, "")
		})
	})
}

// TestE2EEdgesRootSearch: POST /.search at the connection root (RFC 7644 §3.4.3) returns
// Users then Groups, filtered and projected per type, paged over both.
func TestE2EEdgesRootSearch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		other := env.connect("other", "generic")
		other.create(map[string]any{"userName": "stranger", "displayName": "Team"})
		other.createGroup("Team")

		var uids, gids []string
		for _, n := range []string{"ann", "bob"} {
			uids = append(uids, str(c.create(map[string]any{"userName": n, "displayName": "Team " + n})["id"]))
		}
		for _, n := range []string{"Team red", "Team blue", "Ops"} {
			gids = append(gids, str(c.createGroup(n, uids[0])["id"]))
		}
		search := func(t *testing.T, body map[string]any) *reply {
			t.Helper()
			body["schemas"] = []string{searchRequestURN}
			return c.do("POST", "/.search", body).must(t, http.StatusOK)
		}
		ids := func(r *reply) []string {
			var out []string
			for _, res := range resources(t, r) {
				out = append(out, str(res["id"]))
			}
			return out
		}

		t.Run("all", func(t *testing.T) {
			r := search(t, map[string]any{})
			if got, want := ids(r), append(append([]string{}, uids...), gids...); !reflect.DeepEqual(got, want) {
				t.Errorf("ids %v, want %v", got, want)
			}
			if num(t, r.JSON["totalResults"]) != 5 || num(t, r.JSON["itemsPerPage"]) != 5 {
				t.Errorf("counts: %s", r.Raw)
			}
			res := resources(t, r)
			if at(res[0], "meta", "resourceType") != "User" || at(res[4], "meta", "resourceType") != "Group" ||
				strSlice(res[4]["schemas"])[0] != groupSchemaURN || !reflect.DeepEqual(memberValues(res[4]), []string{uids[0]}) {
				t.Errorf("resources do not say their type: %s", r.Raw)
			}
		})

		t.Run("filter", func(t *testing.T) {
			// displayName exists in both schemas; userName only in Users; members only in Groups.
			for _, tc := range []struct {
				filter string
				want   []string
			}{
				{`displayName sw "Team"`, []string{uids[0], uids[1], gids[0], gids[1]}},
				{`userName eq "bob"`, []string{uids[1]}},
				{`members.value eq "` + uids[0] + `"`, gids},
				{`displayName eq "nobody"`, nil},
			} {
				r := search(t, map[string]any{"filter": tc.filter})
				if got := ids(r); !reflect.DeepEqual(got, tc.want) || num(t, r.JSON["totalResults"]) != len(tc.want) {
					t.Errorf("filter %s: ids %v, want %v", tc.filter, got, tc.want)
				}
			}
			for _, f := range []string{`nosuch eq "x"`, `userName eq`, `(((`} {
				c.do("POST", "/.search", map[string]any{"schemas": []string{searchRequestURN}, "filter": f}).
					scimError(t, http.StatusBadRequest, "invalidFilter")
			}
		})

		t.Run("paging", func(t *testing.T) {
			all := append(append([]string{}, uids...), gids...)
			for start := 1; start <= 6; start++ {
				for _, count := range []int{0, 1, 2, 3, 10} {
					r := search(t, map[string]any{"startIndex": start, "count": count})
					want := all[min(start-1, len(all)):min(start-1+count, len(all))]
					if got := ids(r); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
						t.Errorf("startIndex %d count %d: %v, want %v", start, count, got, want)
					}
					if num(t, r.JSON["totalResults"]) != 5 || num(t, r.JSON["startIndex"]) != start {
						t.Errorf("startIndex %d count %d: %s", start, count, r.Raw)
					}
				}
			}
		})

		t.Run("projection", func(t *testing.T) {
			r := search(t, map[string]any{"attributes": []string{"userName"}, "filter": `displayName sw "Team"`})
			for _, res := range resources(t, r) {
				keys := sortedCopy(mapKeys(res))
				want := []string{"id", "schemas"}
				if at(res, "schemas", 0) == userSchemaURN {
					want = []string{"id", "schemas", "userName"}
				}
				if !reflect.DeepEqual(keys, want) {
					t.Errorf("attributes=userName: %v", res)
				}
			}
			r = search(t, map[string]any{"excludedAttributes": []string{"members", "meta"}})
			for _, res := range resources(t, r) {
				if has(res, "members") || has(res, "meta") || !has(res, "id") {
					t.Errorf("excludedAttributes=members,meta: %v", res)
				}
			}
			c.do("POST", "/.search", map[string]any{"schemas": []string{searchRequestURN}, "attributes": []string{"nosuch"}}).
				scimError(t, http.StatusBadRequest, "invalidValue")
		})

		t.Run("refused", func(t *testing.T) {
			c.do("POST", "/.search", map[string]any{"schemas": []string{searchRequestURN}, "sortBy": "displayName"}).
				scimError(t, http.StatusBadRequest, "invalidValue")
			c.do("POST", "/.search", "{").scimError(t, http.StatusBadRequest, "invalidSyntax")
			r := c.do("GET", "/.search", nil)
			r.scimError(t, http.StatusMethodNotAllowed, "")
			if r.Header.Get("Allow") != "POST" {
				t.Errorf("Allow %q", r.Header.Get("Allow"))
			}
			c.as(c.slug, "").do("POST", "/.search", map[string]any{}).scimError(t, http.StatusUnauthorized, "")
		})
	})
}

func mapKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestE2EEdgesAdminUnstorableText: NUL in a JSON string, a CSV file, a path segment or a
// query value, and invalid UTF-8 in a path or query, are refused with 400 by the admin
// API on both engines, and nothing is stored (PostgreSQL used to answer 500, SQLite to
// store the NUL).
func TestE2EEdgesAdminUnstorableText(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		keys := &orgs.AdminKeys{Store: db.AdminKeys(), Now: env.clock.Now}
		_, opKey, err := keys.IssueOperatorKey(context.Background(), "ops", nil)
		if err != nil {
			t.Fatal(err)
		}
		doc := env.admin(t, "", nil).get("/openapi.json").must(t, http.StatusOK).JSON
		oper := env.admin(t, opKey, doc)
		oper.post("/orgs", map[string]any{"name": "Acme", "slug": "acme"}).must(t, http.StatusCreated)

		for _, tc := range []struct {
			what, method, path string
			body               any
		}{
			{"NUL in a name", "POST", "/orgs", `{"name":"Ev\u0000il","slug":"evil"}`},
			{"NUL in a slug", "POST", "/orgs", `{"name":"Evil","slug":"ev\u0000il"}`},
			{"NUL in a nested string", "POST", "/connections", `{"org":"acme","slug":"c\u0000"}`},
			{"NUL in a changed name", "PATCH", "/orgs/acme", `{"name":"Acme\u0000"}`},
			{"NUL in a path segment", "GET", "/orgs/acme%00", nil},
			{"invalid UTF-8 in a path segment", "GET", "/orgs/acme%FF", nil},
			{"NUL in a query value", "GET", "/orgs?parent=acme%00", nil},
			{"invalid UTF-8 in a query value", "GET", "/grants?org=%FF", nil},
		} {
			r := oper.call(tc.method, tc.path, tc.body)
			refused(t, tc.what, r, http.StatusBadRequest, "invalid_value")
		}
		csv := oper.sendCSV("/imports", []byte("org,connection,user_name,role\nacme,c,ada\x00,viewer\n"))
		refused(t, "NUL in a CSV file", csv, http.StatusBadRequest, "invalid_value")
		if msg := field(csv.JSON, "error", "message"); !strings.Contains(msg, "NUL") {
			t.Errorf("CSV with NUL: %s", csv.Raw)
		}

		// SCIM refuses NUL in bodies, filters and ids alike.
		c := env.connect("scimnul", "generic")
		c.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "a\x00b"}).scimError(t, http.StatusBadRequest, "invalidValue")
		c.list("filter", "userName eq \"a\x00b\"").scimError(t, http.StatusBadRequest, anyScimType)
		c.do("GET", "/Users/a%00b", nil).scimError(t, http.StatusNotFound, "")
		// The JSON text \\u0000 (an escaped backslash) is no NUL and is accepted.
		oper.post("/orgs", map[string]any{"name": `Back\u0000slash`, "slug": "backslash"}).must(t, http.StatusCreated)

		oper.get("/orgs/evil").must(t, http.StatusNotFound)
		if got := oper.get("/orgs/acme").must(t, http.StatusOK).JSON["name"]; got != "Acme" {
			t.Errorf("acme renamed to %q", got)
		}
		oper.get("/connections/c").must(t, http.StatusNotFound)
		// Unauthenticated callers learn nothing more: 401 comes first.
		refused(t, "no key", env.admin(t, "", nil).get("/orgs/acme%00"), http.StatusUnauthorized, "unauthorized")
	})
}

// TestE2EEdgesLongValues: an indexed value over its limit is refused with 400
// invalidValue and a detail naming the limit, through POST, PUT and PATCH, identically on
// both engines (PostgreSQL's btree used to answer 500 where SQLite stored it); a value at
// the limit is stored and found on both.
func TestE2EEdgesLongValues(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		long := randomLetters(3000)
		atLimit := randomLetters(provisioning.MaxIndexedBytes)
		id := str(c.create(map[string]any{"userName": "pat"})["id"])
		// U+FDFA is 3 bytes and 18 letters once NFKC-normalised: 170 of them fit the name
		// limit but not the normalised key's.
		expanding := strings.Repeat("\uFDFA", 170)

		for _, tc := range []struct {
			attr, detail string
			user         map[string]any
		}{
			{"userName", "userName is longer than 512 bytes", map[string]any{"userName": long}},
			{"userName normalised", "userName is longer than 1024 bytes once normalised", map[string]any{"userName": expanding}},
			{"externalId", "externalId is longer than 1024 bytes", map[string]any{"userName": "x", "externalId": long}},
			{"displayName", "displayName is longer than 1024 bytes", map[string]any{"userName": "x", "displayName": long}},
			{"name.givenName", "name.givenName is longer than 1024 bytes", map[string]any{"userName": "x", "name": map[string]any{"givenName": long}}},
			{"name.familyName", "name.familyName is longer than 1024 bytes", map[string]any{"userName": "x", "name": map[string]any{"familyName": long}}},
			{"emails.value", "emails.value is longer than 1024 bytes", map[string]any{"userName": "x", "emails": []any{
				map[string]any{"value": "ok@acme.example", "primary": true}, map[string]any{"value": long + "@acme.example"}}}},
		} {
			t.Run(tc.attr, func(t *testing.T) {
				c := c.in(t)
				tc.user["schemas"] = []string{userSchemaURN}
				for _, r := range []*reply{
					c.do("POST", "/Users", tc.user),
					c.do("PUT", "/Users/"+id, tc.user),
					c.patch(id, op("replace", "", tc.user)),
				} {
					r.scimError(t, http.StatusBadRequest, "invalidValue")
					if d := str(r.JSON["detail"]); !strings.Contains(d, tc.detail) {
						t.Errorf("detail %q, want it to say %q", d, tc.detail)
					}
				}
			})
		}
		if n := num(t, c.list().JSON["totalResults"]); n != 1 {
			t.Errorf("%d users after refusals, want 1", n)
		}
		if got := c.get(id); got["userName"] != "pat" || has(got, "displayName") {
			t.Errorf("a refused change was stored: %v", got)
		}

		// At the limit, each value is stored, indexed and found on both engines.
		full := map[string]any{"userName": atLimit[:provisioning.MaxNameBytes], "externalId": atLimit, "displayName": atLimit,
			"name":   map[string]any{"givenName": atLimit, "familyName": atLimit},
			"emails": []any{map[string]any{"value": atLimit, "primary": true}}}
		created := c.create(full)
		for _, f := range []string{
			`externalId eq "` + atLimit + `"`, `displayName eq "` + atLimit + `"`, `emails.value eq "` + atLimit + `"`,
			`name.familyName eq "` + atLimit + `"`, `userName eq "` + atLimit[:provisioning.MaxNameBytes] + `"`,
		} {
			r := c.do("POST", "/Users/.search", map[string]any{"schemas": []string{searchRequestURN}, "filter": f}).must(t, http.StatusOK)
			if ids := resources(t, r); len(ids) != 1 || ids[0]["id"] != created["id"] {
				t.Errorf("filter on a %d-byte value found %d users", len(atLimit), len(ids))
			}
		}

		// Groups: displayName (unique, 512) and externalId (1024) alike.
		group := func(name, ext string) map[string]any {
			return map[string]any{"schemas": []string{groupSchemaURN}, "displayName": name, "externalId": ext}
		}
		c.do("POST", "/Groups", group(long, "")).scimError(t, http.StatusBadRequest, "invalidValue")
		c.do("POST", "/Groups", group(expanding, "")).scimError(t, http.StatusBadRequest, "invalidValue")
		r := c.do("POST", "/Groups", group("Staff", long))
		r.scimError(t, http.StatusBadRequest, "invalidValue")
		if d := str(r.JSON["detail"]); !strings.Contains(d, "externalId is longer than 1024 bytes") {
			t.Errorf("group externalId detail %q", d)
		}
		gid := str(c.do("POST", "/Groups", group(atLimit[:provisioning.MaxNameBytes], atLimit)).must(t, http.StatusCreated).JSON["id"])
		c.do("PATCH", "/Groups/"+gid, patchBody(op("replace", "externalId", long))).scimError(t, http.StatusBadRequest, "invalidValue")
		if got := c.getGroup(gid); got["externalId"] != atLimit {
			t.Errorf("a refused group PATCH was stored")
		}
	})
}

// randomLetters returns n random lower-case ASCII letters: long values that no prefix
// compression or deduplication can shrink. g, p and s are left out, so that no run of
// them spells a leak marker ("pgx", "gorm", "sqlite") the harness looks for.
func randomLetters(n int) string {
	const alphabet = "abcdefhijklmnoqrtuvwxyz"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// TestE2EEdgesDatabaseUnavailable: with the database out of reach, SCIM and the admin API
// answer 503 with Retry-After (a SCIM error document on SCIM paths) and an error id that
// the log line with the cause carries; no driver text reaches the client.
func TestE2EEdgesDatabaseUnavailable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		id := str(c.create(map[string]any{"userName": "pat"})["id"])
		oper := env.admin(t, operatorKey(t, db), nil)
		oper.get("/orgs/acme").must(t, http.StatusOK)

		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*reply{
			c.do("GET", "/Users", nil),
			c.do("GET", "/Users/"+id, nil),
			c.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "new"}),
			c.patch(id, op("replace", "title", "x")),
			c.do("POST", "/.search", map[string]any{"schemas": []string{searchRequestURN}}),
		} {
			checkUnavailable(t, env, r, str(r.JSON["detail"]))
		}
		for _, r := range []*reply{oper.get("/orgs/acme"), oper.post("/orgs", map[string]any{"name": "New", "slug": "new"})} {
			refused(t, "admin API with the database closed", r, http.StatusServiceUnavailable, "unavailable")
			checkUnavailable(t, env, r, field(r.JSON, "error", "message"))
		}
		// Liveness stays up; readiness says what the 503s mean.
		if st, _, _ := plainGet(t, env.srv.URL, "/healthz"); st != http.StatusOK {
			t.Errorf("healthz: %d", st)
		}
	})
}

// TestE2EEdgesSQLiteBusy: another process holds SQLite's write lock longer than the
// busy timeout (10 s). A write answers 503 with Retry-After, as PostgreSQL out of reach
// does, not a 500, and succeeds once the lock is let go.
func TestE2EEdgesSQLiteBusy(t *testing.T) {
	u := dbtest.URL(t, "sqlite")
	db, err := sqlstore.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	env := newE2E(t, db)
	c := env.connect("acme", "generic")
	raw, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(u, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := context.Background()
	holder, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	r := c.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "pat"})
	checkUnavailable(t, env, r, str(r.JSON["detail"]))
	if _, err := holder.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	c.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "pat"}).must(t, http.StatusCreated)
}

// TestE2EEdgesPostgresUnreachable: PostgreSQL behind a proxy that goes away: requests
// answer 503 with Retry-After while the server cannot be reached (connections cut,
// new ones refused), and succeed again once it is back, without a restart.
func TestE2EEdgesPostgresUnreachable(t *testing.T) {
	if dbtest.PostgresURL() == "" {
		t.Skip("ORGSCIM_TEST_DATABASE_URL not set: PostgreSQL skipped")
	}
	u, err := url.Parse(dbtest.URL(t, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	proxy := startTCPProxy(t, u.Host)
	u.Host = proxy.addr
	db := openURL(t, u.String())
	t.Cleanup(func() { db.Close() })
	env := newE2E(t, db)
	c := env.connect("acme", "generic")
	id := str(c.create(map[string]any{"userName": "pat"})["id"])
	oper := env.admin(t, operatorKey(t, db), nil)

	proxy.stop()
	for _, r := range []*reply{
		c.do("GET", "/Users/"+id, nil),
		c.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "new"}),
	} {
		checkUnavailable(t, env, r, str(r.JSON["detail"]))
	}
	r := oper.get("/orgs")
	refused(t, "admin API with PostgreSQL unreachable", r, http.StatusServiceUnavailable, "unavailable")
	checkUnavailable(t, env, r, field(r.JSON, "error", "message"))

	proxy.start(t)
	if got := c.get(id); got["userName"] != "pat" {
		t.Errorf("after PostgreSQL came back: %v", got)
	}
	c.create(map[string]any{"userName": "new"})
}

// checkUnavailable asserts a 503 with Retry-After whose message names an error id that
// the server logged with the cause.
func checkUnavailable(t *testing.T, env *e2eEnv, r *reply, message string) {
	t.Helper()
	if r.Status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503: %s", r.Status, r.Raw)
		return
	}
	if ra := r.Header.Get("Retry-After"); ra != "30" {
		t.Errorf("Retry-After %q, want 30", ra)
	}
	m := regexp.MustCompile(`retry later \(error id ([0-9a-f]{16})\)$`).FindStringSubmatch(message)
	if m == nil {
		t.Errorf("503 message %q names no error id", message)
		return
	}
	found := false
	for _, line := range strings.Split(env.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"database unavailable"`) && strings.Contains(line, `"error_id":"`+m[1]+`"`) {
			found = true
		}
	}
	if !found {
		t.Errorf("error id %s is not logged as database unavailable:\n%s", m[1], env.logs.String())
	}
}

func operatorKey(t *testing.T, db *sqlstore.DB) string {
	t.Helper()
	keys := &orgs.AdminKeys{Store: db.AdminKeys()}
	_, key, err := keys.IssueOperatorKey(context.Background(), "ops", nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// execSQL runs one statement on the database at dbURL over a connection of its own,
// as an operator with direct access would.
func execSQL(t *testing.T, dbURL, stmt string) {
	t.Helper()
	driverName, dsn := "pgx", dbURL
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		driverName, dsn = "sqlite", "file:"+path
	}
	raw, err := sql.Open(driverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// tcpProxy forwards connections to a target; stop cuts them all and refuses new ones,
// like a database server that went away, and start listens again on the same address.
type tcpProxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{target: target, addr: "127.0.0.1:0"}
	p.start(t)
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", p.target)
			if err != nil {
				client.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, client, server)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(server, client); server.Close() }()
			go func() { _, _ = io.Copy(client, server); client.Close() }()
		}
	}()
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestE2EEdgesOversizedBodyReachesEagerClients: a client that writes its whole body
// before reading the answer (Python's urllib does) reads the SCIM 413, whether it
// declared a Content-Length or sent the body chunked, instead of a connection reset.
func TestE2EEdgesOversizedBodyReachesEagerClients(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		host := strings.TrimPrefix(env.srv.URL, "http://")
		for _, tc := range []struct {
			name    string
			size    int
			chunked bool
		}{
			{"3 MB declared", 3 << 20, false},
			{"5 MB declared", 5 << 20, false},
			{"5 MB chunked", 5 << 20, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				body := `{"schemas":["` + userSchemaURN + `"],"userName":"big","displayName":"` + strings.Repeat("a", tc.size) + `"}`
				conn, err := net.Dial("tcp", host)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				// A hang bound only: a server that never reads would block the write.
				_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
				var req strings.Builder
				fmt.Fprintf(&req, "POST /scim/v2/acme/Users HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\n", host, c.token, scimContentType)
				if tc.chunked {
					req.WriteString("Transfer-Encoding: chunked\r\n\r\n")
					for rest := body; rest != ""; {
						n := min(len(rest), 64<<10)
						fmt.Fprintf(&req, "%x\r\n%s\r\n", n, rest[:n])
						rest = rest[n:]
					}
					req.WriteString("0\r\n\r\n")
				} else {
					fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n%s", len(body), body)
				}
				if _, err := io.WriteString(conn, req.String()); err != nil {
					t.Fatalf("writing the whole body: %v", err)
				}
				res, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatalf("reading the answer after the whole body: %v", err)
				}
				defer res.Body.Close()
				raw, err := io.ReadAll(res.Body)
				if err != nil {
					t.Fatalf("reading the answer's body: %v", err)
				}
				rep := &reply{Status: res.StatusCode, Header: res.Header, Raw: raw}
				if err := json.Unmarshal(raw, &rep.JSON); err != nil {
					t.Fatalf("413 body %q: %v", raw, err)
				}
				checkErrorDoc(t, tc.name, rep)
				rep.scimError(t, http.StatusRequestEntityTooLarge, "")
			})
		}
		if n := num(t, c.list("filter", `userName eq "big"`).JSON["totalResults"]); n != 0 {
			t.Errorf("an oversized body created a user")
		}
	})
}
