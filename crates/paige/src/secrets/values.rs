//! What the secrets operations hand back: the outcome of a set, and the
//! values resolved for one execution. Kept apart from the `impl Paige` that
//! makes them (`mod.rs`), so the signatures of `Paige`'s methods elsewhere
//! (the runtime's) can name them without a module cycle.

use paige_redact::Redactor;
use secrecy::{ExposeSecret, SecretString};

use super::rules::ValueWarning;
use crate::model::WriteOutcome;

/// The result of setting one secret.
#[derive(Debug, Clone)]
pub struct SetOutcome {
    pub outcome: WriteOutcome,
    pub warning: Option<ValueWarning>,
}

/// A project's current secrets, decrypted, for one execution.
pub struct Resolved {
    pub project_id: i64,
    /// The project's secrets generation these values are current at (as
    /// the store confirmed it): what a cached redactor is keyed by.
    pub generation: i64,
    pub secrets: Vec<(String, SecretString)>,
}

impl Resolved {
    /// The names of the secrets, sorted: what records, audits and flow
    /// checks name.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.secrets.iter().map(|(k, _)| k.clone()).collect();
        names.sort();
        names
    }

    /// The one redactor for these values: it masks them in a bot's output
    /// and finds them in its code.
    pub fn redactor(&self) -> Redactor {
        Redactor::new(&self.pairs())
    }

    /// Another copy of the values (zeroized when dropped, as these are).
    pub fn copy(&self) -> Self {
        Self {
            project_id: self.project_id,
            generation: self.generation,
            secrets: self.secrets.clone(),
        }
    }

    /// [`Resolved::redactor`], built on a blocking thread from now on
    /// (the values go with it), so the caller waits only for what is left
    /// of it when it needs it.
    pub fn redactor_in_background(self) -> tokio::task::JoinHandle<Redactor> {
        tokio::task::spawn_blocking(move || self.redactor())
    }

    /// A redactor that masks `inputs` exactly as [`Resolved::redactor`]
    /// would, built from only the values that can occur in them
    /// ([`Redactor::for_inputs`]): quick for a command line.
    pub fn redactor_for(&self, inputs: &[&[u8]]) -> Redactor {
        Redactor::for_inputs(&self.pairs(), inputs)
    }

    fn pairs(&self) -> Vec<(&str, &[u8])> {
        self.secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret().as_bytes()))
            .collect()
    }
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.secrets.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Resolved")
            .field("project_id", &self.project_id)
            .field("generation", &self.generation)
            .field("keys", &keys)
            .finish()
    }
}
