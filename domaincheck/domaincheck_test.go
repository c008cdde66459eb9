package domaincheck

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// txtServer is a real DNS server on 127.0.0.1 answering TXT from a map.
type txtServer struct {
	mu      sync.Mutex
	records map[string]string // fqdn -> TXT value
}

func startDNS(t *testing.T, records map[string]string) (string, *txtServer) {
	t.Helper()
	ts := &txtServer{records: records}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		ts.mu.Lock()
		v, ok := ts.records[strings.ToLower(r.Question[0].Name)]
		ts.mu.Unlock()
		if !ok {
			m.Rcode = dns.RcodeNameError
		} else {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{v}})
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String(), ts
}

func TestDNSProof(t *testing.T) {
	addr, _ := startDNS(t, map[string]string{
		"_orgscim-challenge.acme.example.":  "orgscim-verification=tok1",
		"_orgscim-challenge.other.example.": "orgscim-verification=wrong",
	})
	d := DNS{Resolver: addr}
	for _, tc := range []struct {
		domain, token string
		want          bool
	}{
		{"acme.example", "tok1", true},
		{"acme.example", "tok2", false},
		{"other.example", "tok1", false},
		{"missing.example", "tok1", false},
	} {
		got, err := d.Proves(context.Background(), tc.domain, tc.token)
		if err != nil || got != tc.want {
			t.Errorf("%s/%s: got %v, %v; want %v", tc.domain, tc.token, got, err, tc.want)
		}
	}
	// A resolver that does not answer is an error, not a negative answer.
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	silent := pc.LocalAddr().String()
	defer pc.Close()
	if _, err := (DNS{Resolver: silent, Timeout: 200e6}).Proves(context.Background(), "acme.example", "tok1"); err == nil {
		t.Error("silent resolver: no error")
	}
}

func TestHTTPSProof(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/orgscim-domain-verification" {
			http.NotFound(w, r)
			return
		}
		if r.Host == "acme.example.com" {
			_, _ = w.Write([]byte("tok1\n"))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	to127 := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	h := HTTPS{Roots: pool, Dial: to127}
	// httptest's certificate holds *.example.com: the test domains live under it.
	for _, tc := range []struct {
		domain, token string
		want          bool
	}{
		{"acme.example.com", "tok1", true},
		{"acme.example.com", "tok2", false},
		{"other.example.com", "tok1", false},
	} {
		got, err := h.Proves(context.Background(), tc.domain, tc.token)
		if err != nil || got != tc.want {
			t.Errorf("%s/%s: got %v, %v; want %v", tc.domain, tc.token, got, err, tc.want)
		}
	}
	// Without a dialer of its own the check refuses the server's own network.
	if ok, err := (HTTPS{Roots: pool}).Proves(context.Background(), "localhost", "tok1"); err == nil || ok || !strings.Contains(err.Error(), "not a public address") {
		t.Errorf("loopback: %v, %v", ok, err)
	}
	// Without the pool the certificate is not trusted: an error, never a proof.
	if ok, err := (HTTPS{Dial: to127}).Proves(context.Background(), "acme.example.com", "tok1"); err == nil || ok {
		t.Errorf("untrusted certificate: %v, %v", ok, err)
	}
}
