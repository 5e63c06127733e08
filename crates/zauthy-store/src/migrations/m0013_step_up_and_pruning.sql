-- A second factor asked for to step a signed-in session up (at consent, on the device, approvals and phone
-- pages) names that session: it ends when the stepped-up session opens.

alter table mfa_challenges add column replaces_session_id text;
