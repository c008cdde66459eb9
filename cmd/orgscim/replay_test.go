package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestReplayIdPTraffic replays the request sequences of Microsoft Entra ID and Okta
// recorded under testdata/idp (format: testdata/idp/README.md) against the real server,
// on every engine, each file on a fresh connection of its IdP kind.
func TestReplayIdPTraffic(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "idp", "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no replay files under testdata/idp (err %v)", err)
	}
	for _, file := range files {
		rf := readReplayFile(t, file)
		dir := filepath.Base(filepath.Dir(file))
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(dir+"/"+name, func(t *testing.T) {
			t.Parallel()
			dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
				replay(t, file, rf, db)
			})
		})
	}
}

// replayFile is one recorded sequence.
type replayFile struct {
	IdP         string            `json:"idp"`
	Description string            `json:"description"`
	Sources     []string          `json:"sources"`
	Headers     map[string]string `json:"headers"`
	Steps       []replayStep      `json:"steps"`
}

type replayStep struct {
	Name       string            `json:"name"`
	Method     string            `json:"method"`
	Path       string            `json:"path"`
	Headers    map[string]string `json:"headers"`
	Body       json.RawMessage   `json:"body"`
	Expect     replayExpect      `json:"expect"`
	Capture    map[string]string `json:"capture"`
	KnownIssue string            `json:"known_issue"`
}

type replayExpect struct {
	Status int            `json:"status"`
	Body   map[string]any `json:"body"`
}

func readReplayFile(t *testing.T, file string) replayFile {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rf replayFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if dir := filepath.Base(filepath.Dir(file)); rf.IdP != dir {
		t.Fatalf("%s: idp %q does not match its directory %q", file, rf.IdP, dir)
	}
	for i, s := range rf.Steps {
		if s.Method == "" || !strings.HasPrefix(s.Path, "/") || s.Expect.Status == 0 {
			t.Fatalf("%s: step %d needs a method, a path starting with / and expect.status", file, i)
		}
	}
	return rf
}

// replay runs the steps of one file against a fresh server on db.
func replay(t *testing.T, file string, rf replayFile, db *sqlstore.DB) {
	ctx := context.Background()
	dir := &orgs.Directory{Store: db.Orgs()}
	if _, err := dir.CreateOrg(ctx, "Partner", "partner", ""); err != nil {
		t.Fatal(err)
	}
	conn, token, err := dir.CreateConnection(ctx, "partner", "partner", rf.IdP)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newHandler(db, slog.New(slog.NewTextHandler(io.Discard, nil)), httpConfig{}))
	defer srv.Close()
	base := srv.URL + "/scim/v2/" + conn.Slug

	vars := map[string]string{}
	for i, step := range rf.Steps {
		where := fmt.Sprintf("%s step %d %q", file, i, step.Name)
		problems, status, body := replayStepOnce(t, srv.Client(), base, token, rf.Headers, step, vars)
		if step.KnownIssue != "" {
			if len(problems) == 0 {
				t.Errorf("%s passes now: remove its known_issue %q", where, step.KnownIssue)
				continue
			}
			t.Skipf("%s: known issue %q; the rest of the file is skipped:\n%s\nresponse %d: %s",
				where, step.KnownIssue, strings.Join(problems, "\n"), status, body)
		}
		if len(problems) > 0 {
			t.Fatalf("%s (%s %s):\n  %s\nresponse %d: %s", where, step.Method, replayExpand(t, step.Path, vars),
				strings.Join(problems, "\n  "), status, body)
		}
	}
}

