package main

// End-to-end tests of connection health and token rotation: a real HTTP server over each
// engine, the SCIM requests of an IdP, the admin API and the CLI reading what they left.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgscim/orgscim/connhealth"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/scim"
	"github.com/orgscim/orgscim/sqlstore"
)

// healthEnv is a server whose health recorder the test flushes itself (its timer is an
// hour, so nothing depends on timing), with an operator's admin client.
type healthEnv struct {
	*e2eEnv
	rec  *connhealth.Recorder
	oper *adminClient
}

func newHealthE2E(t *testing.T, db *sqlstore.DB, clock *e2eClock) *healthEnv {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	rec := &connhealth.Recorder{Store: db.Health(), Every: time.Hour, Logger: logger}
	srv := httptest.NewServer(newHandler(db, logger, httpConfig{Now: clock.Now, Health: rec,
		Limits: scim.Limits{RateLimit: -1}}))
	t.Cleanup(srv.Close)
	env := &e2eEnv{t: t, db: db, srv: srv, dir: &orgs.Directory{Store: db.Orgs(), Now: clock.Now}, logs: logs, clock: clock}
	keys := &orgs.AdminKeys{Store: db.AdminKeys(), Now: clock.Now}
	_, key, err := keys.IssueOperatorKey(context.Background(), "ops", nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := env.admin(t, "", nil).get("/openapi.json").must(t, http.StatusOK).JSON
	return &healthEnv{e2eEnv: env, rec: rec, oper: env.admin(t, key, doc)}
}

func (h *healthEnv) flush() {
	h.t.Helper()
	if err := h.rec.Flush(context.Background()); err != nil {
		h.t.Fatalf("flush: %v", err)
	}
}

func newClock(t *testing.T) *e2eClock {
	start, err := time.Parse(time.RFC3339, e2eClockStart)
	if err != nil {
		t.Fatal(err)
	}
	return &e2eClock{t: start}
}

// rawRows returns every column of every row of the table as text, read past the
// application, to prove what is and is not stored.
func rawRows(t *testing.T, dbURL, table string) string {
	t.Helper()
	var raw *sql.DB
	var err error
	if strings.HasPrefix(dbURL, "sqlite:") {
		raw, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(dbURL, "sqlite:")+"?_pragma=busy_timeout(10000)")
	} else {
		raw, err = sql.Open("pgx", dbURL)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query("SELECT * FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(&b, "%v\t", v)
		}
		b.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func openURL(t *testing.T, dbURL string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestConnectionHealthE2E: failing pushes show in the log with their status and SCIM
// error, passwords and the bearer token are never stored, the ring keeps the last 50,
// counts survive a restart, and a delegate sees only connections of its subtree.
func TestConnectionHealthE2E(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			dbURL := dbtest.URL(t, engine)
			db1 := openURL(t, dbURL)
			clock := newClock(t)
			env := newHealthE2E(t, db1, clock)
			acme := env.connect("acme", "entra")
			env.connect("globex", "okta")

			secrets := []string{"Sup3r-Secret-One", "Sup3r-Secret-Two", "Sup3r-Secret-Three", "Sup3r-Secret-Four"}
			user := acme.create(map[string]any{"userName": "ada@acme.example", "password": secrets[0],
				"name": map[string]any{"givenName": "Ada"}, "active": true})
			id := user["id"].(string)
			acme.patch(id,
				op("replace", "password", secrets[1]),
				op("Replace", "", map[string]any{"PassWord": secrets[2], "displayName": "Ada L"}),
				op("replace", "name.familyName", "Lovelace"))
			acme.do("PUT", "/Users/"+id, map[string]any{"schemas": []string{userSchemaURN}, "userName": "ada@acme.example",
				"nested": map[string]any{"x": []any{map[string]any{"userPassword": secrets[3]}}}})
			// Failing pushes: a filter that does not parse (with a parameter that must
			// not be logged), and a user without its required userName.
			acme.do("GET", "/Users?filter="+url.QueryEscape(`userName eq`)+"&access_token=dropme&count=5", nil).
				scimError(t, http.StatusBadRequest, "invalidFilter")
			wrong := acme.do("POST", "/Users", map[string]any{"schemas": []string{userSchemaURN}, "displayName": "urn:example:no-userName"})
			if wrong.Status != http.StatusBadRequest {
				t.Fatalf("wrong schema: %d %s", wrong.Status, wrong.Raw)
			}
			acme.do("GET", "/Users/"+id, nil).must(t, http.StatusOK)
			// Refused tokens are counted for the connection of the URL, not logged: a
			// wrong token to acme, acme's token to globex, anything to no connection.
			acme.as("acme", orgs.TokenPrefix+"nope").do("GET", "/Users", nil).must(t, http.StatusUnauthorized)
			acme.as("globex", acme.token).do("GET", "/Users", nil).must(t, http.StatusUnauthorized)
			acme.as("globex", acme.token).do("GET", "/Users", nil).must(t, http.StatusUnauthorized)
			acme.as("nope", acme.token).do("GET", "/Users", nil).must(t, http.StatusUnauthorized)
			const made = 6 // authenticated requests above
			env.flush()

			log := env.oper.get("/connections/acme/requests").must(t, http.StatusOK).JSON
			items, _ := log["items"].([]any)
			if len(items) != made {
				t.Fatalf("log has %d entries, want %d: %s", len(items), made, mustJSON(log))
			}
			newest := items[0].(map[string]any)
			if newest["method"] != "GET" || newest["path"] != "/scim/v2/acme/Users/"+id || num(t, newest["status"]) != 200 {
				t.Errorf("newest entry %v", newest)
			}
			var sawFilter, sawSchema bool
			for _, it := range items {
				e := it.(map[string]any)
				path, _ := e["path"].(string)
				if strings.Contains(path, "access_token") || strings.Contains(path, "dropme") {
					t.Errorf("logged path keeps a foreign parameter: %s", path)
				}
				if rid, _ := e["request_id"].(string); rid == "" {
					t.Errorf("entry without request id: %v", e)
				}
				switch {
				case strings.Contains(path, "filter="):
					sawFilter = true
					if num(t, e["status"]) != 400 || e["scim_type"] != "invalidFilter" || field(e, "detail") == "" ||
						!strings.Contains(path, "count=5") {
						t.Errorf("bad filter entry %v", e)
					}
				case e["method"] == "POST" && num(t, e["status"]) == 400:
					sawSchema = true
					if field(e, "detail") == "" || !strings.Contains(field(e, "request_body"), "urn:example:no-userName") || e["scim_type"] != "invalidValue" {
						t.Errorf("wrong schema entry %v", e)
					}
				case e["method"] == "PATCH":
					if !strings.Contains(field(e, "request_body"), connhealth.Redacted) || !strings.Contains(field(e, "request_body"), "Lovelace") {
						t.Errorf("PATCH body not redacted member by member: %v", e["request_body"])
					}
				}
			}
			if !sawFilter || !sawSchema {
				t.Errorf("failing pushes missing from the log: filter %v schema %v", sawFilter, sawSchema)
			}
			health := env.oper.get("/connections/acme/health").must(t, http.StatusOK).JSON
			if num(t, health["requests"]) != made || num(t, health["client_errors"]) != 2 || num(t, health["server_errors"]) != 0 ||
				health["last_push_at"] == nil || health["last_error_at"] == nil || health["last_success_at"] == nil ||
				num(t, health["rejected"]) != 1 || health["last_rejected_at"] == nil {
				t.Errorf("health %s", mustJSON(health))
			}
			if g := env.oper.get("/connections/globex/health").must(t, http.StatusOK).JSON; num(t, g["requests"]) != 0 || g["last_push_at"] != nil ||
				num(t, g["rejected"]) != 2 {
				t.Errorf("globex health %v", g)
			}
			if items, _ := env.oper.get("/connections/globex/requests").must(t, http.StatusOK).JSON["items"].([]any); len(items) != 0 {
				t.Errorf("refused requests were logged: %v", items)
			}
			env.oper.get("/connections/nope/health").must(t, http.StatusNotFound)
			env.oper.get("/connections/acme/requests?limit=51").must(t, http.StatusBadRequest)

			// Nothing secret is stored, read past the application.
			stored := rawRows(t, dbURL, "connection_requests") + rawRows(t, dbURL, "connection_health")
			for _, s := range append(secrets, acme.token, "Bearer", "dropme") {
				if strings.Contains(stored, s) {
					t.Errorf("stored log holds %q", s)
				}
			}
			if !strings.Contains(stored, "ada@acme.example") {
				t.Errorf("stored log lacks the bodies: %.500s", stored)
			}

			// The ring keeps the newest 50, across flushes, numbered without gaps.
			for i := range 60 {
				acme.do("GET", fmt.Sprintf("/Users?count=%d", i+1), nil).must(t, http.StatusOK)
				if i == 30 {
					env.flush()
				}
			}
			env.flush()
			items, _ = env.oper.get("/connections/acme/requests").must(t, http.StatusOK).JSON["items"].([]any)
			if len(items) != connhealth.Keep {
				t.Fatalf("ring holds %d", len(items))
			}
			for i, it := range items {
				e := it.(map[string]any)
				if want := made + 60 - 1 - i; num(t, e["seq"]) != want {
					t.Fatalf("entry %d has seq %v, want %d", i, e["seq"], want)
				}
			}
			if p := field(items[0], "path"); p != "/scim/v2/acme/Users?count=60" {
				t.Errorf("newest entry %s", p)
			}

			// A delegate of globex sees globex, not acme.
			del := delegateKey(t, env, "globex")
			del.get("/connections/acme/health").must(t, http.StatusForbidden)
			del.get("/connections/acme/requests").must(t, http.StatusForbidden)
			del.get("/connections/globex/health").must(t, http.StatusOK)

			// Restart: the server stops (its recorder flushed on the way out), the
			// database is reopened, and the counts are there and keep adding up.
			acme.do("GET", "/Users/"+id, nil).must(t, http.StatusOK)
			env.srv.Close()
			flushHealth(env.rec, slog.Default())
			db1.Close()
			db2 := openURL(t, dbURL)
			t.Cleanup(func() { db2.Close() })
			env2 := newHealthE2E(t, db2, clock)
			h2 := env2.oper.get("/connections/acme/health").must(t, http.StatusOK).JSON
			if num(t, h2["requests"]) != made+61 || num(t, h2["client_errors"]) != 2 {
				t.Fatalf("after restart: %s", mustJSON(h2))
			}
			acme2 := acme.as("acme", acme.token)
			acme2.env = env2.e2eEnv
			acme2.do("GET", "/Users?filter="+url.QueryEscape(`bad"`), nil).scimError(t, http.StatusBadRequest, "invalidFilter")
			env2.flush()
			h2 = env2.oper.get("/connections/acme/health").must(t, http.StatusOK).JSON
			if num(t, h2["requests"]) != made+62 || num(t, h2["client_errors"]) != 3 {
				t.Fatalf("after restart and a request: %s", mustJSON(h2))
			}

			// The CLI prints the same.
			var out, errOut strings.Builder
			if err := run(context.Background(), []string{"connection", "health", "acme", "--json", "--database", dbURL}, &out, &errOut); err != nil {
				t.Fatalf("cli: %v %s", err, errOut.String())
			}
			var cli map[string]any
			dec := json.NewDecoder(strings.NewReader(out.String()))
			dec.UseNumber()
			if err := dec.Decode(&cli); err != nil {
				t.Fatal(err)
			}
			if num(t, cli["requests"]) != made+62 || len(cli["last_requests"].([]any)) != 10 || field(cli, "last_requests", 0, "scim_type") != "invalidFilter" {
				t.Errorf("cli health %s", out.String())
			}
			out.Reset()
			if err := run(context.Background(), []string{"connection", "health", "acme", "--database", dbURL}, &out, &errOut); err != nil ||
				!strings.Contains(out.String(), "client errors (4xx) 3") || !strings.Contains(out.String(), "invalidFilter") {
				t.Errorf("cli health: %v %s", err, out.String())
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// delegateKey returns an admin client of a delegate administering the org's subtree.
func delegateKey(t *testing.T, env *healthEnv, org string) *adminClient {
	t.Helper()
	c := env.connectUnder(org+"-staff", org, "generic")
	u := c.create(map[string]any{"userName": "admin@" + org + ".example", "active": true})
	d := env.oper.post("/delegations", map[string]any{"org": org, "connection": c.slug, "user_id": u["id"],
		"capabilities": []string{"manage_members"}}).must(t, http.StatusCreated).JSON
	k := env.oper.post("/delegations/"+field(d, "id")+"/keys", nil).must(t, http.StatusCreated).JSON
	return env.admin(t, field(k, "key"), env.oper.doc)
}

// TestTokenRotationE2E: start issues a second token beside the first; completing before
// the IdP has used it is refused; once used, completing revokes the old one; cancel
// revokes the new one; and requests in flight during a rotation never meet a 401 with a
// token that is still valid.
func TestTokenRotationE2E(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			dbURL := dbtest.URL(t, engine)
			db := openURL(t, dbURL)
			t.Cleanup(func() { db.Close() })
			env := newHealthE2E(t, db, newClock(t))
			oldC := env.connect("acme", "entra")
			oldC.do("GET", "/Users", nil).must(t, http.StatusOK)

			env.oper.post("/connections/acme/rotation/complete", nil).must(t, http.StatusConflict) // none in progress
			env.oper.call("DELETE", "/connections/acme/rotation", nil).must(t, http.StatusConflict)

			started := env.oper.post("/connections/acme/rotation", map[string]any{}).must(t, http.StatusCreated).JSON
			newToken := field(started, "token", "token")
			newID := field(started, "rotation", "new_token_id")
			if !strings.HasPrefix(newToken, orgs.TokenPrefix) || newID == "" || field(started, "token", "id") != newID {
				t.Fatalf("started %v", started)
			}
			newC := oldC.as("acme", newToken)
			env.oper.post("/connections/acme/rotation", nil).must(t, http.StatusConflict) // one at a time

			h := env.oper.get("/connections/acme/health").must(t, http.StatusOK).JSON
			if field(h, "rotation", "new_token_id") != newID || at(h, "rotation", "new_token_used") != false || num(t, h["usable_tokens"]) != 2 {
				t.Fatalf("health during rotation %s", mustJSON(h))
			}
			oldC.do("GET", "/Users", nil).must(t, http.StatusOK)
			// The IdP has not switched: completing would cut it off.
			env.oper.post("/connections/acme/rotation/complete", nil).must(t, http.StatusConflict)
			oldC.do("GET", "/Users", nil).must(t, http.StatusOK)

			// Both work while the IdP switches, and requests in flight never see a 401:
			// the new token's users run through the completion, the old token's stop
			// before it.
			var stopOld, stopNew atomic.Bool
			var bad atomic.Int64
			var badMsg atomic.Value
			var oldUsers, newUsers, newUsed sync.WaitGroup
			hammer := func(c *scimClient, stop *atomic.Bool, wg, used *sync.WaitGroup) {
				defer wg.Done()
				for n := 0; !stop.Load() || n < 3; n++ {
					req, _ := http.NewRequest("GET", c.base()+"/Users?count=1", nil)
					req.Header.Set("Authorization", "Bearer "+c.token)
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						bad.Add(1)
						badMsg.Store(err.Error())
						return
					}
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						bad.Add(1)
						badMsg.Store(fmt.Sprintf("%s…: status %d", c.token[:10], res.StatusCode))
					}
					if n == 0 && used != nil {
						used.Done()
					}
				}
			}
			for range 4 {
				oldUsers.Add(1)
				newUsers.Add(1)
				newUsed.Add(1)
				go hammer(oldC, &stopOld, &oldUsers, nil)
				go hammer(newC, &stopNew, &newUsers, &newUsed)
			}
			newUsed.Wait()
			h = env.oper.get("/connections/acme/health").must(t, http.StatusOK).JSON
			if at(h, "rotation", "new_token_used") != true {
				t.Errorf("new token not seen as used: %s", mustJSON(h))
			}
			// The IdP has switched: its last requests with the old token end, and the
			// rotation completes while the new token is in use.
			stopOld.Store(true)
			oldUsers.Wait()
			ended := env.oper.post("/connections/acme/rotation/complete", nil).must(t, http.StatusOK).JSON
			stopNew.Store(true)
			newUsers.Wait()
			if n := bad.Load(); n > 0 {
				t.Fatalf("%d requests failed during the rotation, e.g. %v", n, badMsg.Load())
			}
			revoked := strSlice(ended["revoked_token_ids"])
			if field(ended, "new_token_id") != newID || len(revoked) != 1 || revoked[0] == newID {
				t.Fatalf("ended %v", ended)
			}
			oldC.do("GET", "/Users", nil).must(t, http.StatusUnauthorized)
			newC.do("GET", "/Users", nil).must(t, http.StatusOK)
			if h := env.oper.get("/connections/acme/health").must(t, http.StatusOK).JSON; h["rotation"] != nil || num(t, h["usable_tokens"]) != 1 {
				t.Errorf("health after rotation %s", mustJSON(h))
			}

			// Cancel: the new token stops, the old one (now newC's) stays.
			again := env.oper.post("/connections/acme/rotation", nil).must(t, http.StatusCreated).JSON
			third := oldC.as("acme", field(again, "token", "token"))
			third.do("GET", "/Users", nil).must(t, http.StatusOK)
			cancelled := env.oper.call("DELETE", "/connections/acme/rotation", nil).must(t, http.StatusOK).JSON
			if r := strSlice(cancelled["revoked_token_ids"]); len(r) != 1 || r[0] != field(again, "rotation", "new_token_id") {
				t.Errorf("cancelled %v", cancelled)
			}
			third.do("GET", "/Users", nil).must(t, http.StatusUnauthorized)
			newC.do("GET", "/Users", nil).must(t, http.StatusOK)

			// Force completes before the new token was used (an expiring one: health warns).
			exp := env.clock.Now().Add(72 * time.Hour)
			forced := env.oper.post("/connections/acme/rotation", map[string]any{"expires_at": exp}).must(t, http.StatusCreated).JSON
			env.oper.post("/connections/acme/rotation/complete", map[string]any{"force": true}).must(t, http.StatusOK)
			newC.do("GET", "/Users", nil).must(t, http.StatusUnauthorized)
			fourth := oldC.as("acme", field(forced, "token", "token"))
			fourth.do("GET", "/Users", nil).must(t, http.StatusOK)
			h = env.oper.get("/connections/acme/health").must(t, http.StatusOK).JSON
			w, _ := h["token_warnings"].([]any)
			if len(w) != 1 || field(w[0], "token_id") != field(forced, "rotation", "new_token_id") || num(t, at(w[0], "expires_in_seconds")) > 72*3600 {
				t.Errorf("token warnings %s", mustJSON(h["token_warnings"]))
			}

			// Two completions at once: one completes, the other finds none in progress.
			raced := env.oper.post("/connections/acme/rotation", nil).must(t, http.StatusCreated).JSON
			fifth := oldC.as("acme", field(raced, "token", "token"))
			fifth.do("GET", "/Users", nil).must(t, http.StatusOK)
			statuses := make(chan int, 2)
			for range 2 {
				go func() { statuses <- env.oper.post("/connections/acme/rotation/complete", nil).Status }()
			}
			if a, b := <-statuses, <-statuses; a+b != http.StatusOK+http.StatusConflict {
				t.Errorf("concurrent completions answered %d and %d", a, b)
			}
			fourth.do("GET", "/Users", nil).must(t, http.StatusUnauthorized)
			fourth = fifth
			fourth.do("GET", "/Users", nil).must(t, http.StatusOK)

			// Only operators rotate; every step is in the audit trail.
			del := delegateKey(t, env, "acme")
			del.post("/connections/acme/rotation", nil).must(t, http.StatusForbidden)
			events, _ := env.oper.get("/audit?action=token_rotation.").must(t, http.StatusOK).JSON["events"].([]any)
			var actions []string
			for _, e := range events {
				actions = append(actions, field(e, "action"))
			}
			want := "token_rotation.start token_rotation.complete token_rotation.start token_rotation.cancel token_rotation.start token_rotation.complete" +
				" token_rotation.start token_rotation.complete"
			if strings.Join(actions, " ") != want {
				t.Errorf("audit actions %v", actions)
			}

			// The CLI: start, complete refused before use, cancel; token create still works.
			cli := func(args ...string) (string, error) {
				var out, errOut strings.Builder
				err := run(context.Background(), append(args, "--database", dbURL), &out, &errOut)
				return out.String() + errOut.String(), err
			}
			out, err := cli("token", "rotate", "start", "--connection", "acme", "--expires", "720h", "--json")
			var st map[string]any
			if err != nil || json.Unmarshal([]byte(out), &st) != nil || !strings.HasPrefix(field(st, "token"), orgs.TokenPrefix) {
				t.Fatalf("cli start: %v %s", err, out)
			}
			if out, err := cli("token", "rotate", "complete", "--connection", "acme"); err == nil {
				t.Errorf("cli complete before use succeeded: %s", out)
			}
			if out, err := cli("token", "rotate", "cancel", "--connection", "acme"); err != nil || !strings.Contains(out, "cancelled") {
				t.Errorf("cli cancel: %v %s", err, out)
			}
			if out, err := cli("token", "rotate", "sideways", "--connection", "acme"); err == nil {
				t.Errorf("cli bad step: %s", out)
			}
			fourth.as("acme", field(st, "token")).do("GET", "/Users", nil).must(t, http.StatusUnauthorized)
			fourth.do("GET", "/Users", nil).must(t, http.StatusOK)
		})
	}
}

