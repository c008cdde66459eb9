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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// phaseResult is what `orgscim load` reports for one phase.
type phaseResult struct {
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"requests_per_second"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	FirstError string  `json:"first_error,omitempty"`
	// Throttled counts the 429 answers the phase waited out (Retry-After) and retried;
	// their waits are in the latencies, as a client experiences them.
	Throttled int64 `json:"throttled,omitempty"`
	// BySize is the group adds' p50 in each tenth of the phase, in the order the group
	// grew: flat when an add costs the same at 1,000 members as at 100,000.
	BySize      []float64 `json:"p50_ms_by_tenth,omitempty"`
	Description string    `json:"description"`
	phaseCost
}

// loadRun drives one SCIM base URL. It is the engine of `orgscim load`.
type loadRun struct {
	base        string
	token       string
	concurrency int
	client      *http.Client
	prefix      string
	// maxRetries bounds the retries of one request answered 429; maxWait bounds one
	// wait, whatever Retry-After asks.
	maxRetries int
	maxWait    time.Duration
	throttled  atomic.Int64
	bar        *progress
	cost       *costMeter
}

// do sends one request and wants one of the statuses. A 429 is waited out as its
// Retry-After says (1 s without one, at most maxWait) and retried, at most maxRetries
// times: the server's default rate limit must slow the tool down, not fail it.
func (l *loadRun) do(ctx context.Context, method, path string, body any, want ...int) ([]byte, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, l.base+path, bytes.NewReader(payload))
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
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		if res.StatusCode == http.StatusTooManyRequests && attempt < l.maxRetries {
			l.throttled.Add(1)
			if err := sleepCtx(ctx, retryAfter(res.Header.Get("Retry-After"), time.Now(), l.maxWait)); err != nil {
				return nil, err
			}
			continue
		}
		if !slices.Contains(want, res.StatusCode) {
			return b, fmt.Errorf("%s %s: status %d, want %v", method, strings.SplitN(path, "?", 2)[0], res.StatusCode, want)
		}
		return b, nil
	}
}

