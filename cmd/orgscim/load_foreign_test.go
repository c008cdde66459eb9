package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// foreignSCIM is a SCIM server other than orgscim, answering as BoxyHQ Jackson's directory
// sync does where it differs from orgscim: DELETE answers 200 with a body, PATCH answers
// 200, ops are matched case-sensitively ("Add" is ignored), a page holds at most 50
// resources and totalResults is capped at that page size, and there is no /metrics. Each
// create burns cpuPerCreate of this process's CPU, so that the load tool's CPU per
// request, read from /proc, has a known lower bound whatever the machine's speed.
type foreignSCIM struct {
	mu     sync.Mutex
	users  map[string]map[string]any // id → the user as created
	order  []string                  // ids in creation order, for paging
	listed map[string]bool           // ids some page returned
	groups map[string]map[string]bool
	// added and deactivated: the users ever added to a group, ever deactivated
	added, deactivated map[string]bool
	nextID             int
	metrics            int // requests for /metrics
}

const (
	foreignPageLimit = 50
	cpuPerCreate     = 2 * time.Millisecond
)

func newForeignSCIM() *foreignSCIM {
	return &foreignSCIM{users: map[string]map[string]any{}, listed: map[string]bool{}, groups: map[string]map[string]bool{},
		added: map[string]bool{}, deactivated: map[string]bool{}}
}

func (f *foreignSCIM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer secret" {
		writeForeign(w, http.StatusUnauthorized, map[string]any{"detail": "Unauthorized"})
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/api/scim/v2.0/dir/")
	if !ok {
		f.mu.Lock()
		f.metrics++
		f.mu.Unlock()
		writeForeign(w, http.StatusNotFound, map[string]any{"detail": "Not found"})
		return
	}
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	resource, id, _ := strings.Cut(path, "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case resource == "Users" && r.Method == "POST":
		f.mu.Unlock()
		burnCPU(cpuPerCreate)
		f.mu.Lock()
		f.nextID++
		id := strconv.Itoa(f.nextID)
		body["id"] = id
		f.users[id] = body
		f.order = append(f.order, id)
		writeForeign(w, http.StatusCreated, body)
	case resource == "Users" && id == "" && r.Method == "GET":
		f.listUsers(w, r)
	case resource == "Users" && f.users[id] == nil:
		writeForeign(w, http.StatusNotFound, map[string]any{"detail": "User not found"})
	case resource == "Users" && r.Method == "GET":
		writeForeign(w, http.StatusOK, f.users[id])
	case resource == "Users" && r.Method == "PATCH":
		for _, op := range body["Operations"].([]any) {
			if o := op.(map[string]any); o["path"] == "active" {
				f.users[id]["active"] = o["value"]
				f.deactivated[id] = o["value"] == false
			}
		}
		writeForeign(w, http.StatusOK, f.users[id])
	case resource == "Users" && r.Method == "DELETE":
		u := f.users[id]
		delete(f.users, id)
		writeForeign(w, http.StatusOK, u)
	case resource == "Groups" && r.Method == "POST":
		f.nextID++
		id := "g" + strconv.Itoa(f.nextID)
		f.groups[id] = map[string]bool{}
		writeForeign(w, http.StatusCreated, map[string]any{"id": id, "displayName": body["displayName"], "members": []any{}})
	case resource == "Groups" && f.groups[id] == nil:
		writeForeign(w, http.StatusNotFound, map[string]any{"detail": "Group not found"})
	case resource == "Groups" && r.Method == "PATCH":
		for _, op := range body["Operations"].([]any) {
			if o := op.(map[string]any); o["op"] == "add" && o["path"] == "members" {
				for _, m := range o["value"].([]any) {
					f.groups[id][m.(map[string]any)["value"].(string)] = true
					f.added[m.(map[string]any)["value"].(string)] = true
				}
			}
		}
		writeForeign(w, http.StatusOK, map[string]any{"id": id, "members": []any{}})
	case resource == "Groups" && r.Method == "DELETE":
		delete(f.groups, id)
		writeForeign(w, http.StatusOK, map[string]any{})
	default:
		writeForeign(w, http.StatusNotFound, map[string]any{"detail": "Not found"})
	}
}

