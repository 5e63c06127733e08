//! Request rate limits per organization plan and endpoint category (the API reference's table), plus per-IP
//! limits for unauthenticated calls. Counters are fixed one-minute windows kept in this process: with several
//! nodes each node counts on its own (documented in the README).

use crate::orgs::Plan;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Auth,
    Kyc,
    General,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Kyc => "kyc",
            Self::General => "general",
        }
    }
}

/// Requests per minute for each category.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CategoryLimits {
    pub auth: u32,
    pub kyc: u32,
    pub general: u32,
}

impl CategoryLimits {
    pub fn get(&self, category: Category) -> u32 {
        match category {
            Category::Auth => self.auth,
            Category::Kyc => self.kyc,
            Category::General => self.general,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub free: CategoryLimits,
    pub pro: CategoryLimits,
    /// "Custom" in the price list: the operator sets it.
    pub enterprise: CategoryLimits,
    /// Per client IP per minute, for calls that carry no credentials.
    pub unauthenticated_per_ip: u32,
    /// Organization creation is public: per client IP per hour.
    pub org_create_per_ip_per_hour: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            free: CategoryLimits { auth: 20, kyc: 10, general: 60 },
            pro: CategoryLimits { auth: 100, kyc: 50, general: 300 },
            enterprise: CategoryLimits { auth: 1000, kyc: 500, general: 3000 },
            unauthenticated_per_ip: 60,
            org_create_per_ip_per_hour: 10,
        }
    }
}

impl RateLimitConfig {
    pub fn for_plan(&self, plan: Plan) -> &CategoryLimits {
        match plan {
            Plan::Free => &self.free,
            Plan::Pro => &self.pro,
            Plan::Enterprise => &self.enterprise,
        }
    }
}

/// The verdict for one request, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset_secs: u64,
}

struct Window {
    started: Instant,
    count: u32,
}

#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

const SWEEP_ABOVE: usize = 50_000;

impl RateLimiter {
    pub fn check(&self, key: &str, limit: u32, period: Duration) -> Decision {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, w| now.duration_since(w.started) < period);
        }
        let window = windows.entry(key.to_owned()).or_insert(Window { started: now, count: 0 });
        if now.duration_since(window.started) >= period {
            *window = Window { started: now, count: 0 };
        }
        let reset_secs = period.saturating_sub(now.duration_since(window.started)).as_secs().max(1);
        if window.count >= limit {
            return Decision { allowed: false, limit, remaining: 0, reset_secs };
        }
        window.count += 1;
        Decision { allowed: true, limit, remaining: limit - window.count, reset_secs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_plus_one_request_in_a_window_is_refused() {
        let limiter = RateLimiter::default();
        for i in 0..3 {
            let d = limiter.check("k", 3, Duration::from_secs(60));
            assert!(d.allowed);
            assert_eq!(d.remaining, 2 - i);
        }
        let refused = limiter.check("k", 3, Duration::from_secs(60));
        assert!(!refused.allowed);
        assert!(refused.reset_secs >= 1 && refused.reset_secs <= 60);
        assert!(limiter.check("other", 3, Duration::from_secs(60)).allowed);
    }

    #[test]
    fn a_new_window_starts_after_the_period() {
        let limiter = RateLimiter::default();
        assert!(limiter.check("k", 1, Duration::from_millis(20)).allowed);
        assert!(!limiter.check("k", 1, Duration::from_millis(20)).allowed);
        std::thread::sleep(Duration::from_millis(25));
        assert!(limiter.check("k", 1, Duration::from_millis(20)).allowed);
    }
}
