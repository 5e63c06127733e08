//! Password policy and hashing (Argon2id on a bounded pool, transparent rehash, a dummy hash for unknown
//! users so "no such user" and "wrong password" take the same time), and password reset and change.

mod hasher;
mod policy;
mod reset;
pub mod store;

pub use hasher::{Argon2Params, PasswordHasher, Verified};
pub use policy::{MAX_PASSWORD_CHARS, check_password_policy};
pub use reset::FORGOT_PASSWORD_MESSAGE;
pub use store::PasswordResetRecord;
