//! The code's `Paige` methods: push a whole tree, write one file, import
//! code an older paige kept only on disk. The tree walking and its checks
//! are `code.rs`'s, which knows nothing of `Paige`.

use std::path::{Path, PathBuf};

use super::code::{CodeLimits, CodeSummary, check_code_path, collect_blocking, project_code_dir};
use crate::Paige;
use crate::error::{Error, Result};
use crate::model::code_limits::too_large;
use crate::model::{Actor, CodeEntry, CodeKind, NewCodeEntry};

impl Paige {
    /// The directory of this node's copy of a project's code (see
    /// `runtime::code_cache` for its layout).
    pub fn code_dir(&self, project_id: i64) -> PathBuf {
        project_code_dir(&self.config().data_dir, project_id)
    }

    /// Replaces the project's whole code with the contents of `dir`,
    /// atomically: if anything is refused or fails, the stored code (and
    /// so what every node runs) stays as it was.
    pub async fn push_code(&self, slug: &str, dir: &Path, actor: &Actor) -> Result<CodeSummary> {
        self.push_code_with_limits(slug, dir, &CodeLimits::default(), actor)
            .await
    }

    pub async fn push_code_with_limits(
        &self,
        slug: &str,
        dir: &Path,
        limits: &CodeLimits,
        actor: &Actor,
    ) -> Result<CodeSummary> {
        let project = self.project(slug).await?;
        let source = dir.to_path_buf();
        let limits = *limits;
        let (entries, summary) = tokio::task::spawn_blocking(move || collect_blocking(&source, &limits))
            .await
            .map_err(|e| Error::internal(format!("the code push stopped: {e}")))??;
        self.store.replace_code(project.id, entries, "code.push", actor).await?;
        Ok(summary)
    }

    /// Writes one file of the project's code (creating the code and its
    /// parent directories as needed), replacing it if it exists.
    pub async fn put_code_file(&self, slug: &str, path: &str, bytes: &[u8], actor: &Actor) -> Result<CodeSummary> {
        self.put_code_file_with_limits(slug, path, bytes, &CodeLimits::default(), actor)
            .await
    }

    pub async fn put_code_file_with_limits(
        &self,
        slug: &str,
        path: &str,
        bytes: &[u8],
        limits: &CodeLimits,
        actor: &Actor,
    ) -> Result<CodeSummary> {
        check_code_path(path, limits)?;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if len > limits.max_file_bytes {
            return Err(too_large(
                "code_file_too_large",
                format!(
                    "code file {path:?} is {len} bytes; a file may have at most {} bytes",
                    limits.max_file_bytes
                ),
            ));
        }
        let project = self.project(slug).await?;
        // Code an earlier version kept only on this disk is stored first,
        // so this write adds to it instead of starting from nothing.
        self.import_local_code(&project).await?;
        let entry = CodeEntry {
            path: path.to_owned(),
            kind: CodeKind::File,
            content: bytes.to_vec(),
        };
        let entry = tokio::task::spawn_blocking(move || NewCodeEntry::new(entry))
            .await
            .map_err(|e| Error::internal(format!("the code write stopped: {e}")))?;
        let revision = self.store.put_code_file(project.id, entry, limits, actor).await?;
        Ok(CodeSummary {
            files: usize::try_from(revision.files).unwrap_or(usize::MAX),
            bytes: revision.bytes,
        })
    }
}
