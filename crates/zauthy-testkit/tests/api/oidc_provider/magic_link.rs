//! Signing in with a magic link in the middle of an authorization: the link remembers where the sign-in was
//! going, and the code comes back with `amr: ["email"]`.

use super::flow::jwt_claims;
use super::*;
use zauthy_testkit::browser::Browser;

#[tokio::test]
async fn a_magic_link_asked_for_on_the_hosted_sign_in_page_continues_the_authorization() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let mut browser = Browser::new(&app);
    let start = authorize_url(
        &app,
        &org,
        &[
            ("client_id", rp.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let r = browser.get(&start).await;
    let login = browser.follow(r).await;
    let return_to = hidden_value(&login.text, "return_to").unwrap();
    let path = format!("/o/{}/login/magic-link", org.id);
    let r = browser.submit(&login, &path, &[("email", &user.email), ("password", ""), ("return_to", &return_to)]).await;
    assert!(r.text.contains("magic-link-sent"), "{}", r.text);
    let mail = app.email_to(&user.email).await;
    let body = mail.text_body();
    let link = body.lines().map(str::trim).find(|l| l.contains("token=ml_")).expect("a link").to_owned();
    let landing = browser.get(&link).await;
    assert_eq!(landing.status, 200, "{}", landing.text);
    let token = hidden_value(&landing.text, "token").unwrap();
    let back_to = hidden_value(&landing.text, "return_to").unwrap();
    assert_eq!(back_to, return_to, "the link remembers where the sign-in was going");
    let r = browser
        .submit(&landing, &format!("/o/{}/magic-link", org.id), &[("token", &token), ("return_to", &back_to)])
        .await;
    let r = browser.follow(r).await;
    assert!(r.text.contains(r#"id="consent-form""#), "{}", r.text);
    let r = approve(&mut browser, &start, &user, None).await;
    let code = callback(&r)["code"].clone();
    let t = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(jwt_claims(&t.str("/id_token"))["amr"], json!(["email"]));
}
