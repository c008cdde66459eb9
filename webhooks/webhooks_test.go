package webhooks

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
)

func TestVerifyAcceptsOnlyAFreshSignatureOfTheExactBody(t *testing.T) {
	const secret = "whsec_test"
	body := []byte(`{"id":"e1","type":"user.delete"}`)
	sent := time.Unix(1_800_000_000, 0)
	header := Sign(secret, body, sent)
	ts := strconv.FormatInt(sent.Unix(), 10)
	good := strings.TrimPrefix(header, "t="+ts+",")
	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   string // "" accepts; else part of the refusal
	}{
		{"round trip", secret, header, body, sent, ""},
		{"received a little later", secret, header, body, sent.Add(4 * time.Minute), ""},
		{"receiver clock a little behind", secret, header, body, sent.Add(-4 * time.Minute), ""},
		{"one of several v1 (secret rotation)", secret, "t=" + ts + ",v1=" + strings.Repeat("0", 64) + "," + good, body, sent, ""},
		{"unknown scheme ignored", secret, header + ",v0=whatever", body, sent, ""},
		{"body tampered", secret, header, []byte(`{"id":"e1","type":"user.create"}`), sent, "does not match"},
		{"body with a byte appended", secret, header, append(append([]byte{}, body...), ' '), sent, "does not match"},
		{"wrong secret", "whsec_other", header, body, sent, "does not match"},
		{"timestamp changed to look fresh", secret, "t=" + strconv.FormatInt(sent.Unix()+600, 10) + "," + good, body, sent.Add(600 * time.Second), "does not match"},
		{"replayed after the window", secret, header, body, sent.Add(5*time.Minute + time.Second), "outside"},
		{"from the future", secret, header, body, sent.Add(-6 * time.Minute), "outside"},
		{"no header", secret, "", body, sent, "no Orgscim-Signature"},
		{"no timestamp", secret, good, body, sent, "lacks"},
		{"no signature", secret, "t=" + ts, body, sent, "lacks"},
		{"malformed part", secret, "t=" + ts + ",garbage", body, sent, "malformed"},
		{"malformed timestamp", secret, "t=soon," + good, body, sent, "malformed"},
		{"two timestamps", secret, "t=1,t=" + ts + "," + good, body, sent, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, tt.body, tt.now, 0)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v; want a refusal mentioning %q", err, tt.want)
			}
			if orgscim.ErrorCode(err) != orgscim.Unauthorized {
				t.Errorf("code %s; want unauthorized", orgscim.ErrorCode(err))
			}
		})
	}
}

func TestSignatureFormat(t *testing.T) {
	// The documented recipe, pinned to a value computed outside Go, so that a receiver
	// in any language can check its own implementation against it:
	//   printf '1700000000.{}' | openssl dgst -sha256 -hmac k
	h := Sign("k", []byte("{}"), time.Unix(1700000000, 0))
	if want := "t=1700000000,v1=c6ef4734033cee2367414a0939385eca0397754aa7a59716da7463a9298b5146"; h != want {
		t.Fatalf("header %q; want %q", h, want)
	}
}

func TestBackoffDoublesUpToTheCapWithJitter(t *testing.T) {
	tests := []struct {
		attempt  int
		rand     float64
		min, max time.Duration
	}{
		{1, 0, 5 * time.Second, 5 * time.Second},
		{1, 0.999999, 5 * time.Second, 10 * time.Second},
		{2, 0, 10 * time.Second, 10 * time.Second},
		{3, 0.5, 20 * time.Second, 40 * time.Second},
		{11, 0, 30 * time.Minute, 30 * time.Minute}, // 10s·2^10 is over the hour: capped
		{40, 0.999999, 30 * time.Minute, time.Hour},
	}
	for _, tt := range tests {
		d := &Deliverer{BaseDelay: 10 * time.Second, MaxDelay: time.Hour, Rand: func() float64 { return tt.rand }}
		got := d.Backoff(tt.attempt)
		if got < tt.min || got > tt.max {
			t.Errorf("attempt %d, rand %v: %v; want within [%v, %v]", tt.attempt, tt.rand, got, tt.min, tt.max)
		}
	}
}

func TestIsRevocation(t *testing.T) {
	tests := []struct {
		action string
		diff   string
		want   bool
	}{
		{"user.delete", ``, true},
		{"grant.revoke", `{"reason":{"after":"x"}}`, true},
		{"delegation.revoke", ``, true},
		{"token.revoke", ``, true},
		{"admin_key.revoke", ``, true},
		{"user.update", `{"active":{"before":true,"after":false}}`, true},
		{"user.update", `{"active":{"before":false,"after":true}}`, false},
		{"user.update", `{"title":{"after":"Boss"}}`, false},
		{"user.update", `not json`, false},
		{"grants.sync", `{"granted":["g1"],"revoked":["g2"]}`, true},
		{"grants.sync", `{"granted":["g1"],"revoked":[]}`, false},
		{"grants.sync", `{"granted":["g1"]}`, false},
		{"grants.sync", `{"reason":"membership","added":0,"revoked":3,"revoked_grant_ids":["g1","g2","g3"]}`, true},
		{"grants.sync", `{"reason":"membership","added":2,"revoked":0}`, false},
		{"org.update", `{"status":{"before":"active","after":"ended"}}`, true},
		{"org.update", `{"status":{"before":"pending","after":"active"}}`, false},
		{"user.create", `{"active":{"after":false}}`, false},
		{"grant.create", ``, false},
	}
	for _, tt := range tests {
		if got := IsRevocation(tt.action, json.RawMessage(tt.diff)); got != tt.want {
			t.Errorf("IsRevocation(%s, %s) = %v; want %v", tt.action, tt.diff, got, tt.want)
		}
	}
}

