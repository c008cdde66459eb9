package webhooks

import (
	"sort"
	"time"
)

// Revocation is one revocation event and its receipts: how many subscribers it went to,
// how many acknowledged it, and when the last of them did.
type Revocation struct {
	Chain        string // the tenant: a connection id, or audit.Control
	Connection   string // the connection's slug, "" for the control plane
	EventID      string
	Action       string
	Requested    time.Time // the event's time: when the IdP or operator asked
	Subscribers  int
	Acknowledged int
	LastAck      time.Time // zero until one acknowledged
}

// Done reports whether every subscriber acknowledged r.
func (r Revocation) Done() bool { return r.Subscribers > 0 && r.Acknowledged == r.Subscribers }

// TimeToRevoke is how long a tenant's revocations took to reach every downstream
// application: for each revocation, from its request to the last subscriber's
// acknowledgement.
type TimeToRevoke struct {
	Chain      string `json:"chain"`
	Connection string `json:"connection,omitempty"`
	// Revocations counts those every subscriber acknowledged; the figures below are
	// over them. Unacknowledged counts those still waiting for a subscriber (retrying,
	// dead, or its subscription disabled).
	Revocations    int           `json:"revocations"`
	Unacknowledged int           `json:"unacknowledged"`
	P50            time.Duration `json:"-"`
	Max            time.Duration `json:"-"`
	Latest         time.Duration `json:"-"` // of the most recently requested acknowledged revocation
	LatestAt       time.Time     `json:"latestAt,omitzero"`
}

// Summarize computes each tenant's TimeToRevoke, in chain order. A negative span (the
// deliverer's clock behind the requester's) counts as zero.
func Summarize(revs []Revocation) []TimeToRevoke {
	byChain := map[string]*TimeToRevoke{}
	spans := map[string][]time.Duration{}
	var chains []string
	for _, r := range revs {
		t := byChain[r.Chain]
		if t == nil {
			t = &TimeToRevoke{Chain: r.Chain, Connection: r.Connection}
			byChain[r.Chain] = t
			chains = append(chains, r.Chain)
		}
		if !r.Done() {
			t.Unacknowledged++
			continue
		}
		span := max(r.LastAck.Sub(r.Requested), 0)
		t.Revocations++
		spans[r.Chain] = append(spans[r.Chain], span)
		t.Max = max(t.Max, span)
		if r.Requested.After(t.LatestAt) || t.LatestAt.IsZero() {
			t.LatestAt, t.Latest = r.Requested, span
		}
	}
	sort.Strings(chains)
	out := make([]TimeToRevoke, 0, len(chains))
	for _, c := range chains {
		t := byChain[c]
		if s := spans[c]; len(s) > 0 {
			sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
			t.P50 = s[(len(s)-1)/2]
		}
		out = append(out, *t)
	}
	return out
}
