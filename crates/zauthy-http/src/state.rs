//! What every handler can reach: the services, the rate limiter and HTTP settings.

use crate::ops::Metrics;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zauthy_core::Services;
use zauthy_core::orgs::Plan;
use zauthy_core::ratelimit::{RateLimitConfig, RateLimiter};

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Take the client IP from `X-Forwarded-For` (only behind a proxy you control).
    pub trust_proxy_headers: bool,
    pub max_body_bytes: usize,
    pub rate_limits: RateLimitConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { trust_proxy_headers: false, max_body_bytes: 64 * 1024, rate_limits: RateLimitConfig::default() }
    }
}

/// Cloned into every extractor and middleware of every request, so it is one shared pointer: a clone or drop
/// is one reference count, not one per member.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub services: Arc<Services>,
    pub config: Arc<HttpConfig>,
    pub limiter: Arc<RateLimiter>,
    pub metrics: Arc<Metrics>,
    plans: Mutex<HashMap<String, (Plan, Instant)>>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Plans change rarely (an operator command); a short cache keeps a query off every request.
const PLAN_TTL: Duration = Duration::from_secs(30);

impl AppState {
    pub fn new(services: Arc<Services>, config: HttpConfig) -> Self {
        Self(Arc::new(Shared {
            services,
            config: Arc::new(config),
            limiter: Arc::default(),
            metrics: Arc::new(Metrics::new()),
            plans: Mutex::default(),
        }))
    }

    pub async fn plan_of(&self, org_id: &str) -> zauthy_core::Result<Plan> {
        if let Some((plan, at)) = self.plans.lock().unwrap_or_else(|e| e.into_inner()).get(org_id)
            && at.elapsed() < PLAN_TTL
        {
            return Ok(*plan);
        }
        let plan = self.services.store.find_org(org_id).await?.map(|o| o.plan).unwrap_or(Plan::Free);
        self.plans.lock().unwrap_or_else(|e| e.into_inner()).insert(org_id.to_owned(), (plan, Instant::now()));
        Ok(plan)
    }
}
