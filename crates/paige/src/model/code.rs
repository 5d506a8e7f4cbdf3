//! A project's bot code as records: its entries, their metadata and the
//! revision they make up, and the digest that identifies a revision's whole
//! content (see `store::code` for how it is kept).

use std::fmt;

use sha2::{Digest, Sha256};

use super::Millis;

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
