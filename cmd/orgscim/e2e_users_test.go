package main

// End-to-end tests of SCIM Users (issue 2): each drives the real HTTP server over
// loopback, on every database engine, and checks status, headers, bodies and — through
// a follow-up request or the store — what was actually stored.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
	"golang.org/x/crypto/bcrypt"
)

// fullUser is a user with core, multi-valued and enterprise attributes.
func fullUser(userName, externalID string) map[string]any {
	return map[string]any{
		"schemas":     []string{userSchemaURN, enterpriseURN},
		"userName":    userName,
		"externalId":  externalID,
		"displayName": "Pat Doe",
		"title":       "Developer",
		"active":      true,
		"name":        map[string]any{"givenName": "Pat", "familyName": "Doe", "formatted": "Pat Doe"},
		"emails": []any{
			map[string]any{"value": "pat@work.example", "type": "work", "primary": true},
			map[string]any{"value": "pat@home.example", "type": "home"},
		},
		"phoneNumbers": []any{map[string]any{"value": "+1 555 0100", "type": "work"}},
		enterpriseURN: map[string]any{
			"department":     "R&D",
			"employeeNumber": "7",
			"manager":        map[string]any{"value": "mgr-1"},
		},
	}
}

// storedUser reads a user straight from the store, password hash included.
func storedUser(t *testing.T, c *scimClient, id string) *provisioning.User {
	t.Helper()
	u, err := c.env.db.Users().User(context.Background(), c.conn.ID, id)
	if err != nil {
		t.Fatalf("store: user %s: %v", id, err)
	}
	return u
}

func str(v any) string { s, _ := v.(string); return s }

// TestE2EUsersLifecycle: POST, GET, PUT, PATCH (per IdP dialect), DELETE and .search.
func TestE2EUsersLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		const secret1, secret2 = "Tr0ub4dor&3-first", "c0rrect-h0rse-second"

		// POST: 201, Location = meta.location, ETag = meta.version.
		body := fullUser("pat.doe@acme.example", "ext-pat")
		body["password"] = secret1
		res := c.do("POST", "/Users", body).must(t, http.StatusCreated)
		u := res.JSON
		id := str(u["id"])
		if id == "" {
			t.Fatalf("no id: %s", res.Raw)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, scimContentType) {
			t.Errorf("Content-Type %q", ct)
		}
		wantLoc := env.srv.URL + "/scim/v2/acme/Users/" + id
		if loc := res.Header.Get("Location"); loc != wantLoc || at(u, "meta", "location") != wantLoc {
			t.Errorf("Location %q, meta.location %v, want %s", loc, at(u, "meta", "location"), wantLoc)
		}
		if et := res.Header.Get("ETag"); et == "" || et != at(u, "meta", "version") {
			t.Errorf("ETag %q, meta.version %v", et, at(u, "meta", "version"))
		}
		if at(u, "meta", "resourceType") != "User" || at(u, "meta", "created") != at(u, "meta", "lastModified") {
			t.Errorf("meta = %v", u["meta"])
		}
		if s := strSlice(u["schemas"]); !reflect.DeepEqual(sortedCopy(s), sortedCopy([]string{userSchemaURN, enterpriseURN})) {
			t.Errorf("schemas = %v", s)
		}
		if u["userName"] != "pat.doe@acme.example" || u["externalId"] != "ext-pat" || at(u, "name", "givenName") != "Pat" ||
			at(u, enterpriseURN, "department") != "R&D" || at(u, enterpriseURN, "manager", "value") != "mgr-1" || u["active"] != true {
			t.Errorf("created user does not echo its attributes: %s", res.Raw)
		}
		if h := storedUser(t, c, id).PasswordHash; bcrypt.CompareHashAndPassword([]byte(h), []byte(secret1)) != nil {
			t.Errorf("stored password hash does not verify the password sent")
		}

		// GET by id returns the same representation and ETag.
		got := c.do("GET", "/Users/"+id, nil).must(t, http.StatusOK)
		if !reflect.DeepEqual(got.JSON, u) {
			t.Errorf("GET differs from POST:\n%s\n%s", got.Raw, res.Raw)
		}
		if got.Header.Get("ETag") != res.Header.Get("ETag") {
			t.Errorf("GET ETag %q, POST ETag %q", got.Header.Get("ETag"), res.Header.Get("ETag"))
		}

		// PUT replaces: what is not sent is gone; the password is replaced and not returned.
		put := map[string]any{
			"schemas":     []string{userSchemaURN},
			"userName":    "pat.doe@acme.example",
			"externalId":  "ext-pat",
			"displayName": "Patricia Doe",
			"name":        map[string]any{"givenName": "Patricia"},
			"password":    secret2,
		}
		pres := c.do("PUT", "/Users/"+id, put).must(t, http.StatusOK)
		p := pres.JSON
		if p["id"] != id || p["displayName"] != "Patricia Doe" || at(p, "name", "givenName") != "Patricia" {
			t.Errorf("PUT result: %s", pres.Raw)
		}
		for _, gone := range []string{"title", "emails", "phoneNumbers", enterpriseURN} {
			if _, ok := p[gone]; ok {
				t.Errorf("PUT kept %s, which the replacement did not send", gone)
			}
		}
		if has(p, "familyName", "name") {
			t.Errorf("PUT kept name.familyName")
		}
		if s := strSlice(p["schemas"]); len(s) != 1 || s[0] != userSchemaURN {
			t.Errorf("schemas after PUT = %v", s)
		}
		if at(p, "meta", "created") != at(u, "meta", "created") || at(p, "meta", "lastModified") == at(u, "meta", "lastModified") {
			t.Errorf("PUT meta: %v (was %v)", p["meta"], u["meta"])
		}
		if at(p, "meta", "version") == at(u, "meta", "version") || pres.Header.Get("ETag") != at(p, "meta", "version") {
			t.Errorf("PUT did not bump the version: %v, ETag %q", at(p, "meta", "version"), pres.Header.Get("ETag"))
		}
		if !reflect.DeepEqual(c.get(id), p) {
			t.Errorf("GET after PUT differs from the PUT response")
		}
		hash := storedUser(t, c, id).PasswordHash
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret2)) != nil {
			t.Errorf("PUT did not replace the password")
		}
		delete(put, "password")
		c.do("PUT", "/Users/"+id, put).must(t, http.StatusOK)
		if storedUser(t, c, id).PasswordHash != hash {
			t.Errorf("a PUT without password changed the stored password")
		}

		// PATCH on a generic connection: 200 with the resource and the new ETag; the
		// change is stored.
		pr := c.patch(id, op("replace", "title", "Lead")).must(t, http.StatusOK)
		after := c.get(id)
		if !reflect.DeepEqual(pr.JSON, after) {
			t.Errorf("PATCH body differs from GET:\n%s", pr.Raw)
		}
		if after["title"] != "Lead" || pr.Header.Get("ETag") != at(after, "meta", "version") {
			t.Errorf("after PATCH: title %v, ETag %q, version %v", after["title"], pr.Header.Get("ETag"), at(after, "meta", "version"))
		}

		// DELETE: 204, then the user is gone for every method.
		del := c.do("DELETE", "/Users/"+id, nil).must(t, http.StatusNoContent)
		if len(del.Raw) != 0 {
			t.Errorf("DELETE 204 with a body: %s", del.Raw)
		}
		c.do("GET", "/Users/"+id, nil).scimError(t, http.StatusNotFound, "")
		c.do("DELETE", "/Users/"+id, nil).scimError(t, http.StatusNotFound, "")
		c.do("PUT", "/Users/"+id, put).scimError(t, http.StatusNotFound, "")
		c.patch(id, op("replace", "title", "x")).scimError(t, http.StatusNotFound, "")
		if n := num(t, c.list("filter", `userName eq "pat.doe@acme.example"`).must(t, 200).JSON["totalResults"]); n != 0 {
			t.Errorf("deleted user still listed: %d", n)
		}
	})
}

// TestE2EUsersPatchDialects: Entra connections answer a PATCH with 204, Okta and
// generic ones with 200 and the resource.
func TestE2EUsersPatchDialects(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		for _, tc := range []struct {
			idp    string
			status int
		}{{"entra", 204}, {"generic", 200}, {"okta", 200}} {
			conn := env.connect("idp-"+tc.idp, tc.idp)
			t.Run(tc.idp, func(t *testing.T) {
				c := conn.in(t)
				id := str(c.create(fullUser("dialect@"+tc.idp, "x"))["id"])
				// Entra's spelling: capitalised op, "False" as a string.
				res := c.patch(id, op("Replace", "active", "False"), op("Add", "title", "Boss")).must(t, tc.status)
				got := c.get(id)
				if got["active"] != false || got["title"] != "Boss" {
					t.Errorf("stored: active %v, title %v", got["active"], got["title"])
				}
				if res.Header.Get("ETag") != at(got, "meta", "version") {
					t.Errorf("ETag %q, version %v", res.Header.Get("ETag"), at(got, "meta", "version"))
				}
				if tc.status == 200 && !reflect.DeepEqual(res.JSON, got) {
					t.Errorf("%s PATCH body differs from GET:\n%s", tc.idp, res.Raw)
				}
				if tc.status == 204 && len(res.Raw) != 0 {
					t.Errorf("204 with a body: %s", res.Raw)
				}
			})
		}
	})
}

