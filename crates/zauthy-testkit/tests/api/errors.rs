//! Malformed input: every bad request gets a 4xx with a documented error code in the standard body, never a
//! 5xx, and a rejected request leaves nothing half-written. Also the headers every response carries.

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use zauthy_http::error::ERROR_CODES;
use zauthy_testkit::{PASSWORD, TestApp, TestOrg, TestResponse, unique_email};

/// Which credential a case sends.
#[derive(Clone)]
enum Auth {
    Anonymous,
    ApiKey,
    /// The organization owner's access token.
    User,
    /// A raw `Authorization` header value, possibly not even ASCII.
    Header(Vec<u8>),
}

/// One request and the answer it must get.
struct Case {
    what: String,
    method: Method,
    path: String,
    auth: Auth,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    status: u16,
    /// Acceptable error codes; empty for a success.
    codes: Vec<&'static str>,
}

impl Case {
    fn new(what: impl Into<String>, method: Method, path: impl Into<String>, auth: Auth) -> Self {
        Self {
            what: what.into(),
            method,
            path: path.into(),
            auth,
            content_type: None,
            body: None,
            status: 0,
            codes: Vec::new(),
        }
    }

    fn json(mut self, body: &Value) -> Self {
        self.content_type = Some("application/json");
        self.body = Some(serde_json::to_vec(body).unwrap());
        self
    }

    fn raw(mut self, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = content_type;
        self.body = Some(body.into());
        self
    }

    fn expect(mut self, status: u16, code: &'static str) -> Self {
        self.status = status;
        self.codes = vec![code];
        self
    }

    /// A 200: the input is odd but harmless, so the endpoint just answers.
    fn expect_ok(mut self) -> Self {
        self.status = 200;
        self.codes.clear();
        self
    }

    fn expect_any(mut self, status: u16, codes: &[&'static str]) -> Self {
        self.status = status;
        self.codes = codes.to_vec();
        self
    }
}

async fn send(app: &TestApp, org: &TestOrg, case: &Case) -> TestResponse {
    let mut request = app.client.request(case.method.clone(), app.url(&case.path));
    let header = match &case.auth {
        Auth::Anonymous => None,
        Auth::ApiKey => Some(format!("Bearer {}", org.api_key).into_bytes()),
        Auth::User => Some(format!("Bearer {}", org.owner.access_token).into_bytes()),
        Auth::Header(raw) => Some(raw.clone()),
    };
    if let Some(raw) = header {
        request = request.header(AUTHORIZATION, HeaderValue::from_bytes(&raw).expect("a sendable header value"));
    }
    if let Some(ct) = case.content_type {
        request = request.header(CONTENT_TYPE, ct);
    }
    if let Some(body) = &case.body {
        request = request.body(body.clone());
    }
    app.send(request).await
}

/// What must hold for any response: no 5xx, a request id, no caching of API answers.
fn check_headers(path: &str, r: &TestResponse) -> Vec<String> {
    let mut problems = Vec::new();
    if r.status >= 500 {
        problems.push(format!("server error {}: {}", r.status, r.text));
    }
    if r.header("x-request-id").is_none_or(str::is_empty) {
        problems.push("no x-request-id header".to_owned());
    }
    if path.starts_with("/api/v1/") && r.header(CACHE_CONTROL.as_str()) != Some("no-store") {
        problems.push(format!("Cache-Control is {:?}, not no-store", r.header(CACHE_CONTROL.as_str())));
    }
    problems
}

/// The shape of an error answer: exactly `detail` and `error` (and `locked_until` for lockouts), a documented
/// code, and a Bearer challenge on 401.
fn check_error_body(r: &TestResponse) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(body) = r.body.as_object() else {
        return vec![format!("error body is not a JSON object: {:?}", r.text)];
    };
    let mut keys: Vec<&str> = body.keys().map(String::as_str).filter(|k| *k != "locked_until").collect();
    keys.sort_unstable();
    if keys != ["detail", "error"] {
        problems.push(format!("error body keys are {keys:?}: {}", r.text));
    }
    if body.get("detail").and_then(Value::as_str).is_none_or(str::is_empty) {
        problems.push(format!("no detail: {}", r.text));
    }
    let code = r.error();
    if !ERROR_CODES.iter().any(|(known, _)| *known == code) {
        problems.push(format!("error code {code:?} is not in ERROR_CODES"));
    }
    if r.status == 401 && !r.header(WWW_AUTHENTICATE.as_str()).is_some_and(|v| v.starts_with("Bearer")) {
        problems.push(format!("401 without a Bearer challenge: {:?}", r.header(WWW_AUTHENTICATE.as_str())));
    }
    problems
}

