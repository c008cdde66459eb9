package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestAuthorityModel drives a random sequence of relationship changes through the real
// server (admin API and SCIM) and, after every step, compares every access check and
// every delegate key's ability to read and to write with a small model of the authority
// rule. Privileged access comes only from elevations a second operator approves, and
// lapses with them as the clock moves. ORGSCIM_MODEL_STEPS (default 40) and ORGSCIM_MODEL_SEEDS (default "1", a
// comma-separated list or a count like "20x") size the run; `make model` runs a long one.
func TestAuthorityModel(t *testing.T) {
	steps := 40
	if s := os.Getenv("ORGSCIM_MODEL_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("ORGSCIM_MODEL_STEPS: %v", err)
		}
		steps = n
	}
	seeds := []uint64{1}
	if s := os.Getenv("ORGSCIM_MODEL_SEEDS"); s != "" {
		seeds = nil
		if n, ok := strings.CutSuffix(s, "x"); ok {
			count, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("ORGSCIM_MODEL_SEEDS: %v", err)
			}
			for i := 1; i <= count; i++ {
				seeds = append(seeds, uint64(i))
			}
		} else {
			for _, f := range strings.Split(s, ",") {
				n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
				if err != nil {
					t.Fatalf("ORGSCIM_MODEL_SEEDS: %v", err)
				}
				seeds = append(seeds, n)
			}
		}
	}
	// Each seed gets fresh databases; each engine counts its own steps.
	total := map[string]int{}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
				w := newModelWorld(t, db, seed)
				for i := 0; i < steps && !t.Failed(); i++ {
					what := w.step()
					w.probe(fmt.Sprintf("seed %d step %d (%s)", seed, i+1, what))
					total[t.Name()[strings.LastIndex(t.Name(), "/")+1:]]++
				}
				for _, k := range []string{"check true", "check false", "key true", "key false", "elevated true", "elevated false"} {
					if steps >= 20 && w.seen[k] == 0 {
						t.Errorf("no probe answered %q in %d steps: the world degenerated (%v)", k, steps, w.seen)
					}
				}
			})
		})
		if t.Failed() {
			return
		}
	}
	for engine, n := range total {
		t.Logf("%s: %d steps over %d seeds, every probe agreed with the model", engine, n, len(seeds))
	}
}

// The model: the tree, people, delegations, grants, and the rule evaluated over them.
type mOrg struct {
	slug, parent string
	status       string
	ended        bool // contract ended in the past
}

type mUser struct {
	name, conn, id  string
	active, deleted bool
}

type mDelegation struct {
	id, org, holder, parent string
	caps                    []string
	revoked                 bool
}

type mGrant struct {
	id, user, org, under string
	role                 string    // "": viewer (reports.read); "admin": privileged (reports.write), by elevation only
	expires              time.Time // zero: none
	revoked              bool
}

// A slot is a delegation that the world keeps alive: when it is revoked, the world may
// delegate again to the same holder (A and C by an operator, B by A's key).
type mSlot struct {
	name, org, conn, group string
	caps                   []string
	cur                    *mDelegation
	key                    *adminClient
	old                    []*adminClient // keys of revoked delegations: never work again
}

type modelWorld struct {
	t       *testing.T
	env     *e2eEnv
	rnd     *rand.Rand
	oper    *adminClient
	oper2   *adminClient
	doc     map[string]any
	scim    map[string]*scimClient
	orgs    map[string]*mOrg
	users   map[string]*mUser
	dels    map[string]*mDelegation
	grants  []*mGrant
	slots   map[string]*mSlot
	g1      string          // SCIM id of group G1 in c1, mapped to viewer on p1b
	inG1    map[string]bool // members of G1
	groups  map[string]string
	mapping bool
	// seen counts the probes' answers, so that a world that degenerates (nothing
	// allowed, or everything) fails instead of passing vacuously.
	seen map[string]int
}

