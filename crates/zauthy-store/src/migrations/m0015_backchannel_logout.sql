-- OpenID Connect Back-Channel Logout 1.0: a client may register a URI the provider POSTs a logout token to
-- when a user's session there ends. And each session's `sid`, the session id the RPs know: a session's own
-- id, or, for one a step-up second factor opened in place of another, the replaced session's `sid`, so the
-- RPs' sessions carry over the step-up and its logout reaches them. Existing sessions are their own `sid`.

alter table oidc_clients add column backchannel_logout_uri text;
alter table oidc_clients add column backchannel_logout_session_required boolean not null default false;
alter table sessions add column sid text not null default '';
update sessions set sid = id;
create index oidc_grants_session on oidc_grants (session_id);
