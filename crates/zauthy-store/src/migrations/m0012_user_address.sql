-- A user's postal address: the OpenID Connect address claim's members as a JSON object (text), null for none.

alter table users add column address text;
