package main

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/orgscim/orgscim/domaincheck"
	"github.com/orgscim/orgscim/domains"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sqlstore"
)

// zone is a real DNS server on 127.0.0.1 whose TXT records a test changes.
type zone struct {
	mu  sync.Mutex
	txt map[string]string // fqdn -> value
}

func (z *zone) set(name, value string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if value == "" {
		delete(z.txt, dns.Fqdn(name))
		return
	}
	z.txt[dns.Fqdn(name)] = value
}

func startZone(t *testing.T) (*zone, string) {
	t.Helper()
	z := &zone{txt: map[string]string{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		name := strings.ToLower(r.Question[0].Name)
		z.mu.Lock()
		v, ok := z.txt[name]
		z.mu.Unlock()
		if ok {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1}, Txt: []string{v}})
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return z, pc.LocalAddr().String()
}

// wellKnown is a real HTTPS server on 127.0.0.1 serving verification files by host;
// its certificate holds *.example.com.
type wellKnown struct {
	mu    sync.Mutex
	files map[string]string // host -> body
	srv   *httptest.Server
}

func startWellKnown(t *testing.T) *wellKnown {
	w := &wellKnown{files: map[string]string{}}
	w.srv = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		body, ok := w.files[r.Host]
		w.mu.Unlock()
		if !ok || r.URL.Path != domains.WellKnownPath {
			http.NotFound(rw, r)
			return
		}
		_, _ = io.WriteString(rw, body)
	}))
	w.srv.Config.ErrorLog = nil
	t.Cleanup(w.srv.Close)
	return w
}

