-- What the periodic pruning of account-side records scans: sessions by each way they end, their refresh
-- tokens and browser cookies, reset tokens and magic links by expiry (one-time codes, WebAuthn ceremonies and
-- passwordless sends have theirs already). And grants by age, with the foreign keys that point at a grant,
-- which a dead grant must have none of (and which its deletion's cascade looks up, PostgreSQL not indexing
-- foreign keys by itself).

create index sessions_revoked on sessions (revoked_at);
create index sessions_idle_expiry on sessions (idle_expires_at);
create index sessions_absolute_expiry on sessions (absolute_expires_at);
create index refresh_tokens_expiry on refresh_tokens (expires_at);
create index browser_sessions_created on browser_sessions (created_at);
create index password_reset_tokens_expiry on password_reset_tokens (expires_at);
create index magic_links_expiry on magic_links (expires_at);
create index oidc_grants_created on oidc_grants (created_at);
create index oidc_codes_grant on oidc_codes (grant_id);
create index oidc_device_flows_grant on oidc_device_flows (grant_id);
create index oidc_backchannel_requests_grant on oidc_backchannel_requests (grant_id);
