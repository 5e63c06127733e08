-- TOTP second factor: the seed (AES-256-GCM under the master key), confirmation, and the last accepted time
-- step (a step is accepted once: replay protection); single-use backup codes (SHA-256); and the short-lived
-- challenges (`mfa_token`) a first factor leaves when a second one is needed.

create table mfa_totp (
    user_id text primary key references users(id) on delete cascade,
    org_id text not null references organizations(id) on delete cascade,
    secret_enc text not null,
    confirmed_at bigint,
    last_used_step bigint,
    created_at bigint not null,
    updated_at bigint not null
);

create table mfa_backup_codes (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    code_hash text not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index mfa_backup_codes_hash on mfa_backup_codes (code_hash);
create index mfa_backup_codes_user on mfa_backup_codes (user_id);

create table mfa_challenges (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    token_hash text not null,
    first_factor text not null,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index mfa_challenges_hash on mfa_challenges (token_hash);
create index mfa_challenges_user on mfa_challenges (user_id);
