package authzen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/authzen"
	"github.com/orgscim/orgscim/orgs"
)

type keys struct{}

func (keys) Authenticate(_ context.Context, secret string) (orgs.Principal, error) {
	if secret != "k" {
		return orgs.Principal{}, orgscim.Errorf(orgscim.Unauthorized, "no")
	}
	return orgs.Principal{Operator: "ops"}, nil
}

// permits answers by permission: "yes" permits, "no" denies, "out" is outside the
// caller's scope; it counts the questions asked.
type permits struct{ asked atomic.Int64 }

func (p *permits) Decide(_ context.Context, _ orgs.Principal, _, _, perm, _ string) (bool, any, error) {
	p.asked.Add(1)
	return p.decide(perm)
}

func (p *permits) decide(perm string) (bool, any, error) {
	if perm == "out" {
		return false, nil, orgscim.Errorf(orgscim.Forbidden, "outside")
	}
	return perm == "yes", map[string]any{"reason": perm}, nil
}

// batched is permits with a batched decider: it counts the batches asked.
type batched struct {
	permits
	batches atomic.Int64
}

func (b *batched) DecideMany(ctx context.Context, p orgs.Principal, qs []authzen.Question) ([]authzen.Decided, []error, error) {
	b.batches.Add(1)
	out, errs := make([]authzen.Decided, len(qs)), make([]error, len(qs))
	for i, q := range qs {
		out[i].Allowed, out[i].Why, errs[i] = b.permits.decide(q.Permission)
	}
	return out, errs, nil
}

// A batch keeps the order of its answers and stops exactly where its semantics say,
// whether its evaluations are decided one by one (a Decider) or together (a
// BatchDecider, asked once per request and never one by one).
func TestBatchSemantics(t *testing.T) {
	n := 8
	alternating := make([]string, 3*n)
	for i := range alternating {
		alternating[i] = "no"
		if i%2 == 0 {
			alternating[i] = "yes"
		}
	}
	alternating[n+3] = "out"
	// The first deny, then the first permit, in the second chunk.
	permitsThenDeny := append(append(strings.Split(strings.Repeat("yes,", n+2), ",")[:n+2], "no"), "yes", "no")
	deniesThenPermit := append(append(strings.Split(strings.Repeat("no,", n+2), ",")[:n+2], "yes"), "no")
	type answer struct {
		Decision bool
		Context  map[string]any
	}
	tests := []struct {
		name, semantic string
		perms          []string
		want           int // answers
	}{
		{"execute_all", "execute_all", alternating, len(alternating)},
		{"deny_on_first_deny early", "deny_on_first_deny", alternating, 2},
		{"deny_on_first_deny later", "deny_on_first_deny", permitsThenDeny, n + 3},
		{"permit_on_first_permit early", "permit_on_first_permit", alternating[1:], 2},
		{"permit_on_first_permit later", "permit_on_first_permit", deniesThenPermit, n + 3},
	}
	for _, tt := range tests {
		for _, batch := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s batched=%v", tt.name, batch), func(t *testing.T) {
				d := &batched{}
				e := echo.New()
				s := &authzen.Server{Keys: keys{}, Access: d}
				if batch {
					s.Batch = d
					defer func() {
						if d.batches.Load() != 1 || d.asked.Load() != 0 {
							t.Errorf("%d batches and %d single decisions, want one batch", d.batches.Load(), d.asked.Load())
						}
					}()
				}
				s.Register(e)
				e.HTTPErrorHandler = s.HandleError
				var items []string
				for _, p := range tt.perms {
					items = append(items, fmt.Sprintf(`{"action":{"name":%q}}`, p))
				}
				body := `{"subject":{"type":"user","id":"u","properties":{"connection":"c"}},"resource":{"type":"org","id":"o"},` +
					`"options":{"evaluations_semantic":"` + tt.semantic + `"},"evaluations":[` + strings.Join(items, ",") + `]}`
				req := httptest.NewRequest(http.MethodPost, authzen.EvaluationsPath, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer k")
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				var out struct{ Evaluations []answer }
				if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK {
					t.Fatalf("%d %s", rec.Code, rec.Body)
				}
				if len(out.Evaluations) != tt.want {
					t.Fatalf("%d answers, want %d: %s", len(out.Evaluations), tt.want, rec.Body)
				}
				for i, a := range out.Evaluations {
					p := tt.perms[i]
					want := answer{Decision: p == "yes", Context: map[string]any{"reason": p}}
					if p == "out" {
						want.Context = map[string]any{"error": map[string]any{"status": float64(403), "message": "outside"}}
					}
					if !reflect.DeepEqual(a, want) {
						t.Errorf("answer %d: %+v, want %+v", i, a, want)
					}
				}
			})
		}
	}
}