// TestE2EUsersSearch: POST /Users/.search with filter, attributes, sorting and count.
func TestE2EUsersSearch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		seedDirectory(c)
		res := c.do("POST", "/Users/.search", map[string]any{
			"schemas":    []string{searchRequestURN},
			"filter":     `emails[type eq "work"] and active eq true`,
			"attributes": []string{"userName", "name.givenName"},
			"sortBy":     "userName",
			"sortOrder":  "descending",
			"startIndex": 1,
			"count":      1,
		}).must(t, http.StatusOK)
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, scimContentType) {
			t.Errorf("Content-Type %q", ct)
		}
		if num(t, res.JSON["totalResults"]) != 2 || num(t, res.JSON["itemsPerPage"]) != 1 || num(t, res.JSON["startIndex"]) != 1 {
			t.Errorf("search page: %s", res.Raw)
		}
		rs := resources(t, res)
		if len(rs) != 1 || rs[0]["userName"] != "Zoë" {
			t.Fatalf("search resources: %s", res.Raw)
		}
		if want := map[string]any{"givenName": "Zoë"}; !reflect.DeepEqual(rs[0]["name"], want) {
			t.Errorf("name = %v, want %v", rs[0]["name"], want)
		}
		for _, k := range []string{"emails", "meta", "active", "title", enterpriseURN} {
			if _, ok := rs[0][k]; ok {
				t.Errorf("attributes=[userName, name.givenName] returned %s", k)
			}
		}
		if rs[0]["id"] == nil || rs[0]["schemas"] == nil {
			t.Errorf("id and schemas must always be returned: %v", rs[0])
		}
		// The endpoint's name in another case, and excludedAttributes.
		res = c.do("POST", "/users/.SEARCH", map[string]any{
			"schemas": []string{searchRequestURN}, "filter": `userName eq "bob"`, "excludedAttributes": []string{"emails"},
		}).must(t, http.StatusOK)
		rs = resources(t, res)
		if len(rs) != 1 || rs[0]["userName"] != "bob" || rs[0]["emails"] != nil || rs[0]["meta"] == nil {
			t.Errorf(".search with excludedAttributes: %s", res.Raw)
		}
		// A bad filter in the body is refused like one in the query.
		c.do("POST", "/Users/.search", map[string]any{"schemas": []string{searchRequestURN}, "filter": `nosuch eq 1`}).
			scimError(t, http.StatusBadRequest, "invalidFilter")
	})
}

// patchBase is the user every PATCH case starts from.
func patchBase() map[string]any { return fullUser("pat", "ext-pat") }

// TestE2EUsersPatch: each case PATCHes a fresh user, then checks what GET returns.
func TestE2EUsersPatch(t *testing.T) {
	ent := func(attr string) string { return enterpriseURN + ":" + attr }
	cases := []struct {
		name  string
		ops   []map[string]any
		check func(t *testing.T, u map[string]any)
	}{
		{"add with path", []map[string]any{op("add", "nickName", "Patty")}, func(t *testing.T, u map[string]any) {
			if u["nickName"] != "Patty" {
				t.Errorf("nickName = %v", u["nickName"])
			}
		}},
		{"add without path", []map[string]any{op("add", "", map[string]any{"nickName": "Patty", "title": "Lead"})}, func(t *testing.T, u map[string]any) {
			if u["nickName"] != "Patty" || u["title"] != "Lead" {
				t.Errorf("nickName = %v, title = %v", u["nickName"], u["title"])
			}
		}},
		{"replace with path", []map[string]any{op("replace", "displayName", "P. Doe")}, func(t *testing.T, u map[string]any) {
			if u["displayName"] != "P. Doe" {
				t.Errorf("displayName = %v", u["displayName"])
			}
		}},
		{"replace without path", []map[string]any{op("replace", "", map[string]any{"displayName": "P. Doe", "active": false})}, func(t *testing.T, u map[string]any) {
			if u["displayName"] != "P. Doe" || u["active"] != false {
				t.Errorf("displayName = %v, active = %v", u["displayName"], u["active"])
			}
		}},
		{"replace sub-attribute", []map[string]any{op("replace", "name.givenName", "Patricia")}, func(t *testing.T, u map[string]any) {
			if at(u, "name", "givenName") != "Patricia" || at(u, "name", "familyName") != "Doe" {
				t.Errorf("name = %v", u["name"])
			}
		}},
		{"replace complex without path keeps other sub-attributes", []map[string]any{op("replace", "", map[string]any{"name": map[string]any{"givenName": "Patricia"}})}, func(t *testing.T, u map[string]any) {
			if at(u, "name", "givenName") != "Patricia" || at(u, "name", "familyName") != "Doe" {
				t.Errorf("name = %v", u["name"])
			}
		}},
		{"remove with path", []map[string]any{op("remove", "title", nil)}, func(t *testing.T, u map[string]any) {
			if _, ok := u["title"]; ok {
				t.Errorf("title still there: %v", u["title"])
			}
		}},
		{"remove sub-attribute", []map[string]any{op("remove", "name.familyName", nil)}, func(t *testing.T, u map[string]any) {
			if has(u, "familyName", "name") || at(u, "name", "givenName") != "Pat" {
				t.Errorf("name = %v", u["name"])
			}
		}},
		{"replace value-path sub-attribute", []map[string]any{op("replace", `emails[type eq "work"].value`, "new@work.example")}, func(t *testing.T, u map[string]any) {
			if v := elementOfType(u, "emails", "work")["value"]; v != "new@work.example" {
				t.Errorf("work e-mail = %v", v)
			}
			if v := elementOfType(u, "emails", "home")["value"]; v != "pat@home.example" {
				t.Errorf("home e-mail changed: %v", v)
			}
			if len(elements(u, "emails")) != 2 {
				t.Errorf("emails = %v", u["emails"])
			}
		}},
		{"remove by value path", []map[string]any{op("remove", `emails[type eq "home"]`, nil)}, func(t *testing.T, u map[string]any) {
			if es := elements(u, "emails"); len(es) != 1 || es[0]["type"] != "work" {
				t.Errorf("emails = %v", u["emails"])
			}
		}},
		{"remove value-path with value comparison", []map[string]any{op("remove", `emails[value eq "PAT@HOME.EXAMPLE"]`, nil)}, func(t *testing.T, u map[string]any) {
			if es := elements(u, "emails"); len(es) != 1 || es[0]["value"] != "pat@work.example" {
				t.Errorf("emails = %v", u["emails"])
			}
		}},
		{"remove whole multi-valued attribute", []map[string]any{op("remove", "emails", nil)}, func(t *testing.T, u map[string]any) {
			if _, ok := u["emails"]; ok {
				t.Errorf("emails = %v", u["emails"])
			}
		}},
		{"add merges into a multi-valued attribute", []map[string]any{op("add", "emails", []any{map[string]any{"value": "pat@other.example", "type": "other"}})}, func(t *testing.T, u map[string]any) {
			es := elements(u, "emails")
			if len(es) != 3 || elementOfType(u, "emails", "other")["value"] != "pat@other.example" || elementOfType(u, "emails", "work")["value"] != "pat@work.example" {
				t.Errorf("emails = %v", u["emails"])
			}
			if p := primaries(u, "emails"); len(p) != 1 || p[0] != "pat@work.example" {
				t.Errorf("primaries = %v", p)
			}
		}},
		{"add of an existing element does not duplicate it", []map[string]any{op("add", "emails", []any{map[string]any{"value": "pat@home.example", "type": "home"}})}, func(t *testing.T, u map[string]any) {
			if len(elements(u, "emails")) != 2 {
				t.Errorf("emails = %v", u["emails"])
			}
		}},
		{"replace whole multi-valued attribute", []map[string]any{op("replace", "emails", []any{map[string]any{"value": "only@x.example", "type": "work"}})}, func(t *testing.T, u map[string]any) {
			if es := elements(u, "emails"); len(es) != 1 || es[0]["value"] != "only@x.example" {
				t.Errorf("emails = %v", u["emails"])
			}
		}},
		{"added primary leaves exactly one primary", []map[string]any{op("add", "emails", []any{map[string]any{"value": "new@x.example", "type": "other", "primary": true}})}, func(t *testing.T, u map[string]any) {
			if p := primaries(u, "emails"); len(p) != 1 || p[0] != "new@x.example" {
				t.Errorf("primaries = %v in %v", p, u["emails"])
			}
		}},
		{"primary set through a value path moves it", []map[string]any{op("replace", `emails[type eq "home"].primary`, true)}, func(t *testing.T, u map[string]any) {
			if p := primaries(u, "emails"); len(p) != 1 || p[0] != "pat@home.example" {
				t.Errorf("primaries = %v in %v", p, u["emails"])
			}
		}},
		{`"True" strings are booleans`, []map[string]any{op("Replace", `emails[type eq "home"].primary`, "True"), op("Replace", "active", "False")}, func(t *testing.T, u map[string]any) {
			if p := primaries(u, "emails"); len(p) != 1 || p[0] != "pat@home.example" {
				t.Errorf("primaries = %v in %v", p, u["emails"])
			}
			if u["active"] != false {
				t.Errorf("active = %#v", u["active"])
			}
		}},
		{"path-less replace with a dotted key", []map[string]any{op("replace", "", map[string]any{"name.givenName": "Dotty", "emails[type eq \"work\"].value": "dot@work.example"})}, func(t *testing.T, u map[string]any) {
			if at(u, "name", "givenName") != "Dotty" || at(u, "name", "familyName") != "Doe" {
				t.Errorf("name = %v", u["name"])
			}
			if v := elementOfType(u, "emails", "work")["value"]; v != "dot@work.example" {
				t.Errorf("work e-mail = %v", v)
			}
		}},
		{"path-less replace with URN-qualified keys", []map[string]any{op("replace", "", map[string]any{
			ent("department"):              "Finance",
			userSchemaURN + ":displayName": "Qualified",
			ent("manager.value"):           "mgr-2",
		})}, func(t *testing.T, u map[string]any) {
			if at(u, enterpriseURN, "department") != "Finance" || at(u, enterpriseURN, "employeeNumber") != "7" {
				t.Errorf("enterprise = %v", u[enterpriseURN])
			}
			if at(u, enterpriseURN, "manager", "value") != "mgr-2" {
				t.Errorf("manager = %v", at(u, enterpriseURN, "manager"))
			}
			if u["displayName"] != "Qualified" {
				t.Errorf("displayName = %v", u["displayName"])
			}
		}},
		{"path-less replace of the extension object", []map[string]any{op("replace", "", map[string]any{enterpriseURN: map[string]any{"department": "Ops"}})}, func(t *testing.T, u map[string]any) {
			if at(u, enterpriseURN, "department") != "Ops" || at(u, enterpriseURN, "employeeNumber") != "7" {
				t.Errorf("enterprise = %v", u[enterpriseURN])
			}
		}},
		{"URN path", []map[string]any{op("replace", ent("department"), "Legal"), op("remove", ent("employeeNumber"), nil)}, func(t *testing.T, u map[string]any) {
			if at(u, enterpriseURN, "department") != "Legal" || has(u, "employeeNumber", enterpriseURN) {
				t.Errorf("enterprise = %v", u[enterpriseURN])
			}
		}},
		{"remove the whole extension", []map[string]any{op("remove", enterpriseURN, nil)}, func(t *testing.T, u map[string]any) {
			if _, ok := u[enterpriseURN]; ok {
				t.Errorf("enterprise = %v", u[enterpriseURN])
			}
			if s := strSlice(u["schemas"]); len(s) != 1 {
				t.Errorf("schemas = %v", s)
			}
		}},
		{"attribute names in another case", []map[string]any{op("replace", "DISPLAYNAME", "Upper"), op("replace", "Name.GivenName", "Cased")}, func(t *testing.T, u map[string]any) {
			if u["displayName"] != "Upper" || at(u, "name", "givenName") != "Cased" {
				t.Errorf("displayName = %v, name = %v", u["displayName"], u["name"])
			}
			if _, ok := u["DISPLAYNAME"]; ok {
				t.Errorf("stored under the client's spelling")
			}
		}},
		{"userName and externalId", []map[string]any{op("replace", "userName", "pat.renamed"), op("replace", "externalId", "ext-2")}, func(t *testing.T, u map[string]any) {
			if u["userName"] != "pat.renamed" || u["externalId"] != "ext-2" {
				t.Errorf("userName = %v, externalId = %v", u["userName"], u["externalId"])
			}
		}},
		{"ops apply in order", []map[string]any{op("add", "title", "A"), op("replace", "title", "B"), op("remove", "nickName", nil)}, func(t *testing.T, u map[string]any) {
			if u["title"] != "B" {
				t.Errorf("title = %v", u["title"])
			}
		}},
	}
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "entra")
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := c.in(t)
				base := patchBase()
				base["userName"] = fmt.Sprintf("pat%d", i)
				before := c.create(base)
				id := str(before["id"])
				c.patch(id, tc.ops...).must(t, http.StatusNoContent)
				u := c.get(id)
				tc.check(t, u)
				if at(u, "meta", "version") == at(before, "meta", "version") {
					t.Errorf("version unchanged after a PATCH")
				}
			})
		}
	})
}