// TestTokenExpiryWarnings: a token lapsing within the window is on /metrics (seconds
// left, per connection), in the daily log line, and in health; one beyond it only on
// /metrics; a connection whose tokens never expire nowhere.
func TestTokenExpiryWarnings(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newHealthE2E(t, db, newClock(t))
		env.connect("acme", "entra")
		env.connect("globex", "okta")
		env.connect("initech", "generic")
		now := env.clock.Now()
		env.oper.post("/connections/acme/tokens", map[string]any{"expires_at": now.Add(10 * 24 * time.Hour)}).must(t, http.StatusCreated)
		env.oper.post("/connections/globex/tokens", map[string]any{"expires_at": now.Add(90 * 24 * time.Hour)}).must(t, http.StatusCreated)

		res, err := http.Get(env.srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		metrics := map[string]float64{}
		for _, line := range strings.Split(string(raw), "\n") {
			if rest, ok := strings.CutPrefix(line, "orgscim_token_expiry_seconds{connection=\""); ok {
				name, val, _ := strings.Cut(rest, "\"} ")
				var v float64
				fmt.Sscan(val, &v)
				metrics[name] = v
			}
		}
		day := float64(24 * 3600)
		if len(metrics) != 2 || metrics["acme"] < 9.9*day || metrics["acme"] > 10*day || metrics["globex"] < 89.9*day {
			t.Errorf("token expiry metrics %v", metrics)
		}

		logs := &syncBuffer{}
		warnExpiringTokens(context.Background(), db.Health(), orgs.DefaultTokenExpiryWarning, env.clock.Now(), slog.New(slog.NewJSONHandler(logs, nil)))
		if out := logs.String(); strings.Count(out, "\n") != 1 || !strings.Contains(out, `"connection":"acme"`) {
			t.Errorf("daily warning logged:\n%s", out)
		}

		h := env.oper.get("/connections/acme/health").must(t, http.StatusOK).JSON
		if w, _ := h["token_warnings"].([]any); len(w) != 1 {
			t.Errorf("acme warnings %v", h["token_warnings"])
		}
		if w, _ := env.oper.get("/connections/globex/health").must(t, http.StatusOK).JSON["token_warnings"].([]any); len(w) != 0 {
			t.Errorf("globex warnings %v", w)
		}
	})
}

