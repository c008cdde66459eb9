package main

// End-to-end tests of the audit trail of SCIM changes: each drives the real HTTP server
// on every engine, then reads the events the store kept and verifies their chains.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// scimEvents returns the user and group events of the connection, oldest first; other
// events (the control plane, consequences such as grants) are not what these tests
// are about.
func scimEvents(t *testing.T, c *scimClient) []audit.Event {
	t.Helper()
	all, err := c.env.db.Audit().Events(context.Background(), audit.Query{Limit: 1000})
	if err != nil {
		t.Fatalf("audit events: %v", err)
	}
	var out []audit.Event
	for _, e := range all {
		if e.ConnectionID == c.conn.ID && (strings.HasPrefix(e.Action, "user.") || strings.HasPrefix(e.Action, "group.")) {
			out = append(out, e)
		}
	}
	return out
}

// tokenID is the id of the connection's only token, the one its client sends.
func tokenID(t *testing.T, c *scimClient) string {
	t.Helper()
	tokens, err := c.env.dir.Tokens(context.Background(), c.conn.Slug)
	if err != nil || len(tokens) != 1 {
		t.Fatalf("tokens of %s: %v, %v", c.conn.Slug, tokens, err)
	}
	return tokens[0].ID
}

func verifyChains(t *testing.T, db *sqlstore.DB) audit.Report {
	t.Helper()
	var rep audit.Report
	err := db.Snapshot(context.Background(), func(ctx context.Context) error {
		var err error
		rep, err = audit.VerifyAll(ctx, db.Audit())
		return err
	})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

// diffOf decodes an event's diff (or detail).
func diffOf(t *testing.T, e audit.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Diff, &m); err != nil {
		t.Fatalf("%s: diff %q: %v", e.Action, e.Diff, err)
	}
	return m
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestE2EAuditSCIMChanges: a user's life through SCIM leaves one event per change, in
// order, attributed to the token, the request and the peer, with a diff that names what
// changed and never the password; and the chain verifies.
func TestE2EAuditSCIMChanges(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "entra")
		actor := "token:" + tokenID(t, c)
		const password = "Tr0ub4dor&3-audit"

		// A forwarded-for header is the client's own claim: the audit must record the
		// peer, not what the header says.
		created := c.do("POST", "/Users", map[string]any{
			"schemas": []string{userSchemaURN}, "userName": "ann@acme.example", "externalId": "ext-ann",
			"title": "Engineer", "password": password,
		}, "X-Forwarded-For", "203.0.113.9").must(t, http.StatusCreated)
		uid := created.JSON["id"].(string)
		hash := storedUser(t, c, uid).PasswordHash
		if hash == "" {
			t.Fatal("the password was not stored: the test could not see a leaked hash")
		}
		patched := c.patch(uid, op("Replace", "active", "False"), op("Replace", "title", "Lead")).must(t, http.StatusNoContent)
		group := c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchemaURN}, "displayName": "Staff"}).
			must(t, http.StatusCreated)
		gid := group.JSON["id"].(string)
		joined := c.do("PATCH", "/Groups/"+gid, patchBody(op("Add", "members", []any{map[string]any{"value": uid}}))).
			must(t, http.StatusNoContent)
		deleted := c.do("DELETE", "/Users/"+uid, nil).must(t, http.StatusNoContent)

		events := scimEvents(t, c)
		want := []struct {
			action, target string
			reply          *reply
		}{
			{"user.create", uid, created},
			{"user.update", uid, patched},
			{"group.create", gid, group},
			{"group.members", gid, joined},
			{"user.delete", uid, deleted},
		}
		var got []string
		for _, e := range events {
			got = append(got, e.Action)
		}
		if len(events) != len(want) {
			t.Fatalf("actions %v, want one event per change", got)
		}
		for i, w := range want {
			e := events[i]
			if e.Action != w.action || e.TargetID != w.target {
				t.Errorf("event %d: %s %s, want %s %s (actions %v)", i, e.Action, e.TargetID, w.action, w.target, got)
			}
			if e.Actor != actor {
				t.Errorf("%s: actor %q, want %q", e.Action, e.Actor, actor)
			}
			rid := w.reply.Header.Get("X-Request-Id")
			if rid == "" || e.RequestID != rid {
				t.Errorf("%s: request id %q, response's X-Request-Id %q", e.Action, e.RequestID, rid)
			}
			if e.ClientAddr != "127.0.0.1" {
				t.Errorf("%s: client address %q, want the loopback peer", e.Action, e.ClientAddr)
			}
			if e.OrgID != c.conn.OrgID || e.OrgPath == "" {
				t.Errorf("%s: org %q (path %q), want the connection's org %q", e.Action, e.OrgID, e.OrgPath, c.conn.OrgID)
			}
			raw, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(raw, []byte(password)) || bytes.Contains(raw, []byte(hash)) || bytes.Contains(raw, []byte("$2a$")) {
				t.Errorf("%s leaks the password or its hash: %s", e.Action, raw)
			}
		}
		if t.Failed() {
			return
		}

		// The creation says a password was set, not which.
		if p, ok := diffOf(t, events[0])["password"].(map[string]any); !ok || p["after"] != audit.Redacted || p["before"] != nil {
			t.Errorf("create diff's password: %v", diffOf(t, events[0])["password"])
		}
		// The PATCH names exactly what it changed, before and after.
		d := diffOf(t, events[1])
		if k := sortedKeys(d); !reflect.DeepEqual(k, []string{"active", "title"}) {
			t.Errorf("PATCH diff names %v, want [active title]: %s", k, events[1].Diff)
		}
		if at(d, "active", "before") != true || at(d, "active", "after") != false ||
			at(d, "title", "before") != "Engineer" || at(d, "title", "after") != "Lead" {
			t.Errorf("PATCH diff: %s", events[1].Diff)
		}
		m := diffOf(t, events[3])
		if !reflect.DeepEqual(strSlice(m["added"]), []string{uid}) || len(strSlice(m["removed"])) != 0 {
			t.Errorf("membership detail: %s", events[3].Diff)
		}
		// The deletion keeps what was deleted.
		if at(diffOf(t, events[4]), "userName", "before") != "ann@acme.example" {
			t.Errorf("delete diff: %s", events[4].Diff)
		}

		rep := verifyChains(t, db)
		if !rep.OK() || rep.Events < int64(len(want)) {
			t.Errorf("verification: %d events in %d chains, breaks %v", rep.Events, rep.Chains, rep.Breaks)
		}
	})
}

