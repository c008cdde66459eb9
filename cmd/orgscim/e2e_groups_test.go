package main

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

const groupSchemaURN = "urn:ietf:params:scim:schemas:core:2.0:Group"

// memberValues returns the sorted member ids of a group representation.
func memberValues(g map[string]any) []string {
	var out []string
	list, _ := g["members"].([]any)
	for _, m := range list {
		if v, ok := at(m, "value").(string); ok {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

func (c *scimClient) createGroup(name string, members ...string) map[string]any {
	c.t.Helper()
	var ms []any
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	return c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchemaURN}, "displayName": name, "members": ms}).
		must(c.t, http.StatusCreated).JSON
}

func (c *scimClient) getGroup(id string, query ...string) map[string]any {
	c.t.Helper()
	q := ""
	if len(query) > 0 {
		q = "?" + strings.Join(query, "&")
	}
	return c.do("GET", "/Groups/"+id+q, nil).must(c.t, http.StatusOK).JSON
}

func TestGroupsEndToEnd(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "entra")
		var users []string
		for _, n := range []string{"ann", "ben", "cat", "dan"} {
			users = append(users, c.create(map[string]any{"userName": n, "displayName": strings.ToUpper(n)})["id"].(string))
		}
		ann, ben, cat, dan := users[0], users[1], users[2], users[3]

		g := c.createGroup("Engineering", ann, ben)
		gid := g["id"].(string)
		if got := memberValues(g); len(got) != 2 {
			t.Fatalf("created with members %v", got)
		}

		t.Run("displayName unique case-insensitively", func(t *testing.T) {
			c.do("POST", "/Groups", map[string]any{"displayName": "ENGINEERING"}).scimError(t, http.StatusConflict, "uniqueness")
		})

		t.Run("remove by value removes exactly those", func(t *testing.T) {
			c.do("PATCH", "/Groups/"+gid, patchBody(op("Add", "members", []any{map[string]any{"value": cat}, dan}))).must(t, http.StatusNoContent)
			c.do("PATCH", "/Groups/"+gid, patchBody(op("Remove", "members", []any{map[string]any{"value": ben}}))).must(t, http.StatusNoContent)
			want := sortedCopy([]string{ann, cat, dan})
			if got := memberValues(c.getGroup(gid)); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("members %v, want %v", got, want)
			}
			c.do("PATCH", "/Groups/"+gid, patchBody(op("remove", `members[value eq "`+cat+`"]`, nil))).must(t, http.StatusNoContent)
			want = sortedCopy([]string{ann, dan})
			if got := memberValues(c.getGroup(gid)); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("members %v, want %v", got, want)
			}
		})

		t.Run("excludedAttributes=members", func(t *testing.T) {
			got := c.getGroup(gid, "excludedAttributes=members")
			if has(got, "members") || got["displayName"] != "Engineering" {
				t.Fatalf("got %v", got)
			}
		})

		t.Run("filters", func(t *testing.T) {
			for _, tc := range []struct {
				filter string
				want   int
			}{
				{`displayName eq "engineering"`, 1},
				{`members.value eq "` + ann + `"`, 1},
				{`members[value eq "` + ben + `"]`, 0},
				{`members eq "` + dan + `"`, 1},
				{`meta.lastModified gt "2000-01-01T00:00:00Z"`, 1},
				{`externalId pr`, 0},
			} {
				r := c.do("GET", "/Groups?filter="+url.QueryEscape(tc.filter), nil).must(t, http.StatusOK)
				if n := num(t, r.JSON["totalResults"]); n != tc.want {
					t.Errorf("%s: %d results, want %d", tc.filter, n, tc.want)
				}
			}
			c.do("GET", "/Groups?filter="+url.QueryEscape(`owner eq "x"`), nil).scimError(t, http.StatusBadRequest, "invalidFilter")
		})

		t.Run("nested groups and the user's groups", func(t *testing.T) {
			parent := c.createGroup("Staff", gid)
			pid := parent["id"].(string)
			user := c.get(ann)
			types := map[string]string{}
			for _, g := range user["groups"].([]any) {
				types[at(g, "value").(string)] = at(g, "type").(string)
			}
			if types[gid] != "direct" || types[pid] != "indirect" || len(types) != 2 {
				t.Fatalf("ann's groups %v", user["groups"])
			}
			// A cycle is refused and changes nothing.
			c.do("PATCH", "/Groups/"+gid, patchBody(op("add", "members", []any{map[string]any{"value": pid}}))).
				scimError(t, http.StatusBadRequest, "invalidValue")
			c.do("PATCH", "/Groups/"+gid, patchBody(op("add", "members", []any{map[string]any{"value": gid}}))).
				scimError(t, http.StatusBadRequest, "invalidValue")
			if got := memberValues(c.getGroup(gid)); len(got) != 2 {
				t.Fatalf("members after refused cycle: %v", got)
			}
			// Users filter by their direct groups.
			r := c.do("GET", "/Users?filter="+url.QueryEscape(`groups.value eq "`+gid+`"`), nil).must(t, http.StatusOK)
			if n := num(t, r.JSON["totalResults"]); n != 2 {
				t.Fatalf("users in group: %d", n)
			}
		})

		t.Run("PUT replaces the member list", func(t *testing.T) {
			c.do("PUT", "/Groups/"+gid, map[string]any{"displayName": "Eng", "members": []any{map[string]any{"value": ben}}}).must(t, http.StatusOK)
			got := c.getGroup(gid)
			if got["displayName"] != "Eng" || strings.Join(memberValues(got), ",") != ben {
				t.Fatalf("after PUT: %v", got)
			}
		})

		t.Run("a deleted user leaves its groups", func(t *testing.T) {
			c.do("DELETE", "/Users/"+ben, nil).must(t, http.StatusNoContent)
			if got := memberValues(c.getGroup(gid)); len(got) != 0 {
				t.Fatalf("members after user delete: %v", got)
			}
		})

		t.Run("another connection sees nothing and cannot add our users", func(t *testing.T) {
			other := env.connect("globex", "okta")
			other.do("GET", "/Groups/"+gid, nil).scimError(t, http.StatusNotFound, "")
			og := other.createGroup("Globex", ann) // ann is acme's: ignored
			if got := memberValues(og); len(got) != 0 {
				t.Fatalf("cross-connection member stored: %v", got)
			}
			// Okta gets the resource back from PATCH.
			r := other.do("PATCH", "/Groups/"+og["id"].(string), patchBody(op("replace", "", map[string]any{"displayName": "Globex 2"}))).must(t, http.StatusOK)
			if r.JSON["displayName"] != "Globex 2" {
				t.Fatalf("okta patch answer %v", r.JSON)
			}
		})

		t.Run("delete", func(t *testing.T) {
			c.do("DELETE", "/Groups/"+gid, nil).must(t, http.StatusNoContent)
			c.do("GET", "/Groups/"+gid, nil).scimError(t, http.StatusNotFound, "")
			if groups := c.get(ann)["groups"]; groups != nil {
				t.Fatalf("groups after delete: %v", groups)
			}
		})
	})
}