/// Runs every case and reports all the mismatches at once, so one run shows the whole picture.
async fn run(app: &TestApp, org: &TestOrg, cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let r = send(app, org, case).await;
        let mut problems = check_headers(&case.path, &r);
        if r.status != case.status {
            problems.push(format!("status {} (expected {}): {}", r.status, case.status, r.text));
        }
        if r.status >= 400 {
            problems.extend(check_error_body(&r));
        }
        if !case.codes.is_empty() && !case.codes.contains(&r.error()) {
            problems.push(format!("error {:?} (expected one of {:?})", r.error(), case.codes));
        }
        if !problems.is_empty() {
            failures.push(format!("{} {} — {}:\n    {}", case.method, case.path, case.what, problems.join("\n    ")));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// The JSON endpoints: path, credential, a valid body and one with a field of the wrong type.
fn json_endpoints() -> Vec<(&'static str, Auth, Value, Value)> {
    vec![
        (
            "/api/v1/organizations",
            Auth::Anonymous,
            json!({"name": "Acme", "owner_email": "owner@example.com", "owner_password": PASSWORD}),
            json!({"name": 42, "owner_email": "owner@example.com", "owner_password": PASSWORD}),
        ),
        (
            "/api/v1/signup",
            Auth::ApiKey,
            json!({"email": "new@example.com", "password": PASSWORD}),
            json!({"email": ["new@example.com"], "password": PASSWORD}),
        ),
        (
            "/api/v1/login",
            Auth::ApiKey,
            json!({"email": "new@example.com", "password": PASSWORD}),
            json!({"email": "new@example.com", "password": 12_345_678}),
        ),
        ("/api/v1/refresh", Auth::Anonymous, json!({"refresh_token": "rt_x"}), json!({"refresh_token": null})),
        ("/api/v1/token/verify", Auth::ApiKey, json!({"token": "abc"}), json!({"token": true})),
        ("/api/v1/password/forgot", Auth::ApiKey, json!({"email": "new@example.com"}), json!({"email": {}})),
        (
            "/api/v1/password/reset",
            Auth::ApiKey,
            json!({"token": "prt_x", "new_password": PASSWORD}),
            json!({"token": "prt_x", "new_password": 1.5}),
        ),
        (
            "/api/v1/password/change",
            Auth::User,
            json!({"current_password": PASSWORD, "new_password": "NewSecureP@ss456"}),
            json!({"current_password": [], "new_password": "NewSecureP@ss456"}),
        ),
        (
            "/api/v1/api-keys",
            Auth::ApiKey,
            json!({"name": "Backend"}),
            json!({"name": "Backend", "environment": "prod"}),
        ),
    ]
}

#[tokio::test]
async fn malformed_json_bodies_get_a_client_error_with_a_stable_code_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let users_before = app.get("/api/v1/users", Some(&org.api_key)).await.body["total"].clone();
    let orgs_before = app.services.store.list_orgs().await.unwrap().len();
    let mut cases = Vec::new();
    for (path, auth, valid, wrong_type) in json_endpoints() {
        let post = |what: &str| Case::new(what, Method::POST, path, auth.clone());
        let mut unknown_field = valid.clone();
        unknown_field["is_admin"] = json!(true);
        let mut oversized = valid.clone();
        oversized["padding"] = json!("x".repeat(70 * 1024));
        cases.extend([
            post("truncated JSON").raw(Some("application/json"), "{\"").expect(400, "invalid_json"),
            post("not JSON at all").raw(Some("application/json"), "email=a@b.co").expect(400, "invalid_json"),
            post("invalid UTF-8")
                .raw(Some("application/json"), b"{\"\xff\xfe\": 1}".to_vec())
                .expect(400, "invalid_json"),
            post("trailing garbage").raw(Some("application/json"), format!("{valid} x")).expect(400, "invalid_json"),
            post("empty body").raw(Some("application/json"), "").expect(400, "invalid_json"),
            post("a field of the wrong type").json(&wrong_type).expect(400, "invalid_request"),
            post("a JSON array instead of an object").json(&json!([valid])).expect(400, "invalid_request"),
            // serde would read a struct from an array by position: the valid body's values, in key order.
            post("the body's values as an array")
                .json(&Value::Array(valid.as_object().unwrap().values().cloned().collect()))
                .expect(400, "invalid_request"),
            post("JSON null").json(&Value::Null).expect(400, "invalid_request"),
            post("missing required fields").json(&json!({})).expect(400, "invalid_request"),
            post("an unknown field").json(&unknown_field).expect(400, "invalid_request"),
            post("no content type").raw(None, valid.to_string()).expect(415, "unsupported_media_type"),
            post("a text/plain body").raw(Some("text/plain"), valid.to_string()).expect(415, "unsupported_media_type"),
            post("a form body")
                .raw(Some("application/x-www-form-urlencoded"), "email=a")
                .expect(415, "unsupported_media_type"),
            post("a body over 64 KiB").json(&oversized).expect(413, "payload_too_large"),
        ]);
    }

    run(&app, &org, &cases).await;

    // None of those requests wrote anything.
    assert_eq!(app.get("/api/v1/users", Some(&org.api_key)).await.body["total"], users_before);
    assert_eq!(app.services.store.list_orgs().await.unwrap().len(), orgs_before);
    assert_eq!(app.get("/api/v1/api-keys", Some(&org.api_key)).await.body["api_keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn control_characters_in_input_are_refused_or_ignored_never_a_server_error() {
    // PostgreSQL rejects NUL bytes in text: they must be stopped before the store, on both databases.
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let nul_email = "a\u{0}b@example.com";
    let post = |what: &str, path: &str, auth: Auth| Case::new(what, Method::POST, path, auth);
    let cases = vec![
        post("a NUL in the name", "/api/v1/organizations", Auth::Anonymous)
            .json(&json!({"name": "Ac\u{0}me", "owner_email": unique_email("o"), "owner_password": PASSWORD}))
            .expect(400, "invalid_name"),
        post("a NUL in the owner email", "/api/v1/organizations", Auth::Anonymous)
            .json(&json!({"name": "Acme", "owner_email": nul_email, "owner_password": PASSWORD}))
            .expect(400, "invalid_email"),
        post("a NUL in the email", "/api/v1/signup", Auth::ApiKey)
            .json(&json!({"email": nul_email, "password": PASSWORD}))
            .expect(400, "invalid_email"),
        post("a NUL in the name", "/api/v1/signup", Auth::ApiKey)
            .json(&json!({"email": unique_email("u"), "password": PASSWORD, "name": "Ja\u{0}ne"}))
            .expect(400, "invalid_name"),
        post("a NUL in the phone", "/api/v1/signup", Auth::ApiKey)
            .json(&json!({"email": unique_email("u"), "password": PASSWORD, "phone": "+1415555\u{0}0100"}))
            .expect(400, "invalid_phone"),
        post("a NUL in the email", "/api/v1/login", Auth::ApiKey)
            .json(&json!({"email": nul_email, "password": PASSWORD}))
            .expect(401, "invalid_credentials"),
        post("a NUL in the token", "/api/v1/refresh", Auth::Anonymous)
            .json(&json!({"refresh_token": "rt_\u{0}"}))
            .expect(401, "invalid_refresh_token"),
        post("a NUL in the token", "/api/v1/token/verify", Auth::ApiKey).json(&json!({"token": "\u{0}"})).expect_ok(),
        // Same answer as for any unknown email: nothing to reveal.
        post("a NUL in the email", "/api/v1/password/forgot", Auth::ApiKey)
            .json(&json!({"email": nul_email}))
            .expect_ok(),
        post("a NUL in the token", "/api/v1/password/reset", Auth::ApiKey)
            .json(&json!({"token": "prt_\u{0}", "new_password": PASSWORD}))
            .expect(400, "invalid_reset_token"),
        post("a NUL in the name", "/api/v1/api-keys", Auth::ApiKey)
            .json(&json!({"name": "Back\u{0}end"}))
            .expect(400, "invalid_name"),
        Case::new("a NUL in the email filter", Method::GET, "/api/v1/users?email=%00", Auth::ApiKey)
            .expect(400, "invalid_email"),
        Case::new("a NUL in the email filter", Method::GET, "/api/v1/users?email=a%00b", Auth::ApiKey)
            .expect(400, "invalid_email"),
    ];

    run(&app, &org, &cases).await;
}

#[tokio::test]
async fn bad_authorization_headers_get_401_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let header = |value: &[u8]| Auth::Header(value.to_vec());
    let long_token = format!("Bearer {}", "a".repeat(8 * 1024));
    let mut cases = Vec::new();
    for (what, auth, code) in [
        ("Basic credentials", header(b"Basic dXNlcjpwYXNz"), "invalid_authorization_header"),
        ("Basic x", header(b"Basic x"), "invalid_authorization_header"),
        ("a scheme without a token", header(b"Bearer"), "invalid_authorization_header"),
        ("two tokens", header(b"Bearer a b"), "invalid_authorization_header"),
        ("a bare token", header(b"sk_live_abc"), "invalid_authorization_header"),
        ("non-ASCII bytes", header("Bearer t\u{f6}ken".as_bytes()), "invalid_authorization_header"),
        ("an unknown live API key", header(b"Bearer sk_live_unknown"), "invalid_api_key"),
        ("an unknown test API key", header(b"Bearer sk_test_unknown"), "invalid_api_key"),
        ("a garbage JWT", header(b"Bearer garbage.jwt.token"), "invalid_token"),
        ("an 8 KiB token", header(long_token.as_bytes()), "invalid_token"),
        ("no credentials", Auth::Anonymous, "missing_authorization"),
    ] {
        cases.push(Case::new(what, Method::GET, "/api/v1/users", auth.clone()).expect(401, code));
        // The credential is checked before the body is even read.
        cases.push(
            Case::new(what, Method::POST, "/api/v1/signup", auth)
                .raw(Some("application/json"), "{not json")
                .expect(401, code),
        );
    }
    // The scheme is case-insensitive (RFC 7235).
    let lowercase = Auth::Header(format!("bearer {}", org.api_key).into_bytes());
    cases.push(Case::new("a lowercase scheme", Method::GET, "/api/v1/users", lowercase).expect_ok());

    run(&app, &org, &cases).await;
}

#[tokio::test]
async fn unknown_routes_get_404_and_wrong_methods_get_405() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let cases = vec![
        Case::new("an unknown API route", Method::GET, "/api/v1/nope", Auth::ApiKey).expect(404, "not_found"),
        Case::new("an unknown API route, anonymous", Method::POST, "/api/v1/nope", Auth::Anonymous)
            .json(&json!({}))
            .expect(404, "not_found"),
        // Unknown stays unknown whatever the credential: no authentication happens for it.
        Case::new(
            "an unknown API route with a bad key",
            Method::GET,
            "/api/v1/nope",
            Auth::Header(b"Bearer sk_live_x".to_vec()),
        )
        .expect(404, "not_found"),
        Case::new("the bare API prefix", Method::GET, "/api/v1", Auth::Anonymous).expect(404, "not_found"),
        Case::new("an unversioned path", Method::GET, "/api/login", Auth::Anonymous).expect(404, "not_found"),
        Case::new("an unknown root path", Method::GET, "/nope", Auth::Anonymous).expect(404, "not_found"),
        Case::new("DELETE on login", Method::DELETE, "/api/v1/login", Auth::ApiKey).expect(405, "method_not_allowed"),
        Case::new("GET on signup", Method::GET, "/api/v1/signup", Auth::ApiKey).expect(405, "method_not_allowed"),
        Case::new("GET on refresh", Method::GET, "/api/v1/refresh", Auth::Anonymous).expect(405, "method_not_allowed"),
        Case::new("PUT on sessions", Method::PUT, "/api/v1/sessions", Auth::User).expect(405, "method_not_allowed"),
        Case::new("PATCH on api-keys", Method::PATCH, "/api/v1/api-keys", Auth::ApiKey)
            .json(&json!({"name": "x"}))
            .expect(405, "method_not_allowed"),
        Case::new("POST on users", Method::POST, "/api/v1/users", Auth::ApiKey)
            .json(&json!({}))
            .expect(405, "method_not_allowed"),
        Case::new("POST on health", Method::POST, "/health", Auth::Anonymous).expect(405, "method_not_allowed"),
    ];

    run(&app, &org, &cases).await;
}

#[tokio::test]
async fn bad_path_ids_and_query_parameters_are_client_errors_never_500() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let long_id = "u".repeat(5000);
    let absent = ["not_found", "invalid_path"];
    let mut cases = Vec::new();
    for id in ["not-an-id", "%00", "%FF", long_id.as_str(), "usr_aaaaaaaaaaaaaaaaaaaaaaaa2", "..%2F..%2Fetc", "%20"] {
        let user = format!("/api/v1/users/{id}");
        cases.extend([
            Case::new("GET a bad user id", Method::GET, user.clone(), Auth::ApiKey),
            Case::new("DELETE a bad user id", Method::DELETE, user.clone(), Auth::ApiKey),
            Case::new("block a bad user id", Method::POST, format!("{user}/block"), Auth::ApiKey),
            Case::new("unlock a bad user id", Method::POST, format!("{user}/unlock"), Auth::ApiKey),
            Case::new("DELETE a bad API key id", Method::DELETE, format!("/api/v1/api-keys/{id}"), Auth::ApiKey),
            Case::new("DELETE a bad session id", Method::DELETE, format!("/api/v1/sessions/{id}"), Auth::User),
            Case::new(
                "a bad organization's JWKS",
                Method::GET,
                format!("/o/{id}/.well-known/jwks.json"),
                Auth::Anonymous,
            ),
        ]);
    }
    let mut cases: Vec<Case> = cases.into_iter().map(|c| c.expect_any(404, &absent)).collect();
    // Percent-decoding to invalid UTF-8 cannot be a valid id: the extractor refuses it.
    for c in cases.iter_mut().filter(|c| c.path.contains("%FF")) {
        c.status = 400;
        c.codes = vec!["invalid_path"];
    }
    let query = |q: &str| Case::new(format!("?{q}"), Method::GET, format!("/api/v1/users?{q}"), Auth::ApiKey);
    cases.extend([
        query("page=-1").expect(400, "invalid_query"),
        query("page=abc").expect(400, "invalid_query"),
        query("page=1.5").expect(400, "invalid_query"),
        query("page=99999999999999999999999").expect(400, "invalid_query"),
        query("per_page=").expect(400, "invalid_query"),
        query("unknown=1").expect(400, "invalid_query"),
        query("page=1&page=2").expect(400, "invalid_query"),
        query("page=0").expect(400, "invalid_pagination"),
        query("per_page=0").expect(400, "invalid_pagination"),
        query("per_page=101").expect(400, "invalid_pagination"),
        query(&format!("email={}", "a".repeat(300))).expect(400, "invalid_email"),
    ]);
    // Past the last page is an empty page, up to the largest offset a database takes; beyond it, a 400.
    for q in ["page=1000", "page=9223372036854775808&per_page=1"] {
        cases.push(query(q).expect_ok());
    }
    for q in
        ["page=18446744073709551615", "page=9223372036854775807&per_page=100", "page=9223372036854775809&per_page=1"]
    {
        cases.push(query(q).expect(400, "invalid_pagination"));
    }

    run(&app, &org, &cases).await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_api_responses_are_never_cached() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    let listed = app.get("/api/v1/users", Some(&org.api_key)).await;
    let login = app.login(&org.api_key, &org.owner.email, PASSWORD).await;
    let health = app.get("/health", None).await;
    let other = app.get("/api/v1/users", Some(&org.api_key)).await;

    for r in [&listed, &login] {
        assert_eq!(r.status, 200, "{}", r.text);
        // Token and user data must not be kept by browsers or proxies.
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    assert_eq!(health.status, 200);
    for r in [&listed, &login, &health, &other] {
        assert!(r.header("x-request-id").is_some_and(|id| id.starts_with("req_")), "{:?}", r.headers);
    }
    assert_ne!(listed.header("x-request-id"), other.header("x-request-id"), "request ids must be unique");
}

#[tokio::test]
async fn a_signup_that_fails_validation_leaves_no_user_behind() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let total = |r: TestResponse| r.body["total"].as_u64().unwrap_or_else(|| panic!("no total: {}", r.text));
    let before = total(app.get("/api/v1/users", Some(&org.api_key)).await);
    let email = unique_email("half");

    // Each field is checked before anything is written.
    for (body, code) in [
        (json!({"email": email, "password": PASSWORD, "phone": "0123"}), "invalid_phone"),
        (json!({"email": email, "password": PASSWORD, "name": "x".repeat(201)}), "invalid_name"),
        (json!({"email": email, "password": "weak"}), "weak_password"),
        (json!({"email": "not-an-email", "password": PASSWORD}), "invalid_email"),
    ] {
        let r = app.post("/api/v1/signup", Some(&org.api_key), &body).await;

        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.error(), code, "{body}");
        assert_eq!(total(app.get("/api/v1/users", Some(&org.api_key)).await), before, "{body} wrote a user");
    }
}

