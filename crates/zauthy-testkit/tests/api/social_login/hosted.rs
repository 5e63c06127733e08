//! The hosted sign-in page's "Continue with …" button: zauthy's own callback page (GET, or `form_post`),
//! bound to the browser that started the flow, signs that browser in.

use super::{Jar, add_provider, get_page, through_upstream_in, unescape, upstream_for};
use reqwest::header::LOCATION;
use serde_json::json;
use zauthy_testkit::TestApp;

#[tokio::test]
async fn the_hosted_sign_in_page_signs_the_browser_in_through_a_provider_button() {
    for response_mode in ["query", "form_post"] {
        let app = TestApp::spawn().await;
        let org = app.create_org().await;
        let hosted_callback = format!("{}/o/{}/oauth/callback", app.address, org.id);
        let up = upstream_for(&app, &[&hosted_callback]).await;
        add_provider(
            &app,
            &org,
            &up,
            "upstream",
            json!({"display_name": "Upstream ID", "response_mode": response_mode}),
        )
        .await;
        let mut browser = Jar::default();

        let login = get_page(&app, &mut browser, &format!("/o/{}/login", org.id)).await;
        assert_eq!(login.status, 200, "{}", login.text);
        assert!(login.text.contains("Continue with Upstream ID"), "{}", login.text);
        let href = login.text.split(r#"id="oauth-upstream" href=""#).nth(1).unwrap().split('"').next().unwrap();
        let started = get_page(&app, &mut browser, &unescape(href)).await;
        assert_eq!(started.status, 303, "{}", started.text);
        let authorization_url = started.header(LOCATION.as_str()).unwrap().to_owned();
        let returned = through_upstream_in(&app, &mut browser, &up.user, &authorization_url, &hosted_callback).await;
        let back = |jar: &mut Jar| {
            let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&returned.0).finish();
            let request = if response_mode == "form_post" {
                app.client
                    .post(app.url(&format!("/o/{}/oauth/callback", org.id)))
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            } else {
                app.client.get(app.url(&format!("/o/{}/oauth/callback?{body}", org.id)))
            };
            request.header(reqwest::header::COOKIE, jar.header())
        };

        // Another browser (an attacker handing over their own callback) cannot finish it.
        let foreign = app.send(back(&mut Jar::default())).await;
        assert_eq!(foreign.status, 400, "{}", foreign.text);
        assert!(foreign.text.contains("invalid_oauth_state"), "{}", foreign.text);

        let finished = app.send(back(&mut browser)).await;
        assert_eq!(finished.status, 303, "{}", finished.text);
        assert_eq!(finished.header(LOCATION.as_str()), Some(format!("/o/{}/account", org.id).as_str()));
        browser.take(&finished);
        let account = get_page(&app, &mut browser, &format!("/o/{}/account", org.id)).await;
        assert_eq!(account.status, 200, "{}", account.text);
        assert!(account.text.contains(&up.user.email), "signed in as the upstream user: {}", account.text);
    }
}
