//! The events API: newest first, pages, filters by type, user and time, admin-only, nothing across orgs.

use zauthy_core::clock::Clock;
use zauthy_testkit::{TestApp, TestResponse};

async fn events(app: &TestApp, bearer: &str, query: &str) -> TestResponse {
    app.get(&format!("/api/v1/events{query}"), Some(bearer)).await
}

#[tokio::test]
async fn events_come_newest_first_in_pages_with_a_total() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let mut users = Vec::new();
    for _ in 0..3 {
        users.push(app.signup_user(&org.api_key).await);
        app.clock.advance(time::Duration::seconds(1));
    }

    let r = events(&app, &org.api_key, "?type=user.signup&per_page=2").await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The owner's signup is an event too.
    assert_eq!(r.body["total"], 4);
    assert_eq!((r.body["page"].as_u64(), r.body["per_page"].as_u64()), (Some(1), Some(2)));
    let page1 = r.body["events"].as_array().unwrap().clone();
    assert_eq!(page1.len(), 2);
    assert_eq!(page1[0]["user_id"], users[2].id.as_str());
    assert_eq!(page1[1]["user_id"], users[1].id.as_str());
    assert_eq!(page1[0]["type"], "user.signup");
    assert!(page1[0]["id"].as_str().unwrap().starts_with("evt_"), "{}", page1[0]);
    assert_eq!(page1[0]["data"]["email"], users[2].email.as_str());
    assert!(page1[0]["created_at"].as_str().unwrap().ends_with('Z'));

    let r = events(&app, &org.api_key, "?type=user.signup&per_page=2&page=2").await;
    let page2 = r.body["events"].as_array().unwrap();
    assert_eq!(page2.len(), 2);
    assert_eq!(page2[0]["user_id"], users[0].id.as_str());
    assert_eq!(page2[1]["user_id"], org.owner.id.as_str());
}

#[tokio::test]
async fn events_filter_by_user_and_time_window() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let alice = app.signup_user(&org.api_key).await;
    app.clock.advance(time::Duration::hours(1));
    let middle = app.clock.now();
    app.login(&org.api_key, &alice.email, &alice.password).await;
    app.clock.advance(time::Duration::hours(1));
    let late = app.clock.now();
    app.login(&org.api_key, &alice.email, &alice.password).await;

    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let r = events(&app, &org.api_key, &format!("?user_id={}", alice.id)).await;
    let types: Vec<&str> = r.body["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(types.len() >= 3, "{types:?}");
    assert!(r.body["events"].as_array().unwrap().iter().all(|e| e["user_id"] == alice.id.as_str()));
    assert_eq!(types.last(), Some(&"user.signup"));

    let r = events(&app, &org.api_key, &format!("?type=user.login&since={}&until={}", fmt(middle), fmt(late))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 1, "{}", r.text);

    let r = events(&app, &org.api_key, &format!("?type=user.login&since={}", fmt(late))).await;
    assert_eq!(r.body["total"], 1);
    let r = events(&app, &org.api_key, "?since=yesterday").await;
    assert_eq!((r.status, r.error()), (400, "invalid_query"));
    let r = events(&app, &org.api_key, "?per_page=101").await;
    assert_eq!((r.status, r.error()), (400, "invalid_pagination"));
}

#[tokio::test]
async fn events_are_for_admins_of_their_own_organization_only() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other = app.create_org().await;
    let member = app.signup_user(&org.api_key).await;

    let r = events(&app, &member.access_token, "").await;
    assert_eq!((r.status, r.error()), (403, "forbidden"), "{}", r.text);
    let r = app.get("/api/v1/events", None).await;
    assert_eq!(r.status, 401);

    let r = events(&app, &other.api_key, &format!("?user_id={}", member.id)).await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    let r = events(&app, &org.owner.access_token, &format!("?user_id={}", member.id)).await;
    assert_eq!(r.status, 200);
    assert!(r.body["total"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn the_catalogue_lists_the_reference_events_and_marks_unbuilt_ones_reserved() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/webhooks/events", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let events = r.body["events"].as_array().unwrap();
    let find = |t: &str| events.iter().find(|e| e["type"] == t).unwrap_or_else(|| panic!("{t} missing"));
    for t in ["user.signup", "user.login", "user.blocked", "user.deleted", "mfa.enabled"] {
        assert_eq!(find(t)["reserved"], false, "{t}");
    }
    for t in ["kyc.session.created", "kyc.completed", "kyc.failed", "security.suspicious_login"] {
        assert_eq!(find(t)["reserved"], true, "{t}");
    }
    assert!(find("user.signup")["data"].as_str().unwrap().contains("user_id: string"));
}

#[tokio::test]
async fn events_are_kept_however_old_unless_the_operator_sets_a_retention() {
    let kept = TestApp::spawn().await;
    let org = kept.create_org().await;
    kept.clock.advance(time::Duration::days(400));
    kept.services.prune_expired_records().await.unwrap();
    let r = events(&kept, &org.api_key, "").await;
    assert!(r.body["total"].as_u64().unwrap() >= 1, "no retention, nothing deleted: {}", r.text);

    let bounded = TestApp::spawn_with(|c| c.event_retention_days = 30).await;
    let org = bounded.create_org().await;
    let old_total = events(&bounded, &org.api_key, "").await.body["total"].as_u64().unwrap();
    assert!(old_total >= 1);
    bounded.clock.advance(time::Duration::days(29));
    let user = bounded.signup_user(&org.api_key).await;
    let report = bounded.services.prune_expired_records().await.unwrap();
    assert_eq!(report.of(zauthy_core::prune::Prunable::Events), 0, "29 days old is within 30: {report:?}");
    bounded.clock.advance(time::Duration::days(1) + time::Duration::hours(2));
    let report = bounded.services.prune_expired_records().await.unwrap();
    assert_eq!(report.of(zauthy_core::prune::Prunable::Events), old_total, "{report:?}");
    let r = events(&bounded, &org.api_key, "").await;
    let left = r.body["events"].as_array().unwrap();
    assert!(!left.is_empty() && left.iter().all(|e| e["user_id"] == user.id.as_str()), "only the recent: {}", r.text);
}

#[tokio::test]
async fn an_event_whose_stored_data_cannot_be_read_is_reported_as_a_server_error_not_shown_empty() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    app.signup_user(&org.api_key).await;
    let db = sea_orm::Database::connect(app.config.database_url.clone().unwrap()).await.unwrap();
    let sql = format!("update events set data = 'not json' where org_id = '{}' and event_type = 'user.signup'", org.id);
    let backend = db.get_database_backend();
    sea_orm::ConnectionTrait::execute_raw(&db, sea_orm::Statement::from_string(backend, sql)).await.unwrap();
    db.close().await.unwrap();

    let r = events(&app, &org.api_key, "").await;

    assert_eq!((r.status, r.error()), (500, "internal_error"), "{}", r.text);
    assert!(!r.text.contains("not json"), "a 500 says nothing of the row: {}", r.text);
}