// retryAfter is how long a 429's Retry-After asks to wait (seconds or an HTTP date),
// 1 s when it says nothing usable, never more than max.
func retryAfter(h string, now time.Time, limit time.Duration) time.Duration {
	d := time.Second
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && secs >= 0 {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	// A zero wait would retry at once into the same limit: wait a little.
	d = max(d, 50*time.Millisecond)
	return min(d, limit)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// phase runs n operations on the run's workers and measures each.
func (l *loadRun) phase(ctx context.Context, desc string, n, workers int, op func(ctx context.Context, i int) error) phaseResult {
	lat := make([]time.Duration, n)
	var next, errs atomic.Int64
	throttled := l.throttled.Load()
	l.bar.Reset(int64(n), "load: "+strings.Fields(desc)[0]+" "+strings.Fields(desc)[1])
	var firstErr atomic.Value
	var start time.Time
	var elapsed time.Duration
	cost := l.cost.measure(ctx, n, func() {
		start = time.Now()
		l.workers(ctx, n, workers, lat, &next, &errs, &firstErr, op)
		elapsed = time.Since(start)
	})
	res := phaseResult{Requests: n, Errors: int(errs.Load()), Seconds: round3(elapsed.Seconds()), Description: desc,
		Throttled: l.throttled.Load() - throttled, phaseCost: cost}
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

// workers runs n operations on that many goroutines, recording each one's latency.
func (l *loadRun) workers(ctx context.Context, n, workers int, lat []time.Duration, next, errs *atomic.Int64, firstErr *atomic.Value,
	op func(ctx context.Context, i int) error) {
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
				l.bar.Add(1)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
}

// withThrottled counts in r the 429s of the requests a phase made before its measured
// part (the group it adds to, the count it pages through).
func withThrottled(r phaseResult, n int64) phaseResult {
	r.Throttled = n
	return r
}

// withBySize adds to r the p50 of each tenth of took, a phase's latencies in the order
// its requests were made (fewer than ten requests give none).
func withBySize(r phaseResult, took []time.Duration) phaseResult {
	if len(took) < 10 {
		return r
	}
	for k := range 10 {
		part := slices.Clone(took[k*len(took)/10 : (k+1)*len(took)/10])
		slices.Sort(part)
		r.BySize = append(r.BySize, round3(float64(part[(len(part)-1)/2].Microseconds())/1000))
	}
	return r
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// loadOptions configures `orgscim load`.
type loadOptions struct {
	// SSFToken, when set, is a Shared Signals receiver's token: the deactivate phase then
	// also measures time to revoke (see load_ssf.go).
	SSFToken    string
	Users       int
	Concurrency int
	// ReadConcurrency is the concurrency of the get and filter phases (0: Concurrency):
	// latency measured at a concurrency that saturates the machine is mostly queueing.
	ReadConcurrency int
	Lookups         int
	Batch           int
	Phases          []string
	// MaxRetries and MaxWait bound how a 429 is retried (0: 8 retries, 30 s).
	MaxRetries int
	MaxWait    time.Duration
	// Keep leaves the users and the group the run created; by default they are
	// deleted at the end, also after a failure or an interrupt.
	Keep bool
	// Progress, when set, shows each phase's progress (on a terminal).
	Progress *progress
	// Postgres, when set, is the server's PostgreSQL URL on this machine: each phase
	// then reports its backends' CPU per request (see load_cost.go).
	Postgres string
	// ServerPID, when not 0, is the server's process on this machine: its CPU per
	// request is read from /proc, for a server that does not export it (see load_cost.go).
	ServerPID int
	// Settle is how long a phase may wait, after its last answer, for the server to be
	// quiet again (see costMeter.settle); 0: not at all.
	Settle time.Duration
}

var allPhases = []string{"create", "get", "filter", "page", "groupadd", "deactivate", "delete"}

// cleanupPhase names the result of the clean-up in runLoad's results.
const cleanupPhase = "cleanup"

// runLoad runs the phases in order and returns their results by name. Unless o.Keep, it
// deletes what it created and did not delete in a phase (users, the group), also when
// a phase failed or ctx was cancelled; the clean-up's result is "cleanup".
func runLoad(ctx context.Context, base, token string, o loadOptions) (out map[string]phaseResult, err error) {
	if o.MaxRetries == 0 {
		o.MaxRetries = 8
	}
	if o.MaxWait == 0 {
		o.MaxWait = 30 * time.Second
	}
	l := &loadRun{base: strings.TrimSuffix(base, "/"), token: token, concurrency: o.Concurrency,
		maxRetries: o.MaxRetries, maxWait: o.MaxWait, bar: o.Progress,
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			MaxIdleConns: o.Concurrency * 2, MaxIdleConnsPerHost: o.Concurrency * 2, IdleConnTimeout: 30 * time.Second}},
		prefix: fmt.Sprintf("load-%d", time.Now().UnixNano())}
	if l.cost, err = newCostMeter(ctx, l.base, o.Postgres, o.ServerPID, o.Settle, l.client); err != nil {
		return nil, err
	}
	defer l.cost.close()
	want := map[string]bool{}
	for _, p := range o.Phases {
		want[p] = true
	}
	out = map[string]phaseResult{}
	ids := make([]string, o.Users)
	deleted := make([]bool, o.Users)
	var groupID string
	if !o.Keep {
		defer func() {
			// An interrupt must not leave the users behind: the clean-up gets its own,
			// bounded, time.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			defer cancel()
			out[cleanupPhase] = l.cleanup(cctx, ids, deleted, groupID, o.Concurrency)
		}()
	}
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
		out["page"] = l.pageWalk(ctx, created(ids))
	}
	if want["groupadd"] {
		before := l.throttled.Load()
		b, err := l.do(ctx, "POST", "/Groups", map[string]any{"displayName": l.prefix + " group"}, http.StatusCreated)
		var g struct{ ID string }
		if err == nil {
			err = json.Unmarshal(b, &g)
		}
		if err != nil {
			return out, fmt.Errorf("load: create group: %w", err)
		}
		groupID = g.ID
		batches := (o.Users + o.Batch - 1) / o.Batch
		// Batches go one after another: the group grows to every user, and each batch
		// is measured at the size the group has then.
		took := make([]time.Duration, batches)
		out["groupadd"] = l.phase(ctx, fmt.Sprintf("PATCH /Groups/{id} adding %d members per request, up to %d members", o.Batch, o.Users), batches, 1,
			func(ctx context.Context, i int) error {
				defer func(t0 time.Time) { took[i] = time.Since(t0) }(time.Now())
				var members []any
				for _, id := range ids[i*o.Batch : min((i+1)*o.Batch, o.Users)] {
					members = append(members, map[string]any{"value": id})
				}
				_, err := l.do(ctx, "PATCH", "/Groups/"+g.ID, map[string]any{
					"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []any{map[string]any{"op": "add", "path": "members", "value": members}},
				}, http.StatusNoContent, http.StatusOK)
				return err
			})
		out["groupadd"] = withThrottled(out["groupadd"], l.throttled.Load()-before)
		out["groupadd"] = withBySize(out["groupadd"], took)
	}
	if want["deactivate"] {
		var probe *ssfProbe
		if o.SSFToken != "" {
			if probe, err = startSSFProbe(ctx, l.base, o.SSFToken, l.client); err != nil {
				return out, err
			}
			defer probe.close(context.WithoutCancel(ctx))
		}
		out["deactivate"] = l.phase(ctx, fmt.Sprintf("PATCH /Users/{id} active=false × %d", o.Users), o.Users, o.Concurrency, func(ctx context.Context, i int) error {
			if probe != nil {
				probe.deactivating(userName(i))
			}
			_, err := l.do(ctx, "PATCH", "/Users/"+ids[i], map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}},
			}, http.StatusNoContent, http.StatusOK)
			if err == nil && probe != nil {
				probe.deactivated(userName(i))
			}
			return err
		})
		if probe != nil {
			out["time_to_revoke"], out["ssf_delivery"] = probe.result(ctx, time.Minute)
		}
	}
	if want["delete"] {
		out["delete"] = l.phase(ctx, fmt.Sprintf("DELETE /Users/{id} × %d", o.Users), o.Users, o.Concurrency, func(ctx context.Context, i int) error {
			_, err := l.do(ctx, "DELETE", "/Users/"+ids[i], nil, deletedStatuses...)
			if err == nil {
				deleted[i] = true
			}
			return err
		})
	}
	return out, nil
}

