package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/webhooks"
)

// specVerify is a Standard Webhooks receiver's check written from the specification
// (https://www.standardwebhooks.com), sharing no code with orgscim's signer: the key is
// the base64 after "whsec_", the signed content "<webhook-id>.<webhook-timestamp>.<body>",
// each space-separated "v1,<base64 HMAC-SHA256>" a candidate, and a timestamp more than
// five minutes from the receiver's clock is refused.
func specVerify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-* header")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp too old or too new")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range strings.Split(sigs, " ") {
		if v, b64, ok := strings.Cut(s, ","); ok && v == "v1" {
			if got, err := base64.StdEncoding.DecodeString(b64); err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return errors.New("no matching signature")
}

// captured is one request as the receiver got it.
type captured struct {
	header http.Header
	body   []byte
}

// A subscription made without --format signs per Standard Webhooks: a receiver written
// from the specification accepts its deliveries of real SCIM changes, and refuses the
// same delivery with its body changed or replayed after the tolerance. `webhook update`
// moves it to the orgscim format and back, keeping its secret, on each engine.
func TestStandardWebhooks(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			url := dbtest.URL(t, engine)
			db := []string{"--database", url}
			var (
				mu  sync.Mutex
				got []captured
			)
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = append(got, captured{r.Header.Clone(), body})
				mu.Unlock()
			}))
			defer recv.Close()
			take := func() []captured {
				mu.Lock()
				defer mu.Unlock()
				out := got
				got = nil
				return out
			}

			mustCLI(t, append([]string{"org", "create", "--name", "Acme", "--slug", "acme"}, db...)...)
			var conn struct{ Token string }
			if err := json.Unmarshal([]byte(mustCLI(t, append([]string{"connection", "create", "--org", "acme", "--json"}, db...)...)), &conn); err != nil {
				t.Fatal(err)
			}
			var sub struct{ ID, Secret, Format string }
			if err := json.Unmarshal([]byte(mustCLI(t, append([]string{"webhook", "create", "--connection", "acme",
				"--url", recv.URL, "--actions", "user.", "--json"}, db...)...)), &sub); err != nil {
				t.Fatal(err)
			}
			if key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sub.Secret, "whsec_")); sub.Format != "standard" ||
				err != nil || len(key) != 32 {
				t.Fatalf("webhook create: format %q, secret %q (%v)", sub.Format, sub.Secret, err)
			}

			store, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			env := newE2E(t, store)
			c := &scimClient{t: t, env: env, slug: "acme", token: conn.Token}
			now := time.Now()
			deliver := func() []captured {
				t.Helper()
				d := &webhooks.Deliverer{Outbox: store.Webhooks(), Now: func() time.Time { return now }}
				if res, err := d.Once(ctx); err != nil || res.Delivered == 0 || res.Delivered != res.Claimed {
					t.Fatalf("deliver: %+v %v", res, err)
				}
				return take()
			}

			u := c.create(map[string]any{"userName": "ann@example.com", "active": true})
			reqs := deliver()
			if len(reqs) != 1 {
				t.Fatalf("%d deliveries; want user.create only", len(reqs))
			}
			d := reqs[0]
			var ev webhooks.Event
			if err := json.Unmarshal(d.body, &ev); err != nil || ev.Type != "user.create" {
				t.Fatalf("body %s: %v", d.body, err)
			}
			if d.header.Get("webhook-id") != ev.ID || d.header.Get(webhooks.SignatureHeader) != "" {
				t.Errorf("webhook-id %q for event %q; Orgscim-Signature %q", d.header.Get("webhook-id"), ev.ID, d.header.Get(webhooks.SignatureHeader))
			}
			if err := specVerify(sub.Secret, d.header, d.body, now); err != nil {
				t.Fatalf("a receiver from the spec refused a delivery: %v", err)
			}

			tampered := []byte(strings.Replace(string(d.body), "ann@example.com", "eve@example.com", 1))
			refusals := []struct {
				name string
				body []byte
				at   time.Time
			}{
				{"tampered body", tampered, now},
				{"replayed ten minutes later", d.body, now.Add(10 * time.Minute)},
				{"dated in the future", d.body, now.Add(-10 * time.Minute)},
			}
			for _, r := range refusals {
				if string(r.body) == string(d.body) && r.at.Equal(now) {
					t.Fatalf("%s: nothing changed", r.name)
				}
				if err := specVerify(sub.Secret, d.header, r.body, r.at); err == nil {
					t.Errorf("%s: the spec's check accepted it", r.name)
				}
				if err := webhooks.VerifyStandard(sub.Secret, d.header.Get("webhook-id"), d.header.Get("webhook-timestamp"),
					d.header.Get("webhook-signature"), r.body, r.at, 0); err == nil {
					t.Errorf("%s: webhooks.VerifyStandard accepted it", r.name)
				}
			}

			// Back to the orgscim format for the migration window, and forward again: the
			// same secret signs both.
			mustCLI(t, append([]string{"webhook", "update", "--id", sub.ID, "--format", "orgscim"}, db...)...)
			c.patch(u["id"].(string), op("replace", "active", false))
			d = deliver()[0]
			if d.header.Get("webhook-signature") != "" {
				t.Errorf("orgscim format still sends webhook-signature")
			}
			if err := webhooks.Verify(sub.Secret, d.header.Get(webhooks.SignatureHeader), d.body, now, 0); err != nil {
				t.Errorf("orgscim format: %v", err)
			}
			out := mustCLI(t, append([]string{"webhook", "update", "--id", sub.ID, "--format", "standard", "--json"}, db...)...)
			if !strings.Contains(out, `"standard"`) {
				t.Errorf("update --json: %s", out)
			}
			c.patch(u["id"].(string), op("replace", "active", true))
			if d = deliver()[0]; specVerify(sub.Secret, d.header, d.body, now) != nil {
				t.Errorf("standard again: refused")
			}

			var list []webhooks.Subscription
			if err := json.Unmarshal([]byte(mustCLI(t, append([]string{"webhook", "list", "--json"}, db...)...)), &list); err != nil ||
				len(list) != 1 || list[0].Format != "standard" {
				t.Errorf("list: %+v %v", list, err)
			}
			for _, bad := range [][]string{{"--id", sub.ID, "--format", "svix"}, {"--id", "nope", "--format", "standard"}} {
				if out, err := cli(t, append(append([]string{"webhook", "update"}, bad...), db...)...); err == nil {
					t.Errorf("update %v accepted: %s", bad, out)
				}
			}
		})
	}
}

