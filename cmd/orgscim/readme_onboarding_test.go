package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/adminapi"
	"github.com/orgscim/orgscim/internal/dbtest"
)

// The README's example proposal file is a proposal: it decodes as the CLI decodes it
// (unknown fields refused) and `orgscim onboarding propose` accepts it, after the
// commands the README runs before it. On each engine.
func TestReadmeOnboardingProposal(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "For example, `proposal.json`:")
	if !ok {
		t.Fatal("README.md has no example proposal file")
	}
	_, rest, _ = strings.Cut(rest, "```json\n")
	block, _, _ := strings.Cut(rest, "```")
	var doc strings.Builder
	for _, l := range strings.Split(block, "\n") {
		doc.WriteString(strings.TrimPrefix(l, "  ") + "\n") // the block is indented in its list item
	}
	var req adminapi.ProposeOnboardingRequest
	dec := json.NewDecoder(bytes.NewReader([]byte(doc.String())))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Parent != "vendor" || req.AdminUserName == "" || len(req.Mappings) == 0 {
		t.Fatalf("the README's proposal %+v: %v\n%s", req, err, doc.String())
	}
	file := filepath.Join(t.TempDir(), "proposal.json")
	if err := os.WriteFile(file, []byte(doc.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := []string{"--database", dbtest.URL(t, engine)}
			mustCLI(t, append([]string{"org", "create", "--name", "Vendor", "--slug", "vendor"}, db...)...)
			mustCLI(t, append([]string{"role", "create", "--key", "billing.viewer", "--permission", "billing.read"}, db...)...)
			out := mustCLI(t, append([]string{"onboarding", "propose", "--file", file}, db...)...)
			if !strings.Contains(out, "proposed, org acme (connection acme, entra), first administrator it-admin@acme.example") {
				t.Errorf("onboarding propose printed:\n%s", out)
			}
		})
	}
}