// TestServeStoresHealthAndWarnsOfExpiry: the serve command stores what it recorded when
// it stops, and logs at start the tokens about to lapse.
func TestServeStoresHealthAndWarnsOfExpiry(t *testing.T) {
	dbURL := dbtest.URL(t, "sqlite")
	ctx := context.Background()
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut strings.Builder
		if err := run(ctx, append(args, "--database", dbURL), &out, &errOut); err != nil {
			t.Fatalf("%v: %v %s", args, err, errOut.String())
		}
		return out.String()
	}
	cli("org", "create", "--name", "Acme", "--slug", "acme")
	var conn map[string]any
	if err := json.Unmarshal([]byte(cli("connection", "create", "--org", "acme", "--json")), &conn); err != nil {
		t.Fatal(err)
	}
	cli("token", "create", "--connection", "acme", "--expires", "48h")

	var stdout, stderr strings.Builder
	if err := run(ctx, []string{"serve", "--token-expiry-warning", "0s", "--database", dbURL}, &stdout, &stderr); err == nil {
		t.Error("serve accepted --token-expiry-warning 0s")
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out, logs := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(sctx, []string{"serve", "--addr", "127.0.0.1:0", "--database", dbURL, "--token-expiry-warning", "72h", "--audit-key", filepath.Join(t.TempDir(), "audit.key")}, out, logs)
	}()
	var base string
	for deadline := time.Now().Add(time.Minute); base == ""; time.Sleep(10 * time.Millisecond) {
		if _, rest, ok := strings.Cut(out.String(), "listening on "); ok {
			base, _, _ = strings.Cut(rest, " ")
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", logs.String())
		}
	}
	for _, q := range []string{"", "?filter=" + url.QueryEscape("userName eq"), ""} {
		req, _ := http.NewRequest("GET", base+"/scim/v2/acme/Users"+q, nil)
		req.Header.Set("Authorization", "Bearer "+field(conn, "token"))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, "SCIM token expires soon") || !strings.Contains(l, `"connection":"acme"`) {
		t.Errorf("no expiry warning logged:\n%s", l)
	}
	var h map[string]any
	dec := json.NewDecoder(strings.NewReader(cli("connection", "health", "acme", "--json")))
	dec.UseNumber()
	if err := dec.Decode(&h); err != nil {
		t.Fatal(err)
	}
	if num(t, h["requests"]) != 3 || num(t, h["client_errors"]) != 1 || len(h["last_requests"].([]any)) != 3 {
		t.Errorf("health after serve stopped: %v", h)
	}
}
