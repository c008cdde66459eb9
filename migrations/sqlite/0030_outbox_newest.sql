-- The console lists a subscription's newest deliveries first; this index reads just
-- those, however many the subscription has had.
CREATE INDEX outbox_subscription_newest ON outbox (subscription_id, created_at);
