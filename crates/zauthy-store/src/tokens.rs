//! Signing keys.

use crate::entities::signing_keys;
use crate::{Conn, Db, at, db_err, ms};
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use zauthy_core::error::Result;
use zauthy_core::store::SigningKeyRepo;
use zauthy_core::tokens::SigningKeyRecord;

fn to_key(m: signing_keys::Model) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: m.kid,
        org_id: m.org_id,
        algorithm: m.algorithm,
        private_key_enc: m.private_key_enc,
        public_jwk: m.public_jwk,
        created_at: at(m.created_at),
        retired_at: m.retired_at.map(at),
        expires_at: m.expires_at.map(at),
    }
}

#[async_trait]
impl<C: Db> SigningKeyRepo for Conn<C> {
    async fn insert_signing_key(&self, k: &SigningKeyRecord) -> Result<()> {
        signing_keys::Entity::insert(signing_keys::ActiveModel {
            kid: Set(k.kid.clone()),
            org_id: Set(k.org_id.clone()),
            algorithm: Set(k.algorithm.clone()),
            private_key_enc: Set(k.private_key_enc.clone()),
            public_jwk: Set(k.public_jwk.clone()),
            retired_at: Set(k.retired_at.map(ms)),
            expires_at: Set(k.expires_at.map(ms)),
            created_at: Set(ms(k.created_at)),
            updated_at: Set(ms(k.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_signing_key(&self, kid: &str) -> Result<Option<SigningKeyRecord>> {
        Ok(signing_keys::Entity::find_by_id(kid).one(&self.db).await.map_err(db_err)?.map(to_key))
    }

    async fn list_signing_keys(&self, org_id: &str) -> Result<Vec<SigningKeyRecord>> {
        let rows = signing_keys::Entity::find()
            .filter(signing_keys::Column::OrgId.eq(org_id))
            .order_by_asc(signing_keys::Column::CreatedAt)
            .order_by_asc(signing_keys::Column::Kid)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_key).collect())
    }

    async fn retire_signing_keys(
        &self,
        org_id: &str,
        keep: &[String],
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<u64> {
        let result = signing_keys::Entity::update_many()
            .col_expr(signing_keys::Column::RetiredAt, Expr::value(ms(now)))
            .col_expr(signing_keys::Column::ExpiresAt, Expr::value(ms(expires_at)))
            .col_expr(signing_keys::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(signing_keys::Column::OrgId.eq(org_id))
            .filter(signing_keys::Column::Kid.is_not_in(keep.iter().cloned()))
            .filter(signing_keys::Column::RetiredAt.is_null())
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected)
    }
}
