//! The token endpoint under concurrent requests. Their writes commit together (`oidc/group_commit.rs`), and
//! each must still stand on its own: a code or refresh token is spent at most once, every answered refresh
//! token is stored, and one client's reuse revokes only the grant it belongs to.

use super::*;
use std::collections::HashSet;

const AT_ONCE: usize = 16;

fn exchange_request(app: &TestApp, org: &TestOrg, rp: &Rp, code: &str) -> reqwest::RequestBuilder {
    let form =
        [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT), ("code_verifier", VERIFIER)];
    oauth_request(app, org, "token", rp, &form)
}

fn refresh_request(app: &TestApp, org: &TestOrg, rp: &Rp, token: &str) -> reqwest::RequestBuilder {
    oauth_request(app, org, "token", rp, &[("grant_type", "refresh_token"), ("refresh_token", token)])
}

async fn is_active(app: &TestApp, org: &TestOrg, rp: &Rp, access_token: &str) -> bool {
    let r = post_oauth(app, org, "introspect", rp, &[("token", access_token)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["active"].as_bool().expect("active is a boolean")
}

/// A user with `n` codes of their own (one grant each) for a fresh client.
async fn codes(n: usize) -> (TestApp, TestOrg, Rp, Vec<String>) {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let mut codes = Vec::new();
    for _ in 0..n {
        codes.push(code_for(&app, &org, &rp, &user, &[]).await);
    }
    (app, org, rp, codes)
}

#[tokio::test]
async fn codes_exchanged_at_once_each_get_their_own_tokens_which_rotate_and_revoke_independently() {
    let (app, org, rp, codes) = codes(AT_ONCE).await;
    let answers = app.send_at_once(codes.iter().map(|code| exchange_request(&app, &org, &rp, code))).await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let refresh: Vec<String> = answers.iter().map(|a| a.str("/refresh_token")).collect();
    assert_eq!(refresh.iter().collect::<HashSet<_>>().len(), AT_ONCE, "every answer has its own refresh token");

    // Every answered refresh token was stored: all of them rotate, again at once.
    let rotated = app.send_at_once(refresh.iter().map(|t| refresh_request(&app, &org, &rp, t))).await;
    for answer in &rotated {
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    for answer in &rotated {
        assert!(is_active(&app, &org, &rp, &answer.str("/access_token")).await, "{}", answer.text);
    }

    // Reusing the first one's spent refresh token ends its grant only.
    let r = app.send(refresh_request(&app, &org, &rp, &refresh[0])).await;
    assert_eq!(r.body["error"], "invalid_grant", "{}", r.text);
    assert!(!is_active(&app, &org, &rp, &rotated[0].str("/access_token")).await);
    for answer in &rotated[1..] {
        assert!(is_active(&app, &org, &rp, &answer.str("/access_token")).await, "another grant lost its tokens");
    }
    let r = app.send(refresh_request(&app, &org, &rp, &rotated[1].str("/refresh_token"))).await;
    assert_eq!(r.status, 200, "another grant's refresh token still rotates: {}", r.text);
}

#[tokio::test]
async fn one_code_sent_many_times_at_once_is_exchanged_once_and_the_replay_revokes_what_it_gave() {
    let (app, org, rp, codes) = codes(1).await;
    let answers = app.send_at_once((0..AT_ONCE).map(|_| exchange_request(&app, &org, &rp, &codes[0]))).await;
    let won: Vec<&TestResponse> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(
        won.len(),
        1,
        "exactly one exchange gets tokens: {:?}",
        answers.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
    for lost in answers.iter().filter(|a| a.status != 200) {
        assert_eq!((lost.status, lost.body["error"].as_str()), (400, Some("invalid_grant")), "{}", lost.text);
    }
    assert_grant_revoked_by_reuse(&app, &org, &rp, won[0], "authorization_code").await;
}

#[tokio::test]
async fn one_refresh_token_sent_many_times_at_once_rotates_once_and_the_replay_revokes_the_grant() {
    let (app, org, rp, codes) = codes(1).await;
    let first = exchange(&app, &org, &rp, &codes[0], Some(VERIFIER)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let token = first.str("/refresh_token");
    let answers = app.send_at_once((0..AT_ONCE).map(|_| refresh_request(&app, &org, &rp, &token))).await;
    let won: Vec<&TestResponse> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(won.len(), 1, "exactly one rotation: {:?}", answers.iter().map(|a| &a.text).collect::<Vec<_>>());
    for lost in answers.iter().filter(|a| a.status != 200) {
        assert_eq!((lost.status, lost.body["error"].as_str()), (400, Some("invalid_grant")), "{}", lost.text);
    }
    assert_grant_revoked_by_reuse(&app, &org, &rp, won[0], "refresh_token").await;
}

/// What a batch means, without the timing: the same batch can carry two requests for one code.
#[tokio::test]
async fn in_one_batch_only_the_first_write_spending_a_code_has_it_and_only_its_refresh_token_is_stored() {
    use zauthy_core::crypto::{new_opaque_token, sha256_hex};
    use zauthy_core::oidc::{ClientRefreshToken, Spent, TokenWrite};
    let (app, org, rp, codes) = codes(1).await;
    let store = &app.services.store;
    let hash = sha256_hex(&codes[0]);
    let (_, grant) = store.find_auth_code(&hash).await.unwrap().expect("the code is stored");
    let now = app.services.now();
    let write = |hash: &str| TokenWrite {
        spends: Spent::AuthCode,
        hash: hash.to_owned(),
        issues: Some(ClientRefreshToken {
            hash: sha256_hex(&new_opaque_token("crt_")),
            grant_id: grant.as_ref().expect("the code has its grant").id.clone(),
            expires_at: now + time::Duration::days(1),
            used_at: None,
            dpop_jkt: None,
            created_at: now,
        }),
    };
    let writes = [write(&hash), write(&hash), write(&sha256_hex("ac_unknown"))];
    let tx = store.begin().await.unwrap();
    let spent = tx.write_tokens(&writes.iter().collect::<Vec<_>>(), now).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(spent, [true, false, false]);
    let stored = |w: &TokenWrite| w.issues.as_ref().unwrap().hash.clone();
    assert!(store.find_client_refresh_token(&stored(&writes[0])).await.unwrap().is_some());
    for lost in &writes[1..] {
        assert!(store.find_client_refresh_token(&stored(lost)).await.unwrap().is_none(), "a loser's token was stored");
    }
    let r = exchange(&app, &org, &rp, &codes[0], Some(VERIFIER)).await;
    assert_eq!(r.body["error"], "invalid_grant", "the batch spent the code: {}", r.text);
}

/// A batch whose transaction fails is written again one request at a time: only the request whose own write
/// breaks (here a refresh token for a grant that no longer exists) gets an error.
#[tokio::test]
async fn a_write_that_fails_in_a_batch_fails_alone_and_the_others_in_it_commit() {
    use zauthy_core::crypto::{new_opaque_token, sha256_hex};
    use zauthy_core::oidc::{ClientRefreshToken, Spent, TokenWrite};
    let (app, _org, _rp, codes) = codes(2).await;
    let services = &app.services;
    let now = services.now();
    let write = |code: &str, grant_id: &str| TokenWrite {
        spends: Spent::AuthCode,
        hash: sha256_hex(code),
        issues: Some(ClientRefreshToken {
            hash: sha256_hex(&new_opaque_token("crt_")),
            grant_id: grant_id.to_owned(),
            expires_at: now + time::Duration::days(1),
            used_at: None,
            dpop_jkt: None,
            created_at: now,
        }),
    };
    let (_, grant) = services.store.find_auth_code(&sha256_hex(&codes[0])).await.unwrap().unwrap();
    let good = write(&codes[0], &grant.unwrap().id);
    let broken = write(&codes[1], "gr_gone");
    // Both are queued before the flusher runs (this test's runtime has one thread), so they share a batch.
    let (good_result, broken_result) =
        tokio::join!(services.commit_token_write(good.clone(), now), services.commit_token_write(broken.clone(), now));
    assert!(good_result.expect("the good write commits"), "and it spent its code");
    assert!(broken_result.is_err(), "the broken write fails");
    let refresh_hash = |w: &TokenWrite| w.issues.as_ref().unwrap().hash.clone();
    assert!(services.store.find_client_refresh_token(&refresh_hash(&good)).await.unwrap().is_some());
    assert!(services.store.find_client_refresh_token(&refresh_hash(&broken)).await.unwrap().is_none());
    let (broken_code, _) = services.store.find_auth_code(&broken.hash).await.unwrap().unwrap();
    assert!(broken_code.used_at.is_none(), "nothing of the broken write was kept");
}
