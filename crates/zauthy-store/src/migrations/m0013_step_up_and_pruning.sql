-- A second factor asked for to step a signed-in session up (at consent, on the device, approvals and phone
-- pages) names that session: it ends when the stepped-up session opens.
-- And the expiry indexes the periodic pruning of short-lived rows scans in order (the other pruned tables have
-- theirs already).

alter table mfa_challenges add column replaces_session_id text;

create index mfa_challenges_expiry on mfa_challenges (expires_at);
create index oidc_codes_expiry on oidc_codes (expires_at);
create index oidc_refresh_tokens_expiry on oidc_refresh_tokens (expires_at);
create index oidc_backchannel_requests_expiry on oidc_backchannel_requests (expires_at);
create index cross_device_requests_expiry on cross_device_requests (expires_at);
create index trusted_browsers_expiry on trusted_browsers (expires_at);
