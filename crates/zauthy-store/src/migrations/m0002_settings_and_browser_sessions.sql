-- Organization sign-in settings (JSON), and the browser sessions of the hosted pages: a cookie's opaque token
-- (stored as SHA-256) bound to an ordinary session, so revoking the session signs the browser out too.

alter table organizations add column settings text not null default '{}';

create table browser_sessions (
    token_hash text primary key,
    org_id text not null references organizations(id) on delete cascade,
    session_id text not null references sessions(id) on delete cascade,
    created_at bigint not null,
    updated_at bigint not null
);
create index browser_sessions_session on browser_sessions (session_id);