func TestActionFilter(t *testing.T) {
	tests := []struct {
		filter string
		action string
		want   bool
	}{
		{"", "user.create", true},
		{"*", "grant.revoke", true},
		{"user.", "user.create", true},
		{"user.", "users.sync", false},
		{"user.delete", "user.delete", true},
		{"user.delete", "user.deleted", false},
		{"user., grant.", "grant.revoke", true},
		{"user.,grant.", "delegation.revoke", false},
		{"user", "user.create", false}, // a prefix must end in "."
	}
	for _, tt := range tests {
		f, err := ParseActions(tt.filter)
		if err != nil {
			t.Fatalf("ParseActions(%q): %v", tt.filter, err)
		}
		if got := Matches(f, tt.action); got != tt.want {
			t.Errorf("filter %q, action %s: %v; want %v", tt.filter, tt.action, got, tt.want)
		}
	}
	if _, err := ParseActions("user.*"); orgscim.ErrorCode(err) != orgscim.Invalid {
		t.Errorf("glob accepted: %v", err)
	}
}

func TestValidateURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/orgscim", true},
		{"http://127.0.0.1:9000/hook?token=abc", true},
		{"ftp://example.com/x", false},
		{"file:///etc/passwd", false},
		{"javascript:alert(1)", false},
		{"gopher://127.0.0.1:70/", false},
		{"/relative/path", false},
		{"https://", false},
		{"https:example.com", false},
		{"https://user:pass@example.com/", false},
		{"https://example.com/#frag", false},
		{"", false},
	}
	for _, tt := range tests {
		err := ValidateURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateURL(%q) = %v; want ok %v", tt.url, err, tt.ok)
		}
		var oe *orgscim.Error
		if err != nil && !errors.As(err, &oe) {
			t.Errorf("%q: error %T; want *orgscim.Error", tt.url, err)
		}
	}
}

func TestPayloadCarriesTheEvent(t *testing.T) {
	e := audit.Event{ID: "e1", Chain: "c1", Seq: 7, Time: time.UnixMilli(1_800_000_000_123).UTC(), Actor: "token:t1",
		ConnectionID: "c1", OrgID: "o1", Action: "user.update", TargetType: "user", TargetID: "u1",
		Diff: json.RawMessage(`{"active":{"before":true,"after":false}}`), ClientAddr: "10.0.0.1"}
	got := string(Payload(&e))
	want := `{"id":"e1","type":"user.update","chain":"c1","seq":7,"time":"2027-01-15T08:00:00.123Z","connection":"c1",` +
		`"org":"o1","target":{"type":"user","id":"u1"},"diff":{"active":{"before":true,"after":false}}}`
	if got != want {
		t.Errorf("payload\n got %s\nwant %s", got, want)
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	revs := []Revocation{
		{Chain: "c1", EventID: "a", Requested: at(0), Subscribers: 2, Acknowledged: 2, LastAck: at(4)},
		{Chain: "c1", EventID: "b", Requested: at(10), Subscribers: 2, Acknowledged: 2, LastAck: at(11)},
		{Chain: "c1", EventID: "c", Requested: at(20), Subscribers: 1, Acknowledged: 1, LastAck: at(29)},
		{Chain: "c1", EventID: "d", Requested: at(30), Subscribers: 2, Acknowledged: 1, LastAck: at(31)},
		{Chain: "c2", EventID: "e", Requested: at(5), Subscribers: 1, Acknowledged: 1, LastAck: at(4)}, // clock skew
		{Chain: "control", EventID: "f", Requested: at(5), Subscribers: 1},
	}
	got := Summarize(revs)
	want := []TimeToRevoke{
		{Chain: "c1", Revocations: 3, Unacknowledged: 1, P50: 4 * time.Second, Max: 9 * time.Second, Latest: 9 * time.Second, LatestAt: at(20)},
		{Chain: "c2", Revocations: 1, LatestAt: at(5)},
		{Chain: "control", Unacknowledged: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s:\n got %+v\nwant %+v", want[i].Chain, got[i], want[i])
		}
	}
}

// The documented give-up time of the defaults: the waits after the 14 failures that
// precede the last attempt.
func TestDefaultRetriesSpanThreeToFiveAndAHalfHours(t *testing.T) {
	for _, tt := range []struct {
		rand     float64
		min, max time.Duration
	}{{0, 162 * time.Minute, 163 * time.Minute}, {0.999999, 325 * time.Minute, 326 * time.Minute}} {
		d := &Deliverer{Rand: func() float64 { return tt.rand }}
		var total time.Duration
		for attempt := 1; attempt < DefaultMaxAttempts; attempt++ {
			total += d.Backoff(attempt)
		}
		if total < tt.min || total > tt.max {
			t.Errorf("rand %v: retries span %v; want within [%v, %v]", tt.rand, total, tt.min, tt.max)
		}
	}
}
