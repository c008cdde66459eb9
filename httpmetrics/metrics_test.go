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
