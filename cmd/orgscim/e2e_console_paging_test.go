package main

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

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
		revoke := regexp.MustCompile(`action="/console/orgs/lyon/grants/([^/"]+)/revoke(?:\?[^"]*)?"`)
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
		// A revocation on the second page comes back to it, one grant fewer.
		gone := grantsOn(second)[0]
		back := alice.do("POST", "/console/orgs/lyon/grants/"+gone+"/revoke?after="+url.QueryEscape(grantsOn(first)[199]),
			url.Values{"csrf": {second.csrf(t)}, "reason": {"left"}}).must(t, http.StatusOK, "Done: revoked", "201–204 of 204 in all")
		if got := grantsOn(back); len(got) != 4 || strings.Contains(strings.Join(got, " "), gone) {
			t.Errorf("after revoking %s the second page lists %v", gone, got)
		}
		// Back to the first page, and an org with few grants shows no pager.
		alice.get(hrefOf(second, "grants-first")).must(t, http.StatusOK, "1–200 of 204 in all")
		if p := alice.get("/console/orgs/acme").must(t, http.StatusOK, "1–1 of 1 in all"); hrefOf(p, "grants-next") != "" {
			t.Errorf("one grant, yet a next page: %q", hrefOf(p, "grants-next"))
		}
	})
}

// TestConsoleReviewPages: a campaign with more lines than one page lists them 200 a page
// with the total; the next page holds the rest; the filter by decision (waiting,
// confirmed, revoked, ended otherwise) counts and pages only those lines, keeps itself
// across pages, and a decision made on a filtered page comes back to that filter. On
// both engines.
func TestConsoleReviewPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newConsoleFixture(t, db)
		var grants []string
		for i := range 210 {
			id := f.acme.create(map[string]any{"userName": fmt.Sprintf("line-%03d@acme.example", i)})["id"].(string)
			grants = append(grants, field(f.oper.post("/grants", map[string]any{"connection": "acme", "user_id": id, "role": "viewer",
				"org": "lyon", "reason": "paging"}).must(t, http.StatusCreated).JSON, "id"))
		}
		// With pat's viewer on acme: 211 lines.
		review := field(f.oper.post("/reviews", map[string]any{"org": "acme", "name": "Big review",
			"deadline": f.env.clock.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)}).must(t, http.StatusCreated).JSON, "id")
		alice := f.operatorBrowser(t, "alice")
		here := "/console/reviews/" + review
		line := regexp.MustCompile(`action="/console/reviews/[^/]+/items/([^/"]+)/confirm`)
		decided := regexp.MustCompile(`<span class="decision decision-([a-z]+)">`)
		lines := func(p consolePage) []string {
			var out []string
			for _, m := range line.FindAllStringSubmatch(p.body, -1) {
				out = append(out, m[1])
			}
			for _, m := range decided.FindAllStringSubmatch(p.body, -1) {
				out = append(out, m[1])
			}
			return out
		}
		first := alice.get(here).must(t, http.StatusOK, "1–200 of 211 in all", `id="items-next"`)
		second := alice.get(hrefOf(first, "items-next")).must(t, http.StatusOK, "201–211 of 211 in all", `id="items-first"`)
		seen := map[string]bool{}
		for _, id := range append(lines(first), lines(second)...) {
			if seen[id] {
				t.Errorf("line %s is on both pages", id)
			}
			seen[id] = true
		}
		if len(lines(first)) != 200 || len(seen) != 211 || hrefOf(second, "items-next") != "" {
			t.Fatalf("pages list %d then %d lines (%d distinct), want 200 and 11", len(lines(first)), len(lines(second)), len(seen))
		}

		// Decisions through the admin API, and a grant ended by hand while undecided.
		items := "/reviews/" + review + "/items/"
		for _, g := range grants[:3] {
			f.oper.post(items+g+"/confirm", map[string]any{}).must(t, http.StatusOK)
		}
		for _, g := range grants[3:5] {
			f.oper.post(items+g+"/revoke", map[string]any{"note": "gone"}).must(t, http.StatusOK)
		}
		f.oper.call("DELETE", "/grants/"+grants[5], map[string]any{"reason": "left"}).must(t, http.StatusOK)
		for _, c := range []struct {
			decision, count, shown string
			n                      int
		}{
			{"confirmed", "1–3 of 3 confirmed", "confirmed", 3},
			{"revoked", "1–2 of 2 revoked", "revoked", 2},
			{"lapsed", "1–1 of 1 ended otherwise", "pending", 1},
		} {
			p := alice.get(here+"?decision="+c.decision).must(t, http.StatusOK, c.count, `<option value="`+c.decision+`" selected>`)
			got := lines(p)
			if len(got) != c.n || hrefOf(p, "items-next") != "" {
				t.Errorf("?decision=%s lists %v (next %q)", c.decision, got, hrefOf(p, "items-next"))
			}
			for _, d := range got {
				if d != c.shown {
					t.Errorf("?decision=%s lists a line shown %s", c.decision, d)
				}
			}
		}
		// 205 wait: two pages of them, the filter kept on the next page.
		waiting := alice.get(here+"?decision=pending").must(t, http.StatusOK, "1–200 of 205 waiting for a decision")
		next := hrefOf(waiting, "items-next")
		if !strings.Contains(next, "decision=pending") {
			t.Fatalf("the next page of waiting lines drops the filter: %q", next)
		}
		last := alice.get(next).must(t, http.StatusOK, "201–205 of 205 waiting for a decision")
		todo := lines(last)
		if len(todo) != 5 {
			t.Fatalf("the last page of waiting lines: %v", todo)
		}
		// A decision on it comes back to the same filter and page.
		u, _ := url.Parse(next)
		back := alice.do("POST", here+"/items/"+todo[0]+"/confirm?"+u.RawQuery, url.Values{"csrf": {last.csrf(t)}}).
			must(t, http.StatusOK, "Done: confirmed", "201–204 of 204 waiting for a decision")
		if !strings.Contains(back.url, "decision=pending") {
			t.Errorf("after deciding, the page is %s", back.url)
		}
		alice.get(here+"?decision=maybe").must(t, http.StatusBadRequest)
	})
}
