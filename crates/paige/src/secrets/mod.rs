//! The secrets domain: set, import, list, delete and resolve.
//!
//! Values travel as `SecretString` (zeroized on drop, never printed) from
//! the caller to the sealing closure handed to the store, and back out of
//! `resolve` only for the runtime.

pub mod dotenv;
pub mod guard;
pub mod guard_fix;
mod guard_rules;
pub(crate) mod redactor_cache;
pub mod rules;
pub(crate) mod sealed_cache;
mod values;
mod versions;

use std::sync::Arc;
use std::task::Poll;

use secrecy::{ExposeSecret, SecretString};

use crate::app::Paige;
use crate::crypto;
use crate::error::{Error, Result};
use crate::model::{Actor, ProjectRecord, SealedSecret, SecretMeta, WriteOutcome};
use crate::poll::poll_once;
use crate::store::{NO_GENERATION, SecretWrite};
use sealed_cache::Sealed;

pub use rules::{RuleError, ValueWarning};
pub use values::{Resolved, SetOutcome};

impl Paige {
    /// Sets (creates or overwrites) one secret.
    pub async fn set_secret(&self, slug: &str, key: &str, value: &SecretString, actor: &Actor) -> Result<SetOutcome> {
        let project = self.project(slug).await?;
        self.set_secret_in(&project, key, value, actor).await
    }

    /// Sets one secret in a project already looked up (and authorized).
    pub async fn set_secret_in(
        &self,
        project: &ProjectRecord,
        key: &str,
        value: &SecretString,
        actor: &Actor,
    ) -> Result<SetOutcome> {
        rules::check_key(key)?;
        let warning = rules::check_value(value)?;
        let mut outcomes = self.write(project, &[(key, value)], actor).await?;
        let outcome = outcomes
            .pop()
            .ok_or_else(|| Error::internal("the store reported no write"))?;
        Ok(SetOutcome { outcome, warning })
    }

    /// Sets every entry or none. Entries are checked first; the project's
    /// limits are checked in the same transaction as the writes.
    pub async fn import_secrets(
        &self,
        slug: &str,
        entries: &[(String, SecretString)],
        actor: &Actor,
    ) -> Result<Vec<WriteOutcome>> {
        for (key, value) in entries {
            rules::check_key(key)?;
            rules::check_value(value)?;
        }
        let pairs: Vec<(&str, &SecretString)> = entries.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let project = self.project(slug).await?;
        self.write(&project, &pairs, actor).await
    }

    async fn write(
        &self,
        project: &ProjectRecord,
        entries: &[(&str, &SecretString)],
        actor: &Actor,
    ) -> Result<Vec<WriteOutcome>> {
        self.write_as(project, entries, None, actor).await
    }

    /// Writes `entries`; `rollback_of` names the version whose value they
    /// restore (for the audit record).
    pub(crate) async fn write_as(
        &self,
        project: &ProjectRecord,
        entries: &[(&str, &SecretString)],
        rollback_of: Option<i64>,
        actor: &Actor,
    ) -> Result<Vec<WriteOutcome>> {
        let dek = self.data_key(project).await?;
        let writes = entries
            .iter()
            .map(|&(key, value)| SecretWrite {
                rollback_of,
                ..sealed_write(&dek, project.id, key, value)
            })
            .collect();
        let keep = self.config.secret_versions;
        self.store.write_secrets(project.id, writes, keep, actor).await
    }

    /// One checked write of a value, sealed for the version the store
    /// assigns, for a transaction that writes more than secrets.
    pub(crate) async fn secret_write(
        &self,
        project: &ProjectRecord,
        key: &str,
        value: &SecretString,
    ) -> Result<SecretWrite> {
        rules::check_key(key)?;
        rules::check_value(value)?;
        let dek = self.data_key(project).await?;
        Ok(sealed_write(&dek, project.id, key, value))
    }

    /// Lists a project's keys with when and by whom each was last set.
    pub async fn list_secrets(&self, slug: &str) -> Result<Vec<SecretMeta>> {
        let project = self.project(slug).await?;
        self.list_secrets_in(&project).await
    }