func newModelWorld(t *testing.T, db *sqlstore.DB, seed uint64) *modelWorld {
	env := newE2E(t, db)
	doc, ops := env.operators(t, "ops", "ops2")
	w := &modelWorld{t: t, env: env, rnd: rand.New(rand.NewPCG(seed, seed*7919)), doc: doc,
		oper: ops[0], oper2: ops[1], scim: map[string]*scimClient{},
		orgs: map[string]*mOrg{}, users: map[string]*mUser{}, dels: map[string]*mDelegation{}, slots: map[string]*mSlot{},
		inG1: map[string]bool{}, groups: map[string]string{}, seen: map[string]int{}}
	for _, o := range [][2]string{{"vendor", ""}, {"p1", "vendor"}, {"p1a", "p1"}, {"p1b", "p1"}, {"p2", "vendor"}, {"p2a", "p2"}} {
		body := map[string]any{"name": o[0], "slug": o[0]}
		if o[1] != "" {
			body["parent"] = o[1]
		}
		w.oper.post("/orgs", body).must(t, http.StatusCreated)
		w.orgs[o[0]] = &mOrg{slug: o[0], parent: o[1], status: "active"}
	}
	for conn, names := range map[string][]string{"c1": {"u1", "u2", "u3", "u4", "u5"}, "c2": {"v1", "v2"}} {
		org := map[string]string{"c1": "p1", "c2": "p2"}[conn]
		created := w.oper.post("/connections", map[string]any{"org": org, "slug": conn, "idp": "okta"}).must(t, http.StatusCreated).JSON
		w.scim[conn] = &scimClient{t: t, env: env, slug: conn, token: field(created, "token")}
		for _, n := range names {
			id := w.scim[conn].create(map[string]any{"userName": n + "@" + conn + ".example"})["id"].(string)
			w.users[n] = &mUser{name: n, conn: conn, id: id, active: true}
		}
	}
	w.oper.post("/roles", map[string]any{"key": "viewer", "permissions": []string{"reports.read"}, "inherits": true}).must(t, http.StatusCreated)
	w.oper.post("/roles", map[string]any{"key": "admin", "permissions": []string{"reports.write"}, "inherits": true,
		"privileged": true, "max_duration_seconds": 4 * 3600}).must(t, http.StatusCreated)
	w.g1 = w.scim["c1"].createGroup("G1", w.users["u3"].id, w.users["u4"].id)["id"].(string)
	w.inG1["u3"], w.inG1["u4"] = true, true
	w.groups["c1"], w.groups["c2"] = w.g1, w.scim["c2"].createGroup("G2", w.users["v2"].id)["id"].(string)
	m := w.oper.post("/mappings", map[string]any{"connection": "c1", "group_id": w.g1, "role": "viewer", "org": "p1b"}).must(t, http.StatusCreated).JSON
	w.oper2.post("/mappings/"+field(m, "id")+"/approve", nil).must(t, http.StatusOK)
	w.mapping = true

	// Delegates grant only what they hold: u2 and v1 hold viewer on their partners.
	w.grant(w.oper, "", "u2", "p1", 0, true)
	w.grant(w.oper, "", "v1", "p2", 0, true)
	w.grant(w.oper, "", "u3", "p1", 0, true)
	w.grant(w.oper, "", "u4", "p1a", 2*time.Hour, true)
	all := []string{"manage_members", "manage_mappings", "approve", "delegate"}
	w.slots["A"] = &mSlot{name: "A", org: "p1", conn: "c1", caps: all}
	w.slots["B"] = &mSlot{name: "B", org: "p1a", conn: "c1", caps: []string{"manage_members", "manage_mappings"}}
	w.slots["C"] = &mSlot{name: "C", org: "p2", conn: "c2", caps: all}
	w.delegate("A", "u1")
	w.delegate("B", "u2")
	w.delegate("C", "v1")
	w.grant(w.slots["B"].key, "B", "u3", "p1a", 0, true)
	w.grant(w.slots["C"].key, "C", "v2", "p2a", 0, true)
	w.elevateOn("u3", "p1a")
	w.probe("setup")
	return w
}

// --- the rule, in the model

func (w *modelWorld) now() time.Time {
	w.env.clock.mu.Lock()
	defer w.env.clock.mu.Unlock()
	return w.env.clock.t
}

// path returns the org and its ancestors, root first.
func (w *modelWorld) path(org string) []string {
	var out []string
	for o := org; o != ""; o = w.orgs[o].parent {
		out = append([]string{o}, out...)
	}
	return out
}

func (w *modelWorld) within(org, root string) bool { return slices.Contains(w.path(org), root) }

func (w *modelWorld) pathActive(org string) bool {
	for _, o := range w.path(org) {
		if m := w.orgs[o]; m.status != "active" || m.ended {
			return false
		}
	}
	return true
}

func (w *modelWorld) live(u string) bool { m := w.users[u]; return m.active && !m.deleted }

func connOrg(conn string) string { return map[string]string{"c1": "p1", "c2": "p2"}[conn] }

