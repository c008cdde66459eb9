-- The signature format of a subscription's deliveries. 'standard' is Standard Webhooks
-- (webhook-id, webhook-timestamp, webhook-signature), which receivers verify with the
-- ready-made libraries; 'orgscim' is the format orgscim signed with before, kept for a
-- migration window. Existing subscriptions keep 'orgscim' so that no receiver breaks;
-- new ones are created 'standard' unless asked otherwise.
ALTER TABLE webhook_subscriptions ADD COLUMN format TEXT NOT NULL DEFAULT 'orgscim' CHECK (format IN ('orgscim', 'standard'));
