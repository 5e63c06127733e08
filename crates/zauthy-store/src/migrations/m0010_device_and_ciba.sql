-- The "approve on another device" grants: device authorization flows (RFC 8628) and backchannel
-- authentication requests (CIBA poll mode). Device codes and auth_req_ids are kept only as SHA-256, user codes
-- as a keyed digest (HMAC under the master key: eight letters are too few for a plain hash to hide). An
-- approval makes an oidc_grants row, so revocation and introspection apply to what it issues.

create table oidc_device_flows (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    client_id text not null references oidc_clients(id) on delete cascade,
    device_code_hash text not null,
    user_code_hash text not null,
    scope text not null,
    status text not null,
    user_id text references users(id) on delete cascade,
    grant_id text references oidc_grants(id) on delete cascade,
    interval_secs bigint not null,
    last_polled_at bigint,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index oidc_device_flows_device_code on oidc_device_flows (device_code_hash);
create unique index oidc_device_flows_user_code on oidc_device_flows (user_code_hash);
create index oidc_device_flows_expiry on oidc_device_flows (expires_at);

create table oidc_backchannel_requests (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    client_id text not null references oidc_clients(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    auth_req_id_hash text not null,
    scope text not null,
    acr_values text not null,
    binding_message text,
    status text not null,
    grant_id text references oidc_grants(id) on delete cascade,
    interval_secs bigint not null,
    last_polled_at bigint,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index oidc_backchannel_requests_auth_req_id on oidc_backchannel_requests (auth_req_id_hash);
create index oidc_backchannel_requests_user on oidc_backchannel_requests (user_id, status, expires_at);
