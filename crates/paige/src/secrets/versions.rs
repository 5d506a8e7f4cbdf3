//! Versions and rollback without reading: a key's kept versions are listed
//! by number, time and author, never value; a rollback opens the old
//! version inside the server and seals its value again as a new version,
//! so versions only ever count up and nobody sees the value on the way.

use crate::app::Paige;
use crate::crypto;
use crate::error::{Error, Result};
use crate::model::{Actor, ProjectRecord, SecretMeta, WriteOutcome};

use super::rules;

impl Paige {
    /// A key's kept versions, newest (the current one) first. `NotFound`
    /// for a key with no value and no kept version.
    pub async fn secret_versions_in(&self, project: &ProjectRecord, key: &str) -> Result<Vec<SecretMeta>> {
        rules::check_key(key)?;
        let versions = self.store.secret_versions(project.id, key).await?;
        if versions.is_empty() {
            return Err(Error::NotFound(format!("secret {key} in project {}", project.slug)));
        }
        Ok(versions)
    }

    /// Restores the value of kept version `version` of `key` as a new
    /// version, with a `secret.rollback` audit record. The value never
    /// leaves the server.
    pub async fn rollback_secret_in(
        &self,
        project: &ProjectRecord,
        key: &str,
        version: i64,
        actor: &Actor,
    ) -> Result<WriteOutcome> {
        rules::check_key(key)?;
        let sealed = self
            .store
            .sealed_version(project.id, key, version)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "version {version} of secret {key} in project {} (the last {} versions of a key are kept)",
                    project.slug, self.config.secret_versions
                ))
            })?;
        let dek = self.data_key(project).await?;
        // Bound to its version: a row copied under another number fails here.
        let value = crypto::open_value(&dek, project.id, key, version, &sealed).map_err(|source| Error::Integrity {
            project: project.slug.clone(),
            key: key.to_owned(),
            source,
        })?;
        let mut outcomes = self.write_as(project, &[(key, &value)], Some(version), actor).await?;
        outcomes
            .pop()
            .ok_or_else(|| Error::internal("the store reported no write"))
    }

    /// [`Paige::rollback_secret_in`] by project slug (the CLI's way).
    pub async fn rollback_secret(&self, slug: &str, key: &str, version: i64, actor: &Actor) -> Result<WriteOutcome> {
        let project = self.project(slug).await?;
        self.rollback_secret_in(&project, key, version, actor).await
    }

    /// [`Paige::secret_versions_in`] by project slug.
    pub async fn secret_versions(&self, slug: &str, key: &str) -> Result<Vec<SecretMeta>> {
        let project = self.project(slug).await?;
        self.secret_versions_in(&project, key).await
    }
}
