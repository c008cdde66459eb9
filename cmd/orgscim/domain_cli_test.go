package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
)

// The domain commands against a real DNS server: claim prints where to publish the
// token, verify asks the resolver given by --dns-resolver, list and remove follow.
func TestDomainCommands(t *testing.T) {
	z, resolver := startZone(t)
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			url := dbtest.URL(t, engine)
			mustCLI(t, "org", "create", "--name", "Acme", "--slug", "acme", "--database", url)
			var claim map[string]any
			if err := json.Unmarshal([]byte(mustCLI(t, "domain", "claim", "--org", "acme", "Acme.Example", "--json", "--database", url)), &claim); err != nil {
				t.Fatal(err)
			}
			id := field(claim, "id")
			if field(claim, "domain") != "acme.example" || field(claim, "status") != "pending" {
				t.Fatalf("claim: %v", claim)
			}
			z.set(field(claim, "dns_record"), field(claim, "dns_value"))
			if out := mustCLI(t, "domain", "verify", "--org", "acme", id, "--dns-resolver", resolver, "--database", url); !strings.Contains(out, "verified") {
				t.Errorf("verify printed %q", out)
			}
			var list struct{ Claims []map[string]any }
			if err := json.Unmarshal([]byte(mustCLI(t, "domain", "list", "--org", "acme", "--json", "--database", url)), &list); err != nil ||
				len(list.Claims) != 1 || field(list.Claims[0], "method") != "dns" {
				t.Fatalf("list: %v %v", err, list)
			}
			if out, err := cli(t, "domain", "claim", "--org", "acme", "not a domain", "--database", url); err == nil {
				t.Errorf("a claim on %q was accepted: %s", "not a domain", out)
			}
			mustCLI(t, "domain", "remove", "--org", "acme", id, "--database", url)
			if out := mustCLI(t, "domain", "list", "--org", "acme", "--database", url); strings.TrimSpace(out) != "" {
				t.Errorf("after remove: %q", out)
			}
			z.set(field(claim, "dns_record"), "")
		})
	}
}
