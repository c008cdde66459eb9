package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/adminapi"
	"github.com/orgscim/orgscim/imports"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// sendCSV posts a CSV body to the admin API and checks the response like every other
// admin call (error shape, OpenAPI schema of the status).
func (a *adminClient) sendCSV(path string, body []byte) *reply {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.env.srv.URL+adminapi.Prefix+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", a.auth)
	req.Header.Set("Content-Type", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	rep := &reply{Status: res.StatusCode, Header: res.Header, Raw: raw}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // as the schema check expects
	if err := dec.Decode(&rep.JSON); err != nil {
		a.t.Fatalf("POST %s: %d body is not JSON: %s", path, res.StatusCode, raw)
	}
	a.check(http.MethodPost, path, rep)
	// The test compares numbers as float64.
	rep.JSON = nil
	_ = json.Unmarshal(raw, &rep.JSON)
	return rep
}

// exportCSV reads the access export of a subtree.
func (a *adminClient) exportCSV(org string) (header []string, rows []map[string]string) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.env.srv.URL+adminapi.Prefix+"/access/export?org="+url.QueryEscape(org), nil)
	req.Header.Set("Authorization", a.auth)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		raw, _ := io.ReadAll(res.Body)
		a.t.Fatalf("export of %s: %d %s: %s", org, res.StatusCode, res.Header.Get("Content-Type"), raw)
	}
	recs, err := csv.NewReader(res.Body).ReadAll()
	if err != nil || len(recs) == 0 {
		a.t.Fatalf("export of %s is not CSV with a header: %v", org, err)
	}
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		rows = append(rows, m)
	}
	return recs[0], rows
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "import", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportSpreadsheetThenOktaPush is the onboarding of a partner from its
// spreadsheet: a broken copy is reported line by line and changes nothing; the dry run
// of the good file plans and changes nothing; the import creates orgs, people and
// grants with source import, which access checks then show; importing again changes
// nothing; Okta's push of the same people adopts the imported identities (by
// externalId, else e-mail) instead of duplicating them; and the export for auditors
// lists the grants.
func TestImportSpreadsheetThenOktaPush(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env := newE2E(t, db)
		keys := &orgs.AdminKeys{Store: db.AdminKeys(), Now: env.clock.Now}
		_, opKey, err := keys.IssueOperatorKey(ctx, "ops", nil)
		if err != nil {
			t.Fatal(err)
		}
		doc := env.admin(t, "", nil).get("/openapi.json").must(t, http.StatusOK).JSON
		oper := env.admin(t, opKey, doc)
		for _, o := range [][2]string{{"vendor", ""}, {"acme", "vendor"}, {"globex", "vendor"}} {
			body := map[string]any{"name": o[0], "slug": o[0]}
			if o[1] != "" {
				body["parent"] = o[1]
			}
			oper.post("/orgs", body).must(t, http.StatusCreated)
		}
		okta := oper.post("/connections", map[string]any{"org": "acme", "slug": "acme", "idp": "okta"}).must(t, http.StatusCreated).JSON
		oper.post("/connections", map[string]any{"org": "globex", "slug": "globex", "idp": "entra"}).must(t, http.StatusCreated)
		c := &scimClient{t: t, env: env, slug: "acme", token: field(okta, "token")}
		for _, r := range []map[string]any{
			{"key": "billing.viewer", "permissions": []string{"billing.read"}, "inherits": true},
			{"key": "support.agent", "permissions": []string{"tickets.read"}},
			{"key": "billing.admin", "permissions": []string{"billing.*"}, "privileged": true, "max_duration_seconds": 3600},
		} {
			oper.post("/roles", r).must(t, http.StatusCreated)
		}
		// Someone the IdP already pushed, with its own externalId.
		gil := c.create(map[string]any{"userName": "gil@acme.example", "externalId": "00uGIL",
			"emails": []map[string]any{{"value": "gil@acme.example", "primary": true}}})["id"].(string)
		userCount := func() int {
			t.Helper()
			return num(t, c.list("count", "0").must(t, http.StatusOK).JSON["totalResults"])
		}
		auditCount := func(action string) int {
			return len(oper.auditPages(url.Values{"action": {action}}, 1000))
		}

		// The broken copy: every problem, by line and column; nothing changes.
		broken := readTestdata(t, "partners-broken.csv")
		rep := oper.sendCSV("/imports?dry_run=true", broken).must(t, http.StatusOK).JSON
		want := map[float64]string{3: "role", 4: "org_path", 5: "expires_at", 6: "role", 7: "connection", 8: "role", 9: "external_id", 10: "org_path"}
		got := map[float64]string{}
		for _, p := range rep["problems"].([]any) {
			p := p.(map[string]any)
			got[p["line"].(float64)] = p["column"].(string)
		}
		for line, col := range want {
			if got[line] != col {
				t.Errorf("problem of line %v: column %q, want %q (all: %v)", line, got[line], col, rep["problems"])
			}
		}
		if len(got) != len(want) || rep["applied"] != false {
			t.Errorf("broken file: %v", rep)
		}
		msg := field(oper.sendCSV("/imports", broken).must(t, http.StatusBadRequest).JSON, "error", "message")
		if !strings.Contains(msg, "line 3 (role): unknown role") || !strings.Contains(msg, "nothing was imported") {
			t.Errorf("real run of the broken file: %s", msg)
		}
		if n := userCount(); n != 1 {
			t.Fatalf("%d users after the broken file, want 1", n)
		}

		// Too large, or not CSV: refused before reading a line.
		oper.sendCSV("/imports?dry_run=true", bytes.Repeat([]byte("a"), imports.MaxImportBytes+1)).must(t, http.StatusRequestEntityTooLarge)
		if r := oper.call("POST", "/imports?dry_run=true", `{"rows":[]}`); r.Status != http.StatusBadRequest {
			t.Errorf("a JSON body: %d", r.Status)
		}
		oper.sendCSV("/imports?dry_run=yes", broken).must(t, http.StatusBadRequest)

		// The dry run of the good file plans everything and changes nothing.
		good := readTestdata(t, "partners.csv")
		rep = oper.sendCSV("/imports?dry_run=true", good).must(t, http.StatusOK).JSON
		if len(rep["problems"].([]any)) != 0 || rep["applied"] != false || rep["orgs_created"] != 2.0 || rep["users_created"] != 3.0 ||
			rep["grants_created"] != 4.0 || rep["unchanged"] != 0.0 || rep["rows"] != 5.0 {
			t.Fatalf("dry run: %v", rep)
		}
		lines := rep["lines"].([]any)
		if l := lines[1].(map[string]any); l["org"] != "emea" || l["org_action"] != "create" || l["user_action"] != "create" ||
			l["grant_action"] != "create" || l["connection"] != "acme" || l["expires_at"] != "2031-07-01T00:00:00Z" {
			t.Errorf("dry run line 3: %v", l)
		}
		oper.get("/orgs/emea").must(t, http.StatusNotFound)
		if n := userCount(); n != 1 {
			t.Fatalf("%d users after the dry run, want 1", n)
		}

		// The import.
		rep = oper.sendCSV("/imports", good).must(t, http.StatusOK).JSON
		batch := field(rep, "batch_id")
		if rep["applied"] != true || batch == "" || rep["users_created"] != 3.0 || rep["grants_created"] != 4.0 {
			t.Fatalf("import: %v", rep)
		}
		ids := map[string]string{}
		for _, l := range rep["lines"].([]any) {
			l := l.(map[string]any)
			if name, _ := l["user_name"].(string); name != "" {
				ids[name] = l["user_id"].(string)
			}
		}
		ann, ben, cy := ids["ann@acme.example"], ids["bbaker"], ids["cy@acme.example"]
		if oper.get("/orgs/paris").must(t, http.StatusOK).JSON["parent"] != "emea" {
			t.Error("paris is not under emea")
		}
		check := func(user, perm, org string) map[string]any {
			t.Helper()
			q := url.Values{"connection": {"acme"}, "user": {user}, "permission": {perm}, "org": {org}}
			return oper.get("/access/check?"+q.Encode()).must(t, http.StatusOK).JSON
		}
		var batch2 string
		allowedByImport := func(user, perm, org string) {
			t.Helper()
			d := check(user, perm, org)
			if src := field(d, "because", 0, "grant", "source_id"); d["allowed"] != true ||
				field(d, "because", 0, "grant", "source") != "import" || (src != batch && src != batch2) {
				t.Errorf("%s %s on %s: %v", user, perm, org, d)
			}
		}
		allowedByImport(ann, "billing.read", "paris") // inherited from acme
		allowedByImport(ann, "tickets.read", "emea")
		allowedByImport(ben, "tickets.read", "emea")
		allowedByImport(cy, "billing.read", "paris")
		if d := check(ben, "tickets.read", "acme"); d["allowed"] != false {
			t.Errorf("ben on acme: %v", d)
		}
		if d := check(cy, "billing.read", "emea"); d["allowed"] != false {
			t.Errorf("cy on emea (granted on paris only): %v", d)
		}
		if n := userCount(); n != 4 {
			t.Fatalf("%d users after the import, want 4", n)
		}

		// Again: nothing changes, nothing is recorded.
		events := len(oper.auditPages(url.Values{}, 1000))
		rep = oper.sendCSV("/imports", good).must(t, http.StatusOK).JSON
		if rep["applied"] != false || rep["unchanged"] != 5.0 || rep["users_created"] != 0.0 || rep["grants_created"] != 0.0 ||
			rep["orgs_created"] != 0.0 || rep["batch_id"] != nil {
			t.Fatalf("second import: %v", rep)
		}
		if n := len(oper.auditPages(url.Values{}, 1000)); n != events {
			t.Errorf("the second import recorded %d events", n-events)
		}
		if n := auditCount("import.apply"); n != 1 {
			t.Errorf("%d import.apply events, want 1", n)
		}
		_ = gil

		// A new expiry for Ben: his imported grant is replaced, the rest is unchanged.
		moved := strings.Replace(string(good), "support.agent,2031-06-30", "support.agent,2031-12-31", 1)
		rep = oper.sendCSV("/imports", []byte(moved)).must(t, http.StatusOK).JSON
		batch2 = field(rep, "batch_id")
		if rep["applied"] != true || rep["grants_replaced"] != 1.0 || rep["grants_created"] != 0.0 || rep["unchanged"] != 4.0 ||
			field(rep, "lines", 1, "grant_action") != "replace" {
			t.Fatalf("import with a new expiry: %v", rep)
		}
		if d := check(ben, "tickets.read", "emea"); field(d, "because", 0, "grant", "source_id") != batch2 ||
			field(d, "because", 0, "grant", "expires_at") != "2032-01-01T00:00:00Z" || len(d["because"].([]any)) != 1 {
			t.Errorf("ben after the new expiry: %v", d)
		}
		if rep := oper.sendCSV("/imports", []byte(moved)).must(t, http.StatusOK).JSON; rep["applied"] != false {
			t.Errorf("the new expiry again: %v", rep)
		}

		// Okta pushes the same people: userName = e-mail, externalId = its own id,
		// the e-mail as primary. They adopt the imported identities: acme holds
		// acme.example verified, so an address in it identifies a person.
		holdVerified(t, db, "acme", "acme.example")
		push := func(userName, externalID, email string) map[string]any {
			t.Helper()
			return c.create(map[string]any{"schemas": []string{userSchemaURN}, "userName": userName, "externalId": externalID,
				"name":   map[string]any{"givenName": strings.Split(userName, "@")[0], "familyName": "Okta"},
				"emails": []map[string]any{{"value": email, "primary": true, "type": "work"}}, "active": true})
		}
		if got := push("ann@acme.example", "00uANN1", "ann@acme.example")["id"]; got != ann {
			t.Errorf("ann pushed by Okta is %v, want the imported %s", got, ann)
		}
		pushedBen := push("ben@acme.example", "00uBEN2", "BEN@acme.example") // a new userName; the e-mail matches
		if pushedBen["id"] != ben || pushedBen["userName"] != "ben@acme.example" || pushedBen["externalId"] != "00uBEN2" {
			t.Errorf("ben pushed by Okta: %v, want the imported %s with Okta's attributes", pushedBen, ben)
		}
		if got := push("cy@acme.example", "00uCY123", "cy.cole@acme.example")["id"]; got != cy { // by externalId
			t.Errorf("cy pushed by Okta is %v, want the imported %s", got, cy)
		}
		if n := userCount(); n != 4 {
			t.Fatalf("%d users after Okta's push, want 4: no duplicates", n)
		}
		// A linked user is the IdP's: a second person with Ann's e-mail is a new user.
		if got := push("ann.other@acme.example", "00uANN9", "ann@acme.example")["id"]; got == ann || got == gil {
			t.Errorf("a second push with ann's e-mail adopted %v", got)
		}
		// Nor is a user the IdP made itself ever adopted.
		if got := push("gil.two@acme.example", "00uGIL2", "gil@acme.example")["id"]; got == gil {
			t.Errorf("a push with gil's e-mail adopted the IdP's own user %v", got)
		}
		if n := auditCount("user.link"); n != 3 {
			t.Errorf("%d user.link events, want 3", n)
		}
		// Okta also matches an existing userName with a filter and then updates the user
		// instead of creating it: that claims the imported user just the same.
		rep = oper.sendCSV("/imports", []byte("org_path,email,role\nacme,dora@acme.example,billing.viewer\n")).must(t, http.StatusOK).JSON
		dora := field(rep, "lines", 0, "user_id")
		found := resources(t, c.list("filter", `userName eq "dora@acme.example"`).must(t, http.StatusOK))
		if len(found) != 1 || found[0]["id"] != dora {
			t.Fatalf("Okta's lookup of dora: %v", found)
		}
		c.patch(dora, op("replace", "externalId", "00uDORA")).must(t, http.StatusOK)
		if got := push("dora.two@acme.example", "00uDORA2", "dora@acme.example")["id"]; got == dora {
			t.Errorf("a push with the e-mail of dora, claimed by Okta's update, adopted her")
		}
		if n := auditCount("user.link"); n != 4 {
			t.Errorf("%d user.link events, want 4", n)
		}
		allowedByImport(ben, "tickets.read", "emea")
		if d := c.get(ben); d["userName"] != "ben@acme.example" {
			t.Errorf("ben after the push: %v", d)
		}
		// Importing the file again after the push changes nothing either: Ben, now
		// ben@acme.example, is found by his e-mail, as the push found him.
		rep = oper.sendCSV("/imports?dry_run=true", []byte(moved)).must(t, http.StatusOK).JSON
		if rep["unchanged"] != 5.0 || rep["users_created"] != 0.0 || rep["grants_created"] != 0.0 {
			t.Errorf("dry run after the push: %v", rep)
		}

		// The export for auditors: the import's grants, with the formula defused.
		header, rows := oper.exportCSV("acme")
		if !slices.Equal(header, orgs.AccessExportColumns) {
			t.Errorf("export header %v", header)
		}
		var imported []map[string]string
		for _, r := range rows {
			if r["source"] == "import" && (r["source_id"] == batch || r["source_id"] == batch2) && r["user_id"] != dora {
				imported = append(imported, r)
			}
		}
		if len(imported) != 4 || len(rows) != 5 {
			t.Fatalf("export: %d rows, %d from the import: %v", len(rows), len(imported), rows)
		}
		for _, r := range imported {
			switch {
			case r["user_id"] == cy:
				if r["org_path"] != "vendor/acme/emea/paris" || r["expires_at"] != "2031-01-01T00:00:00Z" || r["connection"] != "acme" {
					t.Errorf("cy's row: %v", r)
				}
			case r["user_id"] == ann && r["role"] == "support.agent":
				if r["reason"] != `'=HYPERLINK("http://evil.example")` || r["user_name"] != "ann@acme.example" {
					t.Errorf("ann's support row: %v", r)
				}
			}
		}
		if _, rows := oper.exportCSV("paris"); len(rows) != 1 || rows[0]["user_id"] != cy {
			t.Errorf("export of paris: %v", rows)
		}
		oper.get("/access/export?org=nowhere").must(t, http.StatusNotFound)

		// A delegate of emea imports inside its subtree only, and grants only what its
		// holder holds: Ben holds support.agent on emea, not billing.viewer.
		del := oper.post("/delegations", map[string]any{"org": "emea", "connection": "acme", "user_id": ben,
			"capabilities": []string{"manage_members"}}).must(t, http.StatusCreated).JSON
		delKey := field(oper.post("/delegations/"+field(del, "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key")
		deleg := env.admin(t, delKey, doc)
		rep = deleg.sendCSV("/imports?dry_run=true", []byte("org_path,email,role\n"+
			"acme/emea,hal@acme.example,support.agent\n"+
			"acme,ivy@acme.example,support.agent\n"+
			"acme/emea/paris,jo@acme.example,billing.viewer\n")).must(t, http.StatusOK).JSON
		got = map[float64]string{}
		for _, p := range rep["problems"].([]any) {
			p := p.(map[string]any)
			got[p["line"].(float64)] = p["column"].(string)
		}
		if len(got) != 2 || got[3] != "org_path" || got[4] != "role" {
			t.Errorf("delegate's import: %v", rep["problems"])
		}
		if _, rows := deleg.exportCSV(""); len(rows) != 3 { // ann's and ben's on emea, cy's on paris
			t.Errorf("delegate's export of its subtree: %v", rows)
		}
		deleg.get("/access/export?org=acme").must(t, http.StatusForbidden)

		// Creating an org takes delegate on its parent; putting people into it takes
		// manage_members there as well, even when the file creates it.
		builder := oper.post("/delegations", map[string]any{"org": "emea", "connection": "acme", "user_id": ann,
			"capabilities": []string{"delegate"}, "depth": 1}).must(t, http.StatusCreated).JSON
		builderKey := field(oper.post("/delegations/"+field(builder, "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key")
		rep = env.admin(t, builderKey, doc).sendCSV("/imports?dry_run=true", []byte("org_path,org_name,email\n"+
			"acme/emea/lyon,Lyon,\n"+
			"acme/emea/lyon,,kim@acme.example\n")).must(t, http.StatusOK).JSON
		problems, _ := rep["problems"].([]any)
		if len(problems) != 1 || at(problems[0], "line") != float64(3) || at(problems[0], "column") != "org_path" {
			t.Errorf("a delegate without manage_members put a person in the org it creates: %v", rep["problems"])
		}
	})
}
