//! Persistence for bot code (the runtime's code, shared by every node).
//!
//! The database is the source of truth for a project's code: its entries
//! (regular files and symlinks; directories are implied by the paths) and
//! a revision that counts up with every change, in the same transaction as
//! the entries and the audit record. A node copies the code to its local
//! disk to run it (see `runtime::code_cache`) and rebuilds that copy
//! whenever its revision is not the database's.
//!
//! Each revision also has a digest of its whole content, so a copy built
//! from a read that does not match it is refused, and a copy is reused only
//! for exactly the content it was built from.

use std::fmt;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::{Actor, Millis};
use crate::error::Result;
use crate::runtime::CodeLimits;

/// What an entry of the code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeKind {
    /// A regular file; the content is its bytes.
    File,
    /// A symlink; the content is its (relative) target.
    Symlink,
}

impl CodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Symlink => "symlink",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::File, Self::Symlink].into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of a project's code, with its content.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeEntry {
    /// Relative, `/`-separated, checked by `check_code_path`.
    pub path: String,
    pub kind: CodeKind,
    pub content: Vec<u8>,
}

impl fmt::Debug for CodeEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeEntry")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("len", &self.content.len())
            .finish()
    }
}

impl CodeEntry {
    pub fn meta(&self) -> CodeMeta {
        CodeMeta {
            path: self.path.clone(),
            kind: self.kind,
            size: u64::try_from(self.content.len()).unwrap_or(u64::MAX),
            sha256: sha256(&self.content),
        }
    }
}

/// An entry to store, with its digest computed beforehand: a file may have
/// megabytes, so the hashing belongs on a blocking thread, not in the store.
#[derive(Debug, Clone)]
pub struct NewCodeEntry {
    pub entry: CodeEntry,
    pub meta: CodeMeta,
}

impl NewCodeEntry {
    pub fn new(entry: CodeEntry) -> Self {
        let meta = entry.meta();
        Self { entry, meta }
    }
}

/// An entry without its content: what a change is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeMeta {
    pub path: String,
    pub kind: CodeKind,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// A project's current code, as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRevision {
    /// 1 for the first push or write, then one more for each change.
    pub revision: i64,
    /// See [`tree_digest`].
    pub digest: Vec<u8>,
    /// Regular files (symlinks are not counted) and their bytes.
    pub files: u64,
    pub bytes: u64,
    pub updated_at: Millis,
    pub updated_by: String,
}

/// How the code of a change adds up: what its revision row records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeTotals {
    pub files: u64,
    pub bytes: u64,
    pub digest: Vec<u8>,
}

impl CodeTotals {
    pub fn of(entries: &[CodeMeta]) -> Self {
        let regular = entries.iter().filter(|e| e.kind == CodeKind::File);
        Self {
            files: u64::try_from(regular.clone().count()).unwrap_or(u64::MAX),
            bytes: regular.map(|e| e.size).sum(),
            digest: tree_digest(entries),
        }
    }
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// SHA-256 over every entry in byte order of its path: the path, a NUL, the
/// kind's first letter and the SHA-256 of its content. The order is fixed
/// here, not by a database's collation, so both stores agree.
pub fn tree_digest(entries: &[CodeMeta]) -> Vec<u8> {
    let mut sorted: Vec<&CodeMeta> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut hasher = Sha256::new();
    for entry in sorted {
        hasher.update(entry.path.as_bytes());
        hasher.update([0, entry.kind.as_str().as_bytes()[0]]);
        hasher.update(entry.sha256);
    }
    hasher.finalize().to_vec()
}

/// A sink for the entries of one read of a project's code.
pub type CodeSink = tokio::sync::mpsc::Sender<CodeEntry>;

#[async_trait]
pub trait CodeStore: Send + Sync {
    /// The project's current revision (one small row); `None` if it has no code.
    async fn code_revision(&self, project_id: i64) -> Result<Option<CodeRevision>>;

    /// Replaces the project's whole code with `entries` (checked by the
    /// caller), bumps the revision and appends an audit record of `action`
    /// whose detail names the revision, in one transaction.
    async fn replace_code(
        &self,
        project_id: i64,
        entries: Vec<NewCodeEntry>,
        action: &str,
        actor: &Actor,
    ) -> Result<CodeRevision>;

    /// Writes one regular file (an upsert), after checking it against the
    /// project's entries and `limits` inside the transaction; bumps the
    /// revision and appends a `code.put` audit record. A refused write
    /// changes nothing.
    async fn put_code_file(
        &self,
        project_id: i64,
        entry: NewCodeEntry,
        limits: &CodeLimits,
        actor: &Actor,
    ) -> Result<CodeRevision>;

    /// Sends every entry of the project's current code to `sink`, all from
    /// one consistent read, and returns the revision they make up (`None`,
    /// with nothing sent, if the project has no code). Stops with an error
    /// if the sink is closed.
    async fn read_code(&self, project_id: i64, sink: CodeSink) -> Result<Option<CodeRevision>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: CodeKind, content: &[u8]) -> CodeMeta {
        CodeEntry {
            path: path.to_owned(),
            kind,
            content: content.to_vec(),
        }
        .meta()
    }

    #[test]
    fn the_digest_covers_paths_kinds_and_contents_in_byte_order() {
        let a = entry("a.js", CodeKind::File, b"1");
        let b = entry("b/c.js", CodeKind::File, b"2");
        let digest = tree_digest(&[a.clone(), b.clone()]);
        assert_eq!(digest.len(), 32);
        // Any order in, one digest out.
        assert_eq!(tree_digest(&[b.clone(), a.clone()]), digest);
        assert_ne!(tree_digest(&[a.clone(), entry("b/c.js", CodeKind::File, b"3")]), digest);
        assert_ne!(tree_digest(&[a.clone(), entry("b/d.js", CodeKind::File, b"2")]), digest);
        assert_ne!(
            tree_digest(&[a.clone(), entry("b/c.js", CodeKind::Symlink, b"2")]),
            digest
        );
        assert_ne!(tree_digest(&[a]), digest);
        let totals = CodeTotals::of(&[b, entry("l", CodeKind::Symlink, b"b/c.js")]);
        assert_eq!((totals.files, totals.bytes), (1, 1));
    }
}