// Protocol tolerance: the run drives any SCIM server, not only orgscim, and asks of it
// only what RFC 7644 requires, in the RFC's own spelling.
//   - DELETE answers 204 (RFC 7644 §3.6); a server that answers 200 with a body has
//     deleted too.
//   - PATCH ops are sent as the RFC spells them ("add", "replace"): some servers match
//     them case-sensitively and silently ignore "Add".
//   - A list may hold fewer resources than count asked for (§3.4.2.4), and some servers
//     report a totalResults capped at their page size: the page walk steps by the page
//     size the server answers with, through at least the users the run created.
var deletedStatuses = []int{http.StatusNoContent, http.StatusOK}

// created counts the users the create phase created.
func created(ids []string) int {
	n := 0
	for _, id := range ids {
		if id != "" {
			n++
		}
	}
	return n
}

// pageWalk is the page phase: one client pages through every user, as an IdP's full
// sync does, at least through the run's own (atLeast) users. The first page, asked for
// before the walk, says the server's page size and the total.
func (l *loadRun) pageWalk(ctx context.Context, atLeast int) phaseResult {
	const count = 100
	before := l.throttled.Load()
	total, size := atLeast, count
	b, err := l.do(ctx, "GET", fmt.Sprintf("/Users?startIndex=1&count=%d", count), nil, http.StatusOK)
	if err == nil {
		var list struct {
			TotalResults int
			Resources    []json.RawMessage
		}
		_ = json.Unmarshal(b, &list)
		total = max(total, list.TotalResults)
		if n := len(list.Resources); n > 0 && n < count {
			size = n
		}
	}
	pages := (total + size - 1) / size
	r := l.phase(ctx, fmt.Sprintf("GET /Users?startIndex=…&count=%d through all %d users in pages of %d, one client", count, total, size), pages, 1,
		func(ctx context.Context, i int) error {
			start := i*size + 1
			b, err := l.do(ctx, "GET", fmt.Sprintf("/Users?startIndex=%d&count=%d", start, count), nil, http.StatusOK)
			if err != nil {
				return err
			}
			var list struct{ Resources []json.RawMessage }
			if err := json.Unmarshal(b, &list); err != nil {
				return err
			}
			// A walk that reads empty pages walks nothing: that is a failure, not speed.
			if len(list.Resources) == 0 {
				return fmt.Errorf("page at startIndex %d of %d users: no resources", start, total)
			}
			return nil
		})
	return withThrottled(r, l.throttled.Load()-before)
}

