package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/orgscim/orgscim/webhooks"
)

// webhookInbox is a subscriber's endpoint on loopback that keeps every event it is sent,
// for tests that ask what a partner heard rather than how a delivery was signed.
type webhookInbox struct {
	*httptest.Server
	mu     sync.Mutex
	events []webhooks.Event
}

func newWebhookInbox(t *testing.T) *webhookInbox {
	t.Helper()
	in := &webhookInbox{}
	in.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var ev webhooks.Event
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Errorf("webhook inbox: a delivery that is not an event: %v", err)
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		in.mu.Lock()
		in.events = append(in.events, ev)
		in.mu.Unlock()
	}))
	t.Cleanup(in.Close)
	return in
}

// Events returns a copy of what the inbox has been sent so far.
func (in *webhookInbox) Events() []webhooks.Event {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]webhooks.Event(nil), in.events...)
}
