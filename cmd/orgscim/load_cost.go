package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// What a request costs, beside how fast it is answered: requests per second swing with
// whatever else runs on the machine, CPU per request much less.
//
// Server CPU and statements come from the server's own /metrics
// (process_cpu_seconds_total, read by Prometheus' process collector from /proc/self/stat,
// and orgscim_db_statements_total), scraped before and after each phase. A server that
// exports no such metric (another SCIM server, measured side by side) is named by its
// process id instead (--server-pid): its CPU is then read from /proc/<pid>/stat on this
// machine, and its statements from /metrics only if it exports the counter. PostgreSQL's CPU
// is that of the backends serving the server, read from /proc/<pid>/stat on this machine:
// the backends are those of pg_stat_activity in --postgres's database with its
// application_name (start the server with the same URL, application_name included, to
// exclude other clients of that database). They are sampled every 100 ms during a phase,
// so a backend that started during it counts from zero and one that exited counts up to
// its last sample. A phase ends when the server is quiet again (at most 10 s after its
// last answer), so that the work its requests left behind — sealing their audit events,
// queueing webhooks — is charged to it and not to the next phase.

// phaseCost is a phase's cost divided by its requests. A figure that could not be
// measured is absent.
type phaseCost struct {
	ServerCPUms   float64 `json:"server_cpu_ms_per_request,omitempty"`
	PostgresCPUms float64 `json:"postgres_cpu_ms_per_request,omitempty"`
	Statements    float64 `json:"statements_per_request,omitempty"`
}

// serverCounters is one scrape of the server's /metrics.
type serverCounters struct {
	cpuSeconds, statements float64
	// ok: the CPU was read; counted: the statements too (a server before the counter has
	// only the CPU); hasStatements: the statement counter was read, whatever the CPU.
	ok, counted, hasStatements bool
}

// costMeter measures the phases of one run.
type costMeter struct {
	metricsURL string
	client     *http.Client
	pg         *pgx.Conn // nil: no PostgreSQL figures
	ticks      float64   // clock ticks per second of /proc/<pid>/stat
	settleFor  time.Duration
	// serverPID, when not 0, is the server's process on this machine: its CPU is read
	// from /proc/<pid>/stat, not from /metrics.
	serverPID int
	// noMetrics: the server exports no statement counter, so /metrics is not scraped (a
	// foreign server would be charged for answering 404s during settle).
	noMetrics bool
}

// newCostMeter derives the server's /metrics from the SCIM base URL. database, when
// not empty, is a PostgreSQL URL on this machine whose backends' CPU is measured.
// serverPID, when not 0, is the server's process on this machine, whose CPU is read
// from /proc; it must exist.
func newCostMeter(ctx context.Context, base, database string, serverPID int, settleFor time.Duration, client *http.Client) (*costMeter, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	m := &costMeter{metricsURL: u.Scheme + "://" + u.Host + "/metrics", client: client, ticks: 100, settleFor: settleFor, serverPID: serverPID}
	if serverPID != 0 {
		if _, ok := procTicks(serverPID); serverPID < 0 || !ok {
			return nil, usagef("--server-pid %d: no such process on this machine (the server's CPU is read from /proc/%d/stat)", serverPID, serverPID)
		}
		m.noMetrics = !m.scrape(ctx).hasStatements
	}
	if database != "" {
		if !strings.HasPrefix(database, "postgres://") && !strings.HasPrefix(database, "postgresql://") {
			return nil, usagef("--postgres must be a PostgreSQL URL (postgres://…): the backends' CPU is PostgreSQL's")
		}
		if m.pg, err = pgx.Connect(ctx, database); err != nil {
			return nil, fmt.Errorf("load: --postgres: %w", err)
		}
	}
	return m, nil
}

func (m *costMeter) close() {
	if m.pg != nil {
		m.pg.Close(context.Background())
	}
}

// counters reads the server's CPU and statements: from /metrics, or with a server PID,
// the CPU from its /proc and the statements from /metrics where it exports them.
func (m *costMeter) counters(ctx context.Context) serverCounters {
	if m.serverPID == 0 {
		return m.scrape(ctx)
	}
	var c serverCounters
	if !m.noMetrics {
		c = m.scrape(ctx)
	}
	t, ok := procTicks(m.serverPID)
	c.cpuSeconds, c.ok = t/m.ticks, ok
	c.counted = ok && c.hasStatements
	return c
}

func (m *costMeter) scrape(ctx context.Context) serverCounters {
	req, err := http.NewRequestWithContext(ctx, "GET", m.metricsURL, nil)
	if err != nil {
		return serverCounters{}
	}
	res, err := m.client.Do(req)
	if err != nil {
		return serverCounters{}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return serverCounters{}
	}
	return parseServerCounters(res.Body)
}

