//! Webhooks over HTTP against a real local receiver: signatures (hex, Standard Webhooks, the reference's Node
//! snippet under `node`), retries and backoff on the controllable clock, disabling, history, rotation,
//! redelivery, test events and organization isolation; `ssrf` holds the refusals of non-public destinations.

mod ssrf;

use data_encoding::{BASE64, HEXLOWER};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;
use zauthy_testkit::http_sink::{Answer, HttpSink, RecordedRequest};
use zauthy_testkit::{TestApp, TestOrg, TestResponse};

const WAIT: Duration = Duration::from_secs(10);

fn ok_answer() -> Answer {
    Answer { status: 200, body: "ok".to_owned(), headers: Vec::new() }
}

fn failure(status: u16) -> Answer {
    Answer { status, body: "receiver is down".to_owned(), headers: Vec::new() }
}

async fn receiver() -> HttpSink {
    HttpSink::start(ok_answer()).await.unwrap()
}

async fn create(app: &TestApp, org: &TestOrg, url: &str, events: Value) -> TestResponse {
    app.post("/api/v1/webhooks", Some(&org.api_key), &json!({"url": url, "events": events})).await
}

/// Creates a webhook to `sink` for `events` and returns (id, secret).
async fn hook(app: &TestApp, org: &TestOrg, sink: &HttpSink, events: Value) -> (String, String) {
    let r = create(app, org, &format!("{}/hooks", sink.base_url()), events).await;
    assert_eq!(r.status, 201, "{}", r.text);
    (r.str("/id"), r.str("/secret"))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex_ok(req: &RecordedRequest, secret: &str) -> bool {
    req.header("x-webhook-signature") == Some(HEXLOWER.encode(&hmac(secret.as_bytes(), req.body.as_bytes())).as_str())
}

/// The Standard Webhooks signatures of the request that `secret` produces.
fn standard_ok(req: &RecordedRequest, secret: &str) -> bool {
    let key = BASE64.decode(secret.strip_prefix("whsec_").unwrap().as_bytes()).unwrap();
    let signed =
        format!("{}.{}.{}", req.header("webhook-id").unwrap(), req.header("webhook-timestamp").unwrap(), req.body);
    let expected = format!("v1,{}", BASE64.encode(&hmac(&key, signed.as_bytes())));
    req.header("webhook-signature").unwrap().split(' ').any(|s| s == expected)
}

async fn deliveries(app: &TestApp, org: &TestOrg, id: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&org.api_key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["deliveries"].as_array().unwrap().clone()
}

/// Waits until the delivery history satisfies `done` (the worker runs in the background).
async fn wait_history(app: &TestApp, org: &TestOrg, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let list = deliveries(app, org, id).await;
        if done(&list) {
            return list;
        }
        assert!(tokio::time::Instant::now() < deadline, "history never settled: {list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_webhook_is_created_with_a_secret_shown_once_and_managed_like_the_reference() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let r = create(
        &app,
        &org,
        "https://yourapp.com/webhooks/zauthy",
        json!(["user.signup", "kyc.completed", "kyc.failed"]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.str("/id");
    assert!(id.starts_with("wh_"), "{id}");
    assert!(r.str("/secret").starts_with("whsec_"));
    assert_eq!(r.body["events"], json!(["user.signup", "kyc.completed", "kyc.failed"]));
    assert_eq!(r.body["active"], true);

    let got = app.get(&format!("/api/v1/webhooks/{id}"), Some(&org.api_key)).await;
    assert_eq!(got.status, 200);
    assert!(got.body.get("secret").is_none(), "{}", got.text);
    let list = app.get("/api/v1/webhooks", Some(&org.api_key)).await;
    assert_eq!(list.body["webhooks"].as_array().unwrap().len(), 1);

    let patch = app
        .send(
            app.client
                .patch(app.url(&format!("/api/v1/webhooks/{id}")))
                .bearer_auth(&org.api_key)
                .json(&json!({"events": ["*"], "active": false})),
        )
        .await;
    assert_eq!(patch.status, 200, "{}", patch.text);
    assert_eq!((patch.body["events"].clone(), patch.body["active"].clone()), (json!(["*"]), json!(false)));

    let bad = create(&app, &org, "https://yourapp.com/h", json!(["user.nonsense"])).await;
    assert_eq!((bad.status, bad.error()), (400, "invalid_webhook_events"));

    let del = app.delete(&format!("/api/v1/webhooks/{id}"), Some(&org.api_key)).await;
    assert_eq!(del.status, 200, "{}", del.text);
    assert_eq!(app.get(&format!("/api/v1/webhooks/{id}"), Some(&org.api_key)).await.status, 404);
}

#[tokio::test]
async fn a_signup_is_delivered_once_with_hex_and_standard_webhooks_signatures() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let sink = receiver().await;
    let (_, secret) = hook(&app, &org, &sink, json!(["user.signup"])).await;

    let user = app.signup_user(&org.api_key).await;
    app.login(&org.api_key, &user.email, &user.password).await;

    let req = sink.wait_for_request(WAIT).await.unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/hooks");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body["event"], "user.signup");
    assert_eq!(body["data"]["user_id"], user.id.as_str());
    assert_eq!(body["data"]["email"], user.email.as_str());
    assert!(body["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(req.header("webhook-id"), body["id"].as_str());
    assert!(req.body.starts_with("{\"event\":\"user.signup\",\"data\":"), "{}", req.body);
    assert!(hex_ok(&req, &secret), "X-Webhook-Signature does not verify");
    assert!(standard_ok(&req, &secret), "webhook-signature does not verify");
    assert!(!hex_ok(&req, "whsec_other"));

    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sink.requests().len(), 1, "only the subscribed event is sent, once");
}

#[tokio::test]
async fn the_reference_node_snippet_verifies_a_real_delivery() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let sink = receiver().await;
    let (_, secret) = hook(&app, &org, &sink, json!(["*"])).await;
    // Non-ASCII and punctuation in the data must survive JSON.stringify unchanged.
    let email = zauthy_testkit::unique_email("zoë");
    let r = app.signup(&org.api_key, &email, "Correct-Horse-Battery-9").await;
    assert_eq!(r.status, 201, "{}", r.text);

    let req = sink.wait_for_request(WAIT).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, &req.body).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks/verify.mjs");
    let run = |sig: &str, secret: &str| {
        std::process::Command::new("node")
            .arg(&script)
            .arg(&body_file)
            .arg(sig)
            .arg(secret)
            .status()
            .expect("node must be on PATH")
            .success()
    };
    let sig = req.header("x-webhook-signature").unwrap().to_owned();
    assert!(run(&sig, &secret), "the reference snippet rejected body {}", req.body);
    assert!(!run(&sig, "whsec_wrong"), "a wrong secret must not verify");
}

#[tokio::test]
async fn a_failing_receiver_is_retried_on_the_backoff_schedule_and_the_history_shows_each_attempt() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let sink = receiver().await;
    sink.fail_next(2, failure(503));
    let (id, _) = hook(&app, &org, &sink, json!(["user.signup"])).await;
    app.signup_user(&org.api_key).await;

    let list = wait_history(&app, &org, &id, |l| l.len() == 1 && l[0]["attempts"] == 1).await;
    let d = &list[0];
    assert_eq!(d["status"], "pending");
    let a = &d["attempt_history"][0];
    assert_eq!(a["status_code"], 503);
    assert_eq!(a["response_body"], "receiver is down");
    assert_eq!(a["error"], "HTTP 503");
    assert!(a["latency_ms"].as_i64().unwrap() >= 0);
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(v.as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap()
    };
    let wait = parse(&a["next_retry_at"]) - parse(&a["attempted_at"]);
    assert!(wait >= time::Duration::minutes(1) && wait <= time::Duration::seconds(67), "first retry after {wait}");

    // Not before it is due.
    app.clock.advance(time::Duration::seconds(30));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.requests().len(), 1);

    app.clock.advance(time::Duration::seconds(40));
    let list = wait_history(&app, &org, &id, |l| l[0]["attempts"] == 2).await;
    let a = &list[0]["attempt_history"][1];
    let wait = parse(&a["next_retry_at"]) - parse(&a["attempted_at"]);
    assert!(wait >= time::Duration::minutes(5) && wait <= time::Duration::seconds(331), "second retry after {wait}");

    app.clock.advance(time::Duration::minutes(6));
    let list = wait_history(&app, &org, &id, |l| l[0]["status"] == "delivered").await;
    assert_eq!(list[0]["attempts"], 3);
    assert_eq!(list[0]["attempt_history"][2]["status_code"], 200);
    assert!(list[0]["next_attempt_at"].is_null());
    let requests = sink.requests();
    assert_eq!(requests.len(), 3);
    let ids: Vec<_> = requests.iter().map(|r| r.header("webhook-id").unwrap().to_owned()).collect();
    assert!(ids.iter().all(|i| i == &ids[0]), "every retry carries the same event id: {ids:?}");
}