    /// Lists the keys of a project already looked up (and authorized).
    pub async fn list_secrets_in(&self, project: &ProjectRecord) -> Result<Vec<SecretMeta>> {
        self.store.list_secrets(project.id).await
    }

    /// Deletes a key; returns the version it had.
    pub async fn delete_secret(&self, slug: &str, key: &str, actor: &Actor) -> Result<i64> {
        rules::check_key(key)?;
        let project = self.project(slug).await?;
        self.store
            .delete_secret(project.id, key, actor)
            .await?
            .ok_or_else(|| Error::NotFound(format!("secret {key} in project {slug}")))
    }

    /// Every current secret of a project, decrypted, from one consistent
    /// read. A ciphertext that does not verify fails the whole call with an
    /// integrity error that names the key.
    ///
    /// Warm (the project's ciphertexts held from an earlier call), the
    /// store is asked only whether the secrets generation moved, and the
    /// held values are opened while that question is in flight: the answer
    /// decides whether they are the result or are thrown away.
    pub async fn resolve(&self, slug: &str) -> Result<Resolved> {
        let not_found = || Error::NotFound(format!("project {slug}"));
        let held = self.sealed.get(slug);
        let known = held.as_ref().map_or(NO_GENERATION, |h| h.generation);
        let mut check = std::pin::pin!(self.store.sealed_secrets_since(slug, known));
        // Its first poll hands the query to the database (rarely, it
        // already has the answer); the held values are opened meanwhile.
        let (early, opened) = match &held {
            Some(held) => match poll_once(&mut check).await {
                Poll::Pending => (Poll::Pending, self.open_all(&held.project, &held.secrets).await.ok()),
                done => (done, None),
            },
            None => (Poll::Pending, None),
        };
        let read = match early {
            Poll::Ready(read) => read,
            Poll::Pending => check.await,
        };
        let mut read = read?.ok_or_else(not_found)?;
        let sealed = match (read.secrets.take(), held) {
            (Some(secrets), _) => {
                let secrets: Arc<[SealedSecret]> = secrets.into();
                let fresh = Sealed {
                    project: read.project.clone(),
                    generation: read.generation,
                    secrets: Arc::clone(&secrets),
                };
                self.sealed.put(slug, fresh);
                secrets
            }
            (None, Some(held)) if held.project.id == read.project.id => {
                // The generation held is still current: what was opened
                // meanwhile is the answer.
                if let Some(secrets) = opened {
                    return Ok(Resolved {
                        project_id: read.project.id,
                        generation: read.generation,
                        secrets,
                    });
                }
                held.secrets
            }
            // The slug names another project than the one held (deleted
            // and made again, at the same generation): read it whole.
            (None, _) => {
                read = self
                    .store
                    .sealed_secrets_since(slug, NO_GENERATION)
                    .await?
                    .ok_or_else(not_found)?;
                read.secrets.take().unwrap_or_default().into()
            }
        };
        let secrets = self.open_all(&read.project, &sealed).await?;
        Ok(Resolved {
            project_id: read.project.id,
            generation: read.generation,
            secrets,
        })
    }

    /// Opens `sealed`, the values of `project`, with its data key.
    async fn open_all(&self, project: &ProjectRecord, sealed: &[SealedSecret]) -> Result<Vec<(String, SecretString)>> {
        let dek = self.data_key(project).await?;
        sealed
            .iter()
            .map(|s| {
                crypto::open_value(&dek, project.id, &s.key, s.version, &s.ciphertext)
                    .map(|value| (s.key.clone(), value))
                    .map_err(|source| Error::Integrity {
                        project: project.slug.clone(),
                        key: s.key.clone(),
                        source,
                    })
            })
            .collect()
    }
}

/// A write of `value` under `key`, sealed with the project's data key.
fn sealed_write(dek: &Arc<crypto::DataKey>, project_id: i64, key: &str, value: &SecretString) -> SecretWrite {
    let (dek, key_name, value) = (Arc::clone(dek), key.to_owned(), value.clone());
    SecretWrite {
        key: key.to_owned(),
        value_len: value.expose_secret().len(),
        seal: Arc::new(move |version: i64| crypto::seal_value(&dek, project_id, &key_name, version, &value)),
        rollback_of: None,
    }
}