// parseServerCounters reads the two counters from Prometheus' text format.
func parseServerCounters(r io.Reader) serverCounters {
	var c serverCounters
	var cpu, stmts bool
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		if name != "process_cpu_seconds_total" && name != "orgscim_db_statements_total" {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		if name == "process_cpu_seconds_total" {
			c.cpuSeconds, cpu = v, true
		} else {
			c.statements, stmts = v, true
		}
	}
	c.ok, c.counted, c.hasStatements = cpu, cpu && stmts, stmts
	return c
}

// backendTicks samples the CPU ticks of the server's backends: pid → utime+stime.
func (m *costMeter) backendTicks(ctx context.Context) (map[int]float64, error) {
	rows, err := m.pg.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = current_setting('application_name')
		  AND backend_type = 'client backend' AND pid <> pg_backend_pid()`)
	if err != nil {
		return nil, err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, err
	}
	out := make(map[int]float64, len(pids))
	for _, pid := range pids {
		if t, ok := procTicks(int(pid)); ok {
			out[int(pid)] = t
		}
	}
	return out, nil
}

// procTicks is utime+stime of a process, in clock ticks.
func procTicks(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces and parentheses: the fields follow the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	// After the name: state is field 3 of the whole line, utime 14 and stime 15.
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return u + st, true
}

// measure runs the phase and returns its cost per request.
func (m *costMeter) measure(ctx context.Context, requests int, run func()) phaseCost {
	before := m.counters(ctx)
	var (
		first, last map[int]float64
		pgErr       error
		wg          sync.WaitGroup
	)
	stop := make(chan struct{})
	if m.pg != nil {
		first, pgErr = m.backendTicks(ctx)
		last = map[int]float64{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					// A failed sample is followed by the next one; the last one below
					// decides whether the figure is kept.
					if s, err := m.backendTicks(ctx); err == nil {
						for pid, v := range s {
							last[pid] = v
						}
					}
				}
			}
		}()
	}
	run()
	m.settle(ctx)
	close(stop)
	wg.Wait()
	var cost phaseCost
	if requests == 0 {
		return cost
	}
	if m.pg != nil && pgErr == nil {
		if s, err := m.backendTicks(ctx); err == nil {
			for pid, v := range s {
				last[pid] = v
			}
			var ticks float64
			for pid, v := range last {
				ticks += v - first[pid] // a backend new in this phase counts from zero
			}
			cost.PostgresCPUms = round3(ticks / m.ticks * 1000 / float64(requests))
		}
	}
	if after := m.counters(ctx); before.ok && after.ok {
		cost.ServerCPUms = round3((after.cpuSeconds - before.cpuSeconds) * 1000 / float64(requests))
		if before.counted && after.counted {
			cost.Statements = round3((after.statements - before.statements) / float64(requests))
		}
	}
	return cost
}

// settle waits until the server is quiet again, at most m.settleFor:
// the work a phase's requests leave behind (sealing their audit events, queueing their
// webhooks) is their cost too, and must not be charged to the next phase.
func (m *costMeter) settle(ctx context.Context) {
	const window = 500 * time.Millisecond
	busy := func(a, b serverCounters) bool { return !a.ok || !b.ok || b.cpuSeconds-a.cpuSeconds > 0.01 }
	prev := m.counters(ctx)
	for deadline := time.Now().Add(m.settleFor); time.Now().Before(deadline); {
		if sleepCtx(ctx, window) != nil {
			return
		}
		cur := m.counters(ctx)
		// One clock tick (10 ms) in half a second is the sealer's idle rounds.
		if !busy(prev, cur) || !prev.ok && !cur.ok {
			return
		}
		prev = cur
	}
}

// printCostTable writes the phases' throughput and cost as a table, in the order they ran.
func printCostTable(w io.Writer, res map[string]phaseResult) {
	fmt.Fprintf(w, "%-11s %9s %7s %9s %9s %11s %10s %8s\n", "phase", "requests", "errors", "req/s", "p50 ms", "server ms", "PG ms", "stmts")
	for _, p := range append(append([]string{}, allPhases...), cleanupPhase) {
		r, ok := res[p]
		if !ok {
			continue
		}
		fig := func(v float64) string {
			if v == 0 {
				return "-"
			}
			return strconv.FormatFloat(v, 'f', 3, 64)
		}
		fmt.Fprintf(w, "%-11s %9d %7d %9.0f %9.3f %11s %10s %8s\n", p, r.Requests, r.Errors, r.PerSecond, r.P50ms,
			fig(r.ServerCPUms), fig(r.PostgresCPUms), fig(r.Statements))
	}
}
