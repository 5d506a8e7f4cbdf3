//! The master key's life: which providers a node opens, the checks at
//! start, `paige keys rotate`, `paige keys status` and `paige keys migrate`.
//!
//! Rotation of the local file swaps files inside one database transaction
//! (the file holds one key). Rotation of a key service makes a new key
//! version there, the old ones still unwrapping, then re-wraps the data
//! keys in batches, one row at a time: nodes keep working throughout and a
//! run killed halfway is finished by running it again. A migration moves
//! data keys from one provider to another the same way.

use std::sync::Arc;

use crate::app::Paige;
use crate::config::{Config, KmsKind};
use crate::crypto::cache::DataKeyCache;
use crate::crypto::provider::{FILE, Provider};
use crate::crypto::transit::TRANSIT;
use crate::crypto::{self, FileKeyProvider, KeyProvider, Keyring, MasterKey, ProviderStatus, TransitProvider};
use crate::error::{Error, Result};
use crate::model::{Actor, NewAudit};
use crate::store::keys::NotWrappedBy;

/// Data keys re-wrapped per round trip to the key service.
pub const REWRAP_BATCH: i64 = 100;

/// What `paige keys status` shows.
#[derive(Debug, Clone)]
pub struct KeyStatus {
    pub primary: ProviderStatus,
    pub others: Vec<ProviderStatus>,
    /// (provider, key id or version, number of data keys).
    pub data_keys: Vec<(String, String, i64)>,
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key (or version) every data key is now wrapped by.
    pub key_id: String,
    pub rewrapped: usize,
    /// A rotation interrupted earlier was finished instead of a new one.
    pub resumed: bool,
}

impl Paige {
    /// The providers of `config`: the primary one wraps new data keys; the
    /// other, when configured (a Transit address, or an existing key file),
    /// unwraps keys a migration has not moved yet. Transit is checked now:
    /// reachable, token accepted, key present and derived.
    pub(crate) async fn open_keyring(config: &Config) -> Result<Keyring> {
        let transit: Option<Provider> = match &config.kms.transit {
            Some(settings) => {
                let provider = TransitProvider::new(settings.clone())?;
                provider.status().await?;
                Some(Arc::new(provider))
            }
            None => None,
        };
        let file: Option<Provider> = match config.kms.kind {
            KmsKind::File => Some(Arc::new(FileKeyProvider::open_or_create(&config.master_key_path())?)),
            KmsKind::Transit => {
                FileKeyProvider::open_existing(&config.master_key_path())?.map(|f| Arc::new(f) as Provider)
            }
        };
        let (primary, other) = match config.kms.kind {
            KmsKind::File => (file, transit),
            KmsKind::Transit => (transit, file),
        };
        let primary = primary.ok_or_else(|| {
            Error::Config(
                "--kms transit needs --kms-address, --kms-key and a token (--kms-token-file or PAIGE_KMS_TOKEN)"
                    .to_owned(),
            )
        })?;
        Ok(Keyring::new(
            primary,
            other.into_iter().collect(),
            DataKeyCache::new(config.kms.cache_ttl),
        ))
    }

    /// Refuses to start where some data keys could not be unwrapped: a
    /// provider the database uses that this node lacks, or (on a shared
    /// database) a master key file other than the one the database uses.
    pub(crate) async fn check_keys(&self) -> Result<()> {
        for provider in self.store.key_providers_in_use().await? {
            if self.keys.provider(&provider).is_none() {
                // Counted only for the message: counting reads every project.
                let count: i64 = self
                    .store
                    .data_key_counts()
                    .await?
                    .iter()
                    .filter(|(p, _, _)| *p == provider)
                    .map(|(_, _, n)| n)
                    .sum();
                return Err(Error::Config(format!(
                    "{count} data keys are wrapped by the {provider} key provider, which this node is not \
                     configured with: {}",
                    match provider.as_str() {
                        FILE => "give it the master key file, or finish `paige keys migrate --to transit`",
                        _ => "give it --kms-address, --kms-key and a token, or finish `paige keys migrate --to file`",
                    }
                )));
            }
        }
        if self.config.database_url.is_some() && self.keys.primary().name() == FILE {
            self.check_shared_master_key().await?;
        }
        Ok(())
    }

    /// On a shared database, a node whose master key wraps none of the
    /// database's data keys (a new node given no key, or one left with the
    /// key from before a rotation) refuses to start, instead of failing
    /// every request or wrapping new projects under a key no other node has.
    async fn check_shared_master_key(&self) -> Result<()> {
        let Some(file) = self.keys.file() else {
            return Ok(());
        };
        let current = file.current()?;
        let in_use = self.store.kek_ids_in_use().await?;
        if in_use.is_empty() || in_use.iter().any(|id| id == current.id().as_str()) {
            return Ok(());
        }
        Err(Error::Config(format!(
            "the master key in {} (id {}) is not the one this database uses (id {}): every node of a \
             deployment needs the same master key file",
            file.path().display(),
            current.id(),
            in_use.join(", ")
        )))
    }

