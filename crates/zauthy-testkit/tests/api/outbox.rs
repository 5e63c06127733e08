//! The outbox at rest: a message waiting to be sent (an email with a reset link, an SMS with a code) is
//! sealed under the master key, its payload is erased once it went, and its row goes a week later.

use serde_json::Value;
use std::time::Duration;
use zauthy_core::prune::{FINISHED_MESSAGES_KEPT, PRUNE_GRACE, Prunable};
use zauthy_testkit::TestApp;

/// Every outbox row: (kind, status, attempts, payload).
async fn outbox_rows(app: &TestApp) -> Vec<(String, String, i32, String)> {
    let db = sea_orm::Database::connect(app.config.database_url.clone().unwrap()).await.unwrap();
    let sql = "select kind, status, attempts, payload from outbox order by created_at";
    let rows = sea_orm::ConnectionTrait::query_all_raw(
        &db,
        sea_orm::Statement::from_string(db.get_database_backend(), sql.to_owned()),
    )
    .await
    .unwrap();
    let rows = rows
        .iter()
        .map(|r| {
            (
                r.try_get("", "kind").unwrap(),
                r.try_get("", "status").unwrap(),
                r.try_get("", "attempts").unwrap(),
                r.try_get("", "payload").unwrap(),
            )
        })
        .collect();
    db.close().await.unwrap();
    rows
}

/// Polls the outbox until `done` holds (the worker runs in the background).
async fn wait_outbox(
    app: &TestApp,
    done: impl Fn(&[(String, String, i32, String)]) -> bool,
) -> Vec<(String, String, i32, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let rows = outbox_rows(app).await;
        if done(&rows) {
            return rows;
        }
        assert!(tokio::time::Instant::now() < deadline, "the outbox never settled: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn forgot(app: &TestApp, api_key: &str, email: &str) {
    let r = crate::passwords::forgot(app, api_key, email).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn an_email_waiting_in_the_outbox_is_sealed_and_stays_sealed_while_it_is_retried() {
    // Nothing listens on this port, so the email cannot go and waits for its retry.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = TestApp::spawn_with(|c| c.email.smtp_port = Some(closed)).await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    forgot(&app, &org.api_key, &user.email).await;

    let rows =
        wait_outbox(&app, |rows| rows.iter().any(|(k, s, a, _)| k == "email" && s == "pending" && *a >= 1)).await;
    let (_, _, _, payload) = rows.iter().find(|(k, ..)| k == "email").unwrap();
    let payload: Value = serde_json::from_str(payload).unwrap();
    let sealed = payload["sealed"].as_str().unwrap_or_else(|| panic!("a sealed payload: {payload}"));
    assert!(sealed.starts_with("v1."), "{payload}");
    assert_eq!(payload.as_object().unwrap().len(), 1, "nothing else beside it: {payload}");
    let text = payload.to_string();
    for readable in [user.email.as_str(), "prt_", "reset", "Reset"] {
        assert!(!text.contains(readable), "{readable:?} is readable in the outbox: {text}");
    }
}

#[tokio::test]
async fn a_sent_email_leaves_no_payload_behind_and_its_row_goes_a_week_later() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    forgot(&app, &org.api_key, &user.email).await;
    let token = crate::passwords::reset_token_in(&app.email_to(&user.email).await);

    let rows = wait_outbox(&app, |rows| !rows.is_empty() && rows.iter().all(|(_, s, ..)| s == "done")).await;
    let (_, _, attempts, payload) = rows.iter().find(|(k, ..)| k == "email").unwrap();
    assert_eq!((*attempts, payload.as_str()), (1, "{}"), "sent once, and the message is gone from the row");
    assert!(rows.iter().all(|(.., p)| !p.contains(&token)), "{rows:?}");

    // The row itself stays for a week, to say when and how the message went.
    let report = app.services.prune_expired_records().await.unwrap();
    assert_eq!(report.of(Prunable::OutboxMessages), 0);
    app.clock.advance(FINISHED_MESSAGES_KEPT - time::Duration::minutes(1));
    assert_eq!(app.services.prune_expired_records().await.unwrap().of(Prunable::OutboxMessages), 0);
    assert_eq!(outbox_rows(&app).await.len(), rows.len());
    app.clock.advance(PRUNE_GRACE + time::Duration::minutes(2));
    let report = app.services.prune_expired_records().await.unwrap();
    assert_eq!(report.of(Prunable::OutboxMessages), rows.len() as u64, "{report:?}");
    assert!(outbox_rows(&app).await.is_empty());
}
