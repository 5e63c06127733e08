-- Codes tried against an MFA challenge: each try is counted (a conditional update) before the code is checked,
-- so concurrent requests on one mfa_token cannot get past the per-token limit.

alter table mfa_challenges add column attempts integer not null default 0;
