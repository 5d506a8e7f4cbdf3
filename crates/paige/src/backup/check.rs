//! Checking a store with the master key: every data key unwraps and every
//! current value opens. Counts and the place of each failure are reported;
//! a value is opened, dropped (zeroized) and never shown.

use std::fmt;

use crate::crypto::{self, Keyring};
use crate::error::{Error, Result};
use crate::store::Store;

/// What a check with the key found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeyCheck {
    pub projects: usize,
    pub data_keys_ok: usize,
    pub values: usize,
    pub values_ok: usize,
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
            "{} of {} data keys unwrap, {} of {} values open",
            self.data_keys_ok, self.projects, self.values_ok, self.values
        )
    }
}

/// Checks every project of `store` with the key providers of `keys`
/// (whichever wrapped each project's data key).
pub async fn check_with_key(store: &dyn Store, keys: &Keyring) -> Result<KeyCheck> {
    let mut check = KeyCheck::default();
    for project in store.list_projects().await? {
        check.projects += 1;
        let dek = keys
            .data_key(project.id, &project.wrapped_key())
            .await
            .map_err(|e| match e {
                Error::DataKey { source, .. } => Error::DataKey {
                    project: project.slug.clone(),
                    source,
                },
                other => other,
            });
        let dek = match dek {
            Ok(dek) => dek,
            Err(e) => {
                check.failures.push(format!("project {}: {e}", project.slug));
                continue;
            }
        };
        check.data_keys_ok += 1;
        let Some((_, sealed)) = store.sealed_secrets(&project.slug).await? else {
            continue;
        };
        for secret in sealed {
            check.values += 1;
            match crypto::open_value(&dek, project.id, &secret.key, secret.version, &secret.ciphertext) {
                Ok(_value) => check.values_ok += 1,
                Err(e) => check.failures.push(format!(
                    "project {}, key {} version {}: the value does not open: {e}",
                    project.slug, secret.key, secret.version
                )),
            }
        }
    }
    Ok(check)
}
