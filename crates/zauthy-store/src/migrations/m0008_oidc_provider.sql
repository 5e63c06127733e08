-- The organization as an OpenID provider: pending authorization requests (from /authorize or PAR), grants (a
-- user's authorization of a client, which every code, access and refresh token issued from it points to, so
-- revoking the grant revokes them all), single-use codes, rotating refresh tokens and remembered consent.
-- Codes and refresh tokens are kept only as SHA-256. Sessions learn how their user signed in (amr).

alter table sessions add column amr text not null default '';
alter table oidc_clients add column post_logout_redirect_uris text not null default '[]';

create table oidc_auth_requests (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    client_id text not null references oidc_clients(id) on delete cascade,
    params text not null,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index oidc_auth_requests_expiry on oidc_auth_requests (expires_at);

create table oidc_grants (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    client_id text not null references oidc_clients(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    session_id text,
    scope text not null,
    claims text,
    nonce text,
    auth_time bigint not null,
    amr text not null,
    acr text not null,
    revoked_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index oidc_grants_user on oidc_grants (user_id, client_id);

create table oidc_codes (
    id text primary key,
    grant_id text not null references oidc_grants(id) on delete cascade,
    redirect_uri text not null,
    code_challenge text,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);

create table oidc_refresh_tokens (
    id text primary key,
    grant_id text not null references oidc_grants(id) on delete cascade,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index oidc_refresh_tokens_grant on oidc_refresh_tokens (grant_id);

create table oidc_consents (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    client_id text not null references oidc_clients(id) on delete cascade,
    scope text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index oidc_consents_user_client on oidc_consents (user_id, client_id);

-- private_key_jwt assertion ids already used (hashed with the client id), kept until the assertion expires.
create table oidc_client_assertions (
    id text primary key,
    expires_at bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index oidc_client_assertions_expiry on oidc_client_assertions (expires_at);
