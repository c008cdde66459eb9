package main

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/ssf"
)

// TestSharedSignalsStreamUpdated checks that an operator revoking a receiver with
// `orgscim ssf receiver revoke` tells each of its push streams so by a stream-updated SET
// (SSF 1.0 §8.1.5: about the stream, an opaque subject with its id; status disabled and
// the reason), sent through the outbox and verifiable against the JWKS, instead of the
// SETs it still held; and that the stream sends nothing after it. Another receiver's
// stream is untouched.
func TestSharedSignalsStreamUpdated(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			url := dbtest.URL(t, engine)
			db, err := sqlstore.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			env, keys, _ := newE2ESSF(t, db)
			base := env.srv.URL
			sc := env.connect("acme", "okta")
			pushStream := func(name string) (string, string, *setReceiver) {
				t.Helper()
				rcv, token, err := ssfStreams(db).AddReceiver(context.Background(), name, "https://"+name+".example", "")
				if err != nil {
					t.Fatal(err)
				}
				recv := newSETReceiver(t, base+"/ssf/jwks", base, "https://"+name+".example", "Bearer rcv")
				st, v := ssfCall(t, base, token, "POST", "/ssf/stream", map[string]any{
					"delivery":         map[string]any{"method": ssf.PushMethod, "endpoint_url": recv.srv.URL + "/events", "authorization_header": "Bearer rcv"},
					"events_requested": []string{ssf.AccountDisabled, ssf.AccountEnabled}})
				if st != 201 {
					t.Fatalf("create stream: %d %v", st, v)
				}
				return rcv.ID, field(v, "stream_id"), recv
			}
			crmID, crmStream, crm := pushStream("crm")
			_, _, wiki := pushStream("wiki")
			p := &ssf.Pusher{Outbox: db.SSF(), Keys: keys, Issuer: base, Now: env.clock.Now, BaseDelay: time.Second, MaxDelay: time.Second}

			// crm fails ann's SET once: it is pending, due again in a second, when crm is revoked.
			crm.mu.Lock()
			crm.fail = 1
			crm.mu.Unlock()
			ann := sc.create(map[string]any{"userName": "ann@acme.example"})["id"].(string)
			sc.patch(ann, op("replace", "active", false)).must(t, 200)
			if res := pushOnce(t, p); res.Retrying != 1 || res.Delivered != 1 {
				t.Fatalf("before the revocation: %+v", res)
			}
			if got := types(wiki.take()); !reflect.DeepEqual(got, []string{ssf.AccountDisabled}) {
				t.Fatalf("wiki before the revocation: %v", got)
			}

			out, stderr, err := run2(t, "ssf", "receiver", "revoke", "--id", crmID, "--database", url)
			if err != nil || !strings.Contains(out, "revoked") {
				t.Fatalf("ssf receiver revoke: %v %s %s", err, out, stderr)
			}
			env.clock.advance(2 * time.Second)
			pushOnce(t, p)
			got := crm.take()
			if len(got) != 1 || got[0].Type != ssf.StreamUpdated {
				t.Fatalf("the revoked receiver's stream got %v, want only stream-updated", types(got))
			}
			if !reflect.DeepEqual(got[0].Claims["sub_id"], map[string]any{"format": "opaque", "id": crmStream}) ||
				!reflect.DeepEqual(got[0].Event, map[string]any{"status": "disabled", "reason": "receiver revoked"}) {
				t.Fatalf("stream-updated: sub_id %v event %v", got[0].Claims["sub_id"], got[0].Event)
			}
			if got := wiki.take(); len(got) != 0 {
				t.Fatalf("another receiver's stream got %v", types(got))
			}

			// The stream has stopped; the other goes on.
			sc.patch(ann, op("replace", "active", true)).must(t, 200)
			pushOnce(t, p)
			if got := crm.take(); len(got) != 0 {
				t.Fatalf("a stopped stream sent %v", types(got))
			}
			if got := types(wiki.take()); !reflect.DeepEqual(got, []string{ssf.AccountEnabled}) {
				t.Fatalf("wiki after the revocation: %v", got)
			}
		})
	}
}