#[tokio::test]
async fn the_same_email_signs_up_fine_after_a_rejected_signup() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let total = |r: TestResponse| r.body["total"].as_u64().unwrap_or_else(|| panic!("no total: {}", r.text));
    let before = total(app.get("/api/v1/users", Some(&org.api_key)).await);
    let email = unique_email("retry");

    let rejected = app
        .post("/api/v1/signup", Some(&org.api_key), &json!({"email": email, "password": PASSWORD, "phone": "12345"}))
        .await;
    let after_rejection = total(app.get("/api/v1/users", Some(&org.api_key)).await);
    let retried = app.signup(&org.api_key, &email, PASSWORD).await;

    assert_eq!(rejected.status, 400, "{}", rejected.text);
    assert_eq!(rejected.error(), "invalid_phone");
    assert_eq!(after_rejection, before);
    assert_eq!(retried.status, 201, "{}", retried.text);
    assert_eq!(total(app.get("/api/v1/users", Some(&org.api_key)).await), before + 1);
    // A duplicate is refused and does not add a second row either.
    let duplicate = app.signup(&org.api_key, &email, PASSWORD).await;
    assert_eq!(duplicate.status, 409, "{}", duplicate.text);
    assert_eq!(duplicate.error(), "email_exists");
    assert_eq!(total(app.get("/api/v1/users", Some(&org.api_key)).await), before + 1);
}

#[tokio::test]
async fn a_rejected_organization_creation_leaves_no_organization_behind() {
    let app = TestApp::spawn().await;
    let email = unique_email("owner");
    let before = app.services.store.list_orgs().await.unwrap().len();

    let rejected = app
        .post(
            "/api/v1/organizations",
            None,
            &json!({"name": "Acme", "owner_email": email, "owner_password": PASSWORD, "owner_name": "\u{7}"}),
        )
        .await;
    let after_rejection = app.services.store.list_orgs().await.unwrap().len();
    let retried = app
        .post("/api/v1/organizations", None, &json!({"name": "Acme", "owner_email": email, "owner_password": PASSWORD}))
        .await;

    assert_eq!(rejected.status, 400, "{}", rejected.text);
    assert_eq!(rejected.error(), "invalid_name");
    assert_eq!(after_rejection, before);
    assert_eq!(retried.status, 201, "{}", retried.text);
    assert_eq!(app.services.store.list_orgs().await.unwrap().len(), before + 1);
}