// cleanup deletes the users the run created and has not deleted, and its group. A user
// already gone (404) counts as deleted.
func (l *loadRun) cleanup(ctx context.Context, ids []string, deleted []bool, groupID string, workers int) phaseResult {
	var left []string
	for i, id := range ids {
		if id != "" && !deleted[i] {
			left = append(left, id)
		}
	}
	if groupID != "" {
		left = append(left, "group:"+groupID)
	}
	return l.phase(ctx, fmt.Sprintf("cleanup: DELETE %d users and groups the run created", len(left)), len(left), workers,
		func(ctx context.Context, i int) error {
			path := "/Users/" + left[i]
			if g, ok := strings.CutPrefix(left[i], "group:"); ok {
				path = "/Groups/" + g
			}
			_, err := l.do(ctx, "DELETE", path, nil, append(deletedStatuses, http.StatusNotFound)...)
			return err
		})
}

type loadCmd struct {
	URL             string        `name:"url" required:"" placeholder:"BASE" help:"SCIM base URL of one connection, e.g. http://127.0.0.1:8080/scim/v2/acme."`
	Token           string        `env:"ORGSCIM_LOAD_TOKEN" placeholder:"TOKEN" help:"The connection's bearer token."`
	Users           int           `default:"10000" placeholder:"N" help:"Users to create."`
	Concurrency     int           `default:"32" placeholder:"C" help:"Concurrent requests."`
	Lookups         int           `default:"5000" placeholder:"N" help:"Requests of the get and filter phases."`
	ReadConcurrency int           `default:"0" placeholder:"C" help:"Concurrency of the get and filter phases; 0 for --concurrency."`
	Batch           int           `default:"100" placeholder:"N" help:"Members added per group PATCH."`
	Phases          string        `default:"${load_phases}" placeholder:"create,get,..." help:"Phases to run, in this order: ${load_phases}."`
	MaxRetries      int           `default:"8" placeholder:"N" help:"Retries of a request answered 429 (Too Many Requests), each after its Retry-After."`
	MaxWait         time.Duration `default:"30s" placeholder:"DURATION" help:"The longest one Retry-After is waited out."`
	Postgres        string        `placeholder:"URL" help:"The server's PostgreSQL URL, application_name included, when PostgreSQL runs on this machine: each phase then reports its backends' CPU per request."`
	ServerPID       int           `name:"server-pid" placeholder:"PID" help:"The server's process on this machine: its CPU per request is read from /proc/PID/stat instead of the server's /metrics (for a SCIM server other than orgscim)."`
	Settle          time.Duration `default:"10s" placeholder:"DURATION" help:"The longest a phase waits after its last answer for the server to be quiet again, so that the work its requests left behind (sealing, webhooks) counts in its CPU per request."`
	Keep            bool          `help:"Leave the users and group the run created; by default they are deleted at the end, also after a failure or Ctrl-C."`
	SSFToken        string        `name:"ssf-token" env:"ORGSCIM_LOAD_SSF_TOKEN" placeholder:"TOKEN" help:"A Shared Signals receiver's token (orgscim ssf receiver add): the deactivate phase then also measures time to revoke, to a push receiver on 127.0.0.1."`
	JSON            bool          `name:"json" help:"Only the JSON: no progress bar and no table on a terminal's stderr."`
}

