package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to read the final state
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
)

// reconcileChildEnv makes the test binary a reconciler process: `orgscim reconcile`
// over the database it names, which the crash test starts and kills.
const reconcileChildEnv = "ORGSCIM_RECONCILE_CHILD_DATABASE"

func TestMain(m *testing.M) {
	if url := os.Getenv(reconcileChildEnv); url != "" {
		os.Exit(reconcileChild(url))
	}
	if os.Getenv(serveChildEnv) == "1" {
		main() // `orgscim serve ...` with the arguments the test gave; exits
	}
	os.Exit(m.Run())
}

// reconcileChild runs one pass in small batches. A killed predecessor's session may
// hold the leader's lock for a moment after its death, so a Conflict is retried.
func reconcileChild(url string) int {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out strings.Builder
		err := run(context.Background(), []string{"reconcile", "--batch", "5", "--database", url}, io.Discard, &out)
		if err == nil {
			return 0
		}
		if !strings.Contains(out.String()+err.Error(), "another reconciler is running") || time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, out.String(), err)
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// seedLifecycle builds the same world in every database it is given, as of base (the
// real time now, since the child runs on the real clock): 400 members, 300 of them
// holding a grant that expired a day ago, the first 100 not written by their IdP for
// 40 days under a 30-day stale policy, and a mapping whose group changed behind its
// back (50 members without their grant, 30 grants without a member).
func seedLifecycle(t *testing.T, url string, base time.Time) {
	t.Helper()
	ctx := audit.WithSource(context.Background(), audit.Source{Actor: "operator:cli:seed"})
	db, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mu sync.Mutex
	now := base.Add(-40 * 24 * time.Hour)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Millisecond); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	svc := newServices(db, clock)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = svc.dir.CreateOrg(ctx, "Vendor", "vendor", "")
	must(err)
	acme, err := svc.dir.CreateOrg(ctx, "Acme", "acme", "vendor")
	must(err)
	conn, _, err := svc.dir.CreateConnection(ctx, "acme", "acme", "okta")
	must(err)
	stale, unlimited := 30*24*time.Hour, 0
	_, err = svc.dir.SetConnectionPolicy(ctx, "acme", "operator:cli:seed", orgs.PolicyUpdate{StaleAfter: &stale, GuardMaxChanges: &unlimited})
	must(err)
	for _, key := range []string{"viewer", "staff"} {
		_, err = svc.access.CreateRole(ctx, orgs.Role{Key: key, Permissions: []string{key + ".use"}})
		must(err)
	}
	op := orgs.Principal{Operator: "seed"}
	expiry := base.Add(-24 * time.Hour)
	ids := make([]string, 400)
	for i := range ids {
		u, err := svc.users.Create(ctx, conn.ID, map[string]any{"userName": fmt.Sprintf("u%03d@acme.test", i), "active": true}, "")
		must(err)
		ids[i] = u.ID
		if i < 300 {
			_, err = svc.access.AssignRole(ctx, op, conn, u.ID, "viewer", acme.ID, "seed", &expiry)
			must(err)
		}
	}
	var members []provisioning.Member
	for _, id := range ids[100:200] {
		members = append(members, provisioning.Member{Value: id, Type: "User"})
	}
	g, err := svc.groups.Create(ctx, conn.ID, map[string]any{"displayName": "staff"}, members)
	must(err)
	m, err := svc.access.DraftMapping(ctx, op, conn, g.ID, "staff", acme.ID, "", "seed")
	must(err)
	_, err = svc.access.ApproveMapping(ctx, orgs.Principal{Operator: "seed2"}, m.ID)
	must(err)
	set(base.Add(-48 * time.Hour))
	for _, id := range ids[100:] { // written by the IdP two days ago
		_, err = svc.users.Update(ctx, conn.ID, id, func(*provisioning.User) error { return nil })
		must(err)
	}
	blind := &provisioning.Groups{Store: db.Groups(), Tx: db, Audit: db.Audit(), Now: clock}
	var joined, left []provisioning.Member
	for _, id := range ids[200:250] {
		joined = append(joined, provisioning.Member{Value: id, Type: "User"})
	}
	for _, id := range ids[100:130] {
		left = append(left, provisioning.Member{Value: id, Type: "User"})
	}
	_, err = blind.Update(ctx, conn.ID, g.ID, func(*provisioning.Group) ([]provisioning.MemberChange, error) {
		return []provisioning.MemberChange{{Kind: provisioning.AddMembers, Members: joined}, {Kind: provisioning.RemoveMembers, Members: left}}, nil
	})
	must(err)
	if _, err := cli(t, "webhook", "create", "--connection", "acme", "--url", "http://127.0.0.1:9/hook", "--database", url); err != nil {
		t.Fatal(err)
	}
}