    /// Rotates the master key of the primary provider and re-wraps every
    /// data key it wraps. Values are not touched.
    pub async fn rotate_master_key(&self, actor: &Actor) -> Result<Rotation> {
        let primary = Arc::clone(self.keys.primary());
        if let Some(file) = primary.as_file() {
            return self.rotate_key_file(file, actor).await;
        }
        let name = primary.name();
        let current = primary.status().await?.current;
        // Keys left on an older version by an interrupted rotation (or by
        // a rotation made in the key service itself) are finished first.
        let lagging = self
            .store
            .data_keys_batch(
                0,
                NotWrappedBy::Key {
                    provider: name,
                    key_id: &current,
                },
                1,
            )
            .await?;
        let (key_id, resumed) = if lagging.is_empty() {
            let rotated = primary.rotate().await?;
            (
                rotated.ok_or_else(|| Error::internal(format!("the {name} provider cannot rotate")))?,
                false,
            )
        } else {
            (current, true)
        };
        let rewrapped = self.rewrap_all(&primary, &key_id).await?;
        self.keys.cache().clear();
        let audit = NewAudit {
            action: "keys.rotate",
            detail: Some(format!("{rewrapped} data keys re-wrapped under {name} key {key_id}")),
            ..NewAudit::default()
        };
        self.store.append_audit(audit, actor).await?;
        Ok(Rotation {
            key_id,
            rewrapped,
            resumed,
        })
    }

    /// Re-wraps, batch by batch, every data key of `provider` not on `key_id`.
    async fn rewrap_all(&self, provider: &Provider, key_id: &str) -> Result<usize> {
        let target = NotWrappedBy::Key {
            provider: provider.name(),
            key_id,
        };
        let (mut after, mut done) = (0, 0);
        loop {
            let batch = self.store.data_keys_batch(after, target, REWRAP_BATCH).await?;
            let Some((last, _)) = batch.last() else {
                return Ok(done);
            };
            after = *last;
            let results = provider.rewrap(&batch).await?;
            for ((project_id, old), new) in batch.iter().zip(results) {
                // A key another process re-wrapped meanwhile is left as it is.
                if self.store.replace_data_key(*project_id, old, &new?).await? {
                    done += 1;
                }
            }
        }
    }

    /// The file rotation: stage the new key beside the old one, re-wrap
    /// every data key of the file in one transaction, then make the new key
    /// the only one in the file.
    async fn rotate_key_file(&self, file: &FileKeyProvider, actor: &Actor) -> Result<Rotation> {
        let old = file.current()?;
        let new = MasterKey::generate();
        file.stage(&new)?;
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
                file.discard_pending()?;
                return Err(e);
            }
        };
        file.install(new)?;
        self.keys.cache().clear();
        Ok(Rotation {
            key_id: new_id,
            rewrapped: count,
            resumed: false,
        })
    }

    /// After a crash during a file rotation a staged key may be left beside
    /// the current one. If the database already uses it, the rotation
    /// committed and the file swap is finished now; otherwise the staged
    /// key is dropped.
    pub(crate) async fn recover_rotation(&self) -> Result<()> {
        let Some(file) = self.keys.file() else {
            return Ok(());
        };
        let Some(staged) = file.pending()? else {
            return Ok(());
        };
        let in_use = self.store.kek_ids_in_use().await?;
        if in_use.iter().any(|id| id == staged.id().as_str()) {
            file.install(staged)
        } else {
            file.discard_pending()
        }
    }

    /// Which providers this node has, which keys are current, and how many
    /// data keys each key (or version) wraps.
    pub async fn key_status(&self) -> Result<KeyStatus> {
        let primary = self.keys.primary().status().await?;
        let mut others = Vec::new();
        for name in [FILE, TRANSIT] {
            if name != primary.provider
                && let Some(provider) = self.keys.provider(name)
            {
                others.push(provider.status().await?);
            }
        }
        Ok(KeyStatus {
            primary,
            others,
            data_keys: self.store.data_key_counts().await?,
        })
    }

    /// Moves every data key to the provider `to` (`file` or `transit`):
    /// each is unwrapped by the provider that wrapped it, wrapped by `to`
    /// and written back on its own, so a run killed halfway leaves every
    /// key usable and the next run moves the rest. Returns how many moved.
    pub async fn migrate_keys(&self, to: &str, actor: &Actor) -> Result<usize> {
        let target = Arc::clone(self.keys.require(to)?);
        let (mut after, mut moved) = (0, 0);
        loop {
            let batch = self
                .store
                .data_keys_batch(after, NotWrappedBy::Provider(to), REWRAP_BATCH)
                .await?;
            let Some((last, _)) = batch.last() else {
                break;
            };
            after = *last;
            for (project_id, old) in &batch {
                let dek = self.keys.require(&old.provider)?.unwrap(*project_id, old).await?;
                let new = target.wrap(*project_id, &dek).await?;
                if self.store.replace_data_key(*project_id, old, &new).await? {
                    moved += 1;
                }
            }
        }
        let audit = NewAudit {
            action: "keys.migrate",
            detail: Some(format!("{moved} data keys re-wrapped by the {to} key provider")),
            ..NewAudit::default()
        };
        self.store.append_audit(audit, actor).await?;
        Ok(moved)
    }
}
