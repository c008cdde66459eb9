package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/ssf"
)

// ssfPurgeInterval is how often done SETs past the retention are deleted: hourly keeps
// the queue within an hour of the retention at a cost of one indexed delete.
const ssfPurgeInterval = time.Hour

// runSSFPurge deletes done SETs older than retention now and every ssfPurgeInterval
// until ctx ends. Every replica may run it: the deletes are idempotent.
func runSSFPurge(ctx context.Context, db *sqlstore.DB, retention time.Duration, logger *slog.Logger) {
	p := &ssf.Purger{Store: db.SSF(), Retention: retention}
	t := time.NewTicker(ssfPurgeInterval)
	defer t.Stop()
	for {
		if n, err := p.Once(ctx); err != nil && ctx.Err() == nil {
			logger.Error("ssf purge", slog.String("error", err.Error()))
		} else if n > 0 {
			logger.Info("ssf purge", slog.Int("sets", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