// TestE2EUsersPatchRejected: an invalid PATCH is a 400 with its scimType and changes
// nothing — also when valid operations precede the invalid one.
func TestE2EUsersPatchRejected(t *testing.T) {
	cases := []struct {
		name     string
		ops      []map[string]any
		scimType string
	}{
		{"valid then unknown path", []map[string]any{op("replace", "title", "Changed"), op("replace", "noSuchAttribute", "x")}, "invalidPath"},
		{"valid then bad value", []map[string]any{op("replace", "displayName", "Changed"), op("replace", "active", "perhaps")}, "invalidValue"},
		{"valid then remove without path", []map[string]any{op("add", "emails", []any{map[string]any{"value": "n@x.example"}}), op("remove", "", nil)}, "noTarget"},
		{"valid then unknown op", []map[string]any{op("replace", "title", "Changed"), op("frobnicate", "title", "x")}, "invalidSyntax"},
		{"valid then read-only id", []map[string]any{op("replace", "title", "Changed"), op("replace", "id", "mine")}, "mutability"},
		{"read-only meta", []map[string]any{op("replace", "meta.created", "2000-01-01T00:00:00Z")}, "mutability"},
		{"read-only groups", []map[string]any{op("add", "groups", []any{map[string]any{"value": "g"}})}, "mutability"},
		{"valid then malformed value path", []map[string]any{op("replace", "title", "Changed"), op("replace", `emails[type eq "work".value`, "x")}, "invalidPath"},
		{"removing the required userName", []map[string]any{op("replace", "title", "Changed"), op("remove", "userName", nil)}, "invalidValue"},
	}
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		before := c.create(patchBase())
		id := str(before["id"])
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := c.in(t)
				c.patch(id, tc.ops...).scimError(t, http.StatusBadRequest, tc.scimType)
				if after := c.get(id); !reflect.DeepEqual(after, before) {
					t.Errorf("a rejected PATCH changed the user:\nbefore %v\nafter  %v", before, after)
				}
			})
		}
		// Malformed requests.
		for name, body := range map[string]any{
			"no operations":     map[string]any{"schemas": []string{patchOpURN}, "Operations": []any{}},
			"operations absent": map[string]any{"schemas": []string{patchOpURN}},
			"not JSON":          `{"Operations": [`,
			"op not an object":  map[string]any{"schemas": []string{patchOpURN}, "Operations": []any{"replace"}},
		} {
			t.Run(name, func(t *testing.T) {
				res := c.in(t).do("PATCH", "/Users/"+id, body)
				if res.Status != http.StatusBadRequest {
					t.Errorf("status %d: %s", res.Status, res.Raw)
				}
			})
		}
		if after := c.get(id); !reflect.DeepEqual(after, before) {
			t.Errorf("malformed PATCHes changed the user")
		}
	})
}

// seedDirectory creates four users made for filtering and sorting, and one user of
// another connection with a clashing userName that must never show up. It returns the
// created representations by userName.
func seedDirectory(c *scimClient) map[string]map[string]any {
	users := []map[string]any{
		{
			"userName": "Oscar.Jones", "externalId": "ext-Oscar", "displayName": "Oscar Jones", "title": "Engineer", "active": true,
			"name": map[string]any{"givenName": "Oscar", "familyName": "Jones"},
			"emails": []any{
				map[string]any{"value": "oscar@x.example", "type": "work", "primary": true},
				map[string]any{"value": "oscar@home.example", "type": "home"},
			},
			enterpriseURN: map[string]any{"department": "Sales", "employeeNumber": "100"},
		},
		{
			"userName": "olga", "externalId": "ext-olga", "displayName": "Olga Petrova", "active": false,
			"name":        map[string]any{"givenName": "Olga", "familyName": "Petrova"},
			"emails":      []any{map[string]any{"value": "olga@y.example", "type": "work"}},
			enterpriseURN: map[string]any{"department": "Engineering", "employeeNumber": "200"},
		},
		{
			"userName": "bob", "externalId": "EXT-BOB", "displayName": "Bob Smith", "active": true,
			"name":   map[string]any{"givenName": "Bob", "familyName": "Smith"},
			"emails": []any{map[string]any{"value": "bob@x.example", "type": "home"}},
		},
		{
			"userName": "Zoë", "externalId": "ext-zoe", "displayName": "Zoë Lind", "active": true,
			"name":        map[string]any{"givenName": "Zoë", "familyName": "Lind"},
			"emails":      []any{map[string]any{"value": "zoe@x.example", "type": "work"}},
			enterpriseURN: map[string]any{"department": "sales", "employeeNumber": "300"},
		},
	}
	out := map[string]map[string]any{}
	for _, u := range users {
		if _, ok := u[enterpriseURN]; ok {
			u["schemas"] = []string{userSchemaURN, enterpriseURN}
		}
		created := c.create(u)
		out[str(created["userName"])] = created
	}
	other := c.env.connect(c.slug+"-other", "generic")
	other.t = c.t
	other.create(map[string]any{"userName": "bob", "externalId": "EXT-BOB", "title": "Engineer",
		"emails": []any{map[string]any{"value": "bob@x.example", "type": "work"}}})
	return out
}

