//! One-time codes by SMS: the exact Twilio request the provider receives, sign-in by phone, retries through
//! the outbox when the provider fails, and the file fallback without a provider.

use super::otp::{send, verify};
use super::{assert_error, assert_signed_in, logins, signup_with_phone, six_digits_in, unique_phone};
use data_encoding::BASE64;
use serde_json::json;
use std::time::Duration as StdDuration;
use time::Duration;
use zauthy::config::SmsConfig;
use zauthy::sms::Twilio;
use zauthy_core::sms::{SmsMessage, SmsSender};
use zauthy_testkit::http_sink::{Answer, HttpSink, RecordedRequest};
use zauthy_testkit::{SMS_FROM, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TestApp, twilio_accepted};

async fn send_sms_code(app: &TestApp, api_key: &str, phone: &str) {
    let r = send(app, api_key, json!({"phone": phone, "channel": "sms"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

fn assert_twilio_request(request: &RecordedRequest, phone: &str) -> String {
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"));
    let basic = BASE64.encode(format!("{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}").as_bytes());
    assert_eq!(request.header("authorization"), Some(format!("Basic {basic}").as_str()));
    assert_eq!(request.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(request.form_value("To").as_deref(), Some(phone), "{:?}", request.form());
    assert_eq!(request.form_value("From").as_deref(), Some(SMS_FROM), "{:?}", request.form());
    let body = request.form_value("Body").expect("a Body field");
    assert!(body.len() <= 160, "more than one SMS segment: {body:?}");
    six_digits_in(&body)
}

#[tokio::test]
async fn an_sms_code_reaches_twilio_in_its_api_shape_and_signs_the_user_in() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let phone = unique_phone();
    let user = signup_with_phone(&app, &org.api_key, &phone).await;

    send_sms_code(&app, &org.api_key, &phone).await;
    let request = app.sms.wait_for_request(StdDuration::from_secs(10)).await.expect("no SMS reached the provider");
    let code = assert_twilio_request(&request, &phone);
    assert_eq!(request.form().len(), 3, "{:?}", request.form());

    let r = verify(&app, &org.api_key, json!({"phone": phone, "code": code})).await;

    let returned = assert_signed_in(&app, &org.api_key, &r, &user.email).await;
    assert_eq!(returned["id"], json!(user.id));
    assert_eq!(returned["phone"], json!(phone));
    assert_eq!(logins(&app, &org.id).await[0], (user.id.clone(), "sms_otp".to_owned()));
    assert_eq!(app.sms.requests().len(), 1, "delivered more than once");
}

#[tokio::test]
async fn a_failing_sms_provider_is_retried_by_the_outbox_until_the_message_is_delivered() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let phone = unique_phone();
    signup_with_phone(&app, &org.api_key, &phone).await;
    let outage = json!({"code": 20500, "message": "Internal Server Error", "status": 500}).to_string();
    app.sms.fail_next(2, Answer { status: 500, body: outage, ..Answer::default() });

    send_sms_code(&app, &org.api_key, &phone).await;
    // Retries back off (2 s, 4 s … on the service clock): move the clock until the third attempt lands.
    let mut requests = Vec::new();
    for _ in 0..60 {
        match app.sms.wait_for_requests(3, StdDuration::from_millis(500)).await {
            Ok(all) => {
                requests = all;
                break;
            }
            Err(_) => app.clock.advance(Duration::seconds(5)),
        }
    }

    assert_eq!(requests.iter().map(|r| r.answered).collect::<Vec<_>>(), vec![500, 500, 201]);
    let codes: Vec<String> = requests.iter().map(|r| assert_twilio_request(r, &phone)).collect();
    assert!(codes.iter().all(|c| *c == codes[0]), "the retries carried different messages: {codes:?}");
    let r = verify(&app, &org.api_key, json!({"phone": phone, "code": codes[2]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn without_an_sms_provider_each_message_is_written_to_the_outbox_directory() {
    let app = TestApp::spawn_with(|config| config.sms = Default::default()).await;
    let org = app.create_org().await;
    let phone = unique_phone();
    signup_with_phone(&app, &org.api_key, &phone).await;

    send_sms_code(&app, &org.api_key, &phone).await;
    let dir = app.data_dir().join("outbox").join("sms");
    let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
    let file = loop {
        let found = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "json"));
        if let Some(found) = found {
            break found;
        }
        assert!(std::time::Instant::now() < deadline, "no SMS file appeared in {}", dir.display());
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    };

    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(written["to"], json!(phone));
    let code = six_digits_in(written["body"].as_str().unwrap());
    assert!(app.sms.requests().is_empty(), "an unconfigured provider was called");
    assert_eq!(verify(&app, &org.api_key, json!({"phone": phone, "code": code})).await.status, 200);
}

#[tokio::test]
async fn a_phone_shared_by_two_accounts_cannot_sign_in_by_sms() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let shared = unique_phone();
    signup_with_phone(&app, &org.api_key, &shared).await;
    signup_with_phone(&app, &org.api_key, &shared).await;
    let single = unique_phone();
    signup_with_phone(&app, &org.api_key, &single).await;

    let r = send(&app, &org.api_key, json!({"phone": shared, "channel": "sms"})).await;
    send_sms_code(&app, &org.api_key, &single).await;
    let first = app.sms.wait_for_request(StdDuration::from_secs(10)).await.unwrap();

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(first.form_value("To").as_deref(), Some(single.as_str()), "the shared phone got an SMS");
    assert_eq!(app.sms.requests().len(), 1);
    assert_error(&verify(&app, &org.api_key, json!({"phone": shared, "code": "123456"})).await, 400, "invalid_otp");
}

#[tokio::test]
async fn sms_codes_never_create_accounts_even_with_passwordless_signup() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    super::allow_passwordless_signup(&app, &org.api_key).await;
    let phone = unique_phone();
    let known = unique_phone();
    signup_with_phone(&app, &org.api_key, &known).await;

    let r = send(&app, &org.api_key, json!({"phone": phone, "channel": "sms"})).await;
    send_sms_code(&app, &org.api_key, &known).await;
    let first = app.sms.wait_for_request(StdDuration::from_secs(10)).await.unwrap();

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(first.form_value("To").as_deref(), Some(known.as_str()));
    assert_eq!(app.sms.requests().len(), 1, "an unknown phone got an SMS");
}

// ---------------------------------------------------------------------------------------------------------------
// The Twilio sender on its own, against the receiver
// ---------------------------------------------------------------------------------------------------------------

fn twilio_config(sink: &HttpSink) -> SmsConfig {
    SmsConfig {
        provider: Some("twilio".to_owned()),
        twilio_account_sid: Some(TWILIO_ACCOUNT_SID.to_owned()),
        twilio_auth_token: Some(TWILIO_AUTH_TOKEN.to_owned()),
        from: Some(SMS_FROM.to_owned()),
        base_url: sink.base_url(),
        ..SmsConfig::default()
    }
}

fn message() -> SmsMessage {
    SmsMessage { to: "+14155550100".to_owned(), body: "123456 is your code & more".to_owned() }
}

#[tokio::test]
async fn a_twilio_failure_is_reported_with_twilios_code_and_message() {
    let sink = HttpSink::start(twilio_accepted()).await.unwrap();
    let rejected = json!({"code": 21211, "message": "The 'To' number +14155550100 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400});
    sink.fail_next(1, Answer { status: 400, body: rejected.to_string(), ..Answer::default() });
    let twilio = Twilio::new(&twilio_config(&sink)).unwrap();

    let error = twilio.send_sms("obx_1", &message()).await.unwrap_err().to_string();
    let accepted = twilio.send_sms("obx_2", &message()).await;

    assert!(
        error.contains("400") && error.contains("21211") && error.contains("is not a valid phone number"),
        "{error}"
    );
    accepted.expect("a 201 with a sid is a success");
    let sent = sink.requests();
    assert_eq!(sent.len(), 2);
    // The body is form-encoded exactly: '&' inside the text does not split fields.
    assert_eq!(sent[1].form_value("Body").as_deref(), Some("123456 is your code & more"));
}

#[tokio::test]
async fn a_success_without_a_message_sid_is_not_taken_for_delivery() {
    let sink = HttpSink::start(Answer { status: 201, body: "{}".to_owned(), ..Answer::default() }).await.unwrap();
    let twilio = Twilio::new(&twilio_config(&sink)).unwrap();

    let result = twilio.send_sms("obx_1", &message()).await;

    assert!(result.is_err(), "a 201 without sid counted as sent");
}

#[tokio::test]
async fn the_twilio_sender_does_not_follow_redirects_with_the_credentials() {
    let sink = HttpSink::start(twilio_accepted()).await.unwrap();
    let elsewhere = format!("{}/stolen", sink.base_url());
    sink.fail_next(1, Answer { status: 307, body: String::new(), headers: vec![("location".to_owned(), elsewhere)] });
    let twilio = Twilio::new(&twilio_config(&sink)).unwrap();

    let result = twilio.send_sms("obx_1", &message()).await;

    assert!(result.is_err(), "a redirect counted as sent");
    let sent = sink.requests();
    assert_eq!(sent.len(), 1, "the redirect was followed: {sent:?}");
}

#[tokio::test]
async fn a_messaging_service_sends_as_messaging_service_sid_instead_of_from() {
    let sink = HttpSink::start(twilio_accepted()).await.unwrap();
    let service = format!("MG{}", "ab".repeat(16));
    let config = SmsConfig { from: None, messaging_service_sid: Some(service.clone()), ..twilio_config(&sink) };
    let twilio = Twilio::new(&config).unwrap();

    twilio.send_sms("obx_1", &message()).await.unwrap();

    let sent = sink.wait_for_request(StdDuration::from_secs(5)).await.unwrap();
    assert_eq!(sent.form_value("MessagingServiceSid"), Some(service));
    assert_eq!(sent.form_value("From"), None);
    assert_eq!(sent.form_value("To").as_deref(), Some("+14155550100"));
}

#[tokio::test]
async fn an_sms_sign_in_proves_the_phone_number_until_the_number_changes() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let phone = unique_phone();
    let user = signup_with_phone(&app, &org.api_key, &phone).await;
    let seen = |r: &zauthy_testkit::TestResponse| r.body["phone_verified"].clone();
    let me = app.get("/api/v1/me", Some(&user.access_token)).await;
    assert_eq!(seen(&me), json!(false), "a number given at signup is not proven: {}", me.text);

    send_sms_code(&app, &org.api_key, &phone).await;
    let request = app.sms.wait_for_request(StdDuration::from_secs(10)).await.expect("no SMS reached the provider");
    let code = assert_twilio_request(&request, &phone);
    let r = verify(&app, &org.api_key, json!({"phone": phone, "code": code})).await;
    let returned = assert_signed_in(&app, &org.api_key, &r, &user.email).await;
    assert_eq!(returned["phone_verified"], json!(true), "{returned}");
    let me = app.get("/api/v1/me", Some(&user.access_token)).await;
    assert_eq!(seen(&me), json!(true), "{}", me.text);
    // An OpenID client with the phone scope is told so.
    use crate::oidc_provider::{VERIFIER, code_for, exchange, register};
    let rp = register(&app, &org, json!({})).await;
    let code = code_for(&app, &org, &rp, &user, &[("scope", "openid phone")]).await;
    let tokens = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    let userinfo = app
        .send(app.client.get(app.url(&format!("/o/{}/userinfo", org.id))).bearer_auth(tokens.str("/access_token")))
        .await;
    assert_eq!(userinfo.body["phone_number"], json!(phone), "{}", userinfo.text);
    assert_eq!(userinfo.body["phone_number_verified"], json!(true), "{}", userinfo.text);

    // The same number again keeps the proof; another number loses it.
    let same = app.patch("/api/v1/me", Some(&user.access_token), &json!({"phone": phone, "name": "Jo"})).await;
    assert_eq!(seen(&same), json!(true), "{}", same.text);
    let other = app.patch("/api/v1/me", Some(&user.access_token), &json!({"phone": unique_phone()})).await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert_eq!(seen(&other), json!(false), "{}", other.text);
}
