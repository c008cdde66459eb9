package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/orgscim/orgscim/ssf"
)

// ssfProbe measures time to revoke during `orgscim load`: a Shared Signals push
// receiver on 127.0.0.1 with a stream of account-disabled events, which records when the
// SET of each deactivated user arrives (verified against the transmitter's JWKS, as a
// real receiver would), against when its deactivation was sent.
type ssfProbe struct {
	base, token, streamID string
	client                *http.Client
	srv                   *http.Server
	jwks                  jose.JSONWebKeySet

	mu       sync.Mutex
	sent     map[string]time.Time // e-mail → when the deactivation was sent
	answered map[string]time.Time // e-mail → when the server answered it (committed)
	received map[string]time.Time
	invalid  int
	arrived  chan struct{}
}

// startSSFProbe starts the receiver and creates its push stream on the server of the
// SCIM base URL scimBase, with a receiver token.
func startSSFProbe(ctx context.Context, scimBase, token string, client *http.Client) (*ssfProbe, error) {
	u, err := url.Parse(scimBase)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("load: --url %q is not a URL", scimBase)
	}
	p := &ssfProbe{base: u.Scheme + "://" + u.Host, token: token, client: client,
		sent: map[string]time.Time{}, answered: map[string]time.Time{}, received: map[string]time.Time{}, arrived: make(chan struct{}, 1)}
	var cfg ssf.Configuration
	if err := p.call(ctx, "GET", ssf.ConfigurationPath, nil, &cfg, http.StatusOK); err != nil {
		return nil, fmt.Errorf("load: the server serves no Shared Signals transmitter: %w", err)
	}
	if err := p.call(ctx, "GET", strings.TrimPrefix(cfg.JWKSURI, p.base), nil, &p.jwks, http.StatusOK); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.push), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	var st ssf.StreamConfig
	err = p.call(ctx, "POST", ssf.StreamPath, map[string]any{
		"delivery":         map[string]any{"method": ssf.PushMethod, "endpoint_url": "http://" + ln.Addr().String() + "/events"},
		"events_requested": []string{ssf.AccountDisabled}, "description": "orgscim load: time to revoke"},
		&st, http.StatusCreated)
	if err != nil {
		p.srv.Close()
		return nil, fmt.Errorf("load: create the SSF stream: %w", err)
	}
	p.streamID = st.StreamID
	return p, nil
}

func (p *ssfProbe) call(ctx context.Context, method, path string, body, out any, want int) error {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %s", method, path, res.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (p *ssfProbe) push(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	email, err := p.verify(string(body))
	if err != nil {
		p.mu.Lock()
		p.invalid++
		p.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"err":"invalid_key","description":%q}`, err.Error())
		return
	}
	p.mu.Lock()
	if _, ok := p.received[email]; !ok {
		p.received[email] = at
	}
	p.mu.Unlock()
	select {
	case p.arrived <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusAccepted)
}

// verify checks a SET's signature against the JWKS and returns its user's e-mail.
func (p *ssfProbe) verify(token string) (string, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	if err != nil {
		return "", err
	}
	keys := p.jwks.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) == 0 {
		return "", errors.New("unknown kid")
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return "", err
	}
	var c struct {
		SubID struct {
			User struct{ Email string } `json:"user"`
		} `json:"sub_id"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.SubID.User.Email == "" {
		return "", errors.New("no user e-mail in sub_id")
	}
	return strings.ToLower(c.SubID.User.Email), nil
}

// deactivating records that the deactivation of the user with e-mail is being sent now.
func (p *ssfProbe) deactivating(email string) {
	p.mu.Lock()
	p.sent[strings.ToLower(email)] = time.Now()
	p.mu.Unlock()
}

// deactivated records that the server answered the deactivation: it has committed.
func (p *ssfProbe) deactivated(email string) {
	p.mu.Lock()
	p.answered[strings.ToLower(email)] = time.Now()
	p.mu.Unlock()
}

// result waits, at most wait, for the SET of every deactivation sent, and returns the
// time to revoke: p50, p99 and max from sending the SCIM PATCH to receiving its SET.
// Errors counts the SETs that did not arrive (and the ones that failed to verify).
func (p *ssfProbe) result(ctx context.Context, wait time.Duration) (total, afterAnswer phaseResult) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	start := time.Now()
	for {
		p.mu.Lock()
		done := len(p.received) >= len(p.sent)
		p.mu.Unlock()
		if done {
			break
		}
		select {
		case <-p.arrived:
			continue
		case <-time.After(50 * time.Millisecond):
			continue
		case <-deadline.C:
		case <-ctx.Done():
		}
		break
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	total = p.percentiles(p.sent, start, wait,
		"time to revoke: SCIM PATCH active=false sent → RISC account-disabled SET received and verified by a push receiver on 127.0.0.1")
	afterAnswer = p.percentiles(p.answered, start, wait,
		"SET delivery: the server's answer to the PATCH (committed) → the SET received and verified")
	return total, afterAnswer
}

func (p *ssfProbe) percentiles(from map[string]time.Time, start time.Time, wait time.Duration, desc string) phaseResult {
	var lat []time.Duration
	for email, t := range from {
		if got, ok := p.received[email]; ok {
			lat = append(lat, got.Sub(t))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res := phaseResult{Requests: len(lat), Errors: len(from) - len(lat) + p.invalid, Seconds: time.Since(start).Seconds(),
		Description: fmt.Sprintf("%s (%d deactivations)", desc, len(from))}
	if n := len(lat); n > 0 {
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		res.P50ms, res.P99ms, res.MaxMs = ms(lat[n/2]), ms(lat[min(n-1, n*99/100)]), ms(lat[n-1])
	}
	if res.Errors > 0 {
		res.FirstError = fmt.Sprintf("%d SET(s) not received within %s, %d failed to verify", len(from)-len(lat), wait, p.invalid)
	}
	return res
}

// close deletes the stream and stops the receiver.
func (p *ssfProbe) close(ctx context.Context) {
	_ = p.call(ctx, "DELETE", ssf.StreamPath+"?stream_id="+url.QueryEscape(p.streamID), nil, nil, http.StatusNoContent)
	_ = p.srv.Close()
}
