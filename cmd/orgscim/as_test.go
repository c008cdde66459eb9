package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// Four eyes from one terminal: --as names the operator, so that two operators sharing
// an account approve each other's proposals and not their own; an operator key of the
// same name counts as the same person. The audit trail names the operator and keeps the
// OS account as the client address. The proposal is the example of `onboarding propose
// --help`, so the help shows a file that works.
func TestFourEyesFromTheCLIWithAs(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			url := dbtest.URL(t, engine)
			db := func(args ...string) []string { return append(args, "--database", url) }
			mustCLI(t, db("org", "create", "--name", "Vendor", "--slug", "vendor")...)
			mustCLI(t, db("role", "create", "--key", "billing.viewer", "--permission", "billing.read")...)

			help, _, err := run2(t, "onboarding", "propose", "--help")
			if err != nil {
				t.Fatal(err)
			}
			start := strings.Index(help, `{"name"`)
			end := strings.Index(help, "]}") + 2
			if start < 0 || end < start {
				t.Fatalf("no example proposal in:\n%s", help)
			}
			var lines []string
			for _, l := range strings.Split(help[start:end], "\n") {
				lines = append(lines, strings.TrimSpace(l))
			}
			dir := t.TempDir()
			example := strings.Join(lines, " ")
			files := map[string]string{"globex": dir + "/globex.json", "initech": dir + "/initech.json"}
			for name, file := range files {
				body := strings.ReplaceAll(strings.ReplaceAll(example, "globex", name), "Globex", name)
				if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}

			propose := func(file, as string) string {
				t.Helper()
				args := db("onboarding", "propose", "--file", file, "--json")
				if as != "" {
					args = append(args, "--as", as)
				}
				var r struct {
					ID         string
					ProposedBy string `json:"proposed_by"`
				}
				if err := json.Unmarshal([]byte(mustCLI(t, args...)), &r); err != nil || r.ID == "" {
					t.Fatalf("propose: %v %+v", err, r)
				}
				want := "operator:" + as
				if as == "" {
					want = "operator:cli:" + osUser()
				}
				if r.ProposedBy != want {
					t.Errorf("proposed by %q, want %q", r.ProposedBy, want)
				}
				return r.ID
			}
			id := propose(files["globex"], "alice")
			if out, err := cli(t, db("onboarding", "approve", "--id", id, "--as", "alice")...); err == nil ||
				!strings.Contains(err.Error(), "other than its proposer") {
				t.Errorf("alice approved her own proposal: %v\n%s", err, out)
			}
			// bob, a second person, approves.
			var approved struct {
				State     string
				DecidedBy string `json:"decided_by"`
			}
			if err := json.Unmarshal([]byte(mustCLI(t, db("onboarding", "approve", "--id", id, "--as", "bob", "--json")...)), &approved); err != nil ||
				approved.State != "approved" || approved.DecidedBy != "operator:bob" {
				t.Fatalf("bob's approval: %+v %v", approved, err)
			}
			// Without --as, both steps are the OS account's, and the approval is refused.
			own := propose(files["initech"], "")
			if out, err := cli(t, db("onboarding", "approve", "--id", own)...); err == nil ||
				!strings.Contains(err.Error(), "other than its proposer") {
				t.Errorf("the OS account approved its own proposal: %v\n%s", err, out)
			}

			store, err := sqlstore.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			for actor, action := range map[string]string{"operator:alice": "onboarding.propose", "operator:bob": "onboarding.approve"} {
				events, err := store.Audit().Events(context.Background(), audit.Query{Actor: actor, Action: action, Limit: 10})
				if err != nil || len(events) != 1 || events[0].ClientAddr != "cli:"+osUser() {
					t.Errorf("%s %s: %+v %v, want one event from cli:%s", actor, action, events, err, osUser())
				}
			}
		})
	}
}
