//! `prompt=select_account`: the account chooser lists the browser's signed-in accounts on the organization's
//! pages, "use another account" signs in beside them, and the code is for the account chosen.

use super::flow::jwt_claims;
use super::*;
use zauthy_testkit::browser::Browser;

/// The user ids the chooser page offers, in order.
fn offered_accounts(page: &str) -> Vec<String> {
    page.split(r#"name="account" value=""#).skip(1).map(|rest| rest.split('"').next().unwrap().to_owned()).collect()
}

/// Opens `url` and follows the redirects.
async fn visit(browser: &mut Browser<'_>, url: &str) -> TestResponse {
    let r = browser.get(url).await;
    browser.follow(r).await
}

/// The `sub` of the ID token a code gives.
async fn subject_of(app: &TestApp, org: &TestOrg, rp: &Rp, r: &TestResponse) -> String {
    let code = callback(r).remove("code").unwrap_or_else(|| panic!("no code in {r:?}"));
    let tokens = exchange(app, org, rp, &code, Some(VERIFIER)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    jwt_claims(&tokens.str("/id_token"))["sub"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn select_account_shows_the_browser_s_accounts_and_the_code_is_for_the_one_chosen() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let (alice, bob) = (app.signup_user(&org.api_key).await, app.signup_user(&org.api_key).await);
    let rp = register(&app, &org, json!({})).await;
    let mut browser = Browser::new(&app);
    let choose = with(base(&rp), "prompt", "select_account");

    // Signed in as Alice: the chooser offers her, and another account.
    let first = approve(&mut browser, &authorize_url(&app, &org, &base(&rp)), &alice, None).await;
    assert_eq!(subject_of(&app, &org, &rp, &first).await, alice.id);
    let chooser = visit(&mut browser, &authorize_url(&app, &org, &choose)).await;
    assert_eq!(chooser.status, 200, "{}", chooser.text);
    assert!(chooser.text.contains(r#"id="account-chooser""#), "no chooser: {}", chooser.text);
    assert_eq!(offered_accounts(&chooser.text), std::slice::from_ref(&alice.id));

    // "Use another account": Bob signs in beside her, consents, and the code is his.
    let another = hidden_link(&chooser.text, "use-another-account");
    let login = browser.get(&another).await;
    assert!(login.text.contains(r#"id="password-form""#), "{}", login.text);
    let consent = browser.sign_in(login, &bob.email, &bob.password).await;
    let request = hidden_value(&consent.text, "request").expect("Bob's consent page");
    let form = [("request", request.as_str()), ("decision", "approve"), ("scope", "openid")];
    let done = browser.submit(&consent, &format!("/o/{}/consent", org.id), &form).await;
    assert_eq!(subject_of(&app, &org, &rp, &done).await, bob.id);

    // Both are signed in now, Bob first; choosing Alice gives a code for her, with no sign-in.
    let chooser = visit(&mut browser, &authorize_url(&app, &org, &choose)).await;
    assert_eq!(offered_accounts(&chooser.text), [bob.id.clone(), alice.id.clone()]);
    let request = hidden_value(&chooser.text, "request").expect("the chooser names its request");
    let chosen = browser
        .submit(&chooser, &format!("/o/{}/select_account", org.id), &[("request", &request), ("account", &alice.id)])
        .await;
    let chosen = browser.follow(chosen).await;
    assert_eq!(subject_of(&app, &org, &rp, &chosen).await, alice.id);

    // Without select_account the chosen account (Alice) is simply used.
    let silent = visit(&mut browser, &authorize_url(&app, &org, &base(&rp))).await;
    assert_eq!(subject_of(&app, &org, &rp, &silent).await, alice.id);
}

#[tokio::test]
async fn the_chooser_offers_no_account_whose_session_ended_and_refuses_to_choose_it() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let alice = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let mut browser = Browser::new(&app);
    approve(&mut browser, &authorize_url(&app, &org, &base(&rp)), &alice, None).await;
    // Every session of Alice's ends (she signed out everywhere).
    let r = app.delete("/api/v1/sessions", Some(&alice.access_token)).await;
    assert!(r.status < 300, "{}", r.text);

    let start = browser.get(&authorize_url(&app, &org, &with(base(&rp), "prompt", "select_account"))).await;
    let r = browser.follow(start).await;

    // No live account: straight to the sign-in form.
    assert!(r.text.contains(r#"id="password-form""#), "{}", r.text);
    let chooser = browser.get(&format!("/o/{}/select_account?request=x", org.id)).await;
    assert!(offered_accounts(&chooser.text).is_empty(), "{}", chooser.text);
    let refused = browser
        .submit(&chooser, &format!("/o/{}/select_account", org.id), &[("request", "x"), ("account", &alice.id)])
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
}

/// The `href` of the link with this id.
fn hidden_link(page: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}""#);
    let at = page.find(&marker).unwrap_or_else(|| panic!("no #{id} in {page}"));
    let before = &page[..at];
    let href = before.rfind(r#"href=""#).expect("a link");
    before[href + 6..].split('"').next().unwrap().replace("&amp;", "&")
}
