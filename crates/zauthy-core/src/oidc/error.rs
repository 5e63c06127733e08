//! How the OpenID provider's operations fail: an RFC 6749 error the client is told (`OAuthError`), or a
//! server-side failure (`CoreError`). `OidcError` carries either, so an operation returns one flat `Result`
//! and `?` works on both the store's errors and the protocol's; the HTTP layer turns it into an answer in one
//! place (`zauthy-http/src/oidc/oauth.rs`).

use crate::error::CoreError;

/// An RFC 6749 §5.2 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self { error, description: description.into() }
    }
}

/// Why an OAuth operation did not succeed.
#[derive(Debug)]
pub enum OidcError {
    /// Answered to the client in RFC 6749's shape.
    OAuth(OAuthError),
    /// Not the client's doing: answered as a server error, the cause logged.
    Core(CoreError),
}

impl From<OAuthError> for OidcError {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e)
    }
}

impl From<CoreError> for OidcError {
    fn from(e: CoreError) -> Self {
        Self::Core(e)
    }
}

/// The result of an OAuth operation.
pub type OidcResult<T> = std::result::Result<T, OidcError>;
