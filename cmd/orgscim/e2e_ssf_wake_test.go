package main

import (
	"context"
	"database/sql"
	"net/http"
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

// TestSharedSignalsPurge checks that SETs done and older than the retention are
// deleted, a statement at a time, while recent ones and pending ones (a retry still due)
// stay, the latter still delivered afterwards.
func TestSharedSignalsPurge(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
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
			"events_requested": []string{ssf.AccountDisabled}}); st != 201 {
			t.Fatalf("create stream: %d %v", st, v)
		}
		later := func(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }
		pusher := &ssf.Pusher{Outbox: db.SSF(), Keys: keys, Issuer: base, BaseDelay: time.Minute, MaxDelay: time.Minute}

		var delivered []string
		for _, name := range []string{"ann", "bob", "cat"} {
			id := sc.create(map[string]any{"userName": name + "@acme.example"})["id"].(string)
			sc.patch(id, op("replace", "active", false)).must(t, 200)
			delivered = append(delivered, id)
		}
		if res := pushOnce(t, pusher); res.Delivered != 3 || len(recv.take()) != 3 {
			t.Fatalf("first pushes: %+v", res)
		}
		// dan's SET fails once: pending, retried in a minute.
		recv.mu.Lock()
		recv.fail = 1
		recv.mu.Unlock()
		dan := sc.create(map[string]any{"userName": "dan@acme.example"})["id"].(string)
		sc.patch(dan, op("replace", "active", false)).must(t, 200)
		if res := pushOnce(t, pusher); res.Retrying != 1 {
			t.Fatalf("failing push: %+v", res)
		}

		for _, c := range []struct {
			name  string
			now   func() time.Time
			batch int
			want  int
		}{
			{"within the retention: kept", later(0), 0, 0},
			{"past it, one row a statement: the done ones", later(2 * time.Hour), 1, 3},
			{"again: nothing left to purge", later(2 * time.Hour), 0, 0},
		} {
			n, err := (&ssf.Purger{Store: db.SSF(), Retention: time.Hour, Batch: c.batch, Now: c.now}).Once(context.Background())
			if err != nil || n != c.want {
				t.Fatalf("%s: purged %d (%v), want %d", c.name, n, err, c.want)
			}
		}
		// The pending SET survived the purge and goes out when due.
		pusher.Now = later(2 * time.Minute)
		if res := pushOnce(t, pusher); res.Delivered != 1 {
			t.Fatalf("retry after the purge: %+v", res)
		}
		got := recv.take()
		if len(got) != 1 || at(got[0].Claims, "sub_id", "user", "email") != "dan@acme.example" {
			t.Fatalf("retry after the purge sent %v", got)
		}
	})
}

// TestSharedSignalsRateLimit checks the per-receiver limit on /ssf/*: past its burst a
// receiver is answered 429 rate_limited with Retry-After, while another receiver is
// served, and it is served again once a token is due.
func TestSharedSignalsRateLimit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env, _, _ := newE2ESSFWith(t, db, ssfConfig{RateLimit: 1, RateBurst: 2})
		base := env.srv.URL
		_, busy, err := ssfStreams(db).AddReceiver(context.Background(), "busy", "https://busy.example", "")
		if err != nil {
			t.Fatal(err)
		}
		_, calm, err := ssfStreams(db).AddReceiver(context.Background(), "calm", "https://calm.example", "")
		if err != nil {
			t.Fatal(err)
		}
		get := func(token string) (int, string) {
			t.Helper()
			req, _ := http.NewRequest("GET", base+"/ssf/stream", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode, res.Header.Get("Retry-After")
		}
		for i := range 2 {
			if st, _ := get(busy); st != 200 {
				t.Fatalf("request %d within the burst: %d", i+1, st)
			}
		}
		if st, v := ssfCall(t, base, busy, "GET", "/ssf/stream", nil); st != 429 || field(v, "err") != "rate_limited" {
			t.Fatalf("past the burst: %d %v", st, v)
		}
		if st, retry := get(busy); st != 429 || retry != "1" {
			t.Fatalf("past the burst: %d, Retry-After %q", st, retry)
		}
		if st, _ := get(calm); st != 200 {
			t.Fatalf("another receiver was limited: %d", st)
		}
		env.clock.advance(time.Second)
		if st, _ := get(busy); st != 200 {
			t.Fatalf("a second later: %d", st)
		}
	})
}
