//! Schema migrations, tracked by sea-orm-migration. Each is portable SQL run statement by statement.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(SqlMigration { name: "m0001_initial", sql: include_str!("m0001_initial.sql") }),
            Box::new(SqlMigration {
                name: "m0002_settings_and_browser_sessions",
                sql: include_str!("m0002_settings_and_browser_sessions.sql"),
            }),
            Box::new(SqlMigration { name: "m0003_mfa", sql: include_str!("m0003_mfa.sql") }),
            Box::new(SqlMigration { name: "m0004_passwordless", sql: include_str!("m0004_passwordless.sql") }),
            Box::new(SqlMigration { name: "m0005_passkeys", sql: include_str!("m0005_passkeys.sql") }),
            Box::new(SqlMigration { name: "m0006_oidc_clients", sql: include_str!("m0006_oidc_clients.sql") }),
            Box::new(SqlMigration { name: "m0007_webhooks", sql: include_str!("m0007_webhooks.sql") }),
            Box::new(SqlMigration { name: "m0008_oidc_provider", sql: include_str!("m0008_oidc_provider.sql") }),
            Box::new(SqlMigration { name: "m0009_federation", sql: include_str!("m0009_federation.sql") }),
            Box::new(SqlMigration { name: "m0010_device_and_ciba", sql: include_str!("m0010_device_and_ciba.sql") }),
            Box::new(SqlMigration { name: "m0011_cross_device", sql: include_str!("m0011_cross_device.sql") }),
            Box::new(SqlMigration { name: "m0012_user_address", sql: include_str!("m0012_user_address.sql") }),
            Box::new(SqlMigration {
                name: "m0013_step_up_and_pruning",
                sql: include_str!("m0013_step_up_and_pruning.sql"),
            }),
            Box::new(SqlMigration { name: "m0014_account_pruning", sql: include_str!("m0014_account_pruning.sql") }),
            Box::new(SqlMigration {
                name: "m0015_backchannel_logout",
                sql: include_str!("m0015_backchannel_logout.sql"),
            }),
            Box::new(SqlMigration { name: "m0016_retention", sql: include_str!("m0016_retention.sql") }),
            Box::new(SqlMigration {
                name: "m0017_pairwise_subjects",
                sql: include_str!("m0017_pairwise_subjects.sql"),
            }),
            Box::new(SqlMigration { name: "m0018_phone_verified", sql: include_str!("m0018_phone_verified.sql") }),
            Box::new(SqlMigration {
                name: "m0019_mfa_challenge_attempts",
                sql: include_str!("m0019_mfa_challenge_attempts.sql"),
            }),
            Box::new(SqlMigration {
                name: "m0020_cross_device_notice",
                sql: include_str!("m0020_cross_device_notice.sql"),
            }),
            Box::new(SqlMigration {
                name: "m0021_unknown_login_failures",
                sql: include_str!("m0021_unknown_login_failures.sql"),
            }),
            Box::new(SqlMigration { name: "m0022_pending_guesses", sql: include_str!("m0022_pending_guesses.sql") }),
            Box::new(SqlMigration {
                name: "m0023_revoked_access_tokens",
                sql: include_str!("m0023_revoked_access_tokens.sql"),
            }),
            Box::new(NormaliseEmails),
            Box::new(SqlMigration { name: "m0025_dpop", sql: include_str!("m0025_dpop.sql") }),
        ]
    }
}

struct SqlMigration {
    name: &'static str,
    sql: &'static str,
}

impl MigrationName for SqlMigration {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SqlMigration {
    /// All or nothing on both databases, so a failed migration leaves no half-made schema.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    #[allow(elided_lifetimes_in_paths)] // the trait is declared this way by sea-orm-migration
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in statements(self.sql) {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }
}

/// Splits a script into statements, dropping `--` comments. Our migrations hold no literal semicolons.
fn statements(sql: &str) -> Vec<String> {
    let without_comments: String =
        sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    without_comments.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Rewrites the users' addresses stored before addresses were normalised (`Email::parse`: fullwidth letters
/// mapped, lowercased, NFC) in their normalised form, so that sign-in and lookups, which compare normalised
/// addresses, find them. Two accounts whose addresses normalise alike cannot both have the form: the older
/// keeps it and the newer is left as it was, with a warning for the operator, as is an address that is no
/// longer accepted at all (invisible or look-alike characters).
struct NormaliseEmails;

impl MigrationName for NormaliseEmails {
    fn name(&self) -> &str {
        "m0024_normalise_emails"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for NormaliseEmails {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    #[allow(elided_lifetimes_in_paths)] // the trait is declared this way by sea-orm-migration
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use crate::entities::users;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
        let db = manager.get_connection();
        let rows: Vec<(String, String, String)> = users::Entity::find()
            .select_only()
            .columns([users::Column::Id, users::Column::OrgId, users::Column::Email])
            .order_by_asc(users::Column::CreatedAt)
            .order_by_asc(users::Column::Id)
            .into_tuple()
            .all(db)
            .await?;
        // Only rows that are not ASCII can change (ASCII was already trimmed and lowercased).
        for (id, org_id, email) in rows.into_iter().filter(|(_, _, email)| !email.is_ascii()) {
            let normalised = match zauthy_core::accounts::Email::parse(&email) {
                Ok(normalised) if normalised.as_str() == email => continue,
                Ok(normalised) => normalised,
                Err(_) => {
                    tracing::warn!(user_id = %id, "a stored address is no longer accepted (invisible or look-alike characters); left as it was");
                    continue;
                }
            };
            let taken = users::Entity::find()
                .filter(users::Column::OrgId.eq(&org_id))
                .filter(users::Column::Email.eq(normalised.as_str()))
                .one(db)
                .await?
                .is_some();
            if taken {
                tracing::warn!(user_id = %id, "an address normalises to another account's; left as it was");
                continue;
            }
            users::Entity::update_many()
                .col_expr(users::Column::Email, Expr::value(normalised.as_str()))
                .filter(users::Column::Id.eq(&id))
                .exec(db)
                .await?;
        }
        Ok(())
    }
}