// TestE2EAuditRefusedChangesLeaveNoEvent: a SCIM request that fails — at validation,
// at a precondition or in the store halfway through its transaction — leaves no event,
// and so does a PATCH that changes nothing; the chain still verifies.
func TestE2EAuditRefusedChangesLeaveNoEvent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		c := env.connect("acme", "entra")
		uid := c.create(map[string]any{"userName": "ann", "title": "Engineer"})["id"].(string)
		parent := c.createGroup("Parent")["id"].(string)
		child := c.createGroup("Child")["id"].(string)
		c.do("PATCH", "/Groups/"+parent, patchBody(op("add", "members", []any{child}))).must(t, http.StatusNoContent)

		for _, tc := range []struct {
			name    string
			method  string
			path    string
			body    any
			status  int
			headers []string
		}{
			{"duplicate userName", "POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "userName": "ANN"}, http.StatusConflict, nil},
			{"PATCH removing the required userName", "PATCH", "/Users/" + uid,
				patchBody(op("replace", "title", "Changed"), op("remove", "userName", nil)), http.StatusBadRequest, nil},
			{"PATCH of a stale version", "PATCH", "/Users/" + uid, patchBody(op("replace", "title", "Changed")),
				http.StatusPreconditionFailed, []string{"If-Match", `W/"999"`}},
			{"unknown user", "DELETE", "/Users/00000000-0000-4000-8000-000000000000", nil, http.StatusNotFound, nil},
			{"duplicate displayName", "POST", "/Groups", map[string]any{"schemas": []string{groupSchemaURN}, "displayName": "parent"}, http.StatusConflict, nil},
			// The store refuses the cycle after it has updated the group's row: the
			// rollback must take the event with it.
			{"rename with a cycle", "PATCH", "/Groups/" + child, patchBody(op("replace", "displayName", "Renamed"),
				op("add", "members", []any{parent})), http.StatusBadRequest, nil},
			{"no-op PATCH", "PATCH", "/Users/" + uid, patchBody(op("replace", "title", "Engineer")), http.StatusNoContent, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := scimEvents(t, c)
				r := c.in(t).do(tc.method, tc.path, tc.body, tc.headers...)
				if r.Status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Raw)
				}
				after := scimEvents(t, c)
				if len(after) != len(before) {
					t.Errorf("%d new events: %+v", len(after)-len(before), after[len(before):])
				}
				rid := r.Header.Get("X-Request-Id")
				for _, e := range after {
					if e.RequestID == rid {
						t.Errorf("event %s of the refused request", e.Action)
					}
				}
			})
		}
		if got := c.getGroup(child)["displayName"]; got != "Child" {
			t.Errorf("the refused rename was stored: %v", got)
		}
		if rep := verifyChains(t, db); !rep.OK() || rep.Events < 4 {
			t.Errorf("verification: %d events, breaks %v", rep.Events, rep.Breaks)
		}
	})
}

// TestE2EAuditPlacedUserEvents: a user's event belongs to the org placement put the
// user in by that change, so a sub-org's delegated administrators see the changes of
// their users; an unplaced user's events belong to the connection's org.
func TestE2EAuditPlacedUserEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env := newE2E(t, db)
		c := env.connect("acme", "entra")
		sales, err := env.dir.CreateOrg(ctx, "Sales", "acme-sales", "acme")
		if err != nil {
			t.Fatal(err)
		}
		err = env.dir.SetPlacement(ctx, "acme", []orgs.PlacementRule{
			{Attribute: enterpriseURN + ":department", Value: "sales", OrgID: sales.ID},
		})
		if err != nil {
			t.Fatal(err)
		}
		id := c.create(map[string]any{"userName": "ann", enterpriseURN: map[string]any{"department": "Sales"}})["id"].(string)
		c.patch(id, op("replace", enterpriseURN+":department", "Ops")).must(t, http.StatusNoContent)

		events := scimEvents(t, c)
		if len(events) != 2 {
			t.Fatalf("%d events, want create and update: %+v", len(events), events)
		}
		for i, want := range []struct {
			action, org, path string
		}{
			{"user.create", sales.ID, sales.Path},
			{"user.update", c.conn.OrgID, strings.TrimSuffix(sales.Path, sales.ID+"/")},
		} {
			if e := events[i]; e.Action != want.action || e.OrgID != want.org || e.OrgPath != want.path {
				t.Errorf("event %d: %s in org %s (%s), want %s in %s (%s)", i, e.Action, e.OrgID, e.OrgPath, want.action, want.org, want.path)
			}
		}
	})
}
