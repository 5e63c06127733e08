-- Whether the user proved their phone number (an SMS one-time code sent to it was entered), for the OpenID
-- `phone_number_verified` claim. Changing the number clears it.

alter table users add column phone_verified boolean not null default false;
