-- Failed password sign-ins with an email that has no account, under a keyed hash of the address: counted and
-- locked on the same schedule as an account's failures, so neither the 401s nor the 429 account_locked that
-- follows tell a missing account from an existing one. Pruned 30 days after the last failure.

create table unknown_login_failures (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    email_hash text not null,
    failed_attempts integer not null,
    locked_until bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index unknown_login_failures_email on unknown_login_failures (org_id, email_hash);
create index unknown_login_failures_updated on unknown_login_failures (updated_at);
