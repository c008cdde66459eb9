package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// The service-account commands: create with an owner, grant, a token shown once,
// access check --service-account, and deny once the account is retired.
func TestServiceAccountCommands(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			url := dbtest.URL(t, engine)
			mustCLI(t, "org", "create", "--name", "Acme", "--slug", "acme", "--database", url)
			mustCLI(t, "connection", "create", "--org", "acme", "--slug", "acme", "--database", url)
			mustCLI(t, "role", "create", "--key", "reports.viewer", "--permission", "reports.read", "--database", url)
			store, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			svc := newServices(store, nil)
			conn, err := svc.dir.Connection(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			pat, err := svc.users.Create(ctx, conn.ID, map[string]any{"userName": "pat@acme.example", "active": true}, "")
			if err != nil {
				t.Fatal(err)
			}
			store.Close()

			if out, err := cli(t, "service-account", "create", "--org", "acme", "--name", "sync", "--owner-connection", "acme",
				"--owner-user", "nobody", "--database", url); err == nil {
				t.Errorf("an account without a real owner was created: %s", out)
			}
			var sa map[string]any
			if err := json.Unmarshal([]byte(mustCLI(t, "service-account", "create", "--org", "acme", "--name", "sync", "--owner-connection", "acme",
				"--owner-user", pat.ID, "--expires", "720h", "--json", "--database", url)), &sa); err != nil {
				t.Fatal(err)
			}
			id := field(sa, "id")
			if field(sa, "state") != "active" {
				t.Fatalf("created: %v", sa)
			}
			check := func() string {
				return mustCLI(t, "access", "check", "--service-account", id, "--permission", "reports.read", "--org", "acme", "--database", url)
			}
			if out := check(); !strings.HasPrefix(out, "deny:") {
				t.Errorf("before its grant: %q", out)
			}
			mustCLI(t, "service-account", "grant", id, "--role", "reports.viewer", "--org", "acme", "--database", url)
			if out := check(); !strings.HasPrefix(out, "allow:") {
				t.Errorf("after its grant: %q", out)
			}
			tok := mustCLI(t, "service-account", "token", "create", id, "--database", url)
			if !strings.Contains(tok, "osint_") {
				t.Errorf("token create printed %q", tok)
			}
			if out := mustCLI(t, "service-account", "list", "--org", "acme", "--database", url); !strings.Contains(out, "sync") || !strings.Contains(out, "active") {
				t.Errorf("list printed %q", out)
			}
			if out, err := cli(t, "access", "check", "--service-account", id, "--connection", "acme", "--permission", "reports.read", "--org", "acme", "--database", url); err == nil {
				t.Errorf("both a service account and a connection were accepted: %s", out)
			}
			// acme is a root org here: its user may own a named operator key.
			if out, err := cli(t, "apikey", "create", "--operator", "ci", "--name", "deploy-bot", "--database", url); err == nil {
				t.Errorf("a named key without an owner: %s", out)
			}
			mustCLI(t, "apikey", "create", "--operator", "ci", "--name", "deploy-bot", "--owner", "acme/"+pat.ID, "--expires", "168h", "--database", url)
			mustCLI(t, "apikey", "create", "--operator", "alice", "--database", url)
			var keys []map[string]any
			if err := json.Unmarshal([]byte(mustCLI(t, "apikey", "list", "--json", "--database", url)), &keys); err != nil || len(keys) != 2 ||
				field(keys[0], "name") != "deploy-bot" || field(keys[0], "state") != "active" || field(keys[0], "owner") != "acme/"+pat.ID ||
				field(keys[1], "name") != "" {
				t.Errorf("apikey list: %v %v", err, keys)
			}

			mustCLI(t, "service-account", "retire", id, "--reason", "replaced", "--database", url)
			if out := check(); !strings.HasPrefix(out, "deny:") || !strings.Contains(out, "retired") {
				t.Errorf("after retirement: %q", out)
			}
		})
	}
}
