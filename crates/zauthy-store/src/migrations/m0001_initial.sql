-- The spine: organizations, users, API keys, signing keys, sessions, refresh and reset tokens, events, outbox.
-- Portable SQL: the same text runs on SQLite and PostgreSQL. Timestamps are UTC milliseconds since the epoch.

create table organizations (
    id text primary key,
    name text not null,
    plan text not null,
    created_at bigint not null,
    updated_at bigint not null
);

create table users (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    email text not null,
    name text,
    phone text,
    role text not null,
    password_hash text,
    is_verified boolean not null default false,
    is_blocked boolean not null default false,
    failed_login_attempts integer not null default 0,
    locked_until bigint,
    last_login_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index users_org_email on users (org_id, email);

create table api_keys (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    name text not null,
    prefix text not null,
    environment text not null,
    key_hash text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index api_keys_hash on api_keys (key_hash);
create index api_keys_org on api_keys (org_id);

create table signing_keys (
    kid text primary key,
    org_id text not null references organizations(id) on delete cascade,
    algorithm text not null,
    private_key_enc text not null,
    public_jwk text not null,
    retired_at bigint,
    expires_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index signing_keys_org on signing_keys (org_id);

create table sessions (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    ip text,
    user_agent text,
    last_used_at bigint not null,
    idle_expires_at bigint not null,
    absolute_expires_at bigint not null,
    revoked_at bigint,
    revoked_reason text,
    created_at bigint not null,
    updated_at bigint not null
);
create index sessions_user on sessions (user_id);

create table refresh_tokens (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    session_id text not null references sessions(id) on delete cascade,
    token_hash text not null,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index refresh_tokens_hash on refresh_tokens (token_hash);
create index refresh_tokens_session on refresh_tokens (session_id);

create table password_reset_tokens (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    token_hash text not null,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index password_reset_tokens_hash on password_reset_tokens (token_hash);
create index password_reset_tokens_user on password_reset_tokens (user_id);

-- Events outlive the users they mention (audit), so no foreign key to users.
create table events (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    event_type text not null,
    user_id text,
    data text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index events_org_created on events (org_id, created_at);

create table outbox (
    id text primary key,
    org_id text,
    kind text not null,
    payload text not null,
    status text not null,
    attempts integer not null default 0,
    next_attempt_at bigint not null,
    locked_until bigint,
    last_error text,
    created_at bigint not null,
    updated_at bigint not null
);
create index outbox_due on outbox (status, next_attempt_at);
