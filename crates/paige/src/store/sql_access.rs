//! The [`AccessStore`] of the SQL store: a token, its user's role in one
//! project and, for a listing, the project's keys, in one statement.
//!
//! The statement is the same text on both databases except the aggregate
//! that folds the keys into one JSON column (one row to hand over instead
//! of one per key, which on SQLite costs more than the query itself).

use async_trait::async_trait;
use sqlx::Row;

use super::NO_GENERATION;
use super::access::{AccessStore, KeyListing, TokenAccess};
use super::backend::{Backend, SqlStore, on};
use super::rows::{project_from_row, secret_metas};
use crate::error::{Error, Result};
use crate::model::Role;

/// The token, its user and their membership of the project `$2`. A user
/// who is not a member, and a project that does not exist, both leave
/// `m.role` NULL; the project's columns are those a write needs.
macro_rules! access {
    ($listing:expr) => {
        concat!(
            "SELECT t.id AS token_id, t.token_hash, u.id AS user_id, u.email, m.role,
                    p.id, p.slug, p.created_at, p.wrapped_data_key, p.kek_id, p.key_provider,
                    p.secrets_generation",
            $listing,
            " FROM api_tokens t JOIN users u ON u.id = t.user_id
              LEFT JOIN projects p ON p.slug = $2
              LEFT JOIN members m ON m.project_id = p.id AND m.user_id = u.id
              WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
        )
    };
}

/// [`access!`] with the project's current keys as a JSON array of
/// `[key, version, updated_at, updated_by]`, by key, folded by
/// `$aggregate` (NULL or `[]` when there are none or the user is not a
/// member); not aggregated at all (NULL) when the caller holds them:
/// project `$3` at generation `$4`.
macro_rules! listing {
    ($aggregate:expr) => {
        access!(concat!(
            ", CASE WHEN p.id = $3 AND p.secrets_generation = $4 THEN NULL ELSE (",
            $aggregate,
            ") END AS listing"
        ))
    };
}

const SQLITE_LISTING: &str = listing!(
    "SELECT json_group_array(json_array(key, version, updated_at, updated_by)) FROM
       (SELECT key, version, updated_at, updated_by FROM secrets
        WHERE project_id = m.project_id AND ciphertext IS NOT NULL ORDER BY key)"
);
const POSTGRES_LISTING: &str = listing!(
    "SELECT json_agg(json_build_array(key, version, updated_at, updated_by) ORDER BY key)::text
     FROM secrets WHERE project_id = m.project_id AND ciphertext IS NOT NULL"
);

fn access_from_row<R>(row: &R) -> Result<TokenAccess>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    // The project's columns are set whenever the project exists; the role
    // only when the user is a member of it.
    let role: Option<String> = row.try_get("role")?;
    let member = match role {
        Some(role) => Some((
            project_from_row(row),
            Role::parse(&role).ok_or_else(|| Error::corrupt(format!("member role {role:?}")))?,
        )),
        None => None,
    };
    Ok(TokenAccess {
        token_id: row.try_get("token_id")?,
        token_hash: row.try_get("token_hash")?,
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        member,
    })
}

/// The listing a member gets: `held` when it is the project's current
/// generation (the statement left the column NULL), else the keys of the
/// listing column (NULL: none). None for a non-member.
fn listing(
    access: &TokenAccess,
    generation: Option<i64>,
    json: Option<&str>,
    held: Option<&KeyListing>,
) -> Result<Option<KeyListing>> {
    let (Some((project, _)), Some(generation)) = (&access.member, generation) else {
        return Ok(None);
    };
    if let Some(held) = held
        && held.project_id == project.id
        && held.generation == generation
    {
        return Ok(Some(held.clone()));
    }
    let rows: Vec<(String, i64, i64, String)> = match json {
        Some(json) => serde_json::from_str(json).map_err(|e| Error::corrupt(format!("malformed key listing: {e}")))?,
        None => Vec::new(),
    };
    Ok(Some(KeyListing {
        project_id: project.id,
        generation,
        keys: secret_metas(rows).into(),
    }))
}

#[async_trait]
impl AccessStore for SqlStore {
    async fn token_access(&self, token_hash: &[u8], slug: &str) -> Result<Option<TokenAccess>> {
        let row = on!(self.reader(), |pool| sqlx::query(access!(""))
            .bind(token_hash)
            .bind(slug)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(access_from_row));
        row.transpose()
    }

    async fn token_listing(
        &self,
        token_hash: &[u8],
        slug: &str,
        held: Option<&KeyListing>,
    ) -> Result<Option<(TokenAccess, Option<KeyListing>)>> {
        let statement = match self.reader() {
            Backend::Sqlite(_) => SQLITE_LISTING,
            Backend::Postgres(_) => POSTGRES_LISTING,
        };
        // No project has id 0: nothing held matches no project.
        let (held_project, held_generation) = held.map_or((0, NO_GENERATION), |h| (h.project_id, h.generation));
        let found = on!(self.reader(), |pool| {
            match sqlx::query(statement)
                .bind(token_hash)
                .bind(slug)
                .bind(held_project)
                .bind(held_generation)
                .fetch_optional(pool)
                .await?
            {
                Some(row) => {
                    let access = access_from_row(&row)?;
                    let generation: Option<i64> = row.try_get("secrets_generation")?;
                    let json: Option<String> = row.try_get("listing")?;
                    Some((access, generation, json))
                }
                None => None,
            }
        });
        let Some((access, generation, json)) = found else {
            return Ok(None);
        };
        let keys = listing(&access, generation, json.as_deref(), held)?;
        Ok(Some((access, keys)))
    }
}
