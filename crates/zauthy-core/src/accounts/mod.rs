//! User accounts: signup, password login with lockout, and the org's user management.

mod address;
mod email;
mod login;
mod manage;
mod types;

pub use address::{Address, AddressMembers};
pub use email::Email;
pub use login::{LoginOutcome, LoginRequest, SignInMethod, SignupRequest, parse_phone};
pub use manage::{UserList, UserQuery, UserUpdate};
pub use types::{Role, User, UserWithSecret, lockout_duration_after};