// TestE2EUsersFilter runs every operator, logical combination and attribute kind through
// GET ?filter= and POST /.search; both must find exactly the expected users.
func TestE2EUsersFilter(t *testing.T) {
	const ent = enterpriseURN + ":"
	cases := []struct {
		filter string
		want   []string
	}{
		{`userName eq "oscar.jones"`, []string{"Oscar.Jones"}},
		{`USERNAME eq "BOB"`, []string{"bob"}},
		{`userName Eq "bob"`, []string{"bob"}},
		{`userName eq "ZOË"`, []string{"Zoë"}},
		{"userName eq \"zoe\u0308\"", []string{"Zoë"}},
		{`userName ne "bob"`, []string{"Oscar.Jones", "olga", "Zoë"}},
		{`userName co "CAR"`, []string{"Oscar.Jones"}},
		{`userName sw "o"`, []string{"Oscar.Jones", "olga"}},
		{`userName sw O`, []string{"Oscar.Jones", "olga"}},
		{`userName ew "GA"`, []string{"olga"}},
		{`userName gt "olga"`, []string{"Oscar.Jones", "Zoë"}},
		{`userName ge "olga"`, []string{"Oscar.Jones", "olga", "Zoë"}},
		{`userName lt "olga"`, []string{"bob"}},
		{`userName le "bob"`, []string{"bob"}},
		{`userName co "%"`, nil},
		{`userName sw "_"`, nil},
		{`title pr`, []string{"Oscar.Jones"}},
		{`title eq "ENGINEER"`, []string{"Oscar.Jones"}},
		{`not (title pr)`, []string{"olga", "bob", "Zoë"}},
		{`name.FamilyName eq "SMITH"`, []string{"bob"}},
		{`NAME.givenname sw "o"`, []string{"Oscar.Jones", "olga"}},
		{`displayName co "lind"`, []string{"Zoë"}},
		{`externalId eq "EXT-BOB"`, []string{"bob"}},
		{`externalId eq "ext-bob"`, nil},
		{`externalId sw "ext-"`, []string{"Oscar.Jones", "olga", "Zoë"}},
		{`id eq "{oscar.id}"`, []string{"Oscar.Jones"}},
		{`id eq "{OSCAR.ID}"`, nil},
		{`active eq false`, []string{"olga"}},
		{`active eq true`, []string{"Oscar.Jones", "bob", "Zoë"}},
		{`active ne true`, []string{"olga"}},
		{`(userName eq "bob" or userName eq "olga") and active eq false`, []string{"olga"}},
		{`userName eq "bob" or userName eq "olga" and active eq true`, []string{"bob"}},
		{`not (userName eq "bob" or userName eq "olga")`, []string{"Oscar.Jones", "Zoë"}},
		{`((userName eq "bob")) and not (active eq false)`, []string{"bob"}},
		{`emails[type eq "work" and value co "@x"]`, []string{"Oscar.Jones", "Zoë"}},
		{`emails[type eq "home" or value ew "@Y.EXAMPLE"]`, []string{"Oscar.Jones", "olga", "bob"}},
		{`emails[not (type eq "work")]`, []string{"Oscar.Jones", "bob"}},
		{`emails[primary eq true]`, []string{"Oscar.Jones"}},
		{`emails[type eq "work"] and emails[type eq "home"]`, []string{"Oscar.Jones"}},
		{`emails.value ew "@y.example"`, []string{"olga"}},
		{`emails.type eq "home"`, []string{"Oscar.Jones", "bob"}},
		{`emails co "home.example"`, []string{"Oscar.Jones"}},
		{`emails pr`, []string{"Oscar.Jones", "olga", "bob", "Zoë"}},
		{`phoneNumbers pr`, nil},
		{ent + `department eq "SALES"`, []string{"Oscar.Jones", "Zoë"}},
		{ent + `department pr`, []string{"Oscar.Jones", "olga", "Zoë"}},
		{`not (` + ent + `department pr)`, []string{"bob"}},
		{ent + `employeeNumber ge "200"`, []string{"olga", "Zoë"}},
		{strings.ToLower(ent) + `Department eq "engineering"`, []string{"olga"}},
		{userSchemaURN + `:userName eq "bob"`, []string{"bob"}},
		{userSchemaURN + `:name.familyName eq "Jones"`, []string{"Oscar.Jones"}},
		{`meta.created gt "{olga.created}"`, []string{"bob", "Zoë"}},
		{`meta.created ge {olga.created}`, []string{"olga", "bob", "Zoë"}},
		{`meta.created lt "{olga.created}"`, []string{"Oscar.Jones"}},
		{`meta.created eq "{bob.created}"`, []string{"bob"}},
		{`meta.lastModified le "{bob.lastModified}"`, []string{"Oscar.Jones", "olga", "bob"}},
		{`meta.lastModified gt "2029-12-31T00:00:00Z"`, []string{"Oscar.Jones", "olga", "bob", "Zoë"}},
		// Time zones: 04:04:05+01:00 is the clock's start, before every creation.
		{`meta.created gt "2030-01-02T04:04:05+01:00"`, []string{"Oscar.Jones", "olga", "bob", "Zoë"}},
		{`meta.created lt "2030-01-02T04:04:05+01:00"`, nil},
		{`meta.LASTMODIFIED pr`, []string{"Oscar.Jones", "olga", "bob", "Zoë"}},
	}
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		seeded := seedDirectory(c)
		oscarID := str(seeded["Oscar.Jones"]["id"])
		if strings.ToUpper(oscarID) == oscarID {
			t.Fatalf("id %q has no letters to change the case of", oscarID)
		}
		vars := strings.NewReplacer(
			"{oscar.id}", oscarID, "{OSCAR.ID}", strings.ToUpper(oscarID),
			"{olga.created}", str(at(seeded["olga"], "meta", "created")),
			"{bob.created}", str(at(seeded["bob"], "meta", "created")),
			"{bob.lastModified}", str(at(seeded["bob"], "meta", "lastModified")),
		)
		for _, tc := range cases {
			f := vars.Replace(tc.filter)
			t.Run(tc.filter, func(t *testing.T) {
				c := c.in(t)
				want := sortedCopy(tc.want)
				for _, res := range []*reply{
					c.list("filter", f),
					c.do("POST", "/Users/.search", map[string]any{"schemas": []string{searchRequestURN}, "filter": f}),
				} {
					if res.Status != http.StatusOK {
						t.Errorf("status %d: %s", res.Status, res.Raw)
						continue
					}
					got := sortedCopy(userNames(resources(t, res)))
					if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
						t.Errorf("filter %s: got %v, want %v", f, got, want)
					}
					if n := num(t, res.JSON["totalResults"]); n != len(want) {
						t.Errorf("totalResults %d, want %d", n, len(want))
					}
				}
			})
		}
	})
}

// TestE2EUsersFilterRejected: a filter the server cannot honour exactly is a 400
// invalidFilter, never "return everything".
func TestE2EUsersFilterRejected(t *testing.T) {
	deep := strings.Repeat("(", 100) + `userName eq "bob"` + strings.Repeat(")", 100)
	long := `userName eq "` + strings.Repeat("a", 4100) + `"`
	var chain strings.Builder
	chain.WriteString(`userName eq "x0"`)
	for i := 1; i < 60; i++ {
		fmt.Fprintf(&chain, ` or userName eq "x%d"`, i)
	}
	cases := map[string]string{
		"unknown attribute":            `nosuch eq "x"`,
		"unknown sub-attribute":        `name.nosuch eq "x"`,
		"unknown extension attribute":  enterpriseURN + `:nosuch eq "x"`,
		"unknown schema":               `urn:example:nope:1.0:User:userName eq "bob"`,
		"complex without sub":          `name eq "x"`,
		"missing value":                `userName eq`,
		"unknown operator":             `userName zz "x"`,
		"dangling and":                 `userName eq "x" and`,
		"unbalanced parenthesis":       `(userName eq "x"`,
		"unbalanced bracket":           `emails[type eq "work"`,
		"value path on simple":         `userName[value eq "x"]`,
		"nested value path":            `emails[type eq "work" and emails[value eq "x"]]`,
		"boolean ordered":              `active gt true`,
		"boolean against string":       `active eq "perhaps"`,
		"not a date":                   `meta.created gt "yesterday"`,
		"meta.location":                `meta.location eq "x"`,
		"meta.version":                 `meta.version eq "W/\"1\""`,
		"co on a boolean":              `active co "t"`,
		"garbage":                      `)))`,
		"only spaces and words":        `userName`,
		"longer than 4096 bytes":       long,
		"100 nested parentheses":       deep,
		"60 alternatives beyond depth": chain.String(),
	}
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		seedDirectory(c)
		for name, f := range cases {
			t.Run(name, func(t *testing.T) {
				c := c.in(t)
				c.list("filter", f).scimError(t, http.StatusBadRequest, "invalidFilter")
				c.do("POST", "/Users/.search", map[string]any{"schemas": []string{searchRequestURN}, "filter": f}).
					scimError(t, http.StatusBadRequest, "invalidFilter")
			})
		}
		// The password is never a filter oracle: it matches nobody, or is refused.
		res := c.list("filter", `password pr`)
		if res.Status == http.StatusOK && num(t, res.JSON["totalResults"]) != 0 {
			t.Errorf("filter on password matched: %s", res.Raw)
		}
	})
}

// TestE2EUsersSortAndPage covers sortBy/sortOrder and startIndex/count.
func TestE2EUsersSortAndPage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		seedDirectory(c)
		// bob has neither an employeeNumber nor a title: RFC 7644 §3.4.2.3 orders
		// resources without the value last when ascending and first when descending.
		sorts := []struct {
			params []string
			want   []string
		}{
			{[]string{"sortBy", "userName"}, []string{"bob", "olga", "Oscar.Jones", "Zoë"}},
			{[]string{"sortBy", "userName", "sortOrder", "ascending"}, []string{"bob", "olga", "Oscar.Jones", "Zoë"}},
			{[]string{"sortBy", "USERNAME", "sortOrder", "descending"}, []string{"Zoë", "Oscar.Jones", "olga", "bob"}},
			{[]string{"sortBy", "name.familyName"}, []string{"Oscar.Jones", "Zoë", "olga", "bob"}},
			{[]string{"sortBy", "meta.created", "sortOrder", "descending"}, []string{"Zoë", "bob", "olga", "Oscar.Jones"}},
			{[]string{"sortBy", enterpriseURN + ":employeeNumber"}, []string{"Oscar.Jones", "olga", "Zoë", "bob"}},
			{[]string{"sortBy", enterpriseURN + ":employeeNumber", "sortOrder", "descending"}, []string{"bob", "Zoë", "olga", "Oscar.Jones"}},
			{[]string{"sortBy", "title", "filter", `userName eq "bob" or userName eq "Oscar.Jones"`}, []string{"Oscar.Jones", "bob"}},
			{[]string{"sortBy", "title", "sortOrder", "descending", "filter", `userName eq "bob" or userName eq "Oscar.Jones"`}, []string{"bob", "Oscar.Jones"}},
			{[]string{"sortBy", "userName", "startIndex", "2", "count", "2"}, []string{"olga", "Oscar.Jones"}},
			{[]string{"sortBy", "userName", "startIndex", "4", "count", "10"}, []string{"Zoë"}},
			{[]string{"sortBy", "userName", "startIndex", "5"}, []string{}},
			{[]string{"sortBy", "userName", "startIndex", "0", "count", "1"}, []string{"bob"}},
			{[]string{"sortBy", "userName", "filter", "active eq true", "startIndex", "2", "count", "1"}, []string{"Oscar.Jones"}},
		}
		for _, tc := range sorts {
			t.Run(strings.Join(tc.params, "="), func(t *testing.T) {
				c := c.in(t)
				res := c.list(tc.params...).must(t, http.StatusOK)
				got := userNames(resources(t, res))
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
				if num(t, res.JSON["itemsPerPage"]) != len(resources(t, res)) {
					t.Errorf("itemsPerPage %v for %d resources", res.JSON["itemsPerPage"], len(resources(t, res)))
				}
			})
		}

		// The page reports totalResults of the whole match and its own startIndex.
		res := c.list("sortBy", "userName", "startIndex", "2", "count", "2").must(t, http.StatusOK)
		if num(t, res.JSON["totalResults"]) != 4 || num(t, res.JSON["startIndex"]) != 2 || num(t, res.JSON["itemsPerPage"]) != 2 {
			t.Errorf("page: %s", res.Raw)
		}
		// count=0 (and a negative count, which means 0) returns only totalResults.
		for _, n := range []string{"0", "-3"} {
			res = c.list("count", n).must(t, http.StatusOK)
			if num(t, res.JSON["totalResults"]) != 4 || len(resources(t, res)) != 0 {
				t.Errorf("count=%s: %s", n, res.Raw)
			}
		}
		res = c.do("POST", "/Users/.search", map[string]any{"schemas": []string{searchRequestURN}, "count": 0, "filter": `active eq true`}).must(t, 200)
		if num(t, res.JSON["totalResults"]) != 3 || len(resources(t, res)) != 0 {
			t.Errorf(".search count=0: %s", res.Raw)
		}
		// Sorting by an unknown attribute or in an unknown order is refused.
		c.list("sortBy", "nosuch").scimError(t, http.StatusBadRequest, "invalidValue")
		c.list("sortBy", "userName", "sortOrder", "sideways").scimError(t, http.StatusBadRequest, "invalidValue")
		c.list("count", "ten").scimError(t, http.StatusBadRequest, "invalidValue")
	})
}

