-- Carrier discovery and the secondary-device flow: the mccmnc codes each organization serves (unique across
-- organizations), laptops waiting for a phone's approval (codes and secrets only as hashes) with the
-- login_hint_token issued once approved, and browsers a user marked trusted.

create table carrier_codes (
    mccmnc text primary key,
    org_id text not null references organizations(id) on delete cascade,
    created_at bigint not null,
    updated_at bigint not null
);
create index carrier_codes_org on carrier_codes (org_id);

create table cross_device_requests (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    client_id text not null references oidc_clients(id) on delete cascade,
    redirect_uri text not null,
    state text,
    scope text not null,
    code_hash text not null,
    poll_hash text not null,
    target_user_id text references users(id) on delete cascade,
    status text not null,
    user_id text references users(id) on delete cascade,
    session_id text,
    approved_scope text not null,
    trust_browser boolean not null default false,
    hint_hash text,
    hint_expires_at bigint,
    hint_used_at bigint,
    expires_at bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index cross_device_code on cross_device_requests (org_id, code_hash);
create unique index cross_device_poll on cross_device_requests (poll_hash);
create unique index cross_device_hint on cross_device_requests (hint_hash);
create index cross_device_target on cross_device_requests (target_user_id, status);

create table trusted_browsers (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    expires_at bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
