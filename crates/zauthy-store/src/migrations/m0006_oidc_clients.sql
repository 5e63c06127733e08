-- Service providers (OIDC clients) of each organization. Lists are JSON text; the secret only as SHA-256.

create table oidc_clients (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    name text not null,
    client_type text not null,
    secret_hash text,
    redirect_uris text not null,
    allowed_scopes text not null,
    grant_types text not null,
    token_endpoint_auth_method text not null,
    jwks text,
    id_token_signed_response_alg text not null,
    require_mfa boolean not null default false,
    created_at bigint not null,
    updated_at bigint not null
);
create index oidc_clients_org on oidc_clients (org_id);
