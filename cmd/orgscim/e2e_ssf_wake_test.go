package main

import (
	"context"
	"database/sql"
	"reflect"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/ssf"
)

// TestSharedSignalsWakeOnCommit checks that a committed change's SETs are pushed without
// waiting for the pusher's tick, which is an hour here so that only the wake-up can send
// them: on SQLite by the process that committed; on PostgreSQL by another replica (a
// second server handle on the same database, its pusher woken by NOTIFY), also after its
// listening connection was killed. The receiver is the RFC one of TestSharedSignals.
func TestSharedSignalsWakeOnCommit(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			url := dbtest.URL(t, engine)
			open := func() *sqlstore.DB {
				db, err := sqlstore.Open(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			db := open()
			p, err := db.Support().SupportPolicy(context.Background())
			if err == nil {
				p.Required = false
				err = db.Support().SetSupportPolicy(context.Background(), p)
			}
			if err != nil {
				t.Fatal(err)
			}
			env, keys, _ := newE2ESSF(t, db)
			base := env.srv.URL
			sc := env.connect("acme", "okta")
			_, token, err := ssfStreams(db).AddReceiver(context.Background(), "crm", "https://crm.example", "")
			if err != nil {
				t.Fatal(err)
			}
			recv := newSETReceiver(t, base+"/ssf/jwks", base, "https://crm.example", "Bearer rcv")
			if st, v := ssfCall(t, base, token, "POST", "/ssf/stream", map[string]any{
				"delivery": map[string]any{"method": ssf.PushMethod, "endpoint_url": recv.srv.URL + "/events",
					"authorization_header": "Bearer rcv"},
				"events_requested": []string{ssf.AccountDisabled, ssf.AccountEnabled}}); st != 201 {
				t.Fatalf("create stream: %d %v", st, v)
			}

			// The pusher runs on the other replica on PostgreSQL; SQLite has one process.
			pusherDB := db
			if engine == "postgres" {
				pusherDB = open()
			}
			ctx, cancel := context.WithCancel(context.Background())
			pusher := &ssf.Pusher{Outbox: pusherDB.SSF(), Keys: keys, Issuer: base, Now: env.clock.Now,
				Wake: pusherDB.SSFWakeups(ctx, nil)}
			stopped := make(chan struct{})
			go func() { defer close(stopped); pusher.Run(ctx, time.Hour) }()
			t.Cleanup(func() { cancel(); <-stopped })

			ann := sc.create(map[string]any{"userName": "ann@acme.example"})["id"].(string)
			await := func(what string, want ...string) {
				t.Helper()
				var got []receivedSET
				for deadline := time.Now().Add(30 * time.Second); len(got) < len(want) && time.Now().Before(deadline); {
					got = append(got, recv.take()...)
					time.Sleep(5 * time.Millisecond)
				}
				if !reflect.DeepEqual(types(got), want) {
					t.Fatalf("%s: received %v, want %v (the tick is an hour: only a wake-up sends them)", what, types(got), want)
				}
			}
			for i := range 3 {
				sc.patch(ann, op("replace", "active", false)).must(t, 200)
				await("deactivation", ssf.AccountDisabled)
				sc.patch(ann, op("replace", "active", true)).must(t, 200)
				await("reactivation", ssf.AccountEnabled)
				if engine != "postgres" || i > 0 {
					continue
				}
				// The listener's connection dies: another is opened, and what was committed
				// meanwhile goes out with the wake-up it gives.
				if n := killListeners(t, url); n == 0 {
					t.Fatal("no listening connection to kill")
				}
			}
		})
	}
}

// killListeners ends the backends of the database that LISTEN for queued SETs, and says
// how many there were. A concurrent test's listener may be among them: it reconnects,
// as this one must.
func killListeners(t *testing.T, url string) int {
	t.Helper()
	admin, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	err = admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query = 'LISTEN orgscim_ssf' AND datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
