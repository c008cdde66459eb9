package connhealth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func TestRedactBody(t *testing.T) {
	long := `{"userName":"` + strings.Repeat("é", 3000) + `"}`
	for _, tc := range []struct {
		name, body string
		cut        bool
		want       []string // substrings of the result
		never      []string
	}{
		{name: "empty", body: "  ", want: []string{""}},
		{name: "top-level password", body: `{"userName":"ada","password":"hunter2"}`,
			want: []string{`"password":"[redacted]"`, `"userName":"ada"`}, never: []string{"hunter2"}},
		{name: "any case, nested, in arrays", body: `{"a":{"PassWord":"p1","b":[{"userPassword":{"x":"p2"}}]},"clientSecret":"p3","access_token":"p4"}`,
			want: []string{`"PassWord":"[redacted]"`, `"userPassword":"[redacted]"`}, never: []string{"p1", "p2", "p3", "p4"}},
		{name: "patch op on the password path", body: `{"Operations":[{"op":"replace","path":"PASSWORD","value":"p1"},{"value":["p2"],"path":"urn:x:password"},{"op":"replace","path":"name.givenName","value":"Ada"}]}`,
			want: []string{`"value":"[redacted]"`, `"value":"Ada"`}, never: []string{"p1", "p2"}},
		{name: "patch op without path", body: `{"Operations":[{"op":"Replace","value":{"password":"p1","active":false}}]}`,
			want: []string{`"active":false`}, never: []string{"p1"}},
		{name: "numbers kept exact", body: `{"n":12345678901234567890}`, want: []string{"12345678901234567890"}},
		{name: "not JSON, no secret", body: `userName=ada`, want: []string{"userName=ada"}},
		{name: "not JSON with a password", body: `{"password":"p1"`, want: []string{"[withheld: "}, never: []string{"p1"}},
		{name: "cut while captured", body: `{"value":"p1","path":"password"}`, cut: true, want: []string{"[withheld: "}, never: []string{"p1"}},
		{name: "cut to MaxBody on a character boundary", body: long, want: []string{"…[cut "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := redactBody([]byte(tc.body), tc.cut)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("RedactBody(%s) = %s, want it to contain %s", tc.body, got, w)
				}
			}
			for _, n := range tc.never {
				if strings.Contains(got, n) {
					t.Errorf("RedactBody(%s) = %s keeps %s", tc.body, got, n)
				}
			}
			if len(got) > MaxBody+40 || !utf8.ValidString(got) {
				t.Errorf("RedactBody is %d bytes or not UTF-8", len(got))
			}
		})
	}
}

func TestLoggedPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/scim/v2/a/Users", "/scim/v2/a/Users"},
		{"/scim/v2/a/Users?filter=userName+eq+%22x%22&access_token=s3cret&count=5", "/scim/v2/a/Users?count=5&filter=userName+eq+%22x%22"},
		{"/scim/v2/a/Users?FILTER=password+eq+%22p%22", "/scim/v2/a/Users?FILTER=%5Bredacted%5D"},
		{"/scim/v2/a/Users?token=abc", "/scim/v2/a/Users"},
	} {
		u, _ := url.Parse(tc.in)
		if got := loggedPath(u.Path, u.RawQuery); got != tc.want {
			t.Errorf("loggedPath(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// memStore is a Store in memory that can be told to fail.
type memStore struct {
	mu      sync.Mutex
	fail    bool
	health  map[string]Health
	entries map[string][]Logged
}

func (m *memStore) AddHealth(_ context.Context, bs []Batch, keep int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("database away")
	}
	for _, b := range bs {
		if b.ConnectionSlug != "" {
			h := m.health["slug:"+b.ConnectionSlug]
			h.Rejected += b.Rejected
			h.LastRejected = b.LastRejected
			m.health["slug:"+b.ConnectionSlug] = h
			continue
		}
		h := m.health[b.ConnectionID]
		h.Requests += b.Requests
		h.ClientErrors += b.ClientErrors
		h.ServerErrors += b.ServerErrors
		if b.LastPush != nil {
			h.LastPush = b.LastPush
		}
		m.health[b.ConnectionID] = h
		m.entries[b.ConnectionID] = append(m.entries[b.ConnectionID], b.Entries...)
	}
	return nil
}

func (m *memStore) Health(context.Context, string) (*Health, error) { return nil, nil }
func (m *memStore) RequestLog(context.Context, string, int) ([]Logged, error) {
	return nil, nil
}

func TestRecorderBuffersAndRetries(t *testing.T) {
	ctx := context.Background()
	st := &memStore{health: map[string]Health{}, entries: map[string][]Logged{}}
	r := &Recorder{Store: st, Every: time.Hour}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := func(conn string, i, status int, method string) {
		r.Record(Entry{ConnectionID: conn, At: t0.Add(time.Duration(i) * time.Second), Method: method, Path: fmt.Sprintf("/%d", i),
			Status: status, Push: method != "GET", RequestBody: []byte(`{"password":"x"}`)})
	}
	for i := range 70 {
		rec("a", i, 200, "GET")
	}
	rec("a", 70, 404, "PATCH")
	rec("b", 0, 500, "POST")
	r.RecordRejected("a-slug", t0)
	// The database is away: nothing is lost, it is retried with what came since.
	st.fail = true
	if err := r.Flush(ctx); err == nil {
		t.Fatal("flush to a failing store succeeded")
	}
	rec("a", 71, 200, "GET")
	r.RecordRejected("a-slug", t0.Add(time.Second))
	st.fail = false
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := st.health["a"], st.health["b"]
	if a.Requests != 72 || a.ClientErrors != 1 || a.ServerErrors != 0 || a.LastPush == nil || !a.LastPush.Equal(t0.Add(70*time.Second)) {
		t.Errorf("a = %+v", a)
	}
	if s := st.health["slug:a-slug"]; s.Rejected != 2 || !s.LastRejected.Equal(t0.Add(time.Second)) {
		t.Errorf("rejected = %+v", s)
	}
	if b.Requests != 1 || b.ServerErrors != 1 {
		t.Errorf("b = %+v", b)
	}
	got := st.entries["a"]
	if len(got) != Keep || got[0].Path != "/22" || got[Keep-1].Path != "/71" {
		t.Fatalf("kept %d entries from %s to %s", len(got), got[0].Path, got[len(got)-1].Path)
	}
	for _, e := range got {
		if strings.Contains(e.RequestBody, `"x"`) {
			t.Fatalf("entry not redacted: %s", e.RequestBody)
		}
	}
	// Flushing nothing touches nothing.
	st.fail = true
	if err := r.Flush(ctx); err != nil {
		t.Errorf("empty flush: %v", err)
	}
}

func TestRedactEntryReadsTheSCIMError(t *testing.T) {
	l := redactEntry(Entry{Status: 400, ResponseBody: []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidFilter","detail":"bad"}`)})
	if l.ScimType != "invalidFilter" || l.Detail != "bad" {
		t.Errorf("%+v", l)
	}
	if l := redactEntry(Entry{Status: 200, ResponseBody: []byte(`{"detail":"x"}`)}); l.Detail != "" {
		t.Errorf("a success has no error detail: %+v", l)
	}
}

// BenchmarkFlushRedaction is the work a flush does off the requests' path per stored
// entry: redacting a user's request and response bodies.
func BenchmarkFlushRedaction(b *testing.B) {
	req := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@acme.example","password":"x",` +
		`"name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":"ada@acme.example","type":"work","primary":true}],"active":true}`)
	for b.Loop() {
		_ = redactEntry(Entry{Status: 201, RequestBody: req, ResponseBody: req})
	}
}
