package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/ssf"
)

// newE2ESSF is newE2E with the Shared Signals transmitter served, its signing key in a
// fresh file.
func newE2ESSF(t *testing.T, db *sqlstore.DB) (*e2eEnv, *ssf.Keyring, string) {
	t.Helper()
	return newE2ESSFWith(t, db, ssfConfig{})
}

// newE2ESSFWith is newE2ESSF with the transmitter's configuration (its keys are made here).
func newE2ESSFWith(t *testing.T, db *sqlstore.DB, cfg ssfConfig) (*e2eEnv, *ssf.Keyring, string) {
	t.Helper()
	start, _ := time.Parse(time.RFC3339, e2eClockStart)
	clock := &e2eClock{t: start}
	logs := &syncBuffer{}
	keyPath := filepath.Join(t.TempDir(), "ssf.key")
	keys, err := ssf.LoadKeyring(keyPath, true, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newHandler(db, slog.New(slog.NewJSONHandler(logs, nil)),
		httpConfig{Now: clock.Now, SSF: ssfConfig{Keys: keys, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst}}))
	t.Cleanup(srv.Close)
	return &e2eEnv{t: t, db: db, srv: srv, dir: &orgs.Directory{Store: db.Orgs(), Now: clock.Now}, logs: logs, clock: clock},
		keys, keyPath
}

// setReceiver is a Shared Signals receiver written from the RFCs, independent of the
// ssf package: it takes pushed SETs (RFC 8935), checks each JWS (RFC 7515) against the
// transmitter's published JWKS with the standard library's Ed25519 and ECDSA, and checks
// the SET's claims (RFC 8417, SSF 1.0).
type setReceiver struct {
	t        *testing.T
	srv      *httptest.Server
	jwksURI  string
	issuer   string
	audience string
	auth     string // the Authorization header pushes must carry

	mu   sync.Mutex
	got  []receivedSET
	fail int // answer 503 to this many pushes
}

type receivedSET struct {
	Kid, Alg string
	Type     string
	Claims   map[string]any
	Event    map[string]any
}

func newSETReceiver(t *testing.T, jwksURI, issuer, audience, auth string) *setReceiver {
	r := &setReceiver{t: t, jwksURI: jwksURI, issuer: issuer, audience: audience, auth: auth}
	r.srv = httptest.NewServer(http.HandlerFunc(r.push))
	t.Cleanup(r.srv.Close)
	return r
}

