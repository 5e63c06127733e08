//! User accounts: signup, password login with lockout, and the org's user management.

mod address;
mod email;
mod lockout;
mod login;
mod manage;
mod sign_in_ways;
pub mod store;
mod types;

pub use address::{Address, AddressMembers};
pub use email::Email;
pub(crate) use lockout::ReservedAttempt;
pub use login::{LoginOutcome, LoginRequest, SignInMethod, SignupRequest, parse_phone};
pub use manage::{ProfileUpdate, UserList, UserQuery, UserUpdate};
pub(crate) use sign_in_ways::{Removing, keep_a_way_to_sign_in};
pub use types::{Role, User, UserWithSecret, lockout_duration_after};