// lifecycleState is what a pass leaves behind, without its run ids and batch
// boundaries: who is active, every grant with its revocation, and the reconciler's
// audit events and webhooks counted by what they name.
type lifecycleState struct {
	Users  []string
	Grants []string
	// RevokedInEvents counts the grants named by the reconciler's grants.revoke events;
	// DuplicateRevocations those named more than once.
	RevokedInEvents, DuplicateRevocations int
	// UserEvents counts the reconciler's user.update events, DistinctUsers their
	// targets.
	UserEvents, DistinctUsers int
	// SyncAdded and SyncRevoked sum the reconciler's grants.sync events.
	SyncAdded, SyncRevoked int
	// Webhooks is the outbox rows of the reconciler's events, WebhookEvents the events
	// among them, ReconcilerEvents the events in the connection's chain.
	Webhooks, WebhookEvents, ReconcilerEvents int
}

var runID = regexp.MustCompile(`run [0-9a-f]{8}-[0-9a-f-]{27}`)

func readLifecycle(t *testing.T, url string) (st lifecycleState, interrupted int) {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := func(q string, scan func(*sql.Rows) error) {
		t.Helper()
		rs, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rs.Close()
		for rs.Next() {
			if err := scan(rs); err != nil {
				t.Fatal(err)
			}
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
	}
	rows(`SELECT user_name, active FROM scim_users ORDER BY user_name`, func(r *sql.Rows) error {
		var name string
		var active bool
		err := r.Scan(&name, &active)
		st.Users = append(st.Users, fmt.Sprintf("%s active=%v", name, active))
		return err
	})
	rows(`SELECT u.user_name, r.key, g.source, g.revoked_at IS NOT NULL, coalesce(g.revoked_by, ''), coalesce(g.revoke_reason, '')
		FROM grants g JOIN scim_users u ON u.connection_id = g.connection_id AND u.id = g.user_id JOIN roles r ON r.id = g.role_id`,
		func(r *sql.Rows) error {
			var name, role, source, by, reason string
			var revoked bool
			err := r.Scan(&name, &role, &source, &revoked, &by, &reason)
			st.Grants = append(st.Grants, fmt.Sprintf("%s %s %s revoked=%v by=%s %s", name, role, source, revoked, by, runID.ReplaceAllString(reason, "run X")))
			return err
		})
	slices.Sort(st.Grants)
	seen := map[string]int{}
	users := map[string]bool{}
	rows(`SELECT action, target_id, diff FROM audit_events WHERE actor = '`+reconcile.Actor+`'`, func(r *sql.Rows) error {
		var action, target, diff string
		if err := r.Scan(&action, &target, &diff); err != nil {
			return err
		}
		var d struct {
			IDs             []string `json:"ids"`
			Added, Revoked  int
			RevokedGrantIDs []string `json:"revoked_grant_ids"`
		}
		_ = json.Unmarshal([]byte(diff), &d)
		switch action {
		case "grants.revoke":
			for _, id := range d.IDs {
				seen[id]++
			}
		case provisioning.ActionUserUpdate:
			st.UserEvents++
			users[target] = true
		case orgs.ActGrantsSync:
			st.SyncAdded += d.Added
			st.SyncRevoked += d.Revoked
		}
		return nil
	})
	for _, n := range seen {
		st.RevokedInEvents++
		if n > 1 {
			st.DuplicateRevocations++
		}
	}
	st.DistinctUsers = len(users)
	rows(`SELECT count(*), count(DISTINCT o.event_id) FROM outbox o JOIN audit_events e ON e.id = o.event_id
		WHERE e.actor = '`+reconcile.Actor+`'`, func(r *sql.Rows) error { return r.Scan(&st.Webhooks, &st.WebhookEvents) })
	rows(`SELECT count(*) FROM audit_events e JOIN connections c ON c.id = e.chain WHERE e.actor = '`+reconcile.Actor+`'`,
		func(r *sql.Rows) error { return r.Scan(&st.ReconcilerEvents) })
	rows(`SELECT count(*) FROM reconcile_runs WHERE state = 'running'`, func(r *sql.Rows) error { return r.Scan(&interrupted) })
	return st, interrupted
}

// TestReconcileSurvivesKills kills `orgscim reconcile` with SIGKILL at random points of
// a pass, again and again, then lets it finish, and compares the outcome with that of
// one uninterrupted pass over an identical database: the same members deactivated, the
// same grants revoked and added, for the same reasons, and no revocation, audit event
// or webhook twice.
func TestReconcileSurvivesKills(t *testing.T) {
	if !slices.Contains(dbtest.Engines(t), "postgres") {
		t.Skip("the crash test runs on PostgreSQL: ORGSCIM_TEST_DATABASE_URL is not set")
	}
	base := time.Now().UTC().Truncate(time.Second)
	ref, victim := dbtest.URL(t, "postgres"), dbtest.URL(t, "postgres")
	seedLifecycle(t, ref, base)
	seedLifecycle(t, victim, base)

	child := func(url string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), reconcileChildEnv+"="+url)
		cmd.Stderr = os.Stderr
		return cmd
	}
	if err := child(ref).Run(); err != nil {
		t.Fatalf("uninterrupted pass: %v", err)
	}
	want, _ := readLifecycle(t, ref)
	if len(want.Grants) == 0 || want.UserEvents != 100 || want.SyncAdded != 50 || want.SyncRevoked < 30 {
		t.Fatalf("the uninterrupted pass did not do what the world calls for: %+v", want)
	}

	// Each kill lands after a random number (1 to 8) of the pass's batches have
	// committed, and a random moment into the next: between batches, inside a
	// transaction, or while its audit events are being appended.
	watch, err := sql.Open("pgx", victim)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	events := func() (n int) {
		if err := watch.QueryRow(`SELECT count(*) FROM audit_events WHERE actor = '` + reconcile.Actor + `'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const kills = 12
	rng := rand.New(rand.NewPCG(uint64(base.Unix()), 7))
	for i := range kills {
		cmd := child(victim)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		target := events() + 1 + rng.IntN(8)
	wait:
		for {
			select {
			case err := <-exited:
				t.Fatalf("kill %d: the pass finished before it could be killed (%v); the world is too small", i+1, err)
			case <-time.After(time.Millisecond):
				if events() >= target {
					break wait
				}
			}
		}
		time.Sleep(time.Duration(rng.Int64N(int64(3 * time.Millisecond))))
		_ = cmd.Process.Kill()
		<-exited
	}
	if err := child(victim).Run(); err != nil {
		t.Fatalf("the pass after the kills: %v", err)
	}
	got, interrupted := readLifecycle(t, victim)
	if interrupted != kills {
		t.Errorf("%d runs were left running; want one per kill, %d", interrupted, kills)
	}
	if strings.Join(got.Users, "\n") != strings.Join(want.Users, "\n") {
		t.Errorf("members differ from the uninterrupted pass")
	}
	if strings.Join(got.Grants, "\n") != strings.Join(want.Grants, "\n") {
		for i := range min(len(got.Grants), len(want.Grants)) {
			if got.Grants[i] != want.Grants[i] {
				t.Errorf("first differing grant:\n got  %s\n want %s", got.Grants[i], want.Grants[i])
				break
			}
		}
		t.Errorf("grants differ: %d and %d", len(got.Grants), len(want.Grants))
	}
	if got.DuplicateRevocations != 0 || got.RevokedInEvents != want.RevokedInEvents {
		t.Errorf("revocation events name %d grants (%d twice); the uninterrupted pass %d", got.RevokedInEvents, got.DuplicateRevocations, want.RevokedInEvents)
	}
	if got.UserEvents != got.DistinctUsers || got.UserEvents != want.UserEvents {
		t.Errorf("deactivation events %d for %d members; want %d", got.UserEvents, got.DistinctUsers, want.UserEvents)
	}
	if got.SyncAdded != want.SyncAdded || got.SyncRevoked != want.SyncRevoked {
		t.Errorf("grant syncs +%d -%d; want +%d -%d", got.SyncAdded, got.SyncRevoked, want.SyncAdded, want.SyncRevoked)
	}
	if got.Webhooks != got.WebhookEvents || got.WebhookEvents != got.ReconcilerEvents {
		t.Errorf("webhooks: %d rows for %d events of %d; want one per event", got.Webhooks, got.WebhookEvents, got.ReconcilerEvents)
	}
	if out, err := cli(t, "audit", "verify", "--database", victim); err != nil {
		t.Errorf("audit chains after the kills: %v\n%s", err, out)
	}
}

// TestReconcilersInSeparateProcesses starts four `orgscim reconcile` processes at once on
// one PostgreSQL database, as four replicas' cron jobs would: their passes never
// overlap (the advisory lock admits one at a time; the others wait and retry), exactly
// one of them finds work, and nothing is revoked or recorded twice.
func TestReconcilersInSeparateProcesses(t *testing.T) {
	if !slices.Contains(dbtest.Engines(t), "postgres") {
		t.Skip("this test runs on PostgreSQL: ORGSCIM_TEST_DATABASE_URL is not set")
	}
	url := dbtest.URL(t, "postgres")
	seedLifecycle(t, url, time.Now().UTC().Truncate(time.Second))
	var cmds []*exec.Cmd
	for range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), reconcileChildEnv+"="+url)
		cmd.Stderr = os.Stderr
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT started_at, finished_at, report FROM reconcile_runs ORDER BY started_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var runs, acting int
	var lastFinish int64
	for rows.Next() {
		var started, finished int64
		var report string
		if err := rows.Scan(&started, &finished, &report); err != nil {
			t.Fatal(err)
		}
		if started < lastFinish {
			t.Errorf("run %d started before the previous one finished", runs+1)
		}
		lastFinish = finished
		var rep struct{ Rules []struct{ Count int } }
		if err := json.Unmarshal([]byte(report), &rep); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range rep.Rules {
			n += r.Count
		}
		if n > 0 {
			acting++
		}
		runs++
	}
	if runs != 4 || acting != 1 {
		t.Errorf("%d passes recorded, %d of them changed something; want 4 and 1", runs, acting)
	}
	st, _ := readLifecycle(t, url)
	if st.DuplicateRevocations != 0 || st.UserEvents != st.DistinctUsers || st.Webhooks != st.WebhookEvents {
		t.Errorf("something was done twice: %+v", st)
	}
}