func (w *modelWorld) delegationHolds(d *mDelegation) bool {
	if d == nil || d.revoked || !w.live(d.holder) || !w.pathActive(d.org) {
		return false
	}
	if d.parent == "" {
		return true
	}
	p := w.dels[d.parent]
	return w.delegationHolds(p) && w.within(d.org, p.org)
}

func (w *modelWorld) grantHolds(g *mGrant, now time.Time) bool {
	if g.revoked || (!g.expires.IsZero() && !now.Before(g.expires)) {
		return false
	}
	if !w.within(g.org, connOrg(w.users[g.user].conn)) {
		return false
	}
	if g.under != "" {
		d := w.dels[g.under]
		return w.delegationHolds(d) && w.within(g.org, d.org)
	}
	return true
}

// allowed is the model's access check: user u may read on org.
func (w *modelWorld) allowed(u, org string) bool {
	if w.holdsRole(u, org, "") {
		return true
	}
	if !w.live(u) || !w.pathActive(org) {
		return false
	}
	path := w.path(org)
	// G1's mapping: viewer on p1b, for live members, inside c1's subtree.
	return w.mapping && w.inG1[u] && w.users[u].conn == "c1" && slices.Contains(path, "p1b") && w.within("p1b", "p1")
}

// holdsRole: u holds role ("" viewer, "admin") on org through a grant (both inherit).
func (w *modelWorld) holdsRole(u, org, role string) bool {
	if !w.live(u) || !w.pathActive(org) {
		return false
	}
	now := w.now()
	path := w.path(org)
	for _, g := range w.grants {
		if g.user == u && g.role == role && slices.Contains(path, g.org) && w.grantHolds(g, now) {
			return true
		}
	}
	return false
}

// --- the probes

