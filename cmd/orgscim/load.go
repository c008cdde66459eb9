package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// phaseResult is what `orgscim load` reports for one phase.
type phaseResult struct {
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"requests_per_second"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	FirstError  string  `json:"first_error,omitempty"`
	Description string  `json:"description"`
}

// loadRun drives one SCIM base URL. It is the engine of `orgscim load`.
type loadRun struct {
	base        string
	token       string
	concurrency int
	client      *http.Client
	prefix      string
}

func (l *loadRun) do(ctx context.Context, method, path string, body any, want int) ([]byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+l.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := l.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != want {
		return b, fmt.Errorf("%s %s: status %d, want %d", method, strings.SplitN(path, "?", 2)[0], res.StatusCode, want)
	}
	return b, nil
}

// phase runs n operations on the run's workers and measures each.
func (l *loadRun) phase(ctx context.Context, desc string, n, workers int, op func(ctx context.Context, i int) error) phaseResult {
	lat := make([]time.Duration, n)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				err := op(ctx, i)
				lat[i] = time.Since(t0)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := phaseResult{Requests: n, Errors: int(errs.Load()), Seconds: round3(elapsed.Seconds()), Description: desc}
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	if n > 0 {
		res.PerSecond = round3(float64(n) / elapsed.Seconds())
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		ms := func(d time.Duration) float64 { return round3(float64(d.Microseconds()) / 1000) }
		res.P50ms, res.P99ms, res.MaxMs = ms(lat[(n-1)/2]), ms(lat[(n-1)*99/100]), ms(lat[n-1])
	}
	return res
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// loadOptions configures `orgscim load`.
type loadOptions struct {
	Users       int
	Concurrency int
	// ReadConcurrency is the concurrency of the get and filter phases (0: Concurrency):
	// latency measured at a concurrency that saturates the machine is mostly queueing.
	ReadConcurrency int
	Lookups         int
	Batch           int
	Phases          []string
}

var allPhases = []string{"create", "get", "filter", "page", "groupadd", "deactivate", "delete"}

// runLoad runs the phases in order and returns their results by name.
func runLoad(ctx context.Context, base, token string, o loadOptions) (map[string]phaseResult, error) {
	l := &loadRun{base: strings.TrimSuffix(base, "/"), token: token, concurrency: o.Concurrency,
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			MaxIdleConns: o.Concurrency * 2, MaxIdleConnsPerHost: o.Concurrency * 2, IdleConnTimeout: 30 * time.Second}},
		prefix: fmt.Sprintf("load-%d", time.Now().UnixNano())}
	want := map[string]bool{}
	for _, p := range o.Phases {
		want[p] = true
	}
	out := map[string]phaseResult{}
	ids := make([]string, o.Users)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var rngMu sync.Mutex
	pick := func() int {
		rngMu.Lock()
		defer rngMu.Unlock()
		return rng.IntN(o.Users)
	}
	readers := o.ReadConcurrency
	if readers <= 0 {
		readers = o.Concurrency
	}
	userName := func(i int) string { return fmt.Sprintf("%s-%07d@example.com", l.prefix, i) }

	if want["create"] {
		out["create"] = l.phase(ctx, fmt.Sprintf("POST /Users × %d at concurrency %d", o.Users, o.Concurrency), o.Users, o.Concurrency,
			func(ctx context.Context, i int) error {
				b, err := l.do(ctx, "POST", "/Users", map[string]any{
					"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
					"userName": userName(i), "externalId": fmt.Sprintf("%s-ext-%d", l.prefix, i), "active": true,
					"name":   map[string]any{"givenName": "Load", "familyName": fmt.Sprintf("User %d", i)},
					"emails": []any{map[string]any{"value": userName(i), "type": "work", "primary": true}},
				}, http.StatusCreated)
				if err != nil {
					return err
				}
				var u struct{ ID string }
				if err := json.Unmarshal(b, &u); err != nil {
					return err
				}
				ids[i] = u.ID
				return nil
			})
	} else {
		return nil, errors.New("load: the create phase is required; the others work on the users it creates")
	}
	if want["get"] {
		out["get"] = l.phase(ctx, fmt.Sprintf("GET /Users/{id} × %d at concurrency %d", o.Lookups, readers), o.Lookups, readers, func(ctx context.Context, _ int) error {
			_, err := l.do(ctx, "GET", "/Users/"+ids[pick()], nil, http.StatusOK)
			return err
		})
	}
	if want["filter"] {
		out["filter"] = l.phase(ctx, fmt.Sprintf(`GET /Users?filter=userName eq "…" × %d at concurrency %d`, o.Lookups, readers), o.Lookups, readers,
			func(ctx context.Context, _ int) error {
				b, err := l.do(ctx, "GET", "/Users?filter="+url.QueryEscape(`userName eq "`+userName(pick())+`"`), nil, http.StatusOK)
				if err != nil {
					return err
				}
				var list struct{ TotalResults int }
				if err := json.Unmarshal(b, &list); err != nil || list.TotalResults != 1 {
					return fmt.Errorf("filter: %d results, want 1", list.TotalResults)
				}
				return nil
			})
	}
	if want["page"] {
		// One client pages through everything, as an IdP's full sync does.
		var total int
		pages := 0
		b, err := l.do(ctx, "GET", "/Users?count=0", nil, http.StatusOK)
		if err == nil {
			var list struct{ TotalResults int }
			_ = json.Unmarshal(b, &list)
			total = list.TotalResults
			pages = (total + 99) / 100
		}
		out["page"] = l.phase(ctx, fmt.Sprintf("GET /Users?startIndex=…&count=100 through all %d users, one client", total), pages, 1,
			func(ctx context.Context, i int) error {
				_, err := l.do(ctx, "GET", fmt.Sprintf("/Users?startIndex=%d&count=100", i*100+1), nil, http.StatusOK)
				return err
			})
	}
	if want["groupadd"] {
		b, err := l.do(ctx, "POST", "/Groups", map[string]any{"displayName": l.prefix + " group"}, http.StatusCreated)
		var g struct{ ID string }
		if err == nil {
			err = json.Unmarshal(b, &g)
		}
		if err != nil {
			return out, fmt.Errorf("load: create group: %w", err)
		}
		batches := (o.Users + o.Batch - 1) / o.Batch
		// Batches go one after another: the group grows to every user, and each batch
		// is measured at the size the group has then.
		out["groupadd"] = l.phase(ctx, fmt.Sprintf("PATCH /Groups/{id} adding %d members per request, up to %d members", o.Batch, o.Users), batches, 1,
			func(ctx context.Context, i int) error {
				var members []any
				for _, id := range ids[i*o.Batch : min((i+1)*o.Batch, o.Users)] {
					members = append(members, map[string]any{"value": id})
				}
				_, err := l.do(ctx, "PATCH", "/Groups/"+g.ID, map[string]any{
					"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []any{map[string]any{"op": "Add", "path": "members", "value": members}},
				}, http.StatusNoContent)
				return err
			})
	}
	if want["deactivate"] {
		out["deactivate"] = l.phase(ctx, fmt.Sprintf("PATCH /Users/{id} active=false × %d", o.Users), o.Users, o.Concurrency, func(ctx context.Context, i int) error {
			_, err := l.do(ctx, "PATCH", "/Users/"+ids[i], map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "Replace", "path": "active", "value": false}},
			}, http.StatusNoContent)
			return err
		})
	}
	if want["delete"] {
		out["delete"] = l.phase(ctx, fmt.Sprintf("DELETE /Users/{id} × %d", o.Users), o.Users, o.Concurrency, func(ctx context.Context, i int) error {
			_, err := l.do(ctx, "DELETE", "/Users/"+ids[i], nil, http.StatusNoContent)
			return err
		})
	}
	return out, nil
}

