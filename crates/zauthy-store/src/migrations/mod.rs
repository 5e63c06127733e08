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
