package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/orgscim/orgscim/connhealth"
	"github.com/orgscim/orgscim/httpmetrics"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/prometheus/client_golang/prometheus"
)

// flushHealth stores what the server recorded of its last requests when it stops.
func flushHealth(r *connhealth.Recorder, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		logger.Warn("connection health: final flush failed", slog.String("error", err.Error()))
	}
}

// tokenExpiries is what the expiry gauge and the daily warning read.
type tokenExpiries interface {
	TokenExpiries(ctx context.Context, now time.Time) ([]sqlstore.TokenExpiry, error)
}

// warnExpiringTokensDaily logs, at start and then every day until ctx is done, each
// active connection whose earliest usable token lapses within window.
func warnExpiringTokensDaily(ctx context.Context, store tokenExpiries, window time.Duration, now func() time.Time, logger *slog.Logger) {
	for {
		warnExpiringTokens(ctx, store, window, now(), logger)
		t := time.NewTimer(24 * time.Hour)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func warnExpiringTokens(ctx context.Context, store tokenExpiries, window time.Duration, now time.Time, logger *slog.Logger) {
	exps, err := store.TokenExpiries(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			logger.Warn("token expiry check failed", slog.String("error", err.Error()))
		}
		return
	}
	for _, x := range exps {
		if left := x.Expires.Sub(now); left <= window {
			logger.Warn("SCIM token expires soon: rotate it (orgscim token rotate start)",
				slog.String("connection", x.Connection), slog.String("token", x.TokenID),
				slog.Time("expires_at", x.Expires), slog.Duration("expires_in", left.Round(time.Minute)))
		}
	}
}

// tokenExpiryCollector reports, at each scrape and from the database, the seconds until
// the earliest usable token of each active connection lapses; connections whose tokens
// do not expire are absent. Alert on it falling below the warning window.
type tokenExpiryCollector struct {
	store  tokenExpiries
	now    func() time.Time
	logger *slog.Logger
	desc   *prometheus.Desc
}

func newTokenExpiryCollector(store tokenExpiries, now func() time.Time, logger *slog.Logger) *tokenExpiryCollector {
	if now == nil {
		now = time.Now
	}
	return &tokenExpiryCollector{store: store, now: now, logger: logger,
		desc: prometheus.NewDesc(prometheus.BuildFQName(httpmetrics.Namespace, "", "token_expiry_seconds"),
			"Seconds until the earliest usable SCIM token of the connection lapses (connections whose tokens do not expire are absent).",
			[]string{"connection"}, nil)}
}

func (c *tokenExpiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *tokenExpiryCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := c.now()
	exps, err := c.store.TokenExpiries(ctx, now)
	if err != nil {
		c.logger.Warn("token expiry metrics", slog.String("error", err.Error()))
		return
	}
	for _, x := range exps {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, x.Expires.Sub(now).Seconds(), x.Connection)
	}
}
