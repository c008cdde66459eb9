package domaincheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/orgscim/orgscim/domains"
)

// DNS proves a claim by a TXT record at domains.RecordName.
type DNS struct {
	// Resolver is host:port of the DNS server to ask; empty means the first
	// nameserver of /etc/resolv.conf.
	Resolver string
	Timeout  time.Duration // 0 means 5s
}

func (DNS) Method() string { return "dns" }

func (d DNS) server() (string, error) {
	if d.Resolver != "" {
		return d.Resolver, nil
	}
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(conf.Servers) == 0 {
		return "", fmt.Errorf("no system resolver: %v", err)
	}
	return net.JoinHostPort(conf.Servers[0], conf.Port), nil
}

// Proves asks for the TXT records; NXDOMAIN or no matching record is a negative
// answer, a failure to reach the resolver an error.
func (d DNS) Proves(ctx context.Context, domain, token string) (bool, error) {
	server, err := d.server()
	if err != nil {
		return false, err
	}
	timeout := d.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(domains.RecordName(domain)), dns.TypeTXT)
	m.RecursionDesired = true
	c := &dns.Client{Timeout: timeout}
	in, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return false, err
	}
	if in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError {
		return false, fmt.Errorf("resolver answered %s", dns.RcodeToString[in.Rcode])
	}
	want := domains.RecordValue(token)
	for _, rr := range in.Answer {
		if txt, ok := rr.(*dns.TXT); ok && strings.Join(txt.Txt, "") == want {
			return true, nil
		}
	}
	return false, nil
}

// HTTPS proves a claim by the body of https://<domain>/.well-known/orgscim-domain-verification.
type HTTPS struct {
	Roots *x509.CertPool // nil means the system pool
	// Dial, when set, replaces the dialer (tests point every domain at 127.0.0.1).
	Dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	Timeout time.Duration // 0 means 5s
}

func (HTTPS) Method() string { return "https" }

// maxBody bounds what is read of the file: a token, not a page.
const maxBody = 4096

func (h HTTPS) Proves(ctx context.Context, domain, token string) (bool, error) {
	timeout := h.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	dial := h.Dial
	if dial == nil {
		dial = publicDialer(timeout)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.Roots, MinVersion: tls.VersionTLS12}, DialContext: dial,
		Proxy: nil}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: timeout,
		// A redirect could point at a host the claimer does not control for the domain.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+domain+domains.WellKnownPath, nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(b)) == token, nil
}

// publicDialer dials only public addresses: the domain is whatever a claimer typed, and
// the check must not become a way to probe the server's own network (loopback, private,
// link-local and unspecified addresses are refused after resolution).
func publicDialer(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip := net.ParseIP(host)
		if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
			ip.IsUnspecified() || ip.IsMulticast() {
			return fmt.Errorf("%s is not a public address", host)
		}
		return nil
	}}
	return d.DialContext
}
