-- SET rows that are done (delivered, acknowledged or given up) are deleted once older
-- than the retention (ssf.Purger), so the queue does not grow without bound; this index
-- finds them without reading the pending ones, which keep their own indexes.
CREATE INDEX ssf_outbox_done ON ssf_outbox (created_at) WHERE state <> 'pending';