// TestE2EUsersSortMultiValued: RFC 7644 §3.4.2.3 sorts by a multi-valued attribute
// using the primary value, else the first one.
func TestE2EUsersSortMultiValued(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		seedDirectory(c)
		// Oscar's primary is oscar@x.example; the others have one e-mail each.
		res := c.list("sortBy", "emails.value").must(t, http.StatusOK)
		want := []string{"bob", "olga", "Oscar.Jones", "Zoë"}
		if got := userNames(resources(t, res)); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}

// TestE2EUsersCountCap: a count above the server maximum (1000) is capped, and the
// ServiceProviderConfig announces that maximum.
func TestE2EUsersCountCap(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		users := &provisioning.Users{Store: db.Users()}
		const n = 1003
		for i := 0; i < n; i++ {
			if _, err := users.Create(context.Background(), c.conn.ID, map[string]any{"userName": fmt.Sprintf("bulk%04d", i)}, ""); err != nil {
				t.Fatal(err)
			}
		}
		max := num(t, at(c.do("GET", "/ServiceProviderConfig", nil).must(t, 200).JSON, "filter", "maxResults"))
		if max != 1000 {
			t.Errorf("maxResults %d", max)
		}
		res := c.list("count", "5000", "attributes", "userName").must(t, http.StatusOK)
		if got := len(resources(t, res)); got != max || num(t, res.JSON["itemsPerPage"]) != max || num(t, res.JSON["totalResults"]) != n {
			t.Errorf("count=5000: %d resources, itemsPerPage %v, totalResults %v", got, res.JSON["itemsPerPage"], res.JSON["totalResults"])
		}
		res = c.do("POST", "/Users/.search", map[string]any{"schemas": []string{searchRequestURN}, "count": 5000, "attributes": []string{"id"}}).must(t, http.StatusOK)
		if got := len(resources(t, res)); got != max {
			t.Errorf(".search count=5000: %d resources", got)
		}
		// Without count the page stays within the maximum too.
		if got := len(resources(t, c.list().must(t, 200))); got == 0 || got > max {
			t.Errorf("default page: %d resources", got)
		}
		// Paging through the rest finds the remaining users.
		res = c.list("sortBy", "userName", "startIndex", "1001", "count", "1000").must(t, http.StatusOK)
		if got := userNames(resources(t, res)); len(got) != 3 || got[0] != "bulk1000" {
			t.Errorf("last page: %v", got)
		}
	})
}

// TestE2EUsersProjection covers attributes and excludedAttributes.
func TestE2EUsersProjection(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		seeded := seedDirectory(c)
		id := str(seeded["Oscar.Jones"]["id"])
		keys := func(m map[string]any) []string {
			var out []string
			for k := range m {
				out = append(out, k)
			}
			return sortedCopy(out)
		}
		cases := []struct {
			query string
			check func(t *testing.T, u map[string]any)
		}{
			{"attributes=userName", func(t *testing.T, u map[string]any) {
				if got := keys(u); !reflect.DeepEqual(got, []string{"id", "schemas", "userName"}) {
					t.Errorf("keys %v", got)
				}
			}},
			{"attributes=USERNAME,displayName", func(t *testing.T, u map[string]any) {
				if got := keys(u); !reflect.DeepEqual(got, []string{"displayName", "id", "schemas", "userName"}) {
					t.Errorf("keys %v", got)
				}
			}},
			{"attributes=name.givenName", func(t *testing.T, u map[string]any) {
				if !reflect.DeepEqual(u["name"], map[string]any{"givenName": "Oscar"}) || u["userName"] != nil {
					t.Errorf("got %v", u)
				}
			}},
			{"attributes=" + userSchemaURN + ":name.familyName", func(t *testing.T, u map[string]any) {
				if !reflect.DeepEqual(u["name"], map[string]any{"familyName": "Jones"}) {
					t.Errorf("got %v", u)
				}
			}},
			{"attributes=emails.value", func(t *testing.T, u map[string]any) {
				es := elements(u, "emails")
				if len(es) != 2 {
					t.Fatalf("emails = %v", u["emails"])
				}
				for _, e := range es {
					if got := keys(e); !reflect.DeepEqual(got, []string{"value"}) {
						t.Errorf("e-mail keys %v", got)
					}
				}
			}},
			{"attributes=" + enterpriseURN + ":department", func(t *testing.T, u map[string]any) {
				if !reflect.DeepEqual(u[enterpriseURN], map[string]any{"department": "Sales"}) || u["userName"] != nil {
					t.Errorf("got %v", u)
				}
			}},
			{"attributes=" + enterpriseURN, func(t *testing.T, u map[string]any) {
				if at(u, enterpriseURN, "department") != "Sales" || at(u, enterpriseURN, "employeeNumber") != "100" || u["userName"] != nil {
					t.Errorf("got %v", u)
				}
			}},
			{"attributes=password", func(t *testing.T, u map[string]any) {
				if got := keys(u); !reflect.DeepEqual(got, []string{"id", "schemas"}) {
					t.Errorf("keys %v", got)
				}
			}},
			{"excludedAttributes=emails,name.familyName", func(t *testing.T, u map[string]any) {
				if u["emails"] != nil || has(u, "familyName", "name") || at(u, "name", "givenName") != "Oscar" || u["userName"] != "Oscar.Jones" || u["meta"] == nil {
					t.Errorf("got %v", u)
				}
			}},
			{"excludedAttributes=id,schemas,userName", func(t *testing.T, u map[string]any) {
				if u["id"] != id || u["schemas"] == nil || u["userName"] != nil || u["displayName"] != "Oscar Jones" {
					t.Errorf("got %v", u)
				}
			}},
			{"attributes=schemas", func(t *testing.T, u map[string]any) {
				if got := keys(u); !reflect.DeepEqual(got, []string{"id", "schemas"}) {
					t.Errorf("keys %v", got)
				}
			}},
			{"excludedAttributes=emails.type,emails.primary", func(t *testing.T, u map[string]any) {
				es := elements(u, "emails")
				if len(es) != 2 || es[0]["type"] != nil || es[0]["primary"] != nil || es[0]["value"] == nil || u["userName"] == nil {
					t.Errorf("emails = %v", u["emails"])
				}
			}},
			{"excludedAttributes=" + enterpriseURN + ":employeeNumber", func(t *testing.T, u map[string]any) {
				if !reflect.DeepEqual(u[enterpriseURN], map[string]any{"department": "Sales"}) || u["userName"] == nil {
					t.Errorf("got %v", u)
				}
			}},
		}
		for _, tc := range cases {
			t.Run(tc.query, func(t *testing.T) {
				c := c.in(t)
				// On GET by id and on a list, with id and schemas always present.
				one := c.do("GET", "/Users/"+id+"?"+tc.query, nil).must(t, http.StatusOK).JSON
				list := resources(t, c.do("GET", "/Users?filter="+`id+eq+"`+id+`"&`+tc.query, nil).must(t, http.StatusOK))
				if len(list) != 1 {
					t.Fatalf("list: %v", list)
				}
				for _, u := range []map[string]any{one, list[0]} {
					if u["id"] != id || len(strSlice(u["schemas"])) == 0 {
						t.Errorf("id and schemas must always be returned: %v", u)
					}
					tc.check(t, u)
				}
			})
		}
		// POST and PUT honour attributes too.
		res := c.do("POST", "/Users?attributes=userName", map[string]any{"schemas": []string{userSchemaURN}, "userName": "proj", "title": "x"}).must(t, http.StatusCreated)
		if got := keys(res.JSON); !reflect.DeepEqual(got, []string{"id", "schemas", "userName"}) || res.Header.Get("Location") == "" {
			t.Errorf("POST ?attributes=userName: %s", res.Raw)
		}
	})
}