func (w *modelWorld) probe(when string) {
	t := w.t
	t.Helper()
	for _, u := range slices.Sorted(maps.Keys(w.users)) {
		mu := w.users[u]
		for _, o := range []string{"p1", "p1a", "p1b", "p2", "p2a"} {
			q := url.Values{"connection": {mu.conn}, "user": {mu.id}, "permission": {"reports.read"}, "org": {o}}
			got := w.oper.get("/access/check?"+q.Encode()).must(t, http.StatusOK).JSON
			want := w.allowed(u, o)
			w.seen[fmt.Sprintf("check %v", want)]++
			if got["allowed"] != want {
				t.Errorf("%s: check %s on %s = %v (%s), model says %v", when, u, o, got["allowed"], field(got, "reason"), want)
			}
		}
	}
	// Privileged access comes only from approved elevations, and lapses with them.
	for _, u := range []string{"u3", "u4", "u5"} {
		for _, o := range []string{"p1", "p1a", "p1b"} {
			q := url.Values{"connection": {"c1"}, "user": {w.users[u].id}, "permission": {"reports.write"}, "org": {o}}
			got := w.oper.get("/access/check?"+q.Encode()).must(t, http.StatusOK).JSON
			want := w.holdsRole(u, o, "admin")
			w.seen[fmt.Sprintf("elevated %v", want)]++
			if got["allowed"] != want {
				t.Errorf("%s: write check %s on %s = %v (%s), model says %v", when, u, o, got["allowed"], field(got, "reason"), want)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(w.slots)) {
		s := w.slots[name]
		want := w.delegationHolds(s.cur)
		w.seen[fmt.Sprintf("key %v", want)]++
		if s.key != nil {
			w.probeKey(when, name, s, s.key, want)
		}
		for _, k := range s.old {
			w.probeKey(when, name+" (revoked key)", s, k, false)
		}
	}
}

// probeKey reads the slot's home org and drafts a mapping there with the key.
func (w *modelWorld) probeKey(when, name string, s *mSlot, k *adminClient, holds bool) {
	t := w.t
	t.Helper()
	read := k.get("/orgs/" + s.org)
	if (read.Status == http.StatusOK) != holds {
		t.Errorf("%s: key of %s reads %s: %d %s; model says holds=%v", when, name, s.org, read.Status, read.Raw, holds)
	}
	canWrite := holds && w.within(s.org, connOrg(s.conn))
	wr := k.post("/mappings", map[string]any{"connection": s.conn, "group_id": w.groups[s.conn], "role": "viewer", "org": s.org,
		"reason": "probe"})
	if (wr.Status == http.StatusCreated) != canWrite {
		t.Errorf("%s: key of %s drafts a mapping on %s: %d %s; model says %v", when, name, s.org, wr.Status, wr.Raw, canWrite)
	}
}

// --- the actions

func (w *modelWorld) pick(xs ...string) string { return xs[w.rnd.IntN(len(xs))] }

func (w *modelWorld) step() string {
	switch w.rnd.IntN(13) {
	case 0, 1:
		o, st := w.pick("p1", "p1a", "p1b", "p2", "p2a"), w.pick("active", "active", "suspended", "ended")
		w.oper.call("PATCH", "/orgs/"+o, map[string]any{"status": st}).must(w.t, http.StatusOK)
		w.orgs[o].status = st
		return o + " " + st
	case 2:
		o := w.pick("p1", "p1a", "p1b", "p2", "p2a")
		if w.orgs[o].ended {
			w.oper.call("PATCH", "/orgs/"+o, map[string]any{"contract_end": nil}).must(w.t, http.StatusOK)
			w.orgs[o].ended = false
			return o + " contract renewed"
		}
		w.oper.call("PATCH", "/orgs/"+o, map[string]any{"contract_end": w.now().Add(-time.Hour), "grace_seconds": 0}).must(w.t, http.StatusOK)
		w.orgs[o].ended = true
		return o + " contract ended in the past"
	case 3:
		o, p := w.pick("p1a", "p1b"), w.pick("p1", "p2")
		if w.orgs[o].parent == p {
			return "no move"
		}
		w.oper.post("/orgs/"+o+"/move", map[string]any{"parent": p}).must(w.t, http.StatusOK)
		w.orgs[o].parent = p
		return o + " moved under " + p
	case 4, 5:
		u := w.pick(slices.Sorted(maps.Keys(w.users))...)
		mu := w.users[u]
		if mu.deleted {
			return "no change of deleted " + u
		}
		active := !mu.active
		if !w.pathActive(connOrg(mu.conn)) {
			// The partner's relationship is not active: its IdP's token does not work.
			w.scim[mu.conn].patch(mu.id, op("replace", "active", active)).must(w.t, http.StatusUnauthorized)
			return "refused SCIM push for " + u
		}
		if w.rnd.IntN(8) == 0 {
			w.scim[mu.conn].do("DELETE", "/Users/"+mu.id, nil).must(w.t, http.StatusNoContent)
			w.left(u)
			mu.deleted = true
			delete(w.inG1, u)
			return "delete " + u
		}
		w.scim[mu.conn].patch(mu.id, op("replace", "active", active)).must(w.t, http.StatusOK)
		if !active && mu.active {
			w.left(u)
		}
		mu.active = active
		return fmt.Sprintf("%s active=%v", u, active)
	case 6:
		u := w.pick("u3", "u4", "u5")
		if w.users[u].deleted {
			return "no group change for deleted " + u
		}
		kind := "add"
		if w.inG1[u] {
			kind = "remove"
		}
		if !w.pathActive("p1") {
			w.scim["c1"].do("PATCH", "/Groups/"+w.g1, patchBody(op("add", "members", []map[string]any{{"value": w.users[u].id}}))).
				must(w.t, http.StatusUnauthorized)
			return "refused SCIM group push"
		}
		var r *reply
		if kind == "add" {
			r = w.scim["c1"].do("PATCH", "/Groups/"+w.g1, patchBody(op("add", "members", []map[string]any{{"value": w.users[u].id}})))
		} else {
			r = w.scim["c1"].do("PATCH", "/Groups/"+w.g1, patchBody(op("remove", `members[value eq "`+w.users[u].id+`"]`, nil)))
		}
		r.must(w.t, http.StatusOK)
		w.inG1[u] = kind == "add"
		return kind + " " + u + " in G1"
	case 7:
		var live []*mGrant
		for _, g := range w.grants {
			if !g.revoked {
				live = append(live, g)
			}
		}
		if len(live) == 0 {
			return "no grant to revoke"
		}
		g := live[w.rnd.IntN(len(live))]
		w.oper.call("DELETE", "/grants/"+g.id, map[string]any{"reason": "model"}).must(w.t, http.StatusOK)
		g.revoked = true
		return "revoke grant of " + g.user + " on " + g.org
	case 8:
		return w.revokeDelegation()
	case 9:
		d := time.Duration(30+w.rnd.IntN(150)) * time.Minute
		w.env.clock.advance(d)
		return "time passes " + d.String()
	case 10:
		// Grants come back, by an operator or through a delegate's key.
		if w.rnd.IntN(2) == 0 {
			u, o := w.pick("u3", "u4", "u5"), w.pick("p1", "p1a", "p1b")
			return w.grant(w.oper, "", u, o, time.Duration(w.rnd.IntN(3))*time.Hour, false)
		}
		s := w.slots[w.pick("B", "C")]
		if s.key == nil {
			return "no key"
		}
		u := map[string]string{"B": "u4", "C": "v2"}[s.name]
		return w.grant(s.key, s.name, u, s.org, 0, false)
	case 11:
		return w.redelegate()
	default:
		return w.elevate()
	}
}

// elevate asks for the privileged role for one of c1's users on one of p1's orgs for an
// hour or two; a second operator approves it, and it lapses as time passes. It asks
// only where the model can say the request and approval succeed.
func (w *modelWorld) elevate() string {
	return w.elevateOn(w.pick("u3", "u4", "u5"), w.pick("p1", "p1a", "p1b"))
}

func (w *modelWorld) elevateOn(u, o string) string {
	if !w.live(u) || !w.within(o, "p1") || !w.pathActive("p1") {
		return "no elevation for " + u + " on " + o
	}
	for _, g := range w.grants {
		if g.role == "admin" && g.user == u && g.org == o && !g.revoked {
			return "elevation of " + u + " on " + o + " already granted"
		}
	}
	d := time.Duration(1+w.rnd.IntN(2)) * time.Hour
	el := w.oper.post("/elevations", map[string]any{"connection": "c1", "user_id": w.users[u].id, "role": "admin", "org": o,
		"reason": "model", "duration_seconds": int64(d / time.Second)}).must(w.t, http.StatusCreated).JSON
	ok := w.oper2.post("/elevations/"+field(el, "id")+"/approve", nil).must(w.t, http.StatusOK).JSON
	w.grants = append(w.grants, &mGrant{id: field(ok, "grant_id"), user: u, org: o, role: "admin", expires: w.now().Add(d)})
	return fmt.Sprintf("elevate %s on %s for %s", u, o, d)
}

// grant asks for a grant of viewer to u on org, by an operator (slot "") or through a
// slot's key, and checks the answer against the model.
func (w *modelWorld) grant(by *adminClient, slot, u, org string, expires time.Duration, must bool) string {
	mu := w.users[u]
	body := map[string]any{"connection": mu.conn, "user_id": mu.id, "role": "viewer", "org": org, "reason": "model"}
	g := &mGrant{user: u, org: org}
	if expires > 0 {
		g.expires = w.now().Add(expires).UTC().Truncate(time.Millisecond)
		body["expires_at"] = g.expires
	}
	want := !mu.deleted && mu.active && w.within(org, connOrg(mu.conn))
	for _, x := range w.grants {
		// One live direct grant of a role per user and org: an expired one still counts
		// until something revokes it.
		want = want && (x.revoked || x.role != "" || x.user != u || x.org != org)
	}
	if slot != "" {
		s := w.slots[slot]
		g.under = s.cur.id
		holder := s.cur.holder
		want = want && w.delegationHolds(s.cur) && w.within(org, s.org) && w.allowed(holder, org)
	}
	if !want && !must {
		// Whether it is refused for the model's reason is the probe's business; do not
		// create what the model cannot predict.
		r := by.post("/grants", body)
		if r.Status == http.StatusCreated {
			w.t.Errorf("grant of viewer to %s on %s through %q succeeded; the model refuses it", u, org, slot)
		}
		return "refused grant to " + u + " on " + org
	}
	r := by.post("/grants", body).must(w.t, http.StatusCreated)
	g.id = field(r.JSON, "id")
	w.grants = append(w.grants, g)
	return "grant to " + u + " on " + org
}

// delegate (re)creates a slot's delegation for holder and issues its key.
func (w *modelWorld) delegate(slot, holder string) {
	s := w.slots[slot]
	by, parent := w.oper, ""
	if slot == "B" {
		by, parent = w.slots["A"].key, w.slots["A"].cur.id
	}
	mu := w.users[holder]
	d := by.post("/delegations", map[string]any{"org": s.org, "connection": mu.conn, "user_id": mu.id, "capabilities": s.caps,
		"depth": map[string]int{"A": 1, "B": 0, "C": 0}[slot]}).must(w.t, http.StatusCreated).JSON
	md := &mDelegation{id: field(d, "id"), org: s.org, holder: holder, parent: parent, caps: s.caps}
	w.dels[md.id] = md
	s.cur = md
	s.key = w.env.admin(w.t, field(w.oper.post("/delegations/"+md.id+"/keys", nil).must(w.t, http.StatusCreated).JSON, "key"), w.doc)
}

func (w *modelWorld) redelegate() string {
	s := w.slots[w.pick("A", "B", "C")]
	if s.cur != nil && !s.cur.revoked {
		return "slot " + s.name + " in place"
	}
	holder := s.cur.holder
	if !w.live(holder) {
		return "holder of " + s.name + " gone"
	}
	if s.name == "B" {
		a := w.slots["A"]
		if !w.delegationHolds(a.cur) || !w.within(s.org, a.org) || !w.pathActive(s.org) {
			return "A cannot delegate B now"
		}
	} else if !w.pathActive(s.org) {
		// An operator may delegate on an inactive org, but the delegation would not
		// hold: keep the world simple and wait.
		return "org of " + s.name + " inactive"
	}
	w.delegate(s.name, holder)
	return "delegate " + s.name + " to " + holder
}

// revokeDelegation revokes B (an operator, compromise or hand-over), or A with a
// successor.
func (w *modelWorld) revokeDelegation() string {
	if w.rnd.IntN(2) == 0 {
		b := w.slots["B"]
		if b.cur.revoked {
			return "B revoked already"
		}
		compromise := w.rnd.IntN(2) == 0
		w.oper.call("DELETE", "/delegations/"+b.cur.id, map[string]any{"reason": "model", "compromise": compromise}).must(w.t, http.StatusOK)
		w.revokeTree(b.cur, "", compromise)
		return fmt.Sprintf("revoke B (compromise %v)", compromise)
	}
	a := w.slots["A"]
	if a.cur.revoked {
		return "A revoked already"
	}
	succ := "u5"
	if a.cur.holder == "u5" {
		succ = "u1"
	}
	if !w.live(succ) {
		return "no successor for A"
	}
	mu := w.users[succ]
	rv := w.oper.call("DELETE", "/delegations/"+a.cur.id, map[string]any{"reason": "model",
		"successor": map[string]any{"connection": mu.conn, "user_id": mu.id, "capabilities": a.caps, "depth": 1}}).must(w.t, http.StatusOK).JSON
	sd := &mDelegation{id: field(rv, "successor", "id"), org: a.org, holder: succ, caps: a.caps}
	w.dels[sd.id] = sd
	w.revokeTree(a.cur, sd.id, false)
	a.cur = sd
	a.key = w.env.admin(w.t, field(w.oper.post("/delegations/"+sd.id+"/keys", nil).must(w.t, http.StatusCreated).JSON, "key"), w.doc)
	return "revoke A, successor " + succ
}

// revokeTree revokes d and what was delegated through it, and hands what was made under
// them to `to`, or revokes it on a compromise.
func (w *modelWorld) revokeTree(d *mDelegation, to string, compromise bool) {
	tree := map[string]bool{}
	var walk func(id string)
	walk = func(id string) {
		tree[id] = true
		for _, c := range w.dels {
			if c.parent == id && !c.revoked {
				walk(c.id)
			}
		}
	}
	walk(d.id)
	for id := range tree {
		w.dels[id].revoked = true
	}
	defer w.retireKeys()
	for _, g := range w.grants {
		if !g.revoked && tree[g.under] {
			if compromise {
				g.revoked = true
			} else {
				g.under = to
			}
		}
	}
}

// left is what the server does when the IdP deactivates or deletes u: its grants are
// revoked, and the delegations it holds with what was delegated through them, their
// grants going to the delegation above if that holds, else to the operators.
func (w *modelWorld) left(u string) {
	for _, g := range w.grants {
		if g.user == u {
			g.revoked = true
		}
	}
	var held []*mDelegation
	for _, d := range w.dels {
		if d.holder == u && !d.revoked {
			held = append(held, d)
		}
	}
	slices.SortFunc(held, func(a, b *mDelegation) int { return strings.Compare(a.parent, b.parent) })
	for _, d := range held {
		if d.revoked {
			continue
		}
		to := ""
		if d.parent != "" && w.delegationHolds(w.dels[d.parent]) {
			to = d.parent
		}
		w.revokeTree(d, to, false)
	}
}

// retireKeys moves the key of each slot whose delegation is revoked among its old keys.
func (w *modelWorld) retireKeys() {
	for _, s := range w.slots {
		if s.cur != nil && s.cur.revoked && s.key != nil {
			s.old = append(s.old, s.key)
			if len(s.old) > 2 {
				s.old = s.old[1:]
			}
			s.key = nil
		}
	}
}
