package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
	"golang.org/x/mod/sumdb/tlog"
)

// An IdP's changes through the real server get inclusion proofs from
// GET /api/v1/audit/{id}/proof once sealed, which check against the signed checkpoint
// with nothing but the public key.
func TestE2EAuditProof(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env := newE2E(t, db)
		_, ops := env.operators(t, "ops")
		oper := ops[0]
		idp := env.connect("acme", "entra")
		for _, u := range []string{"ann@acme.example", "bob@acme.example", "cat@acme.example"} {
			idp.do("POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
				"userName": u}).must(t, http.StatusCreated)
		}
		events := oper.auditPages(url.Values{"org": {"acme"}, "action": {"user.create"}}, 100)
		if len(events) != 3 {
			t.Fatalf("%d user.create events; want 3", len(events))
		}
		id := field(events[1], "id")
		oper.get("/audit/"+id+"/proof").must(t, http.StatusConflict) // not sealed yet

		skey, err := audit.GenerateKey("e2e-audit")
		if err != nil {
			t.Fatal(err)
		}
		key, err := audit.ParseKey(skey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := newSealer(db, key).Once(ctx); err != nil {
			t.Fatal(err)
		}
		r := oper.get("/audit/"+id+"/proof").must(t, http.StatusOK).JSON
		cp, err := audit.OpenCheckpoint([]byte(r["checkpoint"].(string)), []string{key.PublicKey})
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := base64.StdEncoding.DecodeString(r["leaf"].(string))
		var proof tlog.RecordProof
		for _, h := range r["proof"].([]any) {
			b, _ := base64.StdEncoding.DecodeString(h.(string))
			proof = append(proof, tlog.Hash(b))
		}
		pos, err := r["position"].(json.Number).Int64()
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(proof, cp.Size, cp.Root, pos, tlog.RecordHash(leaf)); err != nil {
			t.Fatalf("the proof does not check: %v", err)
		}
		if !strings.Contains(string(leaf), `"id":"`+id+`"`) || field(r["event"].(map[string]any), "id") != id {
			t.Errorf("the leaf %s is not event %s", leaf, id)
		}
		forged := strings.Replace(string(leaf), "user.create", "user.delete", 1)
		if tlog.CheckRecord(proof, cp.Size, cp.Root, pos, tlog.RecordHash([]byte(forged))) == nil {
			t.Error("a forged leaf passed the proof")
		}
		oper.get("/audit/no-such-event/proof").must(t, http.StatusNotFound)
	})
}

// An evidence bundle verifies offline, with orgscim and with the README's recipe that
// needs no orgscim; a changed event in it fails both.
func TestAuditExportBundle(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			a := newAuditEnv(t, engine)
			a.change(3)
			pub := strings.TrimSpace(a.must("audit", "public-key", "--audit-key", a.key))
			bundle := filepath.Join(a.dir, "bundle.json")
			from, to := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
			a.must("audit", "export", "--org", "org-2", "--from", from, "--to", to, "--out", bundle, "--audit-key", a.key)
			out := a.must("audit", "verify-bundle", bundle, "--public-key", pub)
			if !strings.Contains(out, "1 events of org org-2") || !strings.Contains(out, "verified") {
				t.Fatalf("verify-bundle: %s", out)
			}
			readmeCheck(t, bundle, pub, true)

			raw, _ := os.ReadFile(bundle)
			evil := strings.Replace(string(raw), `"action":"org.create"`, `"action":"org.delete"`, 1)
			if evil == string(raw) {
				t.Fatal("no event to change in the bundle")
			}
			if err := os.WriteFile(bundle, []byte(evil), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := a.cli("audit", "verify-bundle", bundle, "--public-key", pub); err == nil || !strings.Contains(out, "modified") {
				t.Fatalf("a changed bundle: %v\n%s", err, out)
			}
			// The recipe compares the leaf with the event too: change the leaf instead.
			evil = strings.Replace(string(raw), `"leaf":"`, `"leaf":"AA`, 1)
			if err := os.WriteFile(bundle, []byte(evil), 0o644); err != nil {
				t.Fatal(err)
			}
			readmeCheck(t, bundle, pub, false)
			other, _ := audit.GenerateKey("someone-else")
			ok, _ := audit.ParseKey(other)
			if out, err := a.cli("audit", "verify-bundle", bundle, "--public-key", ok.PublicKey); err == nil {
				t.Fatalf("a bundle checked with another key passed:\n%s", out)
			}
		})
	}
}

// readmeCheck runs the README's Python recipe on a bundle, when python3 with the
// cryptography package is at hand.
func readmeCheck(t *testing.T, bundle, pub string, wantOK bool) {
	t.Helper()
	if exec.Command("python3", "-c", "import cryptography").Run() != nil {
		t.Log("python3 with cryptography not found: the README's recipe is not run")
		return
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	start := strings.Index(s, "  ```python\n")
	end := strings.Index(s[start:], "  ```\n")
	if start < 0 || end < 0 {
		t.Fatal("no python recipe in the README")
	}
	var script strings.Builder
	for _, line := range strings.Split(s[start+len("  ```python\n"):start+end], "\n") {
		script.WriteString(strings.TrimPrefix(line, "  ") + "\n")
	}
	out, err := exec.Command("python3", "-c", script.String(), bundle, pub).CombinedOutput()
	if (err == nil) != wantOK {
		t.Fatalf("README recipe: %v\n%s", err, out)
	}
}
