//! Rate limits from the API reference's table: per organization, per plan and per endpoint category, reported
//! in `RateLimit-*` headers; per client IP for calls without credentials; and a switch to turn them off.

use serde_json::json;
use zauthy_core::orgs::Plan;
use zauthy_core::ratelimit::RateLimitConfig;
use zauthy_testkit::{PASSWORD, TestApp, TestOrg, TestResponse, unique_email};

/// A server with the shipped limits (the default test server's are effectively unlimited).
async fn spawn_with_real_limits() -> TestApp {
    TestApp::spawn_with(|c| c.rate_limits = RateLimitConfig::default()).await
}

fn number(r: &TestResponse, header: &str) -> u64 {
    let value = r.header(header).unwrap_or_else(|| panic!("no {header} header: {:?}", r.headers));
    value.parse().unwrap_or_else(|_| panic!("{header} is not a number: {value:?}"))
}

/// An auth-category request that does no password hashing: a reset request for an unknown email.
async fn forgot(app: &TestApp, org: &TestOrg) -> TestResponse {
    app.post("/api/v1/password/forgot", Some(&org.api_key), &json!({"email": unique_email("nobody")})).await
}

/// Spends `n` requests of the organization's auth budget at once; each answer reports one fewer remaining.
/// They present a made-up magic link (answered at once, and not a send, so the per-IP send limit stays out of it).
async fn spend_auth(app: &TestApp, org: &TestOrg, n: u64) -> Vec<TestResponse> {
    let verify_url = app.url("/api/v1/magic-link/verify");
    let responses = app
        .send_at_once(
            (0..n)
                .map(|_| app.client.post(&verify_url).bearer_auth(&org.api_key).json(&json!({"token": "ml_made_up"}))),
        )
        .await;
    for r in &responses {
        assert_eq!((r.status, r.error()), (400, "invalid_magic_link"), "{}", r.text);
    }
    responses
}

/// The RateLimit-Remaining values of a burst, highest first.
fn remaining(responses: &[TestResponse]) -> Vec<u64> {
    let mut values: Vec<u64> = responses.iter().map(|r| number(r, "ratelimit-remaining")).collect();
    values.sort_unstable_by(|a, b| b.cmp(a));
    values
}

fn assert_rate_limited(r: &TestResponse, limit: u64) {
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.error(), "rate_limited");
    assert_eq!(number(r, "ratelimit-limit"), limit);
    assert_eq!(number(r, "ratelimit-remaining"), 0);
    let reset = number(r, "ratelimit-reset");
    assert!((1..=60).contains(&reset), "RateLimit-Reset {reset} is outside the one-minute window");
    // Retry-After tells a client exactly when the window reopens.
    assert_eq!(number(r, "retry-after"), reset);
}

#[tokio::test]
async fn the_free_plan_allows_twenty_logins_a_minute_and_refuses_the_twenty_first() {
    let app = spawn_with_real_limits().await;
    let org = app.create_org().await;

    // Unknown emails, since five wrong passwords would lock a real account; and a password over the 128-character
    // maximum, which is refused without an Argon2 hash, to keep the test fast.
    let overlong = "Aa1!".repeat(33);
    for i in 1..=20 {
        let r = app.login(&org.api_key, &unique_email("nobody"), &overlong).await;
        assert_eq!(r.status, 401, "login {i}: {}", r.text);
        assert_eq!(r.error(), "invalid_credentials");
        assert_eq!(number(&r, "ratelimit-limit"), 20);
        assert_eq!(number(&r, "ratelimit-remaining"), 20 - i);
    }
    let refused = app.login(&org.api_key, &org.owner.email, PASSWORD).await;

    // Even the right password is refused: the limit applies before credentials are checked.
    assert_rate_limited(&refused, 20);
}

#[tokio::test]
async fn responses_within_the_limit_count_down_in_ratelimit_headers() {
    let app = spawn_with_real_limits().await;
    let org = app.create_org().await;

    let signup = app.signup(&org.api_key, &unique_email("user"), PASSWORD).await;
    let login = app.login(&org.api_key, &org.owner.email, PASSWORD).await;
    let forgot = forgot(&app, &org).await;

    for (r, remaining) in [(&signup, 19), (&login, 18), (&forgot, 17)] {
        assert!(r.status < 300, "{}", r.text);
        assert_eq!(number(r, "ratelimit-limit"), 20);
        assert_eq!(number(r, "ratelimit-remaining"), remaining);
        assert!((1..=60).contains(&number(r, "ratelimit-reset")));
        assert!(r.header("retry-after").is_none(), "Retry-After on a {}", r.status);
    }
}

#[tokio::test]
async fn general_requests_are_counted_separately_from_auth_requests() {
    let app = spawn_with_real_limits().await;
    let org = app.create_org().await;
    spend_auth(&app, &org, 20).await;
    assert_rate_limited(&forgot(&app, &org).await, 20);

    // The auth budget is gone, the general one untouched: 60 a minute on the free plan, over all its endpoints.
    let (users, keys) = (app.url("/api/v1/users"), app.url("/api/v1/api-keys"));
    let flip = std::sync::atomic::AtomicBool::new(false);
    let general = app
        .send_at_once((0..60).map(|_| {
            let url = if flip.fetch_xor(true, std::sync::atomic::Ordering::Relaxed) { &users } else { &keys };
            app.client.get(url).bearer_auth(&org.api_key)
        }))
        .await;
    let refused = app.get("/api/v1/users", Some(&org.api_key)).await;

    for r in &general {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(number(r, "ratelimit-limit"), 60);
    }
    assert_eq!(remaining(&general), (0..60).rev().collect::<Vec<u64>>());
    assert_rate_limited(&refused, 60);
}

