package webhooks

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
)

// Event is the body of a delivery: one audit event, as a downstream application needs it.
// ID is the audit event's id and the delivery's idempotency key; Chain is its tenant and
// Seq its number, which increases in the order events are written, so that a receiver can
// order a tenant's events (deliveries themselves may arrive out of order, and more than
// once; numbers have gaps).
type Event struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Chain      string          `json:"chain"`
	Seq        int64           `json:"seq"`
	Time       time.Time       `json:"time"`
	Connection string          `json:"connection,omitempty"`
	Org        string          `json:"org,omitempty"`
	Target     Target          `json:"target"`
	Diff       json.RawMessage `json:"diff,omitempty"`
}

// Target is what an event changed.
type Target struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Payload is the body delivered for e, a sealed audit event. It is built once, when the
// event is queued, so that every attempt sends the same bytes. The diff is the audit
// diff, secrets already redacted.
func Payload(e *audit.Event) []byte {
	p := Event{
		ID: e.ID, Type: e.Action, Chain: e.Chain, Seq: e.Seq, Time: e.Time.UTC(),
		Connection: e.ConnectionID, Org: e.OrgID,
		Target: Target{Type: e.TargetType, ID: e.TargetID},
	}
	if len(e.Diff) > 0 && json.Valid(e.Diff) {
		p.Diff = e.Diff
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		panic(err) // strings, numbers and valid JSON always marshal
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// IsRevocation reports whether an event takes access away, so that its delivery gets a
// revocation receipt: deleting or deactivating a user, revoking a grant (one, or some in a
// sync), a delegation, a SCIM token or an admin key, and suspending or ending an org's
// relationship. diff is the event's audit diff.
func IsRevocation(action string, diff json.RawMessage) bool {
	switch action {
	case "user.delete", "user.deactivate", "grant.revoke", "grants.revoke", "delegation.revoke", "token.revoke", "admin_key.revoke":
		return true
	case "user.update":
		// Deactivation is an update whose active attribute goes to false.
		var d struct {
			Active *struct {
				After *bool `json:"after"`
			} `json:"active"`
		}
		return json.Unmarshal(diff, &d) == nil && d.Active != nil && d.Active.After != nil && !*d.Active.After
	case "grants.sync":
		// A sync revokes when its detail lists revoked grants.
		var d struct {
			Revoked json.RawMessage `json:"revoked"`
		}
		if json.Unmarshal(diff, &d) != nil {
			return false
		}
		r := strings.TrimSpace(string(d.Revoked))
		return r != "" && r != "null" && r != "[]" && r != "0" && r != "{}"
	case "org.update":
		var d struct {
			Status *struct {
				After string `json:"after"`
			} `json:"status"`
		}
		return json.Unmarshal(diff, &d) == nil && d.Status != nil &&
			(d.Status.After == "suspended" || d.Status.After == "ended")
	}
	return false
}

// ParseActions reads an action filter: comma-separated entries, each an exact action
// ("user.delete") or a prefix ending in "." ("grant." is every grant action). Empty, or
// "*", selects every action.
func ParseActions(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
			continue
		case a == "*":
			return nil, nil
		case strings.ContainsAny(a, " \t\r\n*"):
			return nil, orgscim.Errorf(orgscim.Invalid, "action filter %q: want an action or a prefix ending in \".\"", a)
		}
		out = append(out, a)
	}
	return out, nil
}

// Matches reports whether a subscription's action filter selects action.
func Matches(filter []string, action string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, f := range filter {
		if f == action || (strings.HasSuffix(f, ".") && strings.HasPrefix(action, f)) {
			return true
		}
	}
	return false
}

// ValidateURL accepts an absolute http or https URL with a host, and nothing else: no
// other scheme reaches the delivery client.
func ValidateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return orgscim.Errorf(orgscim.Invalid, "webhook URL must be an absolute http:// or https:// URL")
	}
	if u.User != nil {
		return orgscim.Errorf(orgscim.Invalid, "webhook URL must not carry credentials; deliveries are signed instead")
	}
	if u.Fragment != "" {
		return orgscim.Errorf(orgscim.Invalid, "webhook URL must not have a fragment")
	}
	return nil
}

// redactURL is u without its query, which may hold a receiver's token, for the audit
// trail and logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}