// push is the push endpoint: 202 for a valid SET, 400 with an RFC 8935 error otherwise.
func (r *setReceiver) push(w http.ResponseWriter, req *http.Request) {
	refuse := func(code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"err": code, "description": desc})
		r.t.Errorf("receiver refused a push: %s: %s", code, desc)
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/secevent+jwt" {
		refuse("invalid_request", "want POST application/secevent+jwt")
		return
	}
	if req.Header.Get("Authorization") != r.auth {
		w.WriteHeader(http.StatusUnauthorized)
		r.t.Errorf("push without the stream's authorization header")
		return
	}
	r.mu.Lock()
	if r.fail > 0 {
		r.fail--
		r.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.mu.Unlock()
	body, _ := io.ReadAll(req.Body)
	set, err := verifySET(string(body), r.jwksURI, r.issuer, r.audience)
	if err != nil {
		refuse("invalid_key", err.Error())
		return
	}
	r.mu.Lock()
	r.got = append(r.got, set)
	r.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// take returns and forgets what was received.
func (r *setReceiver) take() []receivedSET {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// verifySET checks a compact JWS against the JWKS at jwksURI and the SET's claims, and
// returns its single event.
func verifySET(token, jwksURI, issuer, audience string) (receivedSET, error) {
	var out receivedSET
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return out, errors.New("not a compact JWS")
	}
	hb, err := b64(parts[0])
	if err != nil {
		return out, err
	}
	var hdr struct {
		Alg, Kid, Typ string
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return out, err
	}
	if hdr.Typ != "secevent+jwt" {
		return out, fmt.Errorf("typ %q, want secevent+jwt (RFC 8417 §2.3)", hdr.Typ)
	}
	res, err := http.Get(jwksURI)
	if err != nil {
		return out, err
	}
	defer res.Body.Close()
	var set struct {
		Keys []struct{ Kty, Crv, X, Y, Kid, Alg, D string }
	}
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		return out, err
	}
	sig, err := b64(parts[2])
	if err != nil {
		return out, err
	}
	signed := []byte(parts[0] + "." + parts[1])
	verified := false
	for _, k := range set.Keys {
		if k.D != "" {
			return out, errors.New("the JWKS publishes a private key")
		}
		if k.Kid != hdr.Kid {
			continue
		}
		x, _ := b64(k.X)
		switch {
		case hdr.Alg == "EdDSA" && k.Kty == "OKP" && k.Crv == "Ed25519":
			verified = len(x) == ed25519.PublicKeySize && ed25519.Verify(ed25519.PublicKey(x), signed, sig)
		case hdr.Alg == "ES256" && k.Kty == "EC" && k.Crv == "P-256" && len(sig) == 64:
			y, _ := b64(k.Y)
			pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
			h := sha256Sum(signed)
			verified = ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
		}
	}
	if !verified {
		return out, fmt.Errorf("signature (alg %s, kid %s) does not verify against the JWKS", hdr.Alg, hdr.Kid)
	}
	pb, err := b64(parts[1])
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(pb, &out.Claims); err != nil {
		return out, err
	}
	c := out.Claims
	if c["iss"] != issuer || c["aud"] != audience {
		return out, fmt.Errorf("iss %v aud %v, want %s %s", c["iss"], c["aud"], issuer, audience)
	}
	if jti, _ := c["jti"].(string); jti == "" {
		return out, errors.New("no jti")
	}
	if _, ok := c["iat"].(float64); !ok {
		return out, errors.New("no iat")
	}
	if _, ok := c["sub_id"].(map[string]any); !ok {
		return out, errors.New("no sub_id (SSF 1.0 §4.1)")
	}
	if _, ok := c["exp"]; ok {
		return out, errors.New("a SET has no exp (RFC 8417 §2.2)")
	}
	events, _ := c["events"].(map[string]any)
	if len(events) != 1 {
		return out, fmt.Errorf("events holds %d events, want exactly one (SSF 1.0)", len(events))
	}
	for typ, ev := range events {
		out.Type, out.Event = typ, ev.(map[string]any)
	}
	out.Kid, out.Alg = hdr.Kid, hdr.Alg
	return out, nil
}

// ssfCall sends a stream-management request with a receiver's token ("" for none).
func ssfCall(t *testing.T, base, token, method, path string, body any) (int, any) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, base+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	for _, m := range leaksIn(string(raw)) {
		t.Errorf("%s %s leaks %q: %s", method, path, m, raw)
	}
	var v any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s %s: %d body is not JSON: %s", method, path, res.StatusCode, raw)
		}
	}
	if res.StatusCode >= 400 {
		m, _ := v.(map[string]any)
		if e, _ := m["err"].(string); e == "" || m["description"] == nil || len(m) != 2 {
			t.Errorf("%s %s: %d error is not {err, description}: %s", method, path, res.StatusCode, raw)
		}
	}
	return res.StatusCode, v
}

func types(sets []receivedSET) []string {
	out := []string{}
	for _, s := range sets {
		out = append(out, s.Type)
	}
	return out
}

// bySubject lists the types received per subject (the user's e-mail, else the tenant),
// in the order they arrived.
func bySubject(sets []receivedSET) map[string][]string {
	out := map[string][]string{}
	for _, s := range sets {
		k, _ := at(s.Claims, "sub_id", "user", "email").(string)
		if k == "" {
			k, _ = at(s.Claims, "sub_id", "tenant", "id").(string)
		}
		out[k] = append(out[k], s.Type)
	}
	return out
}