func (w *wellKnown) proof() domaincheck.HTTPS {
	pool := x509.NewCertPool()
	pool.AddCert(w.srv.Certificate())
	addr := w.srv.Listener.Addr().String()
	return domaincheck.HTTPS{Roots: pool, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

// newE2EProving is newE2E with domain claims proved by the given DNS server and
// well-known HTTPS server.
func newE2EProving(t *testing.T, db *sqlstore.DB, proofs []domains.Proof) *e2eEnv {
	t.Helper()
	start, _ := time.Parse(time.RFC3339, e2eClockStart)
	clock := &e2eClock{t: start}
	logs := &syncBuffer{}
	srv := httptest.NewServer(newHandler(db, slog.New(slog.NewJSONHandler(logs, nil)), httpConfig{Now: clock.Now, DomainProofs: proofs}))
	t.Cleanup(srv.Close)
	return &e2eEnv{t: t, db: db, srv: srv, dir: &orgs.Directory{Store: db.Orgs(), Now: clock.Now}, logs: logs, clock: clock}
}

// TestVerifiedDomains drives issue #18's verified partner domains through the real
// server, a real DNS server and a real HTTPS server: another partner's IdP can no
// longer create ceo@acme.example once acme verifies it; an org with verified domains
// refuses users outside them; a domain that stops verifying lapses on the reconciler's
// pass and freezes new users in it; delegates claim only inside their subtree.
func TestVerifiedDomains(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		z, resolver := startZone(t)
		wk := startWellKnown(t)
		proofs := []domains.Proof{domaincheck.DNS{Resolver: resolver, Timeout: 2 * time.Second}, wk.proof()}
		env := newE2EProving(t, db, proofs)
		doc, ops := env.operators(t, "ops")
		oper := ops[0]
		for _, o := range [][2]string{{"vendor", ""}, {"acme", "vendor"}, {"initech", "vendor"}} {
			body := map[string]any{"name": o[0], "slug": o[0]}
			if o[1] != "" {
				body["parent"] = o[1]
			}
			oper.post("/orgs", body).must(t, http.StatusCreated)
		}
		scims := map[string]*scimClient{}
		for _, conn := range []string{"acme", "initech"} {
			created := oper.post("/connections", map[string]any{"org": conn, "slug": conn, "idp": "okta"}).must(t, http.StatusCreated).JSON
			scims[conn] = &scimClient{t: t, env: env, slug: conn, token: field(created, "token")}
		}
		acme, initech := scims["acme"], scims["initech"]

		// No org has verified a domain: everyone still provisions (a fresh make run and
		// the conformance suites work).
		pat := acme.create(map[string]any{"userName": "pat@acme.example"})["id"].(string)
		early := initech.create(map[string]any{"userName": "early@initech.example.com"})["id"].(string)

		// A delegate of acme claims for acme, never for initech.
		d := oper.post("/delegations", map[string]any{"org": "acme", "connection": "acme", "user_id": pat,
			"capabilities": []string{"delegate"}, "depth": 1}).must(t, http.StatusCreated).JSON
		patKey := env.admin(t, field(oper.post("/delegations/"+field(d, "id")+"/keys", nil).must(t, http.StatusCreated).JSON, "key"), doc)
		refused(t, "delegate claims outside its subtree", patKey.post("/orgs/initech/domains", map[string]any{"domain": "initech.example.com"}), http.StatusForbidden, "forbidden")
		refused(t, "not a domain", patKey.post("/orgs/acme/domains", map[string]any{"domain": "not a domain"}), http.StatusBadRequest, "invalid")
		claim := patKey.post("/orgs/acme/domains", map[string]any{"domain": "ACME.Example."}).must(t, http.StatusCreated).JSON
		if field(claim, "domain") != "acme.example" || field(claim, "status") != "pending" ||
			field(claim, "dns_record") != "_orgscim-challenge.acme.example" || field(claim, "token") == "" {
			t.Fatalf("claim: %v", claim)
		}
		again := patKey.post("/orgs/acme/domains", map[string]any{"domain": "acme.example"}).must(t, http.StatusCreated).JSON
		if field(again, "id") != field(claim, "id") {
			t.Errorf("claiming again made a second claim: %v", again)
		}
		refused(t, "delegate lists outside", patKey.get("/orgs/initech/domains"), http.StatusForbidden, "forbidden")

		// Nothing published yet: still pending. Published: verified by DNS.
		verify := "/orgs/acme/domains/" + field(claim, "id") + "/verify"
		if s := field(patKey.post(verify, nil).must(t, http.StatusOK).JSON, "status"); s != "pending" {
			t.Errorf("unpublished claim: status %s", s)
		}
		if s := field(oper.get("/connections/acme").must(t, http.StatusOK).JSON, "domains"); s != "unverified" {
			t.Errorf("acme's connection before verification: domains %q", s)
		}
		z.set(field(claim, "dns_record"), field(claim, "dns_value"))
		v := patKey.post(verify, nil).must(t, http.StatusOK).JSON
		if s := field(oper.get("/connections/acme").must(t, http.StatusOK).JSON, "domains"); s != "verified" {
			t.Errorf("acme's connection after verification: domains %q", s)
		}
		if field(v, "status") != "verified" || field(v, "method") != "dns" {
			t.Fatalf("published claim: %v", v)
		}

		// initech cannot verify acme's domain, even with its own token published.
		ic := oper.post("/orgs/initech/domains", map[string]any{"domain": "acme.example"}).must(t, http.StatusCreated).JSON
		z.set("_orgscim-challenge.acme.example", field(ic, "dns_value"))
		refused(t, "second org verifies a verified domain", oper.post("/orgs/initech/domains/"+field(ic, "id")+"/verify", nil), http.StatusConflict, "conflict")
		z.set("_orgscim-challenge.acme.example", field(claim, "dns_value"))
		oper.call("DELETE", "/orgs/initech/domains/"+field(ic, "id"), nil).must(t, http.StatusNoContent)

		// Another partner's IdP can no longer create ceo@acme.example, by userName or
		// by e-mail, nor patch an existing user into it; the detail names the domain
		// and not who holds it.
		for _, u := range []map[string]any{
			{"userName": "ceo@acme.example"},
			{"userName": "ceo", "emails": []any{map[string]any{"value": "CEO@Acme.Example", "primary": true}}},
		} {
			r := initech.do("POST", "/Users", withSchema(u))
			r.scimError(t, http.StatusBadRequest, "invalidValue")
			detail, _ := r.JSON["detail"].(string)
			if !strings.Contains(detail, "acme.example") || strings.Contains(detail, "Org acme") || strings.Contains(detail, "acme ") {
				t.Errorf("detail %q: must name the domain and not the org", detail)
			}
		}
		initech.patch(early, op("replace", "userName", "early@acme.example")).scimError(t, http.StatusBadRequest, "invalidValue")

		// acme verified a domain: it refuses users outside it, and takes those inside.
		r := acme.do("POST", "/Users", withSchema(map[string]any{"userName": "x@gmail.com"}))
		r.scimError(t, http.StatusBadRequest, "invalidValue")
		if detail, _ := r.JSON["detail"].(string); !strings.Contains(detail, "gmail.com") {
			t.Errorf("outside-domain detail %q does not name the domain", detail)
		}
		bob := acme.create(map[string]any{"userName": "bob@acme.example"})["id"].(string)
		acme.patch(pat, op("replace", "userName", "pat@gmail.com")).scimError(t, http.StatusBadRequest, "invalidValue")

		// The quarantine policy: a user outside the verified domains is stored, holds no
		// rights, and is listed for review; released, it is as active as its IdP says.
		if p := oper.call("PATCH", "/connections/acme/policy", map[string]any{"domain_policy": "quarantine"}).must(t, http.StatusOK).JSON; field(p, "domain_policy") != "quarantine" {
			t.Fatalf("policy: %v", p)
		}
		refused(t, "unknown domain policy", oper.call("PATCH", "/connections/acme/policy", map[string]any{"domain_policy": "ignore"}), http.StatusBadRequest, "invalid")
		oper.post("/roles", map[string]any{"key": "viewer", "permissions": []string{"reports.read"}}).must(t, http.StatusCreated)
		oper.post("/grants", map[string]any{"connection": "acme", "user_id": bob, "role": "viewer", "org": "acme", "reason": "reports"}).must(t, http.StatusCreated)
		check := func(user string) bool {
			t.Helper()
			q := url.Values{"connection": {"acme"}, "user": {user}, "permission": {"reports.read"}, "org": {"acme"}}
			return oper.get("/access/check?"+q.Encode()).must(t, http.StatusOK).JSON["allowed"] == true
		}
		if !check(bob) {
			t.Fatal("bob's grant does not allow before the quarantine")
		}
		held := acme.create(map[string]any{"userName": "x@gmail.com", "active": true})
		if held["active"] != true {
			t.Errorf("a quarantined user shows its IdP's active: %v", held["active"])
		}
		acme.patch(bob, op("replace", "userName", "bob@gmail.com")).must(t, http.StatusOK)
		if check(bob) {
			t.Error("a quarantined user's grant still allows")
		}
		list := oper.get("/connections/acme/quarantine").must(t, http.StatusOK).JSON
		if got := at(list, "users").([]any); len(got) != 2 || field(got[0], "user_name") != "x@gmail.com" || field(got[0], "domain") != "gmail.com" ||
			field(got[1], "user_name") != "bob@gmail.com" {
			t.Errorf("quarantine list: %v", list)
		}
		refused(t, "delegate without manage_members reviews quarantine", patKey.get("/connections/acme/quarantine"), http.StatusForbidden, "forbidden")
		oper.post("/connections/acme/quarantine/"+held["id"].(string)+"/release", nil).must(t, http.StatusOK)
		acme.patch(held["id"].(string), op("replace", "displayName", "X")).must(t, http.StatusOK) // stays admitted in gmail.com
		oper.call("DELETE", "/connections/acme/quarantine/"+bob, nil).must(t, http.StatusNoContent)
		acme.do("GET", "/Users/"+bob, nil).must(t, http.StatusNotFound)
		if got := at(oper.get("/connections/acme/quarantine").must(t, http.StatusOK).JSON, "users").([]any); len(got) != 0 {
			t.Errorf("after release and delete: %v", got)
		}
		refused(t, "release a user not held", oper.post("/connections/acme/quarantine/"+pat+"/release", nil), http.StatusNotFound, "not_found")
		for _, a := range []string{"user.quarantine", "user.release"} {
			if n := len(at(oper.get("/audit?action="+a).must(t, http.StatusOK).JSON, "events").([]any)); n == 0 {
				t.Errorf("no %s event", a)
			}
		}
		oper.call("PATCH", "/connections/acme/policy", map[string]any{"domain_policy": "refuse"}).must(t, http.StatusOK)

		// The HTTPS proof: initech verifies its domain by the well-known file.
		ih := oper.post("/orgs/initech/domains", map[string]any{"domain": "initech.example.com"}).must(t, http.StatusCreated).JSON
		wk.mu.Lock()
		wk.files["initech.example.com"] = field(ih, "token") + "\n"
		wk.mu.Unlock()
		if v := oper.post("/orgs/initech/domains/"+field(ih, "id")+"/verify", nil).must(t, http.StatusOK).JSON; field(v, "method") != "https" {
			t.Fatalf("well-known proof: %v", v)
		}
		initech.create(map[string]any{"userName": "new@initech.example.com"})
		initech.do("POST", "/Users", withSchema(map[string]any{"userName": "z@gmail.com"})).scimError(t, http.StatusBadRequest, "invalidValue")

		// acme's record disappears: the reconciler's pass lapses the domain, audited;
		// new users in it are frozen, existing ones still sync.
		z.set("_orgscim-challenge.acme.example", "")
		rec := newReconciler(db, env.clock.Now)
		rec.Domains.(*domains.Service).Proofs = proofs
		run, err := rec.Once(actor{}.ctx(context.Background()), reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		lapsed := 0
		for _, res := range run.Report.Rules {
			if res.Rule == reconcile.RuleDomainLapsed {
				lapsed = res.Count
			}
		}
		if lapsed != 1 {
			t.Errorf("domain-lapsed: %d, want 1 (%+v)", lapsed, run.Report.Rules)
		}
		list = oper.get("/orgs/acme/domains").must(t, http.StatusOK).JSON
		if s := field(at(list, "claims", 0), "status"); s != "lapsed" {
			t.Errorf("after the pass: status %s, want lapsed", s)
		}
		events := oper.get("/audit?action=domain.lapse").must(t, http.StatusOK).JSON
		if n := len(at(events, "events").([]any)); n != 1 {
			t.Errorf("domain.lapse events: %d, want 1", n)
		}
		r = acme.do("POST", "/Users", withSchema(map[string]any{"userName": "carol@acme.example"}))
		r.scimError(t, http.StatusBadRequest, "invalidValue")
		if detail, _ := r.JSON["detail"].(string); !strings.Contains(detail, "no longer verifies") {
			t.Errorf("lapsed detail %q", detail)
		}
		acme.patch(pat, op("replace", "displayName", "Pat")).must(t, http.StatusOK)
		// initech's verified domain still proves: it stays verified.
		if s := field(at(oper.get("/orgs/initech/domains").JSON, "claims", 0), "status"); s != "verified" {
			t.Errorf("initech's domain: %s", s)
		}

		// Removing the claim frees the domain: acme then has no verified domain.
		oper.call("DELETE", "/orgs/acme/domains/"+field(claim, "id"), nil).must(t, http.StatusNoContent)
		acme.create(map[string]any{"userName": "carol@acme.example"})
		for _, a := range []string{"domain.claim", "domain.verify", "domain.remove"} {
			if n := len(at(oper.get("/audit?action="+a).must(t, http.StatusOK).JSON, "events").([]any)); n == 0 {
				t.Errorf("no %s event", a)
			}
		}
	})
}

func withSchema(u map[string]any) map[string]any {
	u["schemas"] = []string{userSchemaURN}
	return u
}

// holdVerified records that the org holds the domain verified, as a DNS proof would
// have, for tests about what a verified domain allows rather than how it verifies.
func holdVerified(t *testing.T, db *sqlstore.DB, orgSlug, domain string) {
	t.Helper()
	ctx := context.Background()
	o, err := db.Orgs().OrgBySlug(ctx, orgSlug)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := db.Domains().CreateClaim(ctx, &domains.Claim{ID: "held-" + orgSlug + "-" + domain, OrgID: o.ID, Domain: domain,
		Token: "test", Status: domains.Verified, Method: "dns", Created: now, VerifiedAt: &now}); err != nil {
		t.Fatal(err)
	}
}
