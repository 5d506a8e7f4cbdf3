//! Checking a store with the master key: every data key unwraps, every
//! current value opens and every kept previous version opens. Counts and the place of each failure are reported;
//! a value is opened, dropped (zeroized) and never shown.

use std::fmt;

use crate::crypto::{self, DataKey, Keyring};
use crate::error::Result;
use crate::model::{ProjectRecord, SealedSecret};
use crate::store::Store;

/// What a check with the key found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeyCheck {
    pub projects: usize,
    pub data_keys_ok: usize,
    pub values: usize,
    pub values_ok: usize,
    /// Kept previous versions (`secret_versions`), counted apart from the
    /// current values.
    pub versions: usize,
    pub versions_ok: usize,
    /// Where each failure is: project slug, key name and version. Names,
    /// never values.
    pub failures: Vec<String>,
}

impl KeyCheck {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for KeyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} data keys unwrap, {} of {} values open, {} of {} kept versions open",
            self.data_keys_ok, self.projects, self.values_ok, self.values, self.versions_ok, self.versions
        )
    }
}

/// Checks every project of `store` with the key providers of `keys`
/// (whichever wrapped each project's data key).
pub async fn check_with_key(store: &dyn Store, keys: &Keyring) -> Result<KeyCheck> {
    let mut check = KeyCheck::default();
    for project in store.list_projects().await? {
        check.projects += 1;
        let dek = keys.project_key(&project).await;
        let dek = match dek {
            Ok(dek) => dek,
            Err(e) => {
                check.failures.push(format!("project {}: {e}", project.slug));
                continue;
            }
        };
        check.data_keys_ok += 1;
        let current = match store.sealed_secrets(&project.slug).await? {
            Some((_, sealed)) => sealed,
            None => Vec::new(),
        };
        let (opened, failed) = open_each(&dek, &project, &current, "version");
        check.values += current.len();
        check.values_ok += opened;
        check.failures.extend(failed);
        // A kept version is sealed for its own version number, like the
        // current value was when it was written; a rollback opens it.
        let kept = store.kept_versions(project.id).await?;
        let (opened, failed) = open_each(&dek, &project, &kept, "kept version");
        check.versions += kept.len();
        check.versions_ok += opened;
        check.failures.extend(failed);
    }
    Ok(check)
}

/// Opens each sealed value with the project's data key: how many opened,
/// and where each one that did not is (`what` names the kind of row).
fn open_each(dek: &DataKey, project: &ProjectRecord, sealed: &[SealedSecret], what: &str) -> (usize, Vec<String>) {
    let mut opened = 0;
    let mut failures = Vec::new();
    for secret in sealed {
        match crypto::open_value(dek, project.id, &secret.key, secret.version, &secret.ciphertext) {
            Ok(_value) => opened += 1,
            Err(e) => failures.push(format!(
                "project {}, key {} {what} {}: it does not open: {e}",
                project.slug, secret.key, secret.version
            )),
        }
    }
    (opened, failures)
}