#[tokio::test]
async fn an_endpoint_failing_for_three_days_is_disabled_with_an_event() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let sink = receiver().await;
    sink.fail_next(1000, failure(500));
    let (id, _) = hook(&app, &org, &sink, json!(["user.signup"])).await;
    app.signup_user(&org.api_key).await;
    wait_history(&app, &org, &id, |l| l.first().is_some_and(|d| d["attempts"] == 1)).await;

    // Keep new deliveries failing across three days.
    for _ in 0..4 {
        app.clock.advance(time::Duration::hours(20));
        app.signup_user(&org.api_key).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = app.get(&format!("/api/v1/webhooks/{id}"), Some(&org.api_key)).await;
        if got.body["active"] == false {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never disabled: {}", got.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = app.get("/api/v1/events?type=webhook.disabled", Some(&org.api_key)).await;
    assert_eq!(events.body["total"], 1, "{}", events.text);
    assert_eq!(events.body["events"][0]["data"]["webhook_id"], id.as_str());

    // Disabled: new events no longer create deliveries.
    let before = deliveries(&app, &org, &id).await.len();
    app.signup_user(&org.api_key).await;
    assert_eq!(deliveries(&app, &org, &id).await.len(), before);
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_until_the_overlap_ends() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let sink = receiver().await;
    let (id, old) = hook(&app, &org, &sink, json!(["user.signup"])).await;
    let r = app.post(&format!("/api/v1/webhooks/{id}/rotate-secret"), Some(&org.api_key), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.str("/secret");
    assert_ne!(new, old);

    app.signup_user(&org.api_key).await;
    let req = sink.wait_for_request(WAIT).await.unwrap();
    assert!(hex_ok(&req, &new), "X-Webhook-Signature uses the new secret");
    assert!(standard_ok(&req, &new) && standard_ok(&req, &old), "both sign during the overlap");
    assert_eq!(req.header("webhook-signature").unwrap().split(' ').count(), 2);

    app.clock.advance(time::Duration::hours(25));
    app.signup_user(&org.api_key).await;
    let reqs = sink.wait_for_requests(2, WAIT).await.unwrap();
    assert!(standard_ok(&reqs[1], &new));
    assert!(!standard_ok(&reqs[1], &old), "the old secret stops signing after the overlap");
}

#[tokio::test]
async fn a_test_event_and_a_redelivery_reach_the_receiver_with_stable_ids() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let sink = receiver().await;
    let (id, secret) = hook(&app, &org, &sink, json!(["user.signup"])).await;

    let r = app.post(&format!("/api/v1/webhooks/{id}/test"), Some(&org.api_key), &json!({})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let req = sink.wait_for_request(WAIT).await.unwrap();
    let body: Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body["event"], "webhook.test");
    assert!(hex_ok(&req, &secret));

    app.signup_user(&org.api_key).await;
    let reqs = sink.wait_for_requests(2, WAIT).await.unwrap();
    let list = wait_history(&app, &org, &id, |l| l.iter().all(|d| d["status"] == "delivered")).await;
    let signup = list.iter().find(|d| d["event"] == "user.signup").unwrap();
    let r = app
        .post(
            &format!("/api/v1/webhooks/{id}/deliveries/{}/redeliver", signup["id"].as_str().unwrap()),
            Some(&org.api_key),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let again = sink.wait_for_requests(3, WAIT).await.unwrap();
    assert_eq!(again[2].body, reqs[1].body, "a redelivery sends the same body");
    assert_eq!(again[2].header("webhook-id"), reqs[1].header("webhook-id"));

    let missing =
        app.post(&format!("/api/v1/webhooks/{id}/deliveries/whd_nope/redeliver"), Some(&org.api_key), &json!({})).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn webhooks_and_their_deliveries_do_not_cross_organizations() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other = app.create_org().await;
    let sink = receiver().await;
    let (id, _) = hook(&app, &org, &sink, json!(["*"])).await;

    assert_eq!(app.get(&format!("/api/v1/webhooks/{id}"), Some(&other.api_key)).await.status, 404);
    assert_eq!(app.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&other.api_key)).await.status, 404);
    assert_eq!(app.delete(&format!("/api/v1/webhooks/{id}"), Some(&other.api_key)).await.status, 404);
    let r = app.post(&format!("/api/v1/webhooks/{id}/test"), Some(&other.api_key), &json!({})).await;
    assert_eq!(r.status, 404);
    assert!(app.get("/api/v1/webhooks", Some(&other.api_key)).await.body["webhooks"].as_array().unwrap().is_empty());

    // The other org's events never reach this org's endpoint.
    app.signup_user(&other.api_key).await;
    let member = app.signup_user(&org.api_key).await;
    let req = sink.wait_for_request(WAIT).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bodies: Vec<Value> = sink.requests().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    assert!(
        bodies.iter().all(|b| b["event"] != "user.signup" || b["data"]["user_id"] == member.id.as_str()),
        "{bodies:?}"
    );
    let _ = req;
    let member_token = app.signup_user(&org.api_key).await.access_token;
    assert_eq!(app.get("/api/v1/webhooks", Some(&member_token)).await.status, 403);
}

