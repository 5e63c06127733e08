-- Passkeys (WebAuthn credentials) and the server-side state of WebAuthn ceremonies (registration and
-- sign-in), which are single use, short-lived and bound to an organization (and a user when known).

create table passkeys (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    credential_id text not null,
    passkey text not null,
    name text not null,
    sign_count bigint not null default 0,
    backup_eligible boolean not null default false,
    backup_state boolean not null default false,
    last_used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index passkeys_org_credential on passkeys (org_id, credential_id);
create index passkeys_user on passkeys (user_id);

create table webauthn_ceremonies (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    user_id text references users(id) on delete cascade,
    kind text not null,
    state text not null,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index webauthn_ceremonies_expires on webauthn_ceremonies (expires_at);
