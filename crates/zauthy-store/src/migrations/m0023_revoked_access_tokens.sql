-- Access tokens a client revoked (RFC 7009) that no grant can end: a client_credentials token is issued to the
-- client itself, with no grant behind it. Its `jti` is kept until the token expires, and introspection refuses
-- it meanwhile. Pruned once the token has expired.

create table revoked_access_tokens (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    client_id text not null,
    expires_at bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index revoked_access_tokens_expiry on revoked_access_tokens (expires_at);
