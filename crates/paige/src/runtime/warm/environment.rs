//! What a project's webhooks run with: its code tree and its decrypted
//! secrets, with their fingerprint and redactor, resolved once per change
//! rather than once per request.
//!
//! Every request reads the project's code revision and secrets generation
//! with the project itself (one query, `Store::hook_target`); the
//! generation is moved on by every change to the project's secrets in the
//! writing transaction, on any node. Only when either differs from the
//! cached environment's are the secrets read and decrypted again. The
//! labels are read *before* what they label, so a cached environment is
//! never older than its labels say: a change that lands in between only
//! costs one more resolve on the next request.

use std::sync::Arc;

use paige_redact::Redactor;

use super::bot::{Fingerprint, fingerprint};
use super::pool::ProjectPool;
use crate::Paige;
use crate::error::Result;
use crate::runtime::ENTRY_POINT;
use crate::runtime::code_cache::CodeTree;
use crate::secrets::Resolved;
use crate::store::executions::HookTarget;

/// A project's code and secrets as a request found them.
pub(super) struct Environment {
    /// The labels it was resolved under (`None`: code not yet in the
    /// database, never reused).
    code_revision: Option<i64>,
    secrets_generation: i64,
    pub fingerprint: Fingerprint,
    /// Leased while the environment is current, so a process started
    /// with it can take a lease of its own.
    pub code: CodeTree,
    /// Decrypted values: zeroized on drop, never printed (`Debug` shows
    /// the names alone).
    pub secrets: Resolved,
    pub redactor: Arc<Redactor>,
    pub secret_names: Vec<String>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("code_revision", &self.code_revision)
            .field("secrets_generation", &self.secrets_generation)
            .field("secret_names", &self.secret_names)
            .finish_non_exhaustive()
    }
}

impl Environment {
    fn is_for(&self, target: &HookTarget) -> bool {
        self.code_revision.is_some()
            && self.code_revision == target.code_revision
            && self.secrets_generation == target.secrets_generation
    }
}

impl Paige {
    /// The environment of `target`'s requests: the cached one if its code
    /// revision and secrets generation are still current, else a fresh
    /// read (and decryption) that replaces it. `None`: the project has no
    /// code, or no entry point.
    pub(super) async fn environment(
        &self,
        pool: &ProjectPool,
        target: &HookTarget,
    ) -> Result<Option<Arc<Environment>>> {
        if let Some(cached) = pool.environment().filter(|env| env.is_for(target)) {
            return Ok(Some(cached));
        }
        let Some(code) = self.code_tree(&target.project).await? else {
            return Ok(None);
        };
        if !code.path.join(ENTRY_POINT).is_file() {
            return Ok(None);
        }
        let secrets = self.resolve(&target.project.slug).await?;
        let env = Arc::new(Environment {
            code_revision: target.code_revision,
            secrets_generation: target.secrets_generation,
            fingerprint: fingerprint(&code.path, &secrets),
            redactor: Arc::new(secrets.redactor()),
            secret_names: secrets.names(),
            code,
            secrets,
        });
        pool.set_environment(Arc::clone(&env));
        Ok(Some(env))
    }
}
