//! The one error type of the domain: one variant per kind of failure, each keeping its cause.

use time::OffsetDateTime;

/// A failure in a service. The HTTP layer maps every variant to a status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Input failed validation; `code` is the stable machine-readable reason.
    #[error("{detail}")]
    Invalid { code: &'static str, detail: String },
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// The caller is not authenticated, or presented bad credentials or tokens.
    #[error("{detail}")]
    Unauthenticated { code: &'static str, detail: String },
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    /// `retry_after_secs` is measured on the service clock, like `until`.
    #[error("account locked until {until}")]
    Locked { until: OffsetDateTime, retry_after_secs: u64 },
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// Refused for now for a reason with its own code (e.g. `otp_cooldown`); retry after the delay.
    #[error("{detail}")]
    Throttled { code: &'static str, detail: String, retry_after_secs: u64 },
    /// An upstream server (an OpenID provider) failed or answered something unusable; `code` says which step.
    #[error("{detail}")]
    Upstream { code: &'static str, detail: String },
    #[error("service unavailable: {0}")]
    Unavailable(&'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl CoreError {
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Invalid { code, detail: detail.into() }
    }
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: detail.into() }
    }
    pub fn unauthenticated(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unauthenticated { code, detail: detail.into() }
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden { code: "forbidden", detail: detail.into() }
    }
    pub fn forbidden_code(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Forbidden { code, detail: detail.into() }
    }
    pub fn locked(until: OffsetDateTime, now: OffsetDateTime) -> Self {
        Self::Locked { until, retry_after_secs: (until - now).whole_seconds().max(1) as u64 }
    }
    pub fn internal(msg: impl std::fmt::Display) -> Self {
        Self::Internal(anyhow::anyhow!("{msg}"))
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