func load(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlags("load", stderr)
	base := fs.String("url", "", "SCIM base URL of one connection, e.g. http://127.0.0.1:8080/scim/v2/acme (required)")
	token := fs.String("token", envOr("ORGSCIM_LOAD_TOKEN", ""), "the connection's bearer token (env ORGSCIM_LOAD_TOKEN)")
	users := fs.Int("users", 10000, "users to create")
	conc := fs.Int("concurrency", 32, "concurrent requests")
	lookups := fs.Int("lookups", 5000, "requests of the get and filter phases")
	readConc := fs.Int("read-concurrency", 0, "concurrency of the get and filter phases; 0 for --concurrency")
	batch := fs.Int("batch", 100, "members added per group PATCH")
	phases := fs.String("phases", strings.Join(allPhases, ","), "phases to run, in this order: "+strings.Join(allPhases, ","))
	if err := parse(fs, args); err != nil {
		return err
	}
	if *base == "" || *token == "" {
		fmt.Fprintln(stderr, "load: --url and --token are required")
		return errUsage
	}
	if *users < 1 || *conc < 1 || *lookups < 0 || *batch < 1 || *readConc < 0 {
		fmt.Fprintln(stderr, "load: --users, --concurrency and --batch must be positive")
		return errUsage
	}
	for _, p := range strings.Split(*phases, ",") {
		if !containsString(allPhases, p) {
			fmt.Fprintf(stderr, "load: unknown phase %q\n", p)
			return errUsage
		}
	}
	res, err := runLoad(ctx, *base, *token, loadOptions{Users: *users, Concurrency: *conc, ReadConcurrency: *readConc, Lookups: *lookups, Batch: *batch,
		Phases: strings.Split(*phases, ",")})
	if res != nil {
		if perr := printJSON(stdout, res); perr != nil && err == nil {
			err = perr
		}
	}
	return err
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
