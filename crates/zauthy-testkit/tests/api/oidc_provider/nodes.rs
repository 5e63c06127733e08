//! Two nodes of one deployment on one database, as behind a load balancer. A node keeps the codes it issued
//! in memory so that an exchange there does not read them back, and caches grants for up to a second; neither
//! may let a code or refresh token through that the database says is spent or revoked.

use super::*;

/// Two nodes on one database, an organization with a client, a user, and a code the first node issued.
struct Deployment {
    app: TestApp,
    other: TestApp,
    org: TestOrg,
    user: TestUser,
    rp: Rp,
    code: String,
}

impl Deployment {
    async fn with_a_code() -> Self {
        let app = TestApp::spawn().await;
        let other = app.another_node().await;
        let org = app.create_org().await;
        let user = app.signup_user(&org.api_key).await;
        let rp = register(&app, &org, json!({})).await;
        let code = code_for(&app, &org, &rp, &user, &[]).await;
        Deployment { app, other, org, user, rp, code }
    }
}

async fn withdraw_consent(node: &TestApp, rp: &Rp, user: &TestUser) {
    let r = node.delete(&format!("/api/v1/oidc/consents/{}", rp.id), Some(&user.access_token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_code_exchanged_on_another_node_is_refused_as_reused_on_the_node_that_issued_it() {
    let Deployment { app, other, org, rp, code, .. } = Deployment::with_a_code().await;

    let first = exchange(&other, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(again.body["error"], "invalid_grant", "{}", again.text);
    assert!(again.str("/error_description").contains("already used"), "{}", again.text);
    assert_grant_revoked_by_reuse(&app, &org, &rp, &first, "authorization_code").await;
}

#[tokio::test]
async fn a_code_whose_consent_was_withdrawn_on_another_node_is_refused_on_the_node_that_issued_it() {
    let Deployment { app, other, org, user, rp, code } = Deployment::with_a_code().await;

    withdraw_consent(&other, &rp, &user).await;
    let r = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(r.body["error"], "invalid_grant", "{}", r.text);
    assert_eq!(r.str("/error_description"), "the authorization was revoked", "{}", r.text);
    let events = app.get("/api/v1/events?type=security.oidc_token_reuse", Some(&org.api_key)).await;
    assert_eq!(events.body["events"], json!([]), "a revoked grant is not a reuse: {}", events.text);
}

#[tokio::test]
async fn a_refresh_token_whose_grant_was_revoked_on_another_node_is_refused_while_this_node_still_caches_the_grant() {
    let Deployment { app, other, org, user, rp, code } = Deployment::with_a_code().await;
    let tokens = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let refresh = |token: String| {
        let (app, org, rp) = (&app, &org, &rp);
        async move { post_oauth(app, org, "token", rp, &[("grant_type", "refresh_token"), ("refresh_token", &token)]).await }
    };
    // The rotation reads the grant, which this node then keeps for up to a second.
    let rotated = refresh(tokens.str("/refresh_token")).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);

    withdraw_consent(&other, &rp, &user).await;
    let r = refresh(rotated.str("/refresh_token")).await;
    assert_eq!(r.body["error"], "invalid_grant", "{}", r.text);
    assert_eq!(r.str("/error_description"), "the authorization was revoked", "{}", r.text);
}

#[tokio::test]
async fn a_code_issued_on_one_node_is_exchanged_on_another_with_the_same_id_token() {
    let Deployment { app, other, org, user, rp, code } = Deployment::with_a_code().await;

    let r = exchange(&other, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let claims = super::flow::jwt_claims(&r.str("/id_token"));
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["aud"], rp.id.as_str());
    assert_eq!(claims["nonce"], "n0nce", "the nonce of the request on the first node: {claims}");
    assert_eq!(claims["iss"], format!("{}/o/{}", app.config.public_url, org.id));
}
