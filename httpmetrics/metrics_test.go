package httpmetrics

import (
	"database/sql"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsPerServerAndBoundedLabels(t *testing.T) {
	stats := sql.DBStats{MaxOpenConnections: 8, OpenConnections: 3, InUse: 2, Idle: 1, WaitCount: 5, WaitDuration: 1500 * time.Millisecond}
	m := New(Options{DBStats: func() sql.DBStats { return stats }, Engine: "sqlite",
		Connection: func(c echo.Context) string { return c.Request().Header.Get("X-Conn") }})
	New(Options{}) // a second one in the same process: no clash on a shared registry

	e := echo.New()
	e.Use(m.Middleware())
	e.GET("/things/:id", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/fail", func(c echo.Context) error { return echo.ErrForbidden })
	for _, r := range []struct{ method, path, conn string }{
		{"GET", "/things/1", "a"}, {"GET", "/things/2", "a"}, {"GET", "/fail", ""},
		{"PURGE", "/things/3", ""}, {"GET", "/random/path", ""},
	} {
		req := httptest.NewRequest(r.method, r.path, nil)
		req.Header.Set("X-Conn", r.conn)
		e.ServeHTTP(httptest.NewRecorder(), req)
	}
	for labels, want := range map[[4]string]float64{
		{"/things/:id", "GET", "200", "a"}:  2,
		{"/fail", "GET", "403", ""}:         1, // the status the client got, not echo's default
		{"/things/:id", "OTHER", "405", ""}: 1,
		{Unmatched, "GET", "404", ""}:       1,
	} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(labels[:]...)); got != want {
			t.Errorf("requests%v = %v, want %v", labels, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.requests); n != 4 {
		t.Errorf("%d request series, want 4", n)
	}
	want := `
# HELP orgscim_db_in_use_connections Connections in use.
# TYPE orgscim_db_in_use_connections gauge
orgscim_db_in_use_connections{engine="sqlite"} 2
# HELP orgscim_db_wait_duration_seconds_total Time spent waiting for a free connection.
# TYPE orgscim_db_wait_duration_seconds_total counter
orgscim_db_wait_duration_seconds_total{engine="sqlite"} 1.5
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"orgscim_db_in_use_connections", "orgscim_db_wait_duration_seconds_total"); err != nil {
		t.Error(err)
	}
}

// The build is exposed as orgscim_build_info{version,revision,goversion} 1, with the
// labels of the build given, and of the running binary by default.
func TestBuildInfoGauge(t *testing.T) {
	scrape := func(m *Metrics) string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		for _, l := range strings.Split(rec.Body.String(), "\n") {
			if strings.HasPrefix(l, "orgscim_build_info{") {
				return l
			}
		}
		t.Fatalf("no orgscim_build_info in:\n%s", rec.Body.String())
		return ""
	}
	got := scrape(New(Options{Build: &Build{Version: "v1.2.3", Revision: "abc123", GoVersion: "go1.26.8"}}))
	if want := `orgscim_build_info{goversion="go1.26.8",revision="abc123",version="v1.2.3"} 1`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	b := ReadBuild()
	got = scrape(New(Options{}))
	if !strings.Contains(got, `goversion="`+b.GoVersion+`"`) || !strings.Contains(got, `version="`+b.Version+`"`) || !strings.HasSuffix(got, " 1") {
		t.Errorf("default build: %s, want the running binary's %+v", got, b)
	}
}
