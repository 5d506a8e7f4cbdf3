//! `Paige`: the library's entry point, shared by the CLI and the server.
//!
//! It owns the store and the key provider; the operations live beside the
//! concern they serve (`secrets`, `projects`, `auth`) as `impl Paige` blocks.

use std::sync::Arc;

use crate::config::Config;
use crate::crypto::keys::ensure_private_dir;
use crate::crypto::{self, DataKey, FileKeyProvider, KeyId, KeyProvider, MasterKey};
use crate::error::{Error, Result};
use crate::model::{Actor, ProjectRecord};
use crate::retention::RetentionCounters;
use crate::store::sqlite::DB_FILE;
use crate::store::{PostgresStore, SqliteStore, Store};

#[derive(Debug, Clone)]
pub struct Paige {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Arc<dyn KeyProvider>,
    pub(crate) config: Config,
    /// The warm bot processes of `http` projects on this server.
    pub(crate) warm: Arc<crate::runtime::warm::Pools>,
    /// What retention purged in this process (`retention`).
    pub(crate) retention: Arc<RetentionCounters>,
}

impl Paige {
    /// Opens the store: the PostgreSQL database when the config names one,
    /// else the embedded store in the data dir. Creates the data dir (mode
    /// 0700), the master key and the database (or its schema) on first use.
    pub async fn open(config: &Config) -> Result<Self> {
        ensure_private_dir(&config.data_dir)?;
        let keys = FileKeyProvider::open_or_create(&config.master_key_path())?;
        let store: Arc<dyn Store> = match &config.database_url {
            Some(url) => Arc::new(PostgresStore::open(url).await?),
            None => Arc::new(SqliteStore::open(&config.data_dir.join(DB_FILE)).await?),
        };
        let paige = Self::with_parts(config.clone(), store, Arc::new(keys)).await?;
        if config.database_url.is_some() {
            paige.check_shared_master_key().await?;
        }
        Ok(paige)
    }

    /// On a shared database, a node whose master key wraps none of the
    /// database's data keys (a new node given no key, or one left with the
    /// key from before a rotation) refuses to start, instead of failing
    /// every request or wrapping new projects under a key no other node has.
    async fn check_shared_master_key(&self) -> Result<()> {
        let current = self.keys.current()?;
        let in_use = self.store.kek_ids_in_use().await?;
        if in_use.is_empty() || in_use.iter().any(|id| id == current.id().as_str()) {
            return Ok(());
        }
        Err(Error::Config(format!(
            "the master key in {} (id {}) is not the one this database uses (id {}): every node of a \
             deployment needs the same master key file",
            self.config.master_key_path().display(),
            current.id(),
            in_use.join(", ")
        )))
    }

    /// Assembles a `Paige` from a store and a key provider, finishing or
    /// undoing a master-key rotation that a crash interrupted.
    pub async fn with_parts(config: Config, store: Arc<dyn Store>, keys: Arc<dyn KeyProvider>) -> Result<Self> {
        let paige = Self {
            store,
            keys,
            config,
            warm: Arc::default(),
            retention: Arc::default(),
        };
        paige.recover_rotation().await?;
        Ok(paige)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store itself, for tests and benchmarks that look below the
    /// domain. The HTTP layer and the CLI go through `Paige`'s methods.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Checks that the database answers (the health check).
    pub async fn health(&self) -> Result<()> {
        self.store.ping().await
    }

    /// The metrics in the OpenMetrics text format, with the database
    /// pools' connections as they are now.
    pub fn metrics_text(&self) -> String {
        let metrics = crate::metrics::global();
        for pool in self.store.pool_stats() {
            for (state, count) in [("in_use", pool.in_use), ("idle", pool.idle), ("max", pool.max)] {
                let labels = crate::metrics::PoolLabels { pool: pool.name, state };
                metrics
                    .db_pool
                    .get_or_create(&labels)
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
        metrics.encode()
    }

    pub async fn close(&self) {
        self.store.close().await;
    }

    /// Unwraps a project's data key under the master key that wrapped it.
    pub(crate) fn data_key(&self, project: &ProjectRecord) -> Result<DataKey> {
        let kek = self.keys.by_id(&KeyId::from(project.kek_id.clone()))?;
        crypto::unwrap_data_key(&kek, project.id, &project.wrapped_data_key).map_err(|source| Error::DataKey {
            project: project.slug.clone(),
            source,
        })
    }

    /// Replaces the master key: stage the new key beside the old one,
    /// re-wrap every data key in one transaction, then make the new key the
    /// only one in the file. Values are not touched. Returns the number of
    /// data keys re-wrapped.
    pub async fn rotate_master_key(&self, actor: &Actor) -> Result<usize> {
        let old = self.keys.current()?;
        let new = MasterKey::generate();
        self.keys.stage(&new)?;
        let new_id = new.id().as_str().to_owned();
        let rewrap = |project_id: i64, wrapped: &[u8], kek_id: &str| -> Result<Vec<u8>> {
            if kek_id != old.id().as_str() {
                return Err(Error::Config(format!(
                    "project #{project_id} is wrapped by master key {kek_id}, not the current key {}",
                    old.id()
                )));
            }
            let dek = crypto::unwrap_data_key(&old, project_id, wrapped).map_err(|source| Error::DataKey {
                project: format!("#{project_id}"),
                source,
            })?;
            Ok(crypto::wrap_data_key(&new, project_id, &dek))
        };
        let count = match self.store.rewrap_data_keys(&new_id, &rewrap, actor).await {
            Ok(count) => count,
            Err(e) => {
                // Nothing was committed: the old key stays the only key.
                self.keys.discard_pending()?;
                return Err(e);
            }
        };
        self.keys.install(new)?;
        Ok(count)
    }

    /// After a crash during rotation a staged key may be left beside the
    /// current one. If the database already uses it, the rotation committed
    /// and the file swap is finished now; otherwise the staged key is dropped.
    async fn recover_rotation(&self) -> Result<()> {
        let Some(staged) = self.keys.pending()? else {
            return Ok(());
        };
        let in_use = self.store.kek_ids_in_use().await?;
        if in_use.iter().any(|id| id == staged.id().as_str()) {
            self.keys.install(staged)
        } else {
            self.keys.discard_pending()
        }
    }
}
