package main

import (
	"net/http"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// Service accounts where auditors and applications look: the access export lists a
// service account's grants (holder service_account, its owner named) while the account
// holds, and the AuthZEN PDP answers for it with the same rule as its access check; both
// stop the moment its owner is deactivated. Bad subjects are 400s.
func TestServiceAccountsInExportAndAuthZEN(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		w := newSAWorld(t, db)
		sa := w.createSA(t, "billing-sync")
		id := field(sa, "id")
		_, opKey := w.env.operators(t, "auditor")
		// The PDP needs a raw key; the admin client keeps it as its Authorization header.
		key := opKey[0].auth[len("Bearer "):]
		ask := func(subject map[string]any, perm, org string) *reply {
			t.Helper()
			return pdp(t, w.env, key, "/access/v1/evaluation", map[string]any{"subject": subject,
				"action": map[string]any{"name": perm}, "resource": map[string]any{"type": "org", "id": org}})
		}
		account := map[string]any{"type": "service_account", "id": id}
		exported := func() []map[string]string {
			t.Helper()
			var out []map[string]string
			_, rows := w.oper.exportCSV("acme")
			for _, r := range rows {
				if r["holder"] == "service_account" {
					out = append(out, r)
				}
			}
			return out
		}

		rows := exported()
		if len(rows) != 1 || rows[0]["user_name"] != "billing-sync" || rows[0]["user_id"] != id || rows[0]["role"] != "reports.viewer" ||
			rows[0]["owner"] != "acme/"+w.pat || rows[0]["connection"] != "" {
			t.Fatalf("service accounts in the export: %v", rows)
		}
		if _, all := w.oper.exportCSV("acme"); len(all) != 1 {
			t.Errorf("export rows %v", all) // no person holds a grant here
		}
		r := ask(account, "reports.read", "emea").must(t, http.StatusOK).JSON
		if r["decision"] != true || field(r, "context", "service_account") != id {
			t.Fatalf("PDP for the account: %v", r)
		}
		if r := ask(account, "billing.write", "acme").must(t, http.StatusOK).JSON; r["decision"] != false {
			t.Errorf("an ungranted permission: %v", r)
		}
		for _, tc := range []struct {
			name    string
			subject map[string]any
			status  int
		}{
			{"an unknown subject type", map[string]any{"type": "robot", "id": id}, http.StatusBadRequest},
			{"an account without id", map[string]any{"type": "service_account"}, http.StatusBadRequest},
			{"an unknown account", map[string]any{"type": "service_account", "id": "nobody"}, http.StatusNotFound},
		} {
			if got := ask(tc.subject, "reports.read", "acme"); got.Status != tc.status {
				t.Errorf("%s: %d %s", tc.name, got.Status, got.Raw)
			}
		}

		// Its owner leaves: the account holds no more, in the export and for the PDP.
		w.acme.patch(w.pat, op("replace", "active", false)).must(t, http.StatusOK)
		if rows := exported(); len(rows) != 0 {
			t.Errorf("an ownerless account still exported: %v", rows)
		}
		if r := ask(account, "reports.read", "emea").must(t, http.StatusOK).JSON; r["decision"] != false {
			t.Errorf("PDP after the owner left: %v", r)
		}
	})
}