func (loadCmd) Help() string {
	return `Drives a running server's SCIM endpoint: create, get, filter, page, group adds,
deactivate, delete; and prints requests per second, p50/p99/max latency, errors and the
429s it waited out per phase as JSON on stdout, with what each request cost: the
server's CPU and statements (from its /metrics; with --server-pid the CPU from that
process's /proc on this machine) and, with --postgres, PostgreSQL's CPU (its backends'
/proc on this machine). Any SCIM 2.0 server can be driven: a DELETE answered 200 counts
as deleted, PATCH ops are sent in RFC 7644's spelling, and pages are walked by the page
size the server answers with. A 429 is retried after its Retry-After (bounded
by --max-retries and --max-wait), so the server's rate limit slows the run down instead
of failing it. What the run created and did not delete is deleted at the end
("cleanup" in the result) unless --keep. With --ssf-token the run also reports
"time_to_revoke": from each deactivation's PATCH to its SET at a Shared Signals push
receiver it runs on 127.0.0.1 (its stream is deleted at the end). On a terminal, progress and then a table of
the figures go to stderr (not with --json). See docs/PERFORMANCE.md.

Example:

    orgscim load --url http://127.0.0.1:8080/scim/v2/acme --token "$TOKEN" --users 10000 --concurrency 32 \
      --postgres 'postgres://127.0.0.1/orgscim?application_name=orgscim'`
}

func (c *loadCmd) Run(env *cliEnv) error {
	if c.Token == "" {
		return usagef("--token is required (or set ORGSCIM_LOAD_TOKEN)")
	}
	if c.Users < 1 || c.Concurrency < 1 || c.Lookups < 0 || c.Batch < 1 || c.ReadConcurrency < 0 || c.MaxRetries < 0 || c.MaxWait <= 0 || c.Settle < 0 {
		return usagef("--users, --concurrency, --batch and --max-wait must be positive; --lookups, --read-concurrency, --max-retries and --settle not negative")
	}
	phases := strings.Split(c.Phases, ",")
	for _, p := range phases {
		if !slices.Contains(allPhases, p) {
			return usagef("unknown phase %q; the phases are %s", p, strings.Join(allPhases, ","))
		}
	}
	bar := newProgress(env.stderr, c.JSON, int64(c.Users), "load", "requests")
	res, err := runLoad(env.ctx, c.URL, c.Token, loadOptions{Users: c.Users, Concurrency: c.Concurrency, ReadConcurrency: c.ReadConcurrency,
		Lookups: c.Lookups, Batch: c.Batch, Phases: phases, MaxRetries: c.MaxRetries, MaxWait: c.MaxWait, Keep: c.Keep, Progress: bar,
		Postgres: c.Postgres, ServerPID: c.ServerPID, Settle: c.Settle, SSFToken: c.SSFToken})
	bar.Done()
	if res != nil && !c.JSON && isTerminal(env.stderr) {
		printCostTable(env.stderr, res)
	}
	if res != nil {
		if perr := printJSON(env.stdout, res); perr != nil && err == nil {
			err = perr
		}
	}
	return err
}