// TestE2EUsersETags: If-Match guards PUT, PATCH and DELETE; If-None-Match on GET may
// answer 304.
func TestE2EUsersETags(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "generic")
		created := c.do("POST", "/Users", fullUser("etag", "ext-etag")).must(t, http.StatusCreated)
		id := str(created.JSON["id"])
		current := created.Header.Get("ETag")
		if current == "" || !strings.HasPrefix(current, `W/"`) {
			t.Fatalf("ETag %q", current)
		}
		stale := `W/"0"`
		put := fullUser("etag", "ext-etag")
		put["title"] = "Changed"

		// A stale If-Match is 412 on every write and nothing changes.
		for _, r := range []*reply{
			c.do("PUT", "/Users/"+id, put, "If-Match", stale),
			c.do("PATCH", "/Users/"+id, patchBody(op("replace", "title", "Changed")), "If-Match", stale),
			c.do("DELETE", "/Users/"+id, nil, "If-Match", stale),
			c.do("PUT", "/Users/"+id, put, "If-Match", `"999"`),
		} {
			r.scimError(t, http.StatusPreconditionFailed, "")
		}
		if got := c.get(id); !reflect.DeepEqual(got, created.JSON) {
			t.Errorf("412s changed the user: %v", got)
		}

		// If-None-Match with the current ETag: 304 without a body; a stale one: 200.
		nm := c.do("GET", "/Users/"+id, nil, "If-None-Match", current)
		if nm.Status != http.StatusNotModified || len(nm.Raw) != 0 || nm.Header.Get("ETag") != current {
			t.Errorf("If-None-Match current: %d %q ETag %q", nm.Status, nm.Raw, nm.Header.Get("ETag"))
		}
		if s := strings.TrimPrefix(current, "W/"); c.do("GET", "/Users/"+id, nil, "If-None-Match", s).Status != http.StatusNotModified {
			t.Errorf("If-None-Match with the strong form of the tag was not 304")
		}
		c.do("GET", "/Users/"+id, nil, "If-None-Match", stale).must(t, http.StatusOK)

		// A matching If-Match succeeds, and each write yields a new ETag.
		res := c.do("PUT", "/Users/"+id, put, "If-Match", current).must(t, http.StatusOK)
		next := res.Header.Get("ETag")
		if next == current || res.JSON["title"] != "Changed" || at(res.JSON, "meta", "version") != next {
			t.Errorf("PUT with matching If-Match: ETag %q→%q: %s", current, next, res.Raw)
		}
		c.do("PUT", "/Users/"+id, put, "If-Match", current).scimError(t, http.StatusPreconditionFailed, "")
		res = c.do("PATCH", "/Users/"+id, patchBody(op("replace", "title", "Patched")), "If-Match", next).must(t, http.StatusOK)
		after := res.Header.Get("ETag")
		if after == next || after == "" {
			t.Errorf("PATCH ETag %q after %q", after, next)
		}
		c.do("PATCH", "/Users/"+id, patchBody(op("replace", "title", "Stale")), "If-Match", next).scimError(t, http.StatusPreconditionFailed, "")
		if got := c.get(id); got["title"] != "Patched" {
			t.Errorf("title %v", got["title"])
		}
		c.do("DELETE", "/Users/"+id, nil, "If-Match", next).scimError(t, http.StatusPreconditionFailed, "")
		c.get(id)
		c.do("DELETE", "/Users/"+id, nil, "If-Match", after).must(t, http.StatusNoContent)
		c.do("GET", "/Users/"+id, nil).scimError(t, http.StatusNotFound, "")
	})
}

// TestE2EUsersServerAssigned: id, meta and groups sent by a client are ignored; the
// password is accepted and never returned by any endpoint.
func TestE2EUsersServerAssigned(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "okta")
		const pw = "Plaintext-Secret-9f3k"
		forged := map[string]any{
			"created": "2000-01-01T00:00:00Z", "lastModified": "2000-01-01T00:00:00Z",
			"version": `W/"99"`, "location": "https://evil.example/Users/x", "resourceType": "Group",
		}
		body := map[string]any{
			"schemas": []string{userSchemaURN}, "id": "client-chosen-id", "userName": "mass", "password": pw,
			"meta": forged, "groups": []any{map[string]any{"value": "g-admins", "display": "Admins"}},
		}
		res := c.do("POST", "/Users", body).must(t, http.StatusCreated)
		u := res.JSON
		id := str(u["id"])
		if id == "client-chosen-id" || id == "" {
			t.Fatalf("client chose the id: %s", res.Raw)
		}
		if at(u, "meta", "created") == "2000-01-01T00:00:00Z" || at(u, "meta", "version") != `W/"1"` ||
			at(u, "meta", "resourceType") != "User" || !strings.HasSuffix(str(at(u, "meta", "location")), "/Users/"+id) {
			t.Errorf("client-sent meta was kept: %v", u["meta"])
		}
		if _, ok := u["groups"]; ok {
			t.Errorf("client-sent groups were kept: %v", u["groups"])
		}
		c.do("GET", "/Users/client-chosen-id", nil).scimError(t, http.StatusNotFound, "")

		body["id"] = "another-id"
		body["userName"] = "mass2"
		res = c.do("PUT", "/Users/"+id, body).must(t, http.StatusOK)
		if res.JSON["id"] != id || at(res.JSON, "meta", "created") != at(u, "meta", "created") || res.JSON["groups"] != nil || res.JSON["userName"] != "mass2" {
			t.Errorf("PUT with client id/meta/groups: %s", res.Raw)
		}
		c.do("GET", "/Users/another-id", nil).scimError(t, http.StatusNotFound, "")
		// Read-only attributes echoed in a path-less PATCH value are skipped.
		res = c.patch(id, op("replace", "", map[string]any{"id": "patched-id", "meta": forged, "displayName": "Mass"})).must(t, http.StatusOK)
		if res.JSON["id"] != id || res.JSON["displayName"] != "Mass" || at(res.JSON, "meta", "created") != at(u, "meta", "created") {
			t.Errorf("path-less PATCH with id and meta: %s", res.Raw)
		}

		// The password: set by POST, PUT and PATCH; never in any answer.
		c.patch(id, op("replace", "password", pw+"-2")).must(t, http.StatusOK)
		if h := storedUser(t, c, id).PasswordHash; bcrypt.CompareHashAndPassword([]byte(h), []byte(pw+"-2")) != nil {
			t.Errorf("PATCH did not set the password")
		}
		answers := []*reply{
			c.do("GET", "/Users/"+id, nil),
			c.do("GET", "/Users/"+id+"?attributes=password", nil),
			c.do("GET", "/Users/"+id+"?attributes=password,userName&excludedAttributes=userName", nil),
			c.list(),
			c.list("attributes", "password"),
			c.list("filter", `userName eq "mass2"`),
			c.do("POST", "/Users/.search", map[string]any{"schemas": []string{searchRequestURN}, "attributes": []string{"password"}}),
			c.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "mass3", "password": pw}),
			c.do("PUT", "/Users/"+id, map[string]any{"schemas": []string{userSchemaURN}, "userName": "mass2", "password": pw}),
			c.patch(id, op("replace", "password", pw)),
		}
		for i, r := range answers {
			if r.Status >= 300 {
				t.Errorf("answer %d: status %d: %s", i, r.Status, r.Raw)
			}
			if bytes.Contains(r.Raw, []byte(pw)) || bytes.Contains(bytes.ToLower(r.Raw), []byte(`"password"`)) {
				t.Errorf("answer %d returns the password: %s", i, r.Raw)
			}
		}
		if strings.Contains(env.logs.String(), pw) {
			t.Errorf("the password reached the logs")
		}
	})
}

// TestE2EUsersUniqueness: userName is unique per connection, case-insensitively and
// Unicode-aware; other connections are independent.
func TestE2EUsersUniqueness(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		a := env.connect("alpha", "generic")
		b := env.connect("beta", "generic")
		asa := a.create(map[string]any{"userName": "Åsa"})
		for _, clash := range []string{"åsa", "ÅSA", "A\u030asa", "a\u030aSA", " Åsa "} {
			a.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": clash}).
				scimError(t, http.StatusConflict, "uniqueness")
		}
		if n := num(t, a.list().JSON["totalResults"]); n != 1 {
			t.Errorf("%d users after conflicts", n)
		}
		// The same name in another connection is fine.
		b.create(map[string]any{"userName": "åsa"})

		// Renaming onto a taken name by PUT or PATCH is 409 too, and changes nothing.
		other := a.create(map[string]any{"userName": "other", "title": "t"})
		oid := str(other["id"])
		a.do("PUT", "/Users/"+oid, map[string]any{"schemas": []string{userSchemaURN}, "userName": "ÅSA"}).
			scimError(t, http.StatusConflict, "uniqueness")
		a.patch(oid, op("replace", "userName", "A\u030aSA")).scimError(t, http.StatusConflict, "uniqueness")
		if got := a.get(oid); !reflect.DeepEqual(got, other) {
			t.Errorf("a 409 changed the user: %v", got)
		}
		// Renaming a user to another spelling of its own name is allowed.
		a.patch(str(asa["id"]), op("replace", "userName", "åsa")).must(t, http.StatusOK)
		// Once deleted, the name is free again.
		a.do("DELETE", "/Users/"+str(asa["id"]), nil).must(t, http.StatusNoContent)
		a.create(map[string]any{"userName": "ÅSA"})
	})
}