// The admin API manages subscriptions as the CLI does: created standard by default with
// the secret shown once, listed with their format, switched by PATCH; operators only,
// and bad input changes nothing.
func TestWebhooksThroughTheAdminAPI(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := newE2E(t, db)
		doc, ops := env.operators(t, "ops")
		oper := ops[0]
		oper.post("/orgs", map[string]any{"name": "Acme", "slug": "acme"}).must(t, http.StatusCreated)
		created := oper.post("/connections", map[string]any{"org": "acme", "slug": "acme", "idp": "okta"}).must(t, http.StatusCreated).JSON
		sc := &scimClient{t: t, env: env, slug: "acme", token: field(created, "token")}
		carol := sc.create(map[string]any{"userName": "carol@acme.example"})["id"].(string)
		d := oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": carol,
			"capabilities": []string{"manage_members", "manage_mappings", "approve", "delegate"}, "depth": 1}).must(t, http.StatusCreated).JSON
		delegate := env.admin(t, field(oper.post("/delegations/"+field(d, "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key"), doc)

		w := oper.post("/webhooks", map[string]any{"connection": "acme", "url": "https://app.example/hooks", "actions": []string{"user."}}).
			must(t, http.StatusCreated).JSON
		if field(w, "format") != "standard" || !strings.HasPrefix(field(w, "secret"), "whsec_") || field(w, "connection") != "acme" {
			t.Fatalf("created: %v", w)
		}
		old := oper.post("/webhooks", map[string]any{"url": "https://old.example/hooks", "format": "orgscim"}).must(t, http.StatusCreated).JSON
		if field(old, "format") != "orgscim" {
			t.Errorf("created orgscim: %v", old)
		}
		p := oper.call("PATCH", "/webhooks/"+field(w, "id"), map[string]any{"format": "orgscim"}).must(t, http.StatusOK).JSON
		if field(p, "format") != "orgscim" || field(p, "secret") != "" || field(p, "connection") != "acme" {
			t.Errorf("patched: %v", p)
		}
		list := oper.get("/webhooks").must(t, http.StatusOK).JSON
		hooks, _ := list["webhooks"].([]any)
		if len(hooks) != 2 || field(hooks[0], "format") != "orgscim" || field(hooks[0], "secret") != "" {
			t.Errorf("list: %s", oper.get("/webhooks").Raw)
		}

		refused(t, "a delegate lists", delegate.get("/webhooks"), http.StatusForbidden, "forbidden")
		refused(t, "a delegate creates", delegate.post("/webhooks", map[string]any{"url": "https://x.example/"}), http.StatusForbidden, "forbidden")
		refused(t, "an unknown format", oper.post("/webhooks", map[string]any{"url": "https://x.example/", "format": "svix"}), http.StatusBadRequest, "invalid")
		refused(t, "no URL", oper.post("/webhooks", map[string]any{"format": "standard"}), http.StatusBadRequest, "invalid")
		refused(t, "a bad filter", oper.post("/webhooks", map[string]any{"url": "https://x.example/", "actions": []string{"user.*"}}), http.StatusBadRequest, "invalid")
		refused(t, "an unknown connection", oper.post("/webhooks", map[string]any{"url": "https://x.example/", "connection": "nope"}), http.StatusNotFound, "not_found")
		refused(t, "PATCH to an unknown format", oper.call("PATCH", "/webhooks/"+field(w, "id"), map[string]any{"format": "svix"}), http.StatusBadRequest, "invalid")
		refused(t, "PATCH an unknown id", oper.call("PATCH", "/webhooks/nope", map[string]any{"format": "standard"}), http.StatusNotFound, "not_found")
		if n := len(oper.get("/webhooks").must(t, http.StatusOK).JSON["webhooks"].([]any)); n != 2 {
			t.Errorf("%d subscriptions after the refusals; want 2", n)
		}
	})
}