// listUsers answers a filter (userName eq) or a page; a page holds at most
// foreignPageLimit users, and totalResults counts no more than that.
func (f *foreignSCIM) listUsers(w http.ResponseWriter, r *http.Request) {
	var found []any
	if filter := r.URL.Query().Get("filter"); filter != "" {
		_, want, _ := strings.Cut(filter, "eq ")
		want = strings.Trim(want, `"`)
		for _, u := range f.users {
			if u["userName"] == want {
				found = append(found, u)
			}
		}
		writeForeign(w, http.StatusOK, map[string]any{"totalResults": len(found), "Resources": found})
		return
	}
	var live []string
	for _, id := range f.order {
		if f.users[id] != nil {
			live = append(live, id)
		}
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
	count, _ := strconv.Atoi(r.URL.Query().Get("count"))
	if count == 0 || count > foreignPageLimit {
		count = foreignPageLimit
	}
	for _, id := range live[min(max(start-1, 0), len(live)):min(max(start-1, 0)+count, len(live))] {
		found = append(found, f.users[id])
		f.listed[id] = true
	}
	writeForeign(w, http.StatusOK, map[string]any{"totalResults": min(len(live), foreignPageLimit), "itemsPerPage": len(found), "Resources": found})
}

func writeForeign(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// burnCPU spins on this goroutine's thread until the thread has used d of CPU.
func burnCPU(d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const rusageThread = 1 // RUSAGE_THREAD: the calling thread only
	used := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(rusageThread, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for end := used() + d; used() < end; {
	}
}

// TestLoadToolDrivesAForeignServer runs every phase of `orgscim load` against a SCIM
// server that answers as Jackson does where it differs from orgscim, with its CPU read
// from /proc by --server-pid (the server is this test's process). Every phase runs
// without errors and does what it says: the walk reads every user although totalResults
// is capped and pages are short, the group gets every member, every user is deactivated
// and then deleted; and the creates' CPU per request is at least what each create burnt.
func TestLoadToolDrivesAForeignServer(t *testing.T) {
	f := newForeignSCIM()
	srv := httptest.NewServer(f)
	defer srv.Close()
	const users = 120
	o := loadOptions{Users: users, Concurrency: 4, Lookups: 40, Batch: 50, Phases: allPhases, ServerPID: os.Getpid(), Settle: 0}
	res, err := runLoad(context.Background(), srv.URL+"/api/scim/v2.0/dir", "secret", o)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"create": users, "get": 40, "filter": 40, "page": 3, "groupadd": 3, "deactivate": users, "delete": users}
	for phase, n := range want {
		if r := res[phase]; r.Requests != n || r.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors (%s), want %d without errors", phase, r.Requests, r.Errors, r.FirstError, n)
		}
	}
	if c := res[cleanupPhase]; c.Errors != 0 || c.Requests != 1 {
		t.Errorf("cleanup: %+v, want the group deleted", c)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.listed) != users {
		t.Errorf("the page walk read %d of %d users", len(f.listed), users)
	}
	if len(f.added) != users || len(f.deactivated) != users {
		t.Errorf("%d users added to the group, %d deactivated; want all %d", len(f.added), len(f.deactivated), users)
	}
	for id, off := range f.deactivated {
		if !off {
			t.Errorf("user %s still active", id)
		}
	}
	if len(f.users) != 0 || len(f.groups) != 0 {
		t.Errorf("%d users and %d groups left", len(f.users), len(f.groups))
	}
	if cpu := res["create"].ServerCPUms; cpu < 0.9*float64(cpuPerCreate.Milliseconds()) {
		t.Errorf("create: %v ms of server CPU per request, want at least the %v each create burnt", cpu, cpuPerCreate)
	}
	if res["create"].Statements != 0 || f.metrics > 1 {
		t.Errorf("statements %v per request from a server without the counter; /metrics asked %d times, want once", res["create"].Statements, f.metrics)
	}
}

// TestLoadToolServerPIDMustExist: --server-pid naming no process is refused as a usage
// error before any request is sent.
func TestLoadToolServerPIDMustExist(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	pidMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	var requests int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	for _, pid := range []int{pidMax + 1, -1} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"load", "--url", srv.URL + "/scim/v2/x", "--token", "t", "--json",
			"--server-pid=" + strconv.Itoa(pid)}, &stdout, &stderr)
		if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), fmt.Sprintf("--server-pid %d: no such process", pid)) {
			t.Errorf("--server-pid %d: %v, stderr %q; want a usage error naming the PID", pid, err, stderr.String())
		}
	}
	if requests != 0 {
		t.Errorf("%d requests sent before the PID was refused", requests)
	}
}
