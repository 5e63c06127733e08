//! API tests: each test starts its own server and talks to it over HTTP, on SQLite or (with
//! `ZAUTHY_TEST_PG_URL`) PostgreSQL. One binary, one module per feature.

mod accounts;
mod errors;
mod events;
mod hosted_login;
mod mfa;
mod oidc_clients;
mod oidc_introspect;
mod oidc_keys;
mod oidc_provider;
mod oidc_token;
mod ops;
mod orgs;
mod outbox;
mod passkeys;
mod passwordless;
mod passwords;
mod ratelimit;
mod sessions;
mod social_login;
mod webhooks;
