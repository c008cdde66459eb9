package scim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

// heldAuth is an Authenticator that counts the requests inside it and keeps each until
// release is closed, then refuses it; the token "pass" it lets through at once.
type heldAuth struct {
	inside, most atomic.Int32
	entered      chan struct{}
	release      chan struct{}
}

func (a *heldAuth) AuthenticateToken(ctx context.Context, _, secret string) (*orgs.Connection, *orgs.Token, error) {
	if secret == "pass" {
		return &orgs.Connection{ID: "c1", Slug: "acme", Status: "active"}, &orgs.Token{ID: "t1"}, nil
	}
	n := a.inside.Add(1)
	for m := a.most.Load(); n > m && !a.most.CompareAndSwap(m, n); m = a.most.Load() {
	}
	a.entered <- struct{}{}
	<-a.release
	a.inside.Add(-1)
	return nil, nil, orgscim.Errorf(orgscim.Unauthorized, "no")
}

// TestInFlightBoundsTheRequestsServed sends ten requests to a server that serves two at
// once: two get in, the others wait (none is refused), and all are answered once the
// two in flight finish.
func TestInFlightBoundsTheRequestsServed(t *testing.T) {
	auth := &heldAuth{entered: make(chan struct{}, 10), release: make(chan struct{})}
	s := &Server{Auth: auth, Limits: Limits{InFlight: 2, RateLimit: -1}}
	e := echo.New()
	s.Register(e)
	srv := httptest.NewServer(e)
	defer srv.Close()

	var wg sync.WaitGroup
	var answered atomic.Int32
	for range 10 {
		wg.Go(func() {
			res, err := http.Get(srv.URL + Prefix + "acme/Users")
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			answered.Add(1)
		})
	}
	<-auth.entered
	<-auth.entered
	// Were the bound not kept, a third request would be inside by now, or soon.
	select {
	case <-auth.entered:
		t.Fatalf("a third request got in while two were in flight")
	case <-time.After(200 * time.Millisecond):
	}
	close(auth.release)
	wg.Wait()
	if got := answered.Load(); got != 10 {
		t.Errorf("%d of 10 requests answered", got)
	}
	if most := auth.most.Load(); most != 2 {
		t.Errorf("%d requests in flight at most, want 2", most)
	}
}

// TestInFlightSlowUploadHoldsNoPlace: with one place, a client still sending the body of
// its create (past authentication, were its body read after it got in) does not keep
// another request waiting.
func TestInFlightSlowUploadHoldsNoPlace(t *testing.T) {
	auth := &heldAuth{entered: make(chan struct{}, 10), release: make(chan struct{})}
	close(auth.release)
	s := &Server{Auth: auth, Limits: Limits{InFlight: 1, RateLimit: -1}}
	e := echo.New()
	s.Register(e)
	srv := httptest.NewServer(e)
	defer srv.Close()

	body, upload := io.Pipe()
	defer upload.Close()
	slow, err := http.NewRequest(http.MethodPost, srv.URL+Prefix+"acme/Users", body)
	if err != nil {
		t.Fatal(err)
	}
	slow.Header.Set("Authorization", "Bearer pass")
	slow.Header.Set("Content-Type", "application/scim+json")
	go func() {
		if res, err := http.DefaultClient.Do(slow); err == nil {
			res.Body.Close()
		}
	}()
	if _, err := upload.Write([]byte(`{"schemas":`)); err != nil { // the server has started reading it
		t.Fatal(err)
	}
	go func() {
		if res, err := http.Get(srv.URL + Prefix + "acme/Users"); err == nil {
			res.Body.Close()
		}
	}()
	select {
	case <-auth.entered:
	case <-time.After(time.Minute): // a bound on hanging only
		t.Fatal("the request without a body was not served while another uploaded slowly")
	}
}