#[tokio::test]
async fn finished_deliveries_leave_the_history_after_thirty_days_and_pending_ones_stay() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let sink = receiver().await;
    let (id, _) = hook(&app, &org, &sink, json!(["user.signup"])).await;
    app.signup_user(&org.api_key).await;
    wait_history(&app, &org, &id, |l| l.len() == 1 && l[0]["status"] == "delivered").await;
    // A second one that keeps failing: still being retried when the first one's history ends.
    sink.fail_next(100, failure(503));
    app.clock.advance(time::Duration::days(29));
    app.signup_user(&org.api_key).await;
    wait_history(&app, &org, &id, |l| l.len() == 2 && l[0]["attempts"] == 1).await;

    let kept = zauthy_core::prune::DELIVERY_HISTORY_KEPT;
    let report = app.services.prune_expired_records().await.unwrap();
    assert_eq!(report.of(zauthy_core::prune::Prunable::WebhookDeliveries), 0, "29 days is within: {report:?}");
    app.clock.advance(kept - time::Duration::days(29) + zauthy_core::prune::PRUNE_GRACE + time::Duration::minutes(1));
    let report = app.services.prune_expired_records().await.unwrap();
    assert_eq!(report.of(zauthy_core::prune::Prunable::WebhookDeliveries), 1, "{report:?}");
    let list = deliveries(&app, &org, &id).await;
    assert_eq!(list.len(), 1, "only the one still being retried: {list:?}");
    assert_eq!(list[0]["status"], "pending", "{list:?}");
}
