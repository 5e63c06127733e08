-- A secondary-device request the laptop sent to a phone number's owner: listed on that user's phone, but it
-- can only be approved with the code the laptop shows (seed 001: an untrusted browser needs the code).
-- `target_user_id` stays for requests that may be approved from the list (a trusted browser's, or one the
-- user reached with the code).

alter table cross_device_requests add column notified_user_id text;
create index cross_device_notified on cross_device_requests (notified_user_id, status);