// TestE2EUsersSoftDeleteAndRestore: active=false keeps the user; DELETE keeps a
// tombstone from which a POST with the same externalId restores the same id.
func TestE2EUsersSoftDeleteAndRestore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("okta-co", "okta")
		u := c.create(fullUser("leaver@acme.example", "00u1abcd"))
		id := str(u["id"])

		// Deactivation as Okta sends it.
		res := c.patch(id, op("replace", "", map[string]any{"active": false})).must(t, http.StatusOK)
		if res.JSON["active"] != false {
			t.Errorf("PATCH answer: active %v", res.JSON["active"])
		}
		got := c.get(id)
		if got["active"] != false || got["userName"] != "leaver@acme.example" || at(got, enterpriseURN, "department") != "R&D" {
			t.Errorf("deactivated user: %v", got)
		}
		if rs := resources(t, c.list("filter", "active eq false").must(t, 200)); len(rs) != 1 || rs[0]["id"] != id {
			t.Errorf("deactivated user not found by active eq false: %v", rs)
		}
		if storedUser(t, c, id).Active {
			t.Errorf("store: active column still true")
		}

		// DELETE, then Okta re-creates the user with the same externalId.
		c.do("DELETE", "/Users/"+id, nil).must(t, http.StatusNoContent)
		c.do("GET", "/Users/"+id, nil).scimError(t, http.StatusNotFound, "")
		if n := num(t, c.list("filter", `externalId eq "00u1abcd"`).JSON["totalResults"]); n != 0 {
			t.Errorf("deleted user still found by externalId")
		}
		again := map[string]any{"schemas": []string{userSchemaURN}, "userName": "returner@acme.example", "externalId": "00u1abcd", "active": true, "title": "Back"}
		res = c.do("POST", "/Users", again).must(t, http.StatusCreated)
		if res.JSON["id"] != id {
			t.Fatalf("restore gave id %v, want the old %s", res.JSON["id"], id)
		}
		if res.Header.Get("Location") != env.srv.URL+"/scim/v2/okta-co/Users/"+id {
			t.Errorf("Location %q", res.Header.Get("Location"))
		}
		got = c.get(id)
		if got["userName"] != "returner@acme.example" || got["active"] != true || got["title"] != "Back" || got[enterpriseURN] != nil || got["emails"] != nil {
			t.Errorf("the restored user should carry what the POST sent: %v", got)
		}
		if at(got, "meta", "created") != at(u, "meta", "created") {
			t.Errorf("restore changed meta.created: %v → %v", at(u, "meta", "created"), at(got, "meta", "created"))
		}
		if at(got, "meta", "version") == at(u, "meta", "version") {
			t.Errorf("restore kept the version")
		}
		if rs := resources(t, c.list("filter", `externalId eq "00u1abcd"`)); len(rs) != 1 || rs[0]["id"] != id {
			t.Errorf("after restore, externalId finds %v", rs)
		}
		// A POST with a new externalId is a new user; a live duplicate userName is 409.
		fresh := c.create(map[string]any{"userName": "leaver@acme.example", "externalId": "00u9zzzz"})
		if fresh["id"] == id {
			t.Errorf("a new externalId restored the old user")
		}
		c.do("POST", "/Users", again).scimError(t, http.StatusConflict, "uniqueness")
		// externalId is case-exact: another case is another person.
		c.do("DELETE", "/Users/"+id, nil).must(t, http.StatusNoContent)
		other := c.create(map[string]any{"userName": "case@acme.example", "externalId": "00U1ABCD"})
		if other["id"] == id {
			t.Errorf("restore matched externalId case-insensitively")
		}
	})
}

// TestE2EDiscovery: the discovery documents tell the truth.
func TestE2EDiscovery(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "entra")

		spc := c.do("GET", "/ServiceProviderConfig", nil).must(t, http.StatusOK)
		if ct := spc.Header.Get("Content-Type"); !strings.HasPrefix(ct, scimContentType) {
			t.Errorf("Content-Type %q", ct)
		}
		for feature, want := range map[string]bool{"patch": true, "sort": true, "etag": true, "filter": true, "bulk": false} {
			if got := at(spc.JSON, feature, "supported"); got != want {
				t.Errorf("%s.supported = %v, want %v", feature, got, want)
			}
		}
		if schemes, _ := spc.JSON["authenticationSchemes"].([]any); len(schemes) == 0 {
			t.Errorf("no authenticationSchemes")
		}

		rts := c.do("GET", "/ResourceTypes", nil).must(t, http.StatusOK)
		var user map[string]any
		for _, r := range resources(t, rts) {
			if r["name"] == "User" {
				user = r
			}
		}
		if user == nil || user["endpoint"] != "/Users" || user["schema"] != userSchemaURN {
			t.Fatalf("User resource type: %v", user)
		}
		if ext, _ := user["schemaExtensions"].([]any); len(ext) != 1 || at(ext[0], "schema") != enterpriseURN || at(ext[0], "required") != false {
			t.Errorf("schemaExtensions %v", user["schemaExtensions"])
		}
		if one := c.do("GET", "/ResourceTypes/User", nil).must(t, http.StatusOK); one.JSON["endpoint"] != "/Users" {
			t.Errorf("ResourceTypes/User: %s", one.Raw)
		}

		schemas := c.do("GET", "/Schemas", nil).must(t, http.StatusOK)
		byID := map[string]map[string]any{}
		for _, s := range resources(t, schemas) {
			byID[str(s["id"])] = s
		}
		for _, urn := range []string{userSchemaURN, enterpriseURN} {
			s := byID[urn]
			if s == nil {
				t.Errorf("schema %s missing", urn)
				continue
			}
			attrs, _ := s["attributes"].([]any)
			if len(attrs) == 0 {
				t.Errorf("%s has no attributes", urn)
			}
			for _, a := range attrs {
				for _, k := range []string{"name", "type", "multiValued", "mutability", "returned", "caseExact", "uniqueness", "required"} {
					if !has(a, k) {
						t.Errorf("%s attribute %v lacks %s", urn, at(a, "name"), k)
					}
				}
			}
		}
		attr := func(urn, name string) map[string]any {
			attrs, _ := byID[urn]["attributes"].([]any)
			for _, a := range attrs {
				if at(a, "name") == name {
					m, _ := a.(map[string]any)
					return m
				}
			}
			return nil
		}
		if a := attr(userSchemaURN, "userName"); a["uniqueness"] != "server" || a["required"] != true || a["caseExact"] != false {
			t.Errorf("userName: %v", a)
		}
		if a := attr(userSchemaURN, "password"); a["returned"] != "never" || a["mutability"] != "writeOnly" {
			t.Errorf("password: %v", a)
		}
		if a := attr(userSchemaURN, "groups"); a["mutability"] != "readOnly" {
			t.Errorf("groups: %v", a)
		}
		if a := attr(enterpriseURN, "department"); a["type"] != "string" {
			t.Errorf("department: %v", a)
		}
		if one := c.do("GET", "/Schemas/"+enterpriseURN, nil).must(t, http.StatusOK); one.JSON["id"] != enterpriseURN {
			t.Errorf("Schemas/{enterprise}: %s", one.Raw)
		}
		c.do("GET", "/Schemas/urn:nope", nil).scimError(t, http.StatusNotFound, "")

		// Endpoints in other cases, as Microsoft's tests send them.
		created := c.do("POST", "/users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "lower"}).must(t, http.StatusCreated)
		id := str(created.JSON["id"])
		if !strings.Contains(created.Header.Get("Location"), "/Users/"+id) {
			t.Errorf("Location %q", created.Header.Get("Location"))
		}
		if r := c.do("GET", "/users?filter=userName+eq+%22lower%22", nil).must(t, http.StatusOK); num(t, r.JSON["totalResults"]) != 1 {
			t.Errorf("/users list: %s", r.Raw)
		}
		c.do("GET", "/USERS/"+id, nil).must(t, http.StatusOK)
		c.do("GET", "/users/"+id+"/", nil).must(t, http.StatusOK)
		c.do("GET", "/serviceproviderconfig", nil).must(t, http.StatusOK)
		c.do("GET", "/schemas", nil).must(t, http.StatusOK)
		c.do("GET", "/resourcetypes", nil).must(t, http.StatusOK)
	})
}