func pushOnce(t *testing.T, p *ssf.Pusher) ssf.Result {
	t.Helper()
	res, err := p.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestSharedSignals drives the transmitter through the real server on each engine,
// with receivers written from the RFCs on 127.0.0.1: discovery and keys, stream
// management, SETs for each change (in order, signed, verifiable against the published
// JWKS, nothing for a rolled-back change), push retries, poll with acknowledgements,
// subjects, status, verification, key rotation, and bad requests that change nothing.
func TestSharedSignals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env, keys, keyPath := newE2ESSF(t, db)
		base := env.srv.URL
		sc := env.connect("acme", "okta")
		_, ops := env.operators(t, "ops")
		oper := ops[0]
		streams := ssfStreams(db)
		rcv, token, err := streams.AddReceiver(context.Background(), "crm", "https://crm.example", "")
		if err != nil {
			t.Fatal(err)
		}
		_, otherToken, err := streams.AddReceiver(context.Background(), "wiki", "", sc.conn.ID)
		if err != nil {
			t.Fatal(err)
		}

		// Discovery and keys.
		st, v := ssfCall(t, base, "", "GET", "/.well-known/ssf-configuration", nil)
		cfg, _ := v.(map[string]any)
		if st != 200 || cfg["issuer"] != base || cfg["jwks_uri"] != base+"/ssf/jwks" ||
			cfg["configuration_endpoint"] != base+"/ssf/stream" || cfg["status_endpoint"] != base+"/ssf/status" ||
			cfg["verification_endpoint"] != base+"/ssf/verify" || cfg["add_subject_endpoint"] == nil ||
			!reflect.DeepEqual(cfg["delivery_methods_supported"], []any{ssf.PushMethod, ssf.PollMethod}) {
			t.Fatalf("configuration: %d %v", st, v)
		}
		jwksURI := cfg["jwks_uri"].(string)
		if st, v := ssfCall(t, base, "", "GET", "/ssf/jwks", nil); st != 200 || len(at(v, "keys").([]any)) != 1 {
			t.Fatalf("jwks: %d %v", st, v)
		}

		// A push stream and a poll stream.
		recv := newSETReceiver(t, jwksURI, base, "https://crm.example", "Bearer rcv-secret")
		st, v = ssfCall(t, base, token, "POST", "/ssf/stream", map[string]any{
			"delivery": map[string]any{"method": ssf.PushMethod, "endpoint_url": recv.srv.URL + "/events",
				"authorization_header": "Bearer rcv-secret"},
			"events_requested": append(append([]string{}, ssf.Supported...), "https://example.com/unknown"),
			"description":      "crm push"})
		if st != 201 {
			t.Fatalf("create push stream: %d %v", st, v)
		}
		push := v.(map[string]any)
		pushID := push["stream_id"].(string)
		if push["iss"] != base || push["aud"] != "https://crm.example" || at(push, "delivery", "authorization_header") != nil ||
			len(push["events_delivered"].([]any)) != len(ssf.Supported) || len(push["events_requested"].([]any)) != len(ssf.Supported)+1 {
			t.Fatalf("push stream: %v", push)
		}
		st, v = ssfCall(t, base, token, "POST", "/ssf/stream", map[string]any{
			"delivery":         map[string]any{"method": ssf.PollMethod},
			"events_requested": []string{ssf.AccountDisabled, ssf.SessionRevoked}})
		if st != 201 {
			t.Fatalf("create poll stream: %d %v", st, v)
		}
		pollID := field(v, "stream_id")
		if field(v, "delivery", "endpoint_url") != base+"/ssf/poll/"+pollID {
			t.Fatalf("poll endpoint: %v", v)
		}
		if st, v := ssfCall(t, base, token, "GET", "/ssf/stream", nil); st != 200 || len(v.([]any)) != 2 {
			t.Fatalf("list streams: %d %v", st, v)
		}

		p := &ssf.Pusher{Outbox: db.SSF(), Keys: keys, Issuer: base, Now: env.clock.Now, BaseDelay: time.Second, MaxDelay: time.Second}

		// SCIM changes give SETs, in order, about the right subject.
		ann := sc.create(map[string]any{"userName": "ann@acme.example"})["id"].(string)
		bob := sc.create(map[string]any{"userName": "bob@acme.example"})["id"].(string)
		if res := pushOnce(t, p); res.Delivered != 0 {
			t.Fatalf("creating users sent %+v", res)
		}
		sc.patch(ann, op("replace", "active", false)).must(t, 200)
		pushOnce(t, p)
		got := recv.take()
		if want := []string{ssf.AccountDisabled, ssf.SessionRevoked}; !reflect.DeepEqual(types(got), want) {
			t.Fatalf("deactivation sent %v, want %v", types(got), want)
		}
		if got[0].Claims["jti"] == got[1].Claims["jti"] {
			t.Fatalf("two SETs share the jti %v", got[0].Claims["jti"])
		}
		wantSub := map[string]any{"format": "complex", "user": map[string]any{"format": "email", "email": "ann@acme.example"},
			"tenant": map[string]any{"format": "opaque", "id": "acme"}}
		for _, s := range got {
			if !reflect.DeepEqual(s.Claims["sub_id"], wantSub) || s.Event["event_timestamp"] == nil {
				t.Errorf("%s: sub_id %v event %v", s.Type, s.Claims["sub_id"], s.Event)
			}
			if s.Claims["txn"] != got[0].Claims["txn"] {
				t.Errorf("SETs of one change carry different txn: %v %v", s.Claims["txn"], got[0].Claims["txn"])
			}
		}
		sc.patch(ann, op("replace", "userName", "ann.smith@acme.example")).must(t, 200)
		sc.patch(ann, op("replace", "active", true)).must(t, 200)
		pushOnce(t, p)
		got = recv.take()
		if want := []string{ssf.IdentifierChanged, ssf.AccountEnabled}; !reflect.DeepEqual(types(got), want) {
			t.Fatalf("rename and reactivation sent %v, want %v", types(got), want)
		}
		if at(got[0].Claims, "sub_id", "user", "email") != "ann@acme.example" || got[0].Event["new-value"] != "ann.smith@acme.example" ||
			at(got[1].Claims, "sub_id", "user", "email") != "ann.smith@acme.example" {
			t.Errorf("identifier-changed is about the old identifier with the new value: %v %v; then %v",
				got[0].Claims["sub_id"], got[0].Event, got[1].Claims["sub_id"])
		}

		// A change that rolls back queues nothing.
		boom := errors.New("boom")
		err = db.InTx(context.Background(), func(ctx context.Context) error {
			e := audit.New(ctx, time.Time{}, "user.delete", "user", bob)
			e.ConnectionID = sc.conn.ID
			if err := db.Audit().Record(ctx, e); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if res := pushOnce(t, p); res.Delivered != 0 || len(recv.take()) != 0 {
			t.Fatalf("a rolled-back change was sent: %+v", res)
		}

		// Retries keep the stream's order: the second SET waits behind the first.
		recv.mu.Lock()
		recv.fail = 1
		recv.mu.Unlock()
		sc.patch(bob, op("replace", "active", false)).must(t, 200)
		if res := pushOnce(t, p); res.Retrying != 1 || res.Delivered != 0 {
			t.Fatalf("first attempt against a failing receiver: %+v", res)
		}
		env.clock.advance(2 * time.Second)
		pushOnce(t, p)
		if got := recv.take(); !reflect.DeepEqual(types(got), []string{ssf.AccountDisabled, ssf.SessionRevoked}) {
			t.Fatalf("after the retry: %v", types(got))
		}

		// A removed subject gets nothing on that stream, until it is added back.
		bobSub := map[string]any{"format": "email", "email": "BOB@acme.example"}
		if st, v := ssfCall(t, base, token, "POST", "/ssf/subjects/remove", map[string]any{"stream_id": pushID, "subject": bobSub}); st != 204 {
			t.Fatalf("remove subject: %d %v", st, v)
		}
		sc.patch(bob, op("replace", "active", true)).must(t, 200)
		pushOnce(t, p)
		if got := recv.take(); len(got) != 0 {
			t.Fatalf("a removed subject's SETs were sent: %v", types(got))
		}
		if st, v := ssfCall(t, base, token, "POST", "/ssf/subjects/add", map[string]any{"stream_id": pushID, "subject": bobSub}); st != 200 {
			t.Fatalf("add subject: %d %v", st, v)
		}

		// A grant revoked, a user deleted, a relationship ended.
		oper.post("/roles", map[string]any{"key": "viewer", "permissions": []string{"billing.read"}}).must(t, 201)
		g := oper.post("/grants", map[string]any{"connection": "acme", "user_id": bob, "role": "viewer", "org": "acme",
			"reason": "onboarding"}).must(t, 201).JSON
		oper.call("DELETE", "/grants/"+field(g, "id"), map[string]any{"reason": "left the project"}).must(t, 200)
		sc.do("DELETE", "/Users/"+ann, nil).must(t, 204)
		oper.post("/orgs", map[string]any{"name": "Globex", "slug": "globex"}).must(t, 201)
		oper.call("PATCH", "/orgs/globex", map[string]any{"status": "ended"}).must(t, 200)
		pushOnce(t, p)
		got = recv.take()
		// SETs about different subjects may overtake each other; about one, never.
		subj := bySubject(got)
		if want := map[string][]string{"bob@acme.example": {ssf.GrantRevoked},
			"ann.smith@acme.example": {ssf.SessionRevoked, ssf.AccountPurged}, "globex": {ssf.RelationshipEnded}}; !reflect.DeepEqual(subj, want) {
			t.Fatalf("grant, delete, org ended sent %v, want %v", subj, want)
		}
		for _, s := range got {
			switch s.Type {
			case ssf.GrantRevoked:
				if s.Event["grant"] != field(g, "id") || s.Event["org"] != "acme" || s.Event["role"] == "" {
					t.Errorf("grant-revoked %v", s.Event)
				}
			case ssf.RelationshipEnded:
				if !reflect.DeepEqual(s.Claims["sub_id"], map[string]any{"format": "complex",
					"tenant": map[string]any{"format": "opaque", "id": "globex"}}) || s.Event["status"] != "ended" {
					t.Errorf("relationship-ended %v %v", s.Claims["sub_id"], s.Event)
				}
			}
		}

		// Poll: only the requested types, acknowledged or refused; unacknowledged ones
		// come back after their lease.
		st, v = ssfCall(t, base, token, "POST", "/ssf/poll/"+pollID, map[string]any{"returnImmediately": true, "maxEvents": 3})
		sets, _ := at(v, "sets").(map[string]any)
		if st != 200 || len(sets) != 3 || at(v, "moreAvailable") != true {
			t.Fatalf("first poll: %d %v", st, v)
		}
		var jtis []string
		for jti, tok := range sets {
			s, err := verifySET(tok.(string), jwksURI, base, "https://crm.example")
			if err != nil || s.Claims["jti"] != jti || (s.Type != ssf.AccountDisabled && s.Type != ssf.SessionRevoked) {
				t.Fatalf("polled SET %s: %v %v", jti, err, s)
			}
			jtis = append(jtis, jti)
		}
		st, v = ssfCall(t, base, token, "POST", "/ssf/poll/"+pollID, map[string]any{"returnImmediately": true,
			"ack": jtis[:2], "setErrs": map[string]any{jtis[2]: map[string]any{"err": "invalid_request", "description": "test"}}})
		sets, _ = at(v, "sets").(map[string]any)
		// ann's deactivation (2), bob's (2) and ann's deletion (session-revoked): 5 in all.
		if st != 200 || len(sets) != 2 || at(v, "moreAvailable") != nil {
			t.Fatalf("second poll: %d %v", st, v)
		}
		for jti := range sets {
			for _, old := range jtis {
				if jti == old {
					t.Fatalf("an acknowledged or refused SET came back: %s", jti)
				}
			}
		}
		if st, v := ssfCall(t, base, token, "POST", "/ssf/poll/"+pollID, map[string]any{"returnImmediately": true}); st != 200 || len(at(v, "sets").(map[string]any)) != 0 {
			t.Fatalf("leased SETs came back early: %v", v)
		}
		env.clock.advance(ssf.DefaultPollLease + time.Second)
		st, v = ssfCall(t, base, token, "POST", "/ssf/poll/"+pollID, map[string]any{"returnImmediately": true})
		again, _ := at(v, "sets").(map[string]any)
		if st != 200 || len(again) != 2 {
			t.Fatalf("unacknowledged SETs after their lease: %v", v)
		}
		// A long poll (no returnImmediately) acknowledges, then waits for the next SETs.
		var acks []string
		for jti := range again {
			acks = append(acks, jti)
		}
		polled := make(chan any, 1)
		go func() {
			_, v := ssfCall(t, base, token, "POST", "/ssf/poll/"+pollID, map[string]any{"ack": acks})
			polled <- v
		}()
		time.Sleep(200 * time.Millisecond) // let the poll start waiting; correctness does not depend on it
		sc.patch(bob, op("replace", "active", false)).must(t, 200)
		v = <-polled
		if sets, _ := at(v, "sets").(map[string]any); len(sets) != 2 {
			t.Fatalf("long poll: %v", v)
		}
		sc.patch(bob, op("replace", "active", true)).must(t, 200)
		pushOnce(t, p)
		if got := bySubject(recv.take()); !reflect.DeepEqual(got, map[string][]string{
			"bob@acme.example": {ssf.AccountDisabled, ssf.SessionRevoked, ssf.AccountEnabled}}) {
			t.Fatalf("push while polled: %v", got)
		}

		// Verification, and a paused stream holds its SETs.
		if st, v := ssfCall(t, base, token, "POST", "/ssf/verify", map[string]any{"stream_id": pushID, "state": "xyz"}); st != 204 {
			t.Fatalf("verify: %d %v", st, v)
		}
		pushOnce(t, p)
		got = recv.take()
		if len(got) != 1 || got[0].Type != ssf.Verification || got[0].Event["state"] != "xyz" ||
			!reflect.DeepEqual(got[0].Claims["sub_id"], map[string]any{"format": "opaque", "id": pushID}) {
			t.Fatalf("verification: %v", got)
		}
		// min_verification_interval (SSF 1.0 §8.1.1) is published and enforced: a second
		// request within it is refused and queues nothing; after it, it is served.
		if _, v := ssfCall(t, base, token, "GET", "/ssf/stream?stream_id="+pushID, nil); at(v, "min_verification_interval") != float64(30) {
			t.Fatalf("stream config without min_verification_interval 30: %v", v)
		}
		if st, v := ssfCall(t, base, token, "POST", "/ssf/verify", map[string]any{"stream_id": pushID, "state": "again"}); st != 429 || field(v, "err") != "rate_limited" {
			t.Fatalf("verify within min_verification_interval: %d %v", st, v)
		}
		if pushOnce(t, p); len(recv.take()) != 0 {
			t.Fatal("a refused verification request queued a SET")
		}
		env.clock.advance(31 * time.Second)
		if st, v := ssfCall(t, base, token, "POST", "/ssf/verify", map[string]any{"stream_id": pushID, "state": "later"}); st != 204 {
			t.Fatalf("verify after min_verification_interval: %d %v", st, v)
		}
		pushOnce(t, p)
		if got = recv.take(); len(got) != 1 || got[0].Event["state"] != "later" {
			t.Fatalf("verification after the interval: %v", got)
		}
		if st, v := ssfCall(t, base, token, "POST", "/ssf/status", map[string]any{"stream_id": pushID, "status": "paused", "reason": "maintenance"}); st != 200 || field(v, "status") != "paused" {
			t.Fatalf("pause: %d %v", st, v)
		}
		sc.patch(bob, op("replace", "active", false)).must(t, 200)
		if pushOnce(t, p); len(recv.take()) != 0 {
			t.Fatal("a paused stream was pushed to")
		}
		ssfCall(t, base, token, "POST", "/ssf/status", map[string]any{"stream_id": pushID, "status": "enabled"})
		pushOnce(t, p)
		if got := recv.take(); !reflect.DeepEqual(types(got), []string{ssf.AccountDisabled, ssf.SessionRevoked}) {
			t.Fatalf("a paused stream's held SETs after enabling: %v", types(got))
		}

		// Key rotation: new SETs carry the new key, the old one stays published.
		oldKid := got[0].Kid
		if _, err := ssf.RotateKey(keyPath, ssf.ES256, time.Hour, env.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if st, v := ssfCall(t, base, "", "GET", "/ssf/jwks", nil); st != 200 || len(at(v, "keys").([]any)) != 2 || field(v, "keys", 1, "kid") != oldKid {
			t.Fatalf("jwks after rotation: %v", v)
		}
		sc.patch(bob, op("replace", "active", true)).must(t, 200)
		pushOnce(t, p)
		if got := recv.take(); len(got) != 1 || got[0].Alg != "ES256" || got[0].Kid == oldKid {
			t.Fatalf("after rotation: %v", got)
		}

		// Bad requests: the right status, an RFC 8935 error, nothing changed.
		_, before := ssfCall(t, base, token, "GET", "/ssf/stream", nil)
		otherStream := func() string {
			_, v := ssfCall(t, base, otherToken, "POST", "/ssf/stream", map[string]any{"delivery": map[string]any{"method": ssf.PollMethod}})
			return field(v, "stream_id")
		}()
		for _, c := range []struct {
			name, token, method, path string
			body                      any
			status                    int
			err                       string
		}{
			{"no token", "", "GET", "/ssf/stream", nil, 401, "authentication_failed"},
			{"wrong token", "ossf_nope", "GET", "/ssf/stream", nil, 401, "authentication_failed"},
			{"not JSON", token, "POST", "/ssf/stream", "{", 400, "invalid_request"},
			{"an array", token, "POST", "/ssf/stream", "[]", 400, "invalid_request"},
			{"no delivery", token, "POST", "/ssf/stream", map[string]any{}, 400, "invalid_request"},
			{"unknown method", token, "POST", "/ssf/stream", map[string]any{"delivery": map[string]any{"method": "urn:x"}}, 400, "invalid_request"},
			{"push without URL", token, "POST", "/ssf/stream", map[string]any{"delivery": map[string]any{"method": ssf.PushMethod}}, 400, "invalid_request"},
			{"push to ftp", token, "POST", "/ssf/stream", map[string]any{"delivery": map[string]any{"method": ssf.PushMethod, "endpoint_url": "ftp://x"}}, 400, "invalid_request"},
			{"stream_id on create", token, "POST", "/ssf/stream", map[string]any{"stream_id": "x", "delivery": map[string]any{"method": ssf.PollMethod}}, 400, "invalid_request"},
			{"events not strings", token, "PATCH", "/ssf/stream", map[string]any{"stream_id": pushID, "events_requested": []int{1}}, 400, "invalid_request"},
			{"update without id", token, "PATCH", "/ssf/stream", map[string]any{"description": "x"}, 400, "invalid_request"},
			{"update bad URL", token, "PATCH", "/ssf/stream", map[string]any{"stream_id": pushID, "delivery": map[string]any{"endpoint_url": "http://u:p@h/"}}, 400, "invalid_request"},
			{"replace without method", token, "PUT", "/ssf/stream", map[string]any{"stream_id": pushID, "description": "x"}, 400, "invalid_request"},
			{"unknown stream", token, "GET", "/ssf/stream?stream_id=nope", nil, 404, "not_found"},
			{"another receiver's stream", token, "GET", "/ssf/stream?stream_id=" + otherStream, nil, 404, "not_found"},
			{"delete another's", token, "DELETE", "/ssf/stream?stream_id=" + otherStream, nil, 404, "not_found"},
			{"delete without id", token, "DELETE", "/ssf/stream", nil, 400, "invalid_request"},
			{"bad status", token, "POST", "/ssf/status", map[string]any{"stream_id": pushID, "status": "on"}, 400, "invalid_request"},
			{"status without id", token, "GET", "/ssf/status", nil, 400, "invalid_request"},
			{"subject without format", token, "POST", "/ssf/subjects/remove", map[string]any{"stream_id": pushID, "subject": map[string]any{"email": "x"}}, 400, "invalid_request"},
			{"email subject without email", token, "POST", "/ssf/subjects/remove", map[string]any{"stream_id": pushID, "subject": map[string]any{"format": "email"}}, 400, "invalid_request"},
			{"subject not an object", token, "POST", "/ssf/subjects/add", map[string]any{"stream_id": pushID, "subject": "bob"}, 400, "invalid_request"},
			{"verify unknown", token, "POST", "/ssf/verify", map[string]any{"stream_id": "nope"}, 404, "not_found"},
			{"poll a push stream", token, "POST", "/ssf/poll/" + pushID, map[string]any{"returnImmediately": true}, 400, "invalid_request"},
			{"poll negative max", token, "POST", "/ssf/poll/" + pollID, map[string]any{"maxEvents": -1}, 400, "invalid_request"},
			{"poll setErr without err", token, "POST", "/ssf/poll/" + pollID, map[string]any{"returnImmediately": true, "setErrs": map[string]any{"x": map[string]any{}}}, 400, "invalid_request"},
			{"poll another's stream", token, "POST", "/ssf/poll/" + otherStream, map[string]any{"returnImmediately": true}, 404, "not_found"},
		} {
			st, v := ssfCall(t, base, c.token, c.method, c.path, c.body)
			if st != c.status || field(v, "err") != c.err {
				t.Errorf("%s: %d %v, want %d %s", c.name, st, v, c.status, c.err)
			}
		}
		if _, after := ssfCall(t, base, token, "GET", "/ssf/stream", nil); !reflect.DeepEqual(before, after) {
			t.Errorf("bad requests changed the streams:\n%v\n%v", before, after)
		}
		if st, v := ssfCall(t, base, token, "GET", "/ssf/status?stream_id="+pushID, nil); st != 200 || field(v, "status") != "enabled" {
			t.Errorf("status after bad requests: %v", v)
		}

		// Update, replace and delete.
		st, v = ssfCall(t, base, token, "PATCH", "/ssf/stream", map[string]any{"stream_id": pushID, "description": "renamed"})
		if st != 200 || field(v, "description") != "renamed" || field(v, "delivery", "endpoint_url") != recv.srv.URL+"/events" {
			t.Fatalf("patch: %d %v", st, v)
		}
		st, v = ssfCall(t, base, token, "PUT", "/ssf/stream", map[string]any{"stream_id": pushID,
			"delivery": map[string]any{"method": ssf.PollMethod}, "events_requested": []string{ssf.AccountPurged}})
		if st != 200 || field(v, "description") != "" || field(v, "delivery", "method") != ssf.PollMethod ||
			!reflect.DeepEqual(at(v, "events_delivered"), []any{ssf.AccountPurged}) {
			t.Fatalf("put: %d %v", st, v)
		}
		if st, v := ssfCall(t, base, token, "DELETE", "/ssf/stream?stream_id="+pushID, nil); st != 204 {
			t.Fatalf("delete: %d %v", st, v)
		}
		if st, _ := ssfCall(t, base, token, "GET", "/ssf/stream?stream_id="+pushID, nil); st != 404 {
			t.Fatalf("deleted stream reads %d", st)
		}

		// A revoked receiver's token stops working.
		if _, err := streams.RevokeReceiver(context.Background(), rcv.ID); err != nil {
			t.Fatal(err)
		}
		if st, _ := ssfCall(t, base, token, "GET", "/ssf/stream", nil); st != 401 {
			t.Fatalf("revoked receiver: %d", st)
		}
	})
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
