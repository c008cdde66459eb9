package main

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// hrefOf returns the href of the link with this id on the page ("" when there is none).
func hrefOf(p consolePage, id string) string {
	m := regexp.MustCompile(`href="([^"]*)" id="` + regexp.QuoteMeta(id) + `"`).FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// TestConsolePeoplePages: a connection with more people than one page lists them 200 a
// page with the total, the next page holds the rest, and ?q= finds people by userName,
// name or display name, ignoring case; nobody is silently left out. On both engines.
func TestConsolePeoplePages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		for i := range 205 {
			f.acme.create(map[string]any{"userName": fmt.Sprintf("bulk-%03d@acme.example", i), "displayName": fmt.Sprintf("Bulk Person %d", i)})
		}
		alice := f.operatorBrowser(t, "alice")
		rows := regexp.MustCompile(`<span class="muted">([^<]+@acme\.example)</span>`)
		names := func(p consolePage) []string {
			var out []string
			for _, m := range rows.FindAllStringSubmatch(p.body, -1) {
				out = append(out, m[1])
			}
			return out
		}
		first := alice.get("/console/connections/acme/people").must(t, http.StatusOK, "1–200 of 207 in all", `id="people-next"`)
		seen := map[string]bool{}
		for _, n := range names(first) {
			seen[n] = true
		}
		if len(names(first)) != 200 || hrefOf(first, "people-prev") != "" {
			t.Fatalf("the first page lists %d people (prev %q)", len(names(first)), hrefOf(first, "people-prev"))
		}
		second := alice.get(hrefOf(first, "people-next")).must(t, http.StatusOK, "201–207 of 207 in all", `id="people-prev"`)
		for _, n := range names(second) {
			if seen[n] {
				t.Errorf("%s is on both pages", n)
			}
			seen[n] = true
		}
		if len(seen) != 207 || hrefOf(second, "people-next") != "" {
			t.Errorf("two pages list %d distinct people of 207 (next %q)", len(seen), hrefOf(second, "people-next"))
		}

		found := alice.get("/console/connections/acme/people?q=BULK-01").must(t, http.StatusOK, "1–10 of 10 matching", `id="people-all"`)
		if got := names(found); len(got) != 10 || got[0] != "bulk-010@acme.example" {
			t.Errorf("?q=BULK-01 finds %v", got)
		}
		if got := names(alice.get("/console/connections/acme/people?q=pat+example").must(t, http.StatusOK, "1–1 of 1")); len(got) != 1 ||
			got[0] != "pat@acme.example" {
			t.Errorf("by display name: %v", got)
		}
		alice.get("/console/connections/acme/people?q=nobody-at-all").must(t, http.StatusOK, "None of 0 matching")
	})
}

// TestConsoleWebhookDeliveriesNewestFirst: a subscription with more deliveries than the
// page lists shows the newest 200 of them, newest first, and says how many there are in
// all: the latest event is on top and the oldest is the one left out. On both engines.
func TestConsoleWebhookDeliveriesNewestFirst(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		hook := field(f.oper.post("/webhooks", map[string]any{"connection": "acme", "url": "http://127.0.0.1:9/hook",
			"actions": []string{"user.create"}}).must(t, http.StatusCreated).JSON, "id")
		var ids []string
		for i := range 203 {
			ids = append(ids, f.acme.create(map[string]any{"userName": fmt.Sprintf("hooked-%03d@acme.example", i)})["id"].(string))
		}
		eventOf := func(user string) string {
			t.Helper()
			evs := at(f.oper.get("/audit?action=user.create&target="+user).must(t, http.StatusOK).JSON, "events").([]any)
			if len(evs) != 1 {
				t.Fatalf("user.create events of %s: %v", user, evs)
			}
			return field(evs[0], "id")
		}
		newest, second, oldest := eventOf(ids[202]), eventOf(ids[201]), eventOf(ids[0])
		page := f.operatorBrowser(t, "alice").get("/console/webhooks/"+hook).must(t, http.StatusOK, "The newest 200 of 203, newest first.")
		rows := regexp.MustCompile(`data-label="Event">[^<]*<br><span class="muted">([^<]+)</span>`).FindAllStringSubmatch(page.body, -1)
		if len(rows) != 200 {
			t.Fatalf("%d deliveries listed, want 200", len(rows))
		}
		if rows[0][1] != newest || rows[1][1] != second {
			t.Errorf("the first rows are %s, %s; want the newest %s, then %s", rows[0][1], rows[1][1], newest, second)
		}
		for _, r := range rows {
			if r[1] == oldest {
				t.Errorf("the oldest delivery %s is listed, a newer one left out", oldest)
			}
		}
	})
}

// TestConsoleOrgGrantPages: an org with more live grants than one page lists them 200
// a page with the total and where the page starts; the next page (?after= the last
// grant shown) holds the rest, and together they hold every grant once. On both engines.
func TestConsoleOrgGrantPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		want := map[string]bool{}
		for i := range 205 {
			id := f.acme.create(map[string]any{"userName": fmt.Sprintf("holder-%03d@acme.example", i)})["id"].(string)
			g := f.oper.post("/grants", map[string]any{"connection": "acme", "user_id": id, "role": "viewer", "org": "lyon",
				"reason": "paging"}).must(t, http.StatusCreated).JSON
			want[field(g, "id")] = true
		}
		alice := f.operatorBrowser(t, "alice")
		revoke := regexp.MustCompile(`action="/console/orgs/lyon/grants/([^/"]+)/revoke"`)
		grantsOn := func(p consolePage) []string {
			var out []string
			for _, m := range revoke.FindAllStringSubmatch(p.body, -1) {
				out = append(out, m[1])
			}
			return out
		}
		first := alice.get("/console/orgs/lyon").must(t, http.StatusOK, "1–200 of 205 in all", `id="grants-next"`)
		if got := grantsOn(first); len(got) != 200 || hrefOf(first, "grants-first") != "" {
			t.Fatalf("the first page lists %d grants (first-page link %q)", len(got), hrefOf(first, "grants-first"))
		}
		second := alice.get(hrefOf(first, "grants-next")).must(t, http.StatusOK, "201–205 of 205 in all", `id="grants-first"`)
		if hrefOf(second, "grants-next") != "" {
			t.Errorf("the last page links a next one: %q", hrefOf(second, "grants-next"))
		}
		seen := map[string]bool{}
		for _, id := range append(grantsOn(first), grantsOn(second)...) {
			if seen[id] {
				t.Errorf("grant %s is on both pages", id)
			}
			seen[id] = true
		}
		for id := range want {
			if !seen[id] {
				t.Errorf("grant %s is on neither page", id)
			}
		}
		if len(seen) != len(want) {
			t.Errorf("two pages list %d grants, want %d", len(seen), len(want))
		}
		// Back to the first page, and an org with few grants shows no pager.
		alice.get(hrefOf(second, "grants-first")).must(t, http.StatusOK, "1–200 of 205 in all")
		if p := alice.get("/console/orgs/acme").must(t, http.StatusOK, "1–1 of 1 in all"); hrefOf(p, "grants-next") != "" {
			t.Errorf("one grant, yet a next page: %q", hrefOf(p, "grants-next"))
		}
	})
}
