//! The account pages a browser sees on an organization's pages (`/o/{org_id}/…`): sign-in, the second factor,
//! the magic-link landing, passkeys, the account page and sign-out, and the account chooser. They are built on
//! the shared pieces of `crate::hosted`.

mod account;
mod accounts;
mod login;
mod magic_link;
mod mfa;
mod passkeys;

pub use accounts::{account_chosen, signed_in, to_chooser};
pub use mfa::mfa_page;

use crate::state::AppState;
use axum::Router;

/// The account pages' routes; the caller adds `hosted::hosted_pipeline`.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(account::router())
        .merge(accounts::router())
        .merge(login::router())
        .merge(mfa::router())
        .merge(magic_link::router())
        .merge(passkeys::router())
}