#[tokio::test]
async fn limits_are_per_organization_whatever_the_credential() {
    let app = spawn_with_real_limits().await;
    let busy = app.create_org().await;
    let quiet = app.create_org().await;
    spend_auth(&app, &busy, 20).await;

    let other_org = forgot(&app, &quiet).await;
    // A user's token of the busy organization draws on the same organization budget as its API key.
    let busy_user = app.post("/api/v1/logout", Some(&busy.owner.access_token), &json!({})).await;

    assert_eq!(other_org.status, 200, "{}", other_org.text);
    assert_eq!(number(&other_org, "ratelimit-remaining"), 19);
    assert_rate_limited(&busy_user, 20);
    // The refused logout did not happen.
    let sessions = app.get("/api/v1/sessions", Some(&busy.owner.access_token)).await;
    assert_eq!(sessions.status, 200, "{}", sessions.text);
}

#[tokio::test]
async fn a_pro_organization_gets_the_pro_limits() {
    let app = spawn_with_real_limits().await;
    let pro = app.create_org().await;
    let free = app.create_org().await;
    // Before the organization's first authenticated request: nodes cache the plan for 30 seconds.
    app.services.set_plan(&pro.id, Plan::Pro).await.unwrap();

    let auth = forgot(&app, &pro).await;
    let general = app.get("/api/v1/users", Some(&pro.api_key)).await;
    let free_auth = forgot(&app, &free).await;

    assert_eq!(auth.status, 200, "{}", auth.text);
    assert_eq!(number(&auth, "ratelimit-limit"), 100);
    assert_eq!(number(&auth, "ratelimit-remaining"), 99);
    assert_eq!(general.status, 200, "{}", general.text);
    assert_eq!(number(&general, "ratelimit-limit"), 300);
    assert_eq!(number(&free_auth, "ratelimit-limit"), 20);
}

#[tokio::test]
async fn a_pro_organization_can_make_more_than_twenty_auth_requests() {
    let app = spawn_with_real_limits().await;
    let pro = app.create_org().await;
    app.services.set_plan(&pro.id, Plan::Pro).await.unwrap();

    let spent = spend_auth(&app, &pro, 21).await;

    assert_eq!(remaining(&spent), (79..100).rev().collect::<Vec<u64>>());
    assert!(spent.iter().all(|r| number(r, "ratelimit-limit") == 100));
}

#[tokio::test]
async fn calls_without_credentials_are_limited_per_client_ip() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimitConfig { unauthenticated_per_ip: 3, ..RateLimitConfig::default() };
    })
    .await;
    let org = app.create_org().await;

    for i in 1..=3 {
        let r = app.refresh("rt_unknown").await;
        assert_eq!(r.status, 401, "refresh {i}: {}", r.text);
        assert_eq!(r.error(), "invalid_refresh_token");
        assert_eq!(number(&r, "ratelimit-limit"), 3);
        assert_eq!(number(&r, "ratelimit-remaining"), 3 - i);
    }
    let refused = app.refresh(&org.owner.refresh_token).await;

    assert_rate_limited(&refused, 3);
    // With the organization's key the same call is counted against the organization instead.
    let with_key =
        app.post("/api/v1/refresh", Some(&org.api_key), &json!({"refresh_token": org.owner.refresh_token})).await;
    assert_eq!(with_key.status, 200, "{}", with_key.text);
    assert_eq!(number(&with_key, "ratelimit-limit"), 20);
}

#[tokio::test]
async fn organization_creation_is_limited_per_client_ip_per_hour() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimitConfig { org_create_per_ip_per_hour: 2, ..RateLimitConfig::default() };
    })
    .await;
    app.create_org().await;
    app.create_org().await;
    let before = app.services.store.list_orgs().await.unwrap().len();

    let refused = app
        .post(
            "/api/v1/organizations",
            None,
            &json!({"name": "Third", "owner_email": unique_email("owner"), "owner_password": PASSWORD}),
        )
        .await;

    assert_eq!(refused.status, 429, "{}", refused.text);
    assert_eq!(refused.error(), "rate_limited");
    let retry_after = number(&refused, "retry-after");
    assert!((1..=3600).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(app.services.store.list_orgs().await.unwrap().len(), before);
}

#[tokio::test]
async fn with_rate_limiting_disabled_there_are_no_ratelimit_headers_and_no_429() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimitConfig {
            enabled: false,
            unauthenticated_per_ip: 1,
            org_create_per_ip_per_hour: 1,
            ..RateLimitConfig::default()
        };
    })
    .await;
    let org = app.create_org().await;
    // A second organization from the same IP, over the (disabled) hourly limit of one: create_org asserts 201.
    app.create_org().await;

    let mut responses = Vec::new();
    for _ in 0..25 {
        responses.push(forgot(&app, &org).await);
    }
    for _ in 0..3 {
        responses.push(app.refresh("rt_unknown").await);
    }

    for r in &responses {
        assert_ne!(r.status, 429, "{}", r.text);
        for header in ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after"] {
            assert!(r.header(header).is_none(), "{header} present with limits disabled");
        }
    }
    assert_eq!(responses[24].status, 200, "{}", responses[24].text);
    assert_eq!(responses[27].error(), "invalid_refresh_token");
}
