package main

import (
	"context"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/ssf"
)

// TestSharedSignalsServiceAccounts: a service account's access ending reaches Shared
// Signals receivers of its owner's tenant, whatever ends it — a grant revoked by hand,
// by a reviewer, at a review's deadline, by the reconciler (expired; the org's
// relationship ended), the account orphaned by its owner leaving, adopted again by a new
// owner, and retired (its grants first, each by its SET). Every SET is about the account by one subject: complex, user an
// opaque subject with the account's id, tenant the owner's connection; the event names
// the account; a receiver that removes {"format":"opaque","id":<account id>} from its
// stream gets nothing about it until it adds it back. A person's grant revoked at the
// review's deadline gives its SET too, about the person. Received by the independent receiver over push (a receiver of acme's
// tenant only) and over poll (a receiver of every tenant). On both engines.
func TestSharedSignalsServiceAccounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		env, keys, _ := newE2ESSF(t, db)
		base := env.srv.URL
		w := newSAWorldOn(t, env)
		oper := w.oper
		acme, err := newServices(db, env.clock.Now).dir.Connection(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		streams := ssfStreams(db)
		_, tenantToken, err := streams.AddReceiver(ctx, "acme-app", "https://acme-app.example", acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, allToken, err := streams.AddReceiver(ctx, "siem", "https://siem.example", "")
		if err != nil {
			t.Fatal(err)
		}
		recv := newSETReceiver(t, base+"/ssf/jwks", base, "https://acme-app.example", "Bearer acme-secret")
		if st, v := ssfCall(t, base, tenantToken, "POST", "/ssf/stream", map[string]any{
			"delivery": map[string]any{"method": ssf.PushMethod, "endpoint_url": recv.srv.URL + "/events",
				"authorization_header": "Bearer acme-secret"},
			"events_requested": ssf.Supported}); st != http.StatusCreated {
			t.Fatalf("push stream: %d %v", st, v)
		}
		st, v := ssfCall(t, base, allToken, "POST", "/ssf/stream", map[string]any{
			"delivery": map[string]any{"method": ssf.PollMethod}, "events_requested": []string{ssf.GrantRevoked}})
		if st != http.StatusCreated {
			t.Fatalf("poll stream: %d %v", st, v)
		}
		pollID := field(v, "stream_id")
		p := &ssf.Pusher{Outbox: db.SSF(), Keys: keys, Issuer: base, Now: env.clock.Now, BaseDelay: time.Second, MaxDelay: time.Second}

		oper.post("/roles", map[string]any{"key": "audit.reader", "permissions": []string{"audit.read"}}).must(t, http.StatusCreated)
		oper.post("/roles", map[string]any{"key": "ops.viewer", "permissions": []string{"ops.read"}}).must(t, http.StatusCreated)
		oper.post("/roles", map[string]any{"key": "crm.viewer", "permissions": []string{"crm.read"}}).must(t, http.StatusCreated)
		sa := field(oper.post("/service-accounts", map[string]any{"org": "acme", "name": "billing-sync",
			"owner": map[string]any{"connection": "acme", "user_id": w.pat}}).must(t, http.StatusCreated).JSON, "id")
		grant := func(role, org string, expires *time.Time) string { return w.grantSA(t, sa, role, org, expires) }
		soon := env.clock.Now().Add(time.Hour)
		byHand, byReviewer, atDeadline := grant("reports.viewer", "acme", nil), grant("audit.reader", "acme", nil), grant("crm.viewer", "acme", nil)
		expiring, ended := grant("ops.viewer", "acme", &soon), grant("reports.viewer", "emea", nil)
		// A person's grant in the same review, left unconfirmed like the account's.
		samGrant := field(oper.post("/grants", map[string]any{"connection": "acme", "user_id": w.sam, "role": "crm.viewer",
			"org": "acme", "reason": "project"}).must(t, http.StatusCreated).JSON, "id")
		deadline := env.clock.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)
		review := field(oper.post("/reviews", map[string]any{"org": "acme", "name": "Integrations", "deadline": deadline}).
			must(t, http.StatusCreated).JSON, "id")

		// The one subject every SET about the account carries.
		wantSub := map[string]any{"format": "complex", "user": map[string]any{"format": "opaque", "id": sa},
			"tenant": map[string]any{"format": "opaque", "id": "acme"}}
		// pushed returns what the push stream received about the account since last
		// asked: "type" or "type grant org".
		pushed := func() []string {
			t.Helper()
			pushOnce(t, p)
			var out []string
			for _, s := range recv.take() {
				if at(s.Claims, "sub_id", "user", "id") != sa {
					// About a person: by e-mail, never naming an account.
					line := s.Type + " " + field(s.Claims, "sub_id", "user", "email")
					if s.Type == ssf.GrantRevoked {
						line += " " + field(s.Event, "grant")
					}
					if s.Event["service_account"] != nil {
						t.Errorf("%s about a person names a service account: %v", s.Type, s.Event)
					}
					out = append(out, line)
					continue
				}
				if !reflect.DeepEqual(s.Claims["sub_id"], wantSub) || s.Event["service_account"] != "billing-sync" {
					t.Errorf("%s about the account: sub_id %v, event %v", s.Type, s.Claims["sub_id"], s.Event)
				}
				line := s.Type
				if s.Type == ssf.GrantRevoked {
					line += " " + field(s.Event, "grant") + " " + field(s.Event, "org")
				}
				out = append(out, line)
			}
			return out
		}
		expect := func(step string, got []string, want ...string) {
			t.Helper()
			sort.Strings(got)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s sent\n  %s\nwant\n  %s", step, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		}
		revoked := func(g, org string) string { return ssf.GrantRevoked + " " + g + " " + org }

		// By hand, and by a reviewer: one grant.revoke each.
		oper.call("DELETE", "/grants/"+byHand, map[string]any{"reason": "no longer needed"}).must(t, http.StatusOK)
		items := "/reviews/" + review + "/items/"
		oper.post(items+byReviewer+"/revoke", map[string]any{"note": "unused"}).must(t, http.StatusOK)
		oper.post(items+expiring+"/confirm", map[string]any{}).must(t, http.StatusOK)
		oper.post(items+ended+"/confirm", map[string]any{}).must(t, http.StatusOK)
		expect("revocations by hand and by a reviewer", pushed(), revoked(byHand, "acme"), revoked(byReviewer, "acme"))

		// The reconciler: a grant past its expiry, and one on an org whose relationship ended.
		env.clock.advance(2 * time.Hour)
		oper.call("PATCH", "/orgs/emea", map[string]any{"status": "ended"}).must(t, http.StatusOK)
		if _, err := newReconciler(db, env.clock.Now).Once(ctx, reconcile.Options{}); err != nil {
			t.Fatal(err)
		}
		expect("the reconciler's pass", pushed(), revoked(expiring, "acme"), revoked(ended, "emea"))

		// The review's deadline: what nobody confirmed.
		env.clock.advance(deadline.Sub(env.clock.Now()) + time.Hour)
		if _, err := newReconciler(db, env.clock.Now).Once(ctx, reconcile.Options{}); err != nil {
			t.Fatal(err)
		}
		expect("the review's deadline", pushed(), revoked(atDeadline, "acme"), ssf.GrantRevoked+" sam@acme.example "+samGrant)

		// The owner leaves: orphaned (holds nothing); reassigned: enabled; then retired.
		kept := grant("reports.viewer", "acme", nil)
		w.acme.patch(w.pat, op("replace", "active", false)).must(t, http.StatusOK)
		if _, err := newReconciler(db, env.clock.Now).Once(ctx, reconcile.Options{}); err != nil {
			t.Fatal(err)
		}
		expect("the owner leaving", pushed(), ssf.AccountDisabled+" pat@acme.example", ssf.SessionRevoked+" pat@acme.example",
			ssf.AccountDisabled)
		oper.post("/service-accounts/"+sa+"/owner", map[string]any{"owner": map[string]any{"connection": "acme", "user_id": w.sam},
			"reason": "sam runs billing now"}).must(t, http.StatusOK)
		expect("the reassignment", pushed(), ssf.AccountEnabled)

		// The receiver removes the account as a subject: nothing about it comes (sam
		// leaving orphans it again), until it is added back (kim adopting it).
		_, pushStreams := ssfCall(t, base, tenantToken, "GET", "/ssf/stream", nil)
		pushID := field(pushStreams.([]any)[0], "stream_id")
		accountSub := map[string]any{"format": "opaque", "id": sa}
		if st, v := ssfCall(t, base, tenantToken, "POST", "/ssf/subjects/remove", map[string]any{"stream_id": pushID, "subject": accountSub}); st != http.StatusNoContent {
			t.Fatalf("remove the account's subject: %d %v", st, v)
		}
		w.acme.patch(w.sam, op("replace", "active", false)).must(t, http.StatusOK)
		if _, err := newReconciler(db, env.clock.Now).Once(ctx, reconcile.Options{}); err != nil {
			t.Fatal(err)
		}
		expect("the new owner leaving, the account's subject removed", pushed(), ssf.AccountDisabled+" sam@acme.example",
			ssf.SessionRevoked+" sam@acme.example")
		if st, v := ssfCall(t, base, tenantToken, "POST", "/ssf/subjects/add", map[string]any{"stream_id": pushID, "subject": accountSub}); st != http.StatusOK {
			t.Fatalf("add the account's subject back: %d %v", st, v)
		}
		kim := w.acme.create(map[string]any{"userName": "kim@acme.example"})["id"].(string)
		oper.post("/service-accounts/"+sa+"/owner", map[string]any{"owner": map[string]any{"connection": "acme", "user_id": kim}}).
			must(t, http.StatusOK)
		expect("kim adopting the account", pushed(), ssf.AccountEnabled)
		oper.post("/service-accounts/"+sa+"/retire", map[string]any{"reason": "integration replaced"}).must(t, http.StatusOK)
		// The grant it still held first, then its sessions and the account.
		got := pushed()
		if want := []string{revoked(kept, "acme"), ssf.SessionRevoked, ssf.AccountPurged}; !reflect.DeepEqual(got, want) {
			t.Errorf("the retirement sent %v, want %v in this order", got, want)
		}
		if g := oper.get("/grants/"+kept).must(t, http.StatusOK).JSON; g["revoked_at"] == nil {
			t.Errorf("the retired account's grant is live: %v", g)
		}

		// The receiver of every tenant polls the six grant-revoked SETs about the account
		// (and sam's).
		st, v = ssfCall(t, base, allToken, "POST", "/ssf/poll/"+pollID, map[string]any{"returnImmediately": true, "maxEvents": 100})
		if st != http.StatusOK {
			t.Fatalf("poll: %d %v", st, v)
		}
		var polled []string
		for _, tok := range at(v, "sets").(map[string]any) {
			s, err := verifySET(tok.(string), base+"/ssf/jwks", base, "https://siem.example")
			if err != nil {
				t.Fatalf("polled SET: %v", err)
			}
			if at(s.Claims, "sub_id", "user", "id") == sa && reflect.DeepEqual(s.Claims["sub_id"], wantSub) && s.Type == ssf.GrantRevoked {
				polled = append(polled, revoked(field(s.Event, "grant"), field(s.Event, "org")))
			}
		}
		expect("the poll", polled, revoked(byHand, "acme"), revoked(byReviewer, "acme"), revoked(expiring, "acme"),
			revoked(ended, "emea"), revoked(atDeadline, "acme"), revoked(kept, "acme"))
	})
}
