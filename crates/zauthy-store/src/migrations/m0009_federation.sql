-- Social login: upstream OpenID providers an organization signs users in with (client secrets and Apple keys
-- encrypted under the master key), the identities linked to users, and the server-side half of each
-- authorization request (state stored as SHA-256, single use, short-lived).

create table oauth_providers (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    slug text not null,
    kind text not null,
    display_name text not null,
    client_id text not null,
    client_secret_enc text,
    discovery_url text,
    issuer text not null,
    scopes text not null,
    token_endpoint_auth_method text not null,
    response_mode text not null,
    apple_team_id text,
    apple_key_id text,
    apple_private_key_enc text,
    enabled boolean not null,
    allow_signup boolean not null,
    link_by_verified_email boolean not null,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index oauth_providers_org_slug on oauth_providers (org_id, slug);

create table federated_identities (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    provider_id text not null references oauth_providers(id) on delete cascade,
    subject text not null,
    email text,
    last_login_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index federated_identities_subject on federated_identities (provider_id, subject);
create unique index federated_identities_user_provider on federated_identities (user_id, provider_id);

create table oauth_states (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    provider_id text not null references oauth_providers(id) on delete cascade,
    state_hash text not null,
    nonce text not null,
    code_verifier_enc text not null,
    redirect_url text not null,
    user_id text references users(id) on delete cascade,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index oauth_states_hash on oauth_states (state_hash);
create index oauth_states_expires on oauth_states (expires_at);
