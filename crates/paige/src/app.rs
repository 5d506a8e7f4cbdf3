//! `Paige`: the library's entry point, shared by the CLI and the server.
//!
//! It owns the store and the key provider; the operations live beside the
//! concern they serve (`secrets`, `projects`, `auth`) as `impl Paige` blocks.

use std::sync::Arc;

use crate::config::Config;
use crate::crypto::keys::ensure_private_dir;
use crate::crypto::{DataKey, Keyring};
use crate::error::Result;
use crate::model::ProjectRecord;
use crate::retention::RetentionCounters;
use crate::store::sqlite::DB_FILE;
use crate::store::{PostgresStore, SqliteStore, Store};

#[derive(Debug, Clone)]
pub struct Paige {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Arc<Keyring>,
    pub(crate) config: Config,
    /// The warm bot processes of `http` projects on this server.
    pub(crate) warm: Arc<crate::runtime::warm::Pools>,
    /// What retention purged in this process (`retention`).
    pub(crate) retention: Arc<RetentionCounters>,
    /// The sealed values `resolve` read last, by secrets generation.
    pub(crate) sealed: Arc<crate::secrets::sealed_cache::SealedCache>,
    /// The key listings the API's token path served last, by secrets
    /// generation.
    pub(crate) listings: Arc<crate::slug_cache::SlugCache<crate::store::KeyListing>>,
    /// The redactors executions used last, by project and secrets
    /// generation (`secrets/redactor_cache.rs`).
    pub(crate) redactors: Arc<crate::secrets::redactor_cache::RedactorCache>,
    /// The sandboxes prepared for the next executions (`paige serve` only:
    /// `runtime/sandbox_pool.rs`).
    pub(crate) sandboxes: Arc<crate::runtime::sandbox_pool::SandboxPool>,
}

impl Paige {
    /// Opens the store: the PostgreSQL database when the config names one,
    /// else the embedded store in the data dir. Creates the data dir (mode
    /// 0700), the master key (with the file provider) and the database (or
    /// its schema) on first use. Fails fast if the key service is away or
    /// its key is missing.
    pub async fn open(config: &Config) -> Result<Self> {
        ensure_private_dir(&config.data_dir)?;
        let keys = Self::open_keyring(config).await?;
        let store: Arc<dyn Store> = match &config.database_url {
            Some(url) => Arc::new(PostgresStore::open(url).await?),
            None => {
                Arc::new(SqliteStore::open_with_readers(&config.data_dir.join(DB_FILE), config.sqlite_readers).await?)
            }
        };
        let paige = Self::with_parts(config.clone(), store, Arc::new(keys)).await?;
        paige.check_keys().await?;
        Ok(paige)
    }

    /// Assembles a `Paige` from a store and a keyring, finishing or undoing
    /// a master-key file rotation that a crash interrupted.
    pub async fn with_parts(config: Config, store: Arc<dyn Store>, keys: Arc<Keyring>) -> Result<Self> {
        let redactors = Arc::new(crate::secrets::redactor_cache::RedactorCache::new(config.kms.cache_ttl));
        let paige = Self {
            store,
            keys,
            config,
            warm: Arc::default(),
            retention: Arc::default(),
            sealed: Arc::default(),
            listings: Arc::default(),
            redactors,
            sandboxes: Arc::default(),
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

    /// A project's data key: from this node's cache, else unwrapped by the
    /// provider that wrapped it.
    pub(crate) async fn data_key(&self, project: &ProjectRecord) -> Result<Arc<DataKey>> {
        self.keys.project_key(project).await
    }

    /// The node's keyring (its providers and cache), for `paige keys`.
    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }
}
