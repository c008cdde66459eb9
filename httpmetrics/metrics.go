// Package httpmetrics collects the server's Prometheus metrics: HTTP requests by route
// pattern, method, status and connection, their latency, the requests in flight, and the
// database connection pool.
//
// Every Metrics has a registry of its own (never the process-wide default), so a process
// — or a test — can run many servers side by side. Label values are bounded: the route is
// the pattern the router matched (never the raw path or the query string), the method is
// one of the standard ones or "OTHER", and the connection is that of an authenticated
// request only, so an unauthenticated client cannot mint new series.
//
// The metrics are served without authentication; expose them to the monitoring network,
// not to the internet.
package httpmetrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of the application.
const Namespace = "orgscim"

// Unmatched is the route label of a request that matched no route.
const Unmatched = "unmatched"

// Options says where the metrics find what they report.
type Options struct {
	// Connection returns the slug of the request's authenticated connection, "" when
	// there is none. nil: the connection label is always "".
	Connection func(echo.Context) string
	// DBStats reads the database pool's statistics at every scrape. nil: no pool metrics.
	DBStats func() sql.DBStats
	// Statements reads how many statements the server has sent to the database
	// (orgscim_db_statements_total). nil: no such metric.
	Statements func() uint64
	// Engine labels the pool metrics ("postgres", "sqlite").
	Engine string
	// Build labels the orgscim_build_info gauge; nil: ReadBuild, the running binary's.
	Build *Build
}

// Metrics holds one server's collectors and their registry.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	inFlight   prometheus.Gauge
	connection func(echo.Context) string
}

// New returns the metrics of one server on a fresh registry, with the Go runtime and
// process collectors beside the application's.
func New(opts Options) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by route pattern, method, status and authenticated connection.",
		}, []string{"route", "method", "status", "connection"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time from receiving a request to having answered it, by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_in_flight",
			Help: "HTTP requests being handled now.",
		}),
		connection: opts.Connection,
	}
	m.reg.MustRegister(m.requests, m.latency, m.inFlight,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := opts.Build
	if build == nil {
		b := ReadBuild()
		build = &b
	}
	m.reg.MustRegister(buildInfo(*build))
	if opts.DBStats != nil {
		m.reg.MustRegister(newPoolCollector(opts.DBStats, opts.Engine))
	}
	if opts.Statements != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "db", Name: "statements_total",
			Help:        "Statements sent to the database, each transaction's begin and end included.",
			ConstLabels: prometheus.Labels{"engine": opts.Engine},
		}, func() float64 { return float64(opts.Statements()) }))
	}
	return m
}

// Registry is the registry of these metrics, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Middleware counts and times every request. It answers a handler's error itself (with
// c.Error, as echo would) so that it records the status the client receives; place it
// outside the middleware that recovers panics so that those count as the 500s they are.
func (m *Metrics) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			m.inFlight.Inc()
			defer m.inFlight.Dec()
			if err := next(c); err != nil {
				c.Error(err)
			}
			route, method := Route(c), Method(c.Request().Method)
			conn := ""
			if m.connection != nil {
				conn = m.connection(c)
			}
			m.requests.WithLabelValues(route, method, strconv.Itoa(c.Response().Status), conn).Inc()
			m.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

// Route is the route pattern the request matched, or Unmatched.
func Route(c echo.Context) string {
	if p := c.Path(); p != "" {
		return p
	}
	return Unmatched
}

// Method is the request method when it is a standard one, else "OTHER".
func Method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// poolCollector reads sql.DBStats at each scrape.
type poolCollector struct {
	stats func() sql.DBStats
	descs struct {
		maxOpen, open, inUse, idle                                                   *prometheus.Desc
		waitCount, waitDuration, maxIdleClosed, maxIdleTimeClosed, maxLifetimeClosed *prometheus.Desc
	}
}

func newPoolCollector(stats func() sql.DBStats, engine string) *poolCollector {
	labels := prometheus.Labels{"engine": engine}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "db", name), help, nil, labels)
	}
	p := &poolCollector{stats: stats}
	p.descs.maxOpen = desc("max_open_connections", "The most connections the pool may open.")
	p.descs.open = desc("open_connections", "Connections open, in use and idle.")
	p.descs.inUse = desc("in_use_connections", "Connections in use.")
	p.descs.idle = desc("idle_connections", "Connections idle.")
	p.descs.waitCount = desc("wait_count_total", "Times a query waited for a free connection.")
	p.descs.waitDuration = desc("wait_duration_seconds_total", "Time spent waiting for a free connection.")
	p.descs.maxIdleClosed = desc("max_idle_closed_total", "Connections closed because the pool held too many idle ones.")
	p.descs.maxIdleTimeClosed = desc("max_idle_time_closed_total", "Connections closed because they were idle too long.")
	p.descs.maxLifetimeClosed = desc("max_lifetime_closed_total", "Connections closed because they reached their maximum lifetime.")
	return p
}

func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	d := &p.descs
	for _, x := range []*prometheus.Desc{d.maxOpen, d.open, d.inUse, d.idle, d.waitCount, d.waitDuration,
		d.maxIdleClosed, d.maxIdleTimeClosed, d.maxLifetimeClosed} {
		ch <- x
	}
}

func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s, d := p.stats(), &p.descs
	gauge := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v)
	}
	counter := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v)
	}
	gauge(d.maxOpen, float64(s.MaxOpenConnections))
	gauge(d.open, float64(s.OpenConnections))
	gauge(d.inUse, float64(s.InUse))
	gauge(d.idle, float64(s.Idle))
	counter(d.waitCount, float64(s.WaitCount))
	counter(d.waitDuration, s.WaitDuration.Seconds())
	counter(d.maxIdleClosed, float64(s.MaxIdleClosed))
	counter(d.maxIdleTimeClosed, float64(s.MaxIdleTimeClosed))
	counter(d.maxLifetimeClosed, float64(s.MaxLifetimeClosed))
}
