-- Webhook endpoints (secrets encrypted under the master key, as they are read back to sign), one delivery per
-- event and endpoint written in the event's transaction, and every attempt of a delivery.

create table webhooks (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    url text not null,
    events text not null,
    active boolean not null,
    secret_enc text not null,
    previous_secret_enc text,
    previous_secret_expires_at bigint,
    failing_since bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index webhooks_org on webhooks (org_id);

create table webhook_deliveries (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    webhook_id text not null references webhooks(id) on delete cascade,
    event_id text not null,
    event_type text not null,
    payload text not null,
    status text not null,
    attempts integer not null,
    next_attempt_at bigint,
    locked_until bigint,
    last_status_code integer,
    last_error text,
    created_at bigint not null,
    updated_at bigint not null
);
create index webhook_deliveries_due on webhook_deliveries (status, next_attempt_at);
create index webhook_deliveries_hook on webhook_deliveries (webhook_id, created_at);

create table webhook_attempts (
    id text primary key,
    delivery_id text not null references webhook_deliveries(id) on delete cascade,
    webhook_id text not null references webhooks(id) on delete cascade,
    attempted_at bigint not null,
    status_code integer,
    latency_ms bigint not null,
    response_body text,
    error text,
    next_retry_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index webhook_attempts_delivery on webhook_attempts (delivery_id, attempted_at);
