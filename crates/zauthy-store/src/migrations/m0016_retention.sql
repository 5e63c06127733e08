-- What the pruning job scans to bound the records of what was sent: finished outbox messages and webhook
-- deliveries by when they finished, and events by age (when an operator sets a retention).

create index outbox_finished on outbox (status, updated_at);
create index webhook_deliveries_finished on webhook_deliveries (status, updated_at);
create index events_created on events (created_at);
