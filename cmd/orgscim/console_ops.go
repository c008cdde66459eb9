package main

import (
	"context"

	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/webhooks"
)

// consoleWebhooks is what the console's webhook pages use: subscriptions listed and
// disabled by the webhooks package (audited), deliveries read from the store.
type consoleWebhooks struct {
	*webhooks.Subscriptions
	store sqlstore.Webhooks
}

func (w consoleWebhooks) NewestDeliveries(ctx context.Context, subscriptionID string, limit int) ([]webhooks.DeliveryStatus, int, error) {
	return w.store.NewestDeliveries(ctx, subscriptionID, limit)
}