// replayStepOnce sends one step and returns what differed from its expectations. It
// stores the step's captures in vars.
func replayStepOnce(t *testing.T, client *http.Client, base, token string, fileHeaders map[string]string, step replayStep, vars map[string]string) (problems []string, status int, body []byte) {
	t.Helper()
	var reqBody io.Reader
	if len(step.Body) > 0 {
		var v any
		dec := json.NewDecoder(bytes.NewReader(step.Body))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("step %q: body: %v", step.Name, err)
		}
		b, err := json.Marshal(replaySubstitute(t, v, vars))
		if err != nil {
			t.Fatal(err)
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequest(step.Method, base+replayEncodePath(replayExpand(t, step.Path, vars)), reqBody)
	if err != nil {
		t.Fatalf("step %q: %v", step.Name, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/scim+json")
	if reqBody != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for _, h := range []map[string]string{fileHeaders, step.Headers} {
		for k, v := range h {
			req.Header.Set(k, replayExpand(t, v, vars))
		}
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("step %q: %v", step.Name, err)
	}
	defer res.Body.Close()
	body, _ = io.ReadAll(res.Body)
	if res.StatusCode != step.Expect.Status {
		return []string{fmt.Sprintf("status %d, want %d", res.StatusCode, step.Expect.Status)}, res.StatusCode, body
	}
	if len(step.Expect.Body) == 0 && len(step.Capture) == 0 {
		return nil, res.StatusCode, body
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return []string{"the response body is not JSON: " + err.Error()}, res.StatusCode, body
	}
	for _, path := range replaySortedKeys(step.Expect.Body) {
		want := replaySubstitute(t, step.Expect.Body[path], vars)
		path = replayExpand(t, path, vars)
		got, ok := replayLookup(doc, path)
		switch {
		case want == nil && (!ok || got == nil):
		case want == nil:
			problems = append(problems, fmt.Sprintf("%s = %s, want it absent", path, replayJSON(got)))
		case !ok:
			problems = append(problems, fmt.Sprintf("%s is absent, want %s", path, replayJSON(want)))
		case !reflect.DeepEqual(got, want):
			problems = append(problems, fmt.Sprintf("%s = %s, want %s", path, replayJSON(got), replayJSON(want)))
		}
	}
	for _, name := range replaySortedKeys(step.Capture) {
		got, ok := replayLookup(doc, step.Capture[name])
		if s, isString := got.(string); ok && isString && s != "" {
			vars[name] = s
			continue
		}
		problems = append(problems, fmt.Sprintf("capture %s: %s is not a non-empty string", name, step.Capture[name]))
	}
	return problems, res.StatusCode, body
}

var replayVar = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// replayExpand replaces ${name} by the captured value; an unknown name fails the test.
func replayExpand(t *testing.T, s string, vars map[string]string) string {
	t.Helper()
	return replayVar.ReplaceAllStringFunc(s, func(m string) string {
		v, ok := vars[m[2:len(m)-1]]
		if !ok {
			t.Fatalf("%s is used before it is captured", m)
		}
		return v
	})
}

// replaySubstitute expands variables in every string (keys included) of a decoded
// JSON value, and turns json.Number into float64 so that values compare as decoded.
func replaySubstitute(t *testing.T, v any, vars map[string]string) any {
	switch v := v.(type) {
	case string:
		return replayExpand(t, v, vars)
	case json.Number:
		f, _ := v.Float64()
		return f
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = replaySubstitute(t, e, vars)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[replayExpand(t, k, vars)] = replaySubstitute(t, e, vars)
		}
		return out
	}
	return v
}

// replayEncodePath percent-encodes the query of a path written readably
// (/Users?filter=userName eq "a@b"). A parameter without "=" stays bare
// (?aadOptscim062020), as Entra sends it.
func replayEncodePath(p string) string {
	path, query, ok := strings.Cut(p, "?")
	if !ok {
		return p
	}
	parts := strings.Split(query, "&")
	for i, part := range parts {
		k, v, hasValue := strings.Cut(part, "=")
		parts[i] = url.QueryEscape(k)
		if hasValue {
			parts[i] += "=" + url.QueryEscape(v)
		}
	}
	return path + "?" + strings.Join(parts, "&")
}

// replayLookup resolves an assertion path in a decoded response (see the README):
// object keys separated by "." (a key starting with "urn:" may contain dots: the
// longest key of the object that fits is taken), array indexes, "length", and
// [field=value] selecting the first element whose field has that value. The length of
// an absent or null value is 0.
func replayLookup(doc any, path string) (any, bool) {
	v, ok := replayWalk(doc, path)
	if !ok && (path == "length" || strings.HasSuffix(path, ".length")) {
		parent, found := replayWalk(doc, strings.TrimSuffix(strings.TrimSuffix(path, "length"), "."))
		if !found || parent == nil {
			return 0.0, true
		}
	}
	return v, ok
}

func replayWalk(v any, rest string) (any, bool) {
	if rest == "" {
		return v, true
	}
	switch v := v.(type) {
	case map[string]any:
		key := rest[:replaySegmentEnd(rest)]
		if strings.HasPrefix(rest, "urn:") {
			// A URN key holds dots ("...:2.0:User"): take the longest key that fits.
			key = ""
			for k := range v {
				if len(k) > len(key) && (rest == k || strings.HasPrefix(rest, k+".") || strings.HasPrefix(rest, k+"[")) {
					key = k
				}
			}
		}
		e, ok := v[key]
		if !ok || key == "" {
			return nil, false
		}
		return replayWalk(e, strings.TrimPrefix(rest[len(key):], "."))
	case []any:
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, false
			}
			field, want, ok := strings.Cut(rest[1:end], "=")
			if !ok {
				return nil, false
			}
			next := strings.TrimPrefix(rest[end+1:], ".")
			for _, e := range v {
				if got, ok := replayWalk(e, field); ok && fmt.Sprint(got) == want {
					return replayWalk(e, next)
				}
			}
			return nil, false
		}
		seg := rest[:replaySegmentEnd(rest)]
		next := strings.TrimPrefix(rest[len(seg):], ".")
		if seg == "length" && next == "" {
			return float64(len(v)), true
		}
		i, err := strconv.Atoi(seg)
		if err != nil || i < 0 || i >= len(v) {
			return nil, false
		}
		return replayWalk(v[i], next)
	}
	return nil, false
}

// replaySegmentEnd is where the first segment of a path ends: at "." or "[".
func replaySegmentEnd(path string) int {
	if i := strings.IndexAny(path, ".["); i >= 0 {
		return i
	}
	return len(path)
}

func replaySortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func replayJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
