-- Passwordless sign-in: magic links (SHA-256 of the token), one-time codes (one per destination, HMAC of the
-- code; destinations as keyed hashes), and the sends counted by the per-destination limit.

create table magic_links (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    email text not null,
    token_hash text not null,
    redirect_url text,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index magic_links_hash on magic_links (token_hash);

create table one_time_codes (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    channel text not null,
    destination_hash text not null,
    code_hash text not null,
    attempts integer not null default 0,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index one_time_codes_destination on one_time_codes (org_id, channel, destination_hash);
create index one_time_codes_expires on one_time_codes (expires_at);

create table passwordless_sends (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    destination_hash text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index passwordless_sends_destination on passwordless_sends (org_id, destination_hash, created_at);
create index passwordless_sends_created on passwordless_sends (created_at);

-- Sign-in by SMS code finds the account by phone.
create index users_org_phone on users (org_id, phone);
