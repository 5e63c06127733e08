//! Passkeys and the state of WebAuthn ceremonies.

use crate::entities::{passkeys, webauthn_ceremonies as ceremonies};
use crate::{Conn, Db, at, corrupt, db_err, ms};
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use zauthy_core::error::Result;
use zauthy_core::passkeys::{CeremonyKind, CeremonyRecord, PasskeyRecord};
use zauthy_core::store::PasskeyRepo;

fn to_passkey(m: passkeys::Model) -> PasskeyRecord {
    PasskeyRecord {
        id: m.id,
        org_id: m.org_id,
        user_id: m.user_id,
        credential_id: m.credential_id,
        passkey: m.passkey,
        name: m.name,
        sign_count: m.sign_count,
        backup_eligible: m.backup_eligible,
        backup_state: m.backup_state,
        created_at: at(m.created_at),
        last_used_at: m.last_used_at.map(at),
    }
}

fn to_ceremony(m: ceremonies::Model) -> Result<CeremonyRecord> {
    Ok(CeremonyRecord {
        kind: CeremonyKind::parse(&m.kind).ok_or_else(|| corrupt("ceremony kind", &m.kind))?,
        id: m.id,
        org_id: m.org_id,
        user_id: m.user_id,
        state: m.state,
        expires_at: at(m.expires_at),
        used_at: m.used_at.map(at),
        created_at: at(m.created_at),
    })
}

#[async_trait]
impl<C: Db> PasskeyRepo for Conn<C> {
    async fn insert_ceremony(&self, c: &CeremonyRecord) -> Result<()> {
        ceremonies::Entity::insert(ceremonies::ActiveModel {
            id: Set(c.id.clone()),
            org_id: Set(c.org_id.clone()),
            user_id: Set(c.user_id.clone()),
            kind: Set(c.kind.as_str().to_owned()),
            state: Set(c.state.clone()),
            expires_at: Set(ms(c.expires_at)),
            used_at: Set(c.used_at.map(ms)),
            created_at: Set(ms(c.created_at)),
            updated_at: Set(ms(c.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_ceremony(&self, ceremony_id: &str) -> Result<Option<CeremonyRecord>> {
        let row = ceremonies::Entity::find_by_id(ceremony_id.to_owned()).one(&self.db).await.map_err(db_err)?;
        row.map(to_ceremony).transpose()
    }

    async fn mark_ceremony_used(&self, ceremony_id: &str, now: OffsetDateTime) -> Result<bool> {
        let result = ceremonies::Entity::update_many()
            .col_expr(ceremonies::Column::UsedAt, Expr::value(ms(now)))
            .col_expr(ceremonies::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(ceremonies::Column::Id.eq(ceremony_id))
            .filter(ceremonies::Column::UsedAt.is_null())
            .filter(ceremonies::Column::ExpiresAt.gt(ms(now)))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn insert_passkey(&self, p: &PasskeyRecord) -> Result<()> {
        passkeys::Entity::insert(passkeys::ActiveModel {
            id: Set(p.id.clone()),
            org_id: Set(p.org_id.clone()),
            user_id: Set(p.user_id.clone()),
            credential_id: Set(p.credential_id.clone()),
            passkey: Set(p.passkey.clone()),
            name: Set(p.name.clone()),
            sign_count: Set(p.sign_count),
            backup_eligible: Set(p.backup_eligible),
            backup_state: Set(p.backup_state),
            last_used_at: Set(p.last_used_at.map(ms)),
            created_at: Set(ms(p.created_at)),
            updated_at: Set(ms(p.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn list_passkeys(&self, org_id: &str, user_id: &str) -> Result<Vec<PasskeyRecord>> {
        let rows = passkeys::Entity::find()
            .filter(passkeys::Column::OrgId.eq(org_id))
            .filter(passkeys::Column::UserId.eq(user_id))
            .order_by_asc(passkeys::Column::CreatedAt)
            .order_by_asc(passkeys::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_passkey).collect())
    }

    async fn find_passkey_by_credential(&self, org_id: &str, credential_id: &str) -> Result<Option<PasskeyRecord>> {
        let row = passkeys::Entity::find()
            .filter(passkeys::Column::OrgId.eq(org_id))
            .filter(passkeys::Column::CredentialId.eq(credential_id))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        Ok(row.map(to_passkey))
    }

    async fn update_passkey_use(&self, p: &PasskeyRecord, now: OffsetDateTime) -> Result<bool> {
        let result = passkeys::Entity::update_many()
            .col_expr(passkeys::Column::Passkey, Expr::value(p.passkey.clone()))
            .col_expr(passkeys::Column::SignCount, Expr::value(p.sign_count))
            .col_expr(passkeys::Column::BackupEligible, Expr::value(p.backup_eligible))
            .col_expr(passkeys::Column::BackupState, Expr::value(p.backup_state))
            .col_expr(passkeys::Column::LastUsedAt, Expr::value(p.last_used_at.map(ms)))
            .col_expr(passkeys::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(passkeys::Column::OrgId.eq(p.org_id.as_str()))
            .filter(passkeys::Column::Id.eq(p.id.as_str()))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn delete_passkey(&self, org_id: &str, user_id: &str, passkey_id: &str) -> Result<bool> {
        let result = passkeys::Entity::delete_many()
            .filter(passkeys::Column::OrgId.eq(org_id))
            .filter(passkeys::Column::UserId.eq(user_id))
            .filter(passkeys::Column::Id.eq(passkey_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }
}
