package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/orgscim/orgscim/httpmetrics"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/prometheus/client_golang/prometheus"
)

// deliveryCollector reports, at each scrape, how far webhook delivery is behind and how
// long revocations take to reach every subscriber — read from the database, so every
// replica reports the same figures whichever of them delivered.
type deliveryCollector struct {
	hooks  sqlstore.Webhooks
	now    func() time.Time
	logger *slog.Logger

	pending, lag, ttr, unacked *prometheus.Desc
}

// revocationWindow is how far back time-to-revoke looks.
const revocationWindow = 24 * time.Hour

func newDeliveryCollector(hooks sqlstore.Webhooks, now func() time.Time, logger *slog.Logger) *deliveryCollector {
	if now == nil {
		now = time.Now
	}
	name := func(sub, n string) string { return prometheus.BuildFQName(httpmetrics.Namespace, sub, n) }
	return &deliveryCollector{hooks: hooks, now: now, logger: logger,
		pending: prometheus.NewDesc(name("webhook", "deliveries_pending"),
			"Webhook deliveries queued and not yet delivered or dead.", nil, nil),
		lag: prometheus.NewDesc(name("webhook", "outbox_lag_seconds"),
			"Age of the oldest pending webhook delivery; 0 when none is pending.", nil, nil),
		ttr: prometheus.NewDesc(name("", "time_to_revoke_seconds"),
			"Time from a revocation's request (the IdP's or operator's) to the last subscriber's acknowledgement, "+
				"over the revocations of the last 24 hours that every subscriber acknowledged, by connection and statistic (p50, max, latest).",
			[]string{"connection", "stat"}, nil),
		unacked: prometheus.NewDesc(name("", "revocations_unacknowledged"),
			"Revocations of the last 24 hours that some subscriber has not acknowledged yet, by connection.",
			[]string{"connection"}, nil),
	}
}

func (c *deliveryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.lag
	ch <- c.ttr
	ch <- c.unacked
}

func (c *deliveryCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	fail := func(err error) {
		c.logger.Warn("delivery metrics", slog.String("error", err.Error()))
	}
	if n, err := c.hooks.PendingDeliveries(ctx); err != nil {
		fail(err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n))
	}
	if at, ok, err := c.hooks.OldestPending(ctx); err != nil {
		fail(err)
	} else {
		lag := 0.0
		if ok {
			lag = max(c.now().Sub(at).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag)
	}
	ttrs, err := c.hooks.TimeToRevoke(ctx, c.now().Add(-revocationWindow))
	if err != nil {
		fail(err)
		return
	}
	for _, t := range ttrs {
		conn := t.Connection
		if conn == "" {
			conn = t.Chain // the control plane
		}
		if t.Revocations > 0 {
			for stat, d := range map[string]time.Duration{"p50": t.P50, "max": t.Max, "latest": t.Latest} {
				ch <- prometheus.MustNewConstMetric(c.ttr, prometheus.GaugeValue, d.Seconds(), conn, stat)
			}
		}
		ch <- prometheus.MustNewConstMetric(c.unacked, prometheus.GaugeValue, float64(t.Unacknowledged), conn)
	}
}

// reconcileCollector reports the recorded reconciler passes, from the database, so that
// an alert can fire when no pass has finished for more than a day.
type reconcileCollector struct {
	runs   sqlstore.Reconcile
	logger *slog.Logger
	count  *prometheus.Desc
	last   *prometheus.Desc
	held   *prometheus.Desc
}

func newReconcileCollector(runs sqlstore.Reconcile, logger *slog.Logger) *reconcileCollector {
	return &reconcileCollector{runs: runs, logger: logger,
		count: prometheus.NewDesc(prometheus.BuildFQName(httpmetrics.Namespace, "reconciler", "runs"),
			"Reconciler passes recorded, by how they ended (done, failed) or running.", []string{"state"}, nil),
		last: prometheus.NewDesc(prometheus.BuildFQName(httpmetrics.Namespace, "reconciler", "last_finished_timestamp_seconds"),
			"When the latest pass of each state finished, as a Unix time.", []string{"state"}, nil),
		held: prometheus.NewDesc(prometheus.BuildFQName(httpmetrics.Namespace, "reconciler", "held_plans"),
			"Connections whose plan the guardrail held in the latest finished pass and nobody has approved: alert on more than 0.", nil, nil),
	}
}

func (c *reconcileCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.count
	ch <- c.last
	ch <- c.held
}

func (c *reconcileCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := c.runs.RunStats(ctx)
	if err != nil {
		c.logger.Warn("reconciler metrics", slog.String("error", err.Error()))
		return
	}
	for state, st := range stats {
		ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(st.Count), state)
		if !st.LatestFinish.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(st.LatestFinish.Unix()), state)
		}
	}
	held, err := c.runs.HeldPlans(ctx)
	if err != nil {
		c.logger.Warn("reconciler metrics", slog.String("error", err.Error()))
		return
	}
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(held))
}
