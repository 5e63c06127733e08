//! Data migrations, run against a database holding rows written before them, on SQLite or (with
//! `ZAUTHY_TEST_PG_URL`) on a fresh PostgreSQL database.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use sea_orm_migration::MigratorTrait;
use zauthy_store::Migrator;

/// A new empty database.
async fn empty_database(dir: &std::path::Path) -> DatabaseConnection {
    let url = match std::env::var("ZAUTHY_TEST_PG_URL") {
        Ok(admin) => {
            let name = format!("zt_{}", zauthy_core::ids::new_id("db").trim_start_matches("db_"));
            let conn = Database::connect(&admin).await.unwrap();
            conn.execute_unprepared(&format!("create database {name}")).await.unwrap();
            conn.close().await.unwrap();
            let (base, _) = admin.rsplit_once('/').unwrap();
            format!("{base}/{name}")
        }
        Err(_) => format!("sqlite://{}?mode=rwc", dir.join("zauthy.db").display()),
    };
    Database::connect(&url).await.unwrap()
}

async fn emails(db: &DatabaseConnection) -> Vec<(String, String)> {
    use sea_orm::Statement;
    let backend = db.get_database_backend();
    let rows =
        db.query_all_raw(Statement::from_string(backend, "select id, email from users order by id")).await.unwrap();
    rows.iter().map(|r| (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap())).collect()
}

#[tokio::test]
async fn addresses_stored_before_normalisation_are_rewritten_in_their_one_form_unless_another_account_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = empty_database(dir.path()).await;
    let before = Migrator::migrations().iter().position(|m| m.name() == "m0024_normalise_emails").unwrap();
    Migrator::up(&db, Some(before as u32)).await.unwrap();
    db.execute_unprepared(
        "insert into organizations (id, name, plan, created_at, updated_at) values ('org_a', 'A', 'free', 1, 1)",
    )
    .await
    .unwrap();
    let users = [
        // Decomposed é: rewritten composed.
        ("usr_1", "jose\u{301}@example.com", 1),
        // Fullwidth: rewritten with ordinary letters.
        ("usr_2", "\u{FF42}ob@example.com", 2),
        // Composed already, older than its decomposed twin: kept; the twin is left as it was.
        ("usr_3", "ren\u{E9}@example.com", 3),
        ("usr_4", "rene\u{301}@example.com", 4),
        // No longer accepted at all: left as it was.
        ("usr_5", "ev\u{200D}e@example.com", 5),
    ];
    for (id, email, at) in users {
        db.execute_unprepared(&format!(
            "insert into users (id, org_id, email, role, created_at, updated_at) values ('{id}', 'org_a', '{email}', 'user', {at}, {at})"
        ))
        .await
        .unwrap();
    }

    Migrator::up(&db, None).await.unwrap();

    let expected = [
        ("usr_1", "jos\u{E9}@example.com"),
        ("usr_2", "bob@example.com"),
        ("usr_3", "ren\u{E9}@example.com"),
        ("usr_4", "rene\u{301}@example.com"),
        ("usr_5", "ev\u{200D}e@example.com"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(emails(&db).await, expected);
}