// TestE2EUsersErrors: every failure on /scim/ is a SCIM error document (checked for
// every response by the client), and nothing internal reaches the client.
func TestE2EUsersErrors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		a := env.connect("alpha", "entra")
		b := env.connect("beta", "okta")
		u := a.create(map[string]any{"userName": "err"})
		id := str(u["id"])

		t.Run("400", func(t *testing.T) {
			a := a.in(t)
			a.do("POST", "/Users", `{"userName": "x",`).scimError(t, http.StatusBadRequest, "invalidSyntax")
			a.do("POST", "/Users", `[{"userName": "x"}]`).scimError(t, http.StatusBadRequest, "invalidSyntax")
			a.do("POST", "/Users", `{"userName": "x"} {"userName": "y"}`).scimError(t, http.StatusBadRequest, "invalidSyntax")
			a.do("POST", "/Users", `userName=x`, "Content-Type", "application/x-www-form-urlencoded").scimError(t, http.StatusBadRequest, "invalidSyntax")
			a.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "displayName": "no userName"}).scimError(t, http.StatusBadRequest, "invalidValue")
			a.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "x", "active": "perhaps"}).scimError(t, http.StatusBadRequest, "invalidValue")
			a.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "x", "emails": "not-a-list"}).scimError(t, http.StatusBadRequest, anyScimType)
			a.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "x", "externalId": 12}).scimError(t, http.StatusBadRequest, "invalidValue")
			a.do("PUT", "/Users/"+id, `{"userName":`).scimError(t, http.StatusBadRequest, "invalidSyntax")
			a.do("POST", "/Users/.search", `{"filter": 1}`).scimError(t, http.StatusBadRequest, "invalidSyntax")
			if got := a.get(id); !reflect.DeepEqual(got, u) {
				t.Errorf("a 400 changed the user")
			}
			if n := num(t, a.list().JSON["totalResults"]); n != 1 {
				t.Errorf("a 400 created a user: %d users", n)
			}
		})

		t.Run("401", func(t *testing.T) {
			a := a.in(t)
			anon := a.as("alpha", "")
			wrong := a.token[:len(a.token)-9] + "aaaaaaaaa"
			unknown := a.as("gamma", a.token)
			variants := map[string]*reply{
				"no token":             anon.do("GET", "/Users", nil),
				"wrong token":          a.as("alpha", wrong).do("GET", "/Users", nil),
				"unknown connection":   unknown.do("GET", "/Users", nil),
				"another's token":      a.as("alpha", b.token).do("GET", "/Users", nil),
				"basic scheme":         anon.do("GET", "/Users", nil, "Authorization", "Basic "+a.token),
				"scheme without token": anon.do("GET", "/Users", nil, "Authorization", "Bearer"),
			}
			first := variants["no token"]
			for name, r := range variants {
				r.scimError(t, http.StatusUnauthorized, "")
				if !bytes.Equal(r.Raw, first.Raw) {
					t.Errorf("%s: body differs:\n%s\n%s", name, r.Raw, first.Raw)
				}
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q", name, r.Header.Get("WWW-Authenticate"))
				}
			}
			// Every method and endpoint is guarded, including unknown ones.
			for _, r := range []*reply{
				anon.do("POST", "/Users", map[string]any{"userName": "x"}),
				anon.do("GET", "/Users/"+id, nil),
				anon.do("DELETE", "/Users/"+id, nil),
				anon.do("GET", "/ServiceProviderConfig", nil),
				a.as("beta", a.token).do("PATCH", "/Users/"+id, patchBody(op("replace", "title", "x"))),
				a.as("beta", a.token).do("GET", "/Nope", nil),
			} {
				r.scimError(t, http.StatusUnauthorized, "")
			}
			// A revoked token stops working at once; a second token of the same
			// connection (rotation) keeps working.
			ctx := context.Background()
			tok2, secret2, err := env.dir.IssueToken(ctx, "alpha", nil)
			if err != nil {
				t.Fatal(err)
			}
			a.as("alpha", secret2).do("GET", "/Users/"+id, nil).must(t, http.StatusOK)
			if err := env.dir.RevokeToken(ctx, "alpha", tok2.ID); err != nil {
				t.Fatal(err)
			}
			r := a.as("alpha", secret2).do("GET", "/Users/"+id, nil)
			r.scimError(t, http.StatusUnauthorized, "")
			if !bytes.Equal(r.Raw, first.Raw) {
				t.Errorf("revoked token: body differs: %s", r.Raw)
			}
			a.do("GET", "/Users/"+id, nil).must(t, http.StatusOK)
		})

		t.Run("404", func(t *testing.T) {
			a := a.in(t)
			a.do("GET", "/Users/00000000-0000-4000-8000-000000000000", nil).scimError(t, http.StatusNotFound, "")
			a.do("GET", "/Users/not-a-uuid", nil).scimError(t, http.StatusNotFound, "")
			a.do("PUT", "/Users/not-a-uuid", map[string]any{"userName": "x"}).scimError(t, http.StatusNotFound, "")
			a.do("GET", "/Nope", nil).scimError(t, http.StatusNotFound, "")
			a.do("GET", "/Users/"+id+"/extra", nil).scimError(t, http.StatusNotFound, "")
			a.do("GET", "/ResourceTypes/Nope", nil).scimError(t, http.StatusNotFound, "")
			for _, p := range []string{"/scim/v2/", "/scim/v2", "/scim/", "/scim/v1/alpha/Users"} {
				r := a.send("GET", env.srv.URL+p, nil)
				if r.Status != http.StatusNotFound && r.Status != http.StatusUnauthorized {
					t.Errorf("GET %s: %d", p, r.Status)
				}
			}
		})

		t.Run("405", func(t *testing.T) {
			a := a.in(t)
			for _, m := range []string{"DELETE", "PUT", "PATCH"} {
				r := a.do(m, "/Users", nil)
				r.scimError(t, http.StatusMethodNotAllowed, "")
				if allow := r.Header.Get("Allow"); allow != "GET, POST" {
					t.Errorf("%s /Users: Allow %q", m, allow)
				}
			}
			// Authentication comes first: without a token it is 401, not 405.
			a.as(a.slug, "").do("DELETE", "/Users", nil).scimError(t, http.StatusUnauthorized, "")
			a.do("POST", "/Users/"+id, map[string]any{"userName": "x"}).scimError(t, http.StatusMethodNotAllowed, "")
			a.do("DELETE", "/ServiceProviderConfig", nil).scimError(t, http.StatusMethodNotAllowed, "")
		})

		t.Run("413", func(t *testing.T) {
			a := a.in(t)
			big := `{"schemas":["` + userSchemaURN + `"],"userName":"big","displayName":"` + strings.Repeat("a", 2<<20) + `"}`
			a.do("POST", "/Users", big).scimError(t, http.StatusRequestEntityTooLarge, "")
			// Without Content-Length (chunked), the limit holds while reading.
			a.do("POST", "/Users", io.MultiReader(strings.NewReader(big))).scimError(t, http.StatusRequestEntityTooLarge, "")
			a.do("PATCH", "/Users/"+id, io.MultiReader(strings.NewReader(`{"Operations":[{"op":"replace","path":"title","value":"`+strings.Repeat("b", 2<<20)+`"}]}`))).
				scimError(t, http.StatusRequestEntityTooLarge, "")
			if n := num(t, a.list("filter", `userName eq "big"`).JSON["totalResults"]); n != 0 {
				t.Errorf("an oversized body created a user")
			}
			if got := a.get(id); !reflect.DeepEqual(got, u) {
				t.Errorf("an oversized PATCH changed the user")
			}
		})

		t.Run("500", func(t *testing.T) {
			// Break the database under the server (a table gone): the answer is a
			// generic 500 with an error id that the log also carries, and no driver
			// text. (A database out of reach is a 503: TestE2EEdgesDatabaseUnavailable.)
			brokenURL := dbtest.URL(t, db.Engine())
			broken := openURL(t, brokenURL)
			t.Cleanup(func() { broken.Close() })
			benv := newE2E(t, broken)
			bc := benv.connect("broken", "generic")
			bc.create(map[string]any{"userName": "x"})
			execSQL(t, brokenURL, "ALTER TABLE scim_users RENAME TO scim_users_gone")
			for _, r := range []*reply{
				bc.do("GET", "/Users", nil),
				bc.do("POST", "/Users", map[string]any{"userName": "y"}),
			} {
				r.scimError(t, http.StatusInternalServerError, "")
				detail := str(r.JSON["detail"])
				i := strings.LastIndex(detail, " ")
				errorID := detail[i+1:]
				if i < 0 || len(errorID) < 8 || !strings.Contains(benv.logs.String(), errorID) {
					t.Errorf("500 detail %q: error id not found in the log", detail)
				}
			}
		})
	})
}

// TestE2EUsersCrossConnection: one connection's users do not exist for another, and a
// token only opens its own connection's URL.
func TestE2EUsersCrossConnection(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		a := env.connect("alpha", "entra")
		b := env.connect("beta", "okta")
		ua := a.create(fullUser("shared-name", "ext-shared"))
		idA := str(ua["id"])
		ub := b.create(map[string]any{"userName": "beta-user"})
		idB := str(ub["id"])

		// B's token at B's URL cannot see, change or delete A's user.
		b.do("GET", "/Users/"+idA, nil).scimError(t, http.StatusNotFound, "")
		b.do("PUT", "/Users/"+idA, map[string]any{"schemas": []string{userSchemaURN}, "userName": "hijack"}).scimError(t, http.StatusNotFound, "")
		b.patch(idA, op("replace", "active", false)).scimError(t, http.StatusNotFound, "")
		b.do("DELETE", "/Users/"+idA, nil).scimError(t, http.StatusNotFound, "")
		b.do("GET", "/Users/"+idA, nil, "If-None-Match", "*").scimError(t, http.StatusNotFound, "")
		for _, f := range []string{`id eq "` + idA + `"`, `userName eq "shared-name"`, `externalId eq "ext-shared"`} {
			if r := b.list("filter", f).must(t, http.StatusOK); num(t, r.JSON["totalResults"]) != 0 {
				t.Errorf("B's filter %s found A's user: %s", f, r.Raw)
			}
		}
		if r := b.list().must(t, 200); num(t, r.JSON["totalResults"]) != 1 || resources(t, r)[0]["id"] != idB {
			t.Errorf("B's list: %s", r.Raw)
		}
		// B's POST with A's externalId is a new user of B, not a restore of A's.
		if got := b.create(map[string]any{"userName": "shared-name", "externalId": "ext-shared"}); got["id"] == idA {
			t.Errorf("B's POST took over A's user")
		}
		// A deleted in A is not restorable from B either.
		a.do("DELETE", "/Users/"+idA, nil).must(t, http.StatusNoContent)
		for _, r := range resources(t, b.list("filter", `externalId eq "ext-shared"`)) {
			b.do("DELETE", "/Users/"+str(r["id"]), nil).must(t, http.StatusNoContent)
		}
		if got := b.create(map[string]any{"userName": "again", "externalId": "ext-shared"}); got["id"] == idA {
			t.Errorf("B restored A's tombstone")
		}
		if got := a.create(map[string]any{"userName": "back", "externalId": "ext-shared"}); got["id"] != idA {
			t.Errorf("A's restore gave %v, want %s", got["id"], idA)
		}

		// A's token at B's URL is 401, whatever the method, and does not touch B's user.
		aAtB := a.as("beta", a.token)
		for _, r := range []*reply{
			aAtB.do("GET", "/Users/"+idB, nil),
			aAtB.do("GET", "/Users", nil),
			aAtB.do("PUT", "/Users/"+idB, map[string]any{"schemas": []string{userSchemaURN}, "userName": "hijack"}),
			aAtB.patch(idB, op("replace", "userName", "hijack")),
			aAtB.do("DELETE", "/Users/"+idB, nil),
			aAtB.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "planted"}),
		} {
			r.scimError(t, http.StatusUnauthorized, "")
		}
		if got := b.get(idB); !reflect.DeepEqual(got, ub) {
			t.Errorf("B's user changed: %v", got)
		}
		if got := a.get(idA); got["userName"] != "back" {
			t.Errorf("A's user: %v", got)
		}
	})
}
