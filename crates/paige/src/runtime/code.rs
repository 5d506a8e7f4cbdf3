//! A project's bot code: what may be pushed and written, and how.
//!
//! The code is stored in the database (see `store::code`): a set of entries
//! (regular files and relative symlinks; directories are implied by the
//! paths, so an empty directory is not kept) and a revision that counts up
//! with every change. Every node runs it from a copy on its own disk,
//! rebuilt whenever its revision is not the database's (`code_cache`).
//!
//! `push_code` reads a whole directory, checking every name, symlink and
//! size limit as it goes, and only then replaces the stored code in one
//! transaction: a push that is refused or fails half-way changes nothing.
//! `put_code_file` writes one file (an upsert), checked against the stored
//! entries and the limits inside its transaction.
//!
//! The path rules and limits, and the check of a single-file write against
//! the stored entries, are pure and live in `model::code_limits`, so the
//! store can apply them inside its transaction. A pushed directory may
//! contain symlinks only when they are relative and resolve inside it; a
//! single-file write never goes through a symlink (nor through a file, nor
//! over a directory).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::code_limits::{check_name, invalid_path, too_large};
// Kept here for the runtime modules and callers that name them by this path.
use crate::model::CodeFinding;
pub use crate::model::code_limits::{CodeLimits, check_code_path};
pub(crate) use crate::model::code_limits::{STORED_PATHS, TMP_PREFIX, symlink_stays_inside};
use crate::model::{CodeEntry, CodeKind, NewCodeEntry};

/// The entry point of the default command, `node app.js`.
pub const ENTRY_POINT: &str = "app.js";

/// What a code change left in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSummary {
    /// Regular files in the live tree (symlinks not counted).
    pub files: usize,
    pub bytes: u64,
    /// What the code guard found (SPEC §1, "not in code"): hard-coded
    /// project values and credentials, by file, line and name only, as
    /// stored with the revision (ids for `paige code fix`).
    pub warnings: Vec<CodeFinding>,
    /// The files the guard did not scan.
    pub skipped: Skipped,
}

/// How many files the code guard did not scan, and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Under `node_modules/`: installed dependencies, not the bot's code.
    pub vendored: usize,
    /// Not UTF-8 text.
    pub binary: usize,
}

impl Skipped {
    /// `not scanned: 3 files under node_modules/, 1 binary file`, or `None`.
    pub fn notice(&self) -> Option<String> {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let mut parts = Vec::new();
        if self.vendored > 0 {
            parts.push(format!(
                "{} file{} under node_modules/",
                self.vendored,
                plural(self.vendored)
            ));
        }
        if self.binary > 0 {
            parts.push(format!("{} binary file{}", self.binary, plural(self.binary)));
        }
        (!parts.is_empty()).then(|| format!("not scanned for secrets: {}", parts.join(", ")))
    }
}

/// A file operation on `path` failed (the caller keeps its `io::Error`).
pub(crate) fn io_error(what: &'static str, path: &Path, e: &std::io::Error) -> Error {
    Error::io(what, path, crate::error::copy_io_error(e))
}

/// The directory holding one project's local copy of its code.
pub(crate) fn project_code_dir(data_dir: &Path, project_id: i64) -> PathBuf {
    data_dir.join("code").join(project_id.to_string())
}

/// Reads a directory into entries, checking every one.
struct Collector<'a> {
    root_real: PathBuf,
    limits: &'a CodeLimits,
    files: usize,
    bytes: u64,
    entries: Vec<NewCodeEntry>,
}

impl Collector<'_> {
    fn collect_dir(&mut self, from: &Path, rel: &str, depth: usize) -> Result<()> {
        if depth > self.limits.max_depth {
            return Err(invalid_path(
                rel,
                &format!("it is nested deeper than {} levels", self.limits.max_depth),
            ));
        }
        let mut entries: Vec<_> = fs::read_dir(from)
            .map_err(|e| io_error("cannot read", from, &e))?
            .collect::<std::io::Result<_>>()
            .map_err(|e| io_error("cannot read", from, &e))?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name();
            let Some(name_str) = name.to_str() else {
                let shown = Path::new(rel).join(&name).display().to_string();
                return Err(invalid_path(&shown, "file names must be UTF-8"));
            };
            let shown = if rel.is_empty() {
                name_str.to_owned()
            } else {
                format!("{rel}/{name_str}")
            };
            check_name(&shown, name_str)?;
            if shown.len() > self.limits.max_path_bytes {
                return Err(invalid_path(
                    &shown,
                    &format!("it is longer than {} bytes", self.limits.max_path_bytes),
                ));
            }
            let src = entry.path();
            let meta = src.symlink_metadata().map_err(|e| io_error("cannot read", &src, &e))?;
            let kind = meta.file_type();
            if kind.is_symlink() {
                self.collect_symlink(&src, shown)?;
            } else if kind.is_dir() {
                self.collect_dir(&src, &shown, depth + 1)?;
            } else if kind.is_file() {
                self.collect_file(&src, shown, meta.len())?;
            } else {
                return Err(invalid_path(
                    &shown,
                    "only regular files, directories and symlinks can be pushed",
                ));
            }
        }
        Ok(())
    }

    fn count_file(&mut self, shown: &str, len: u64) -> Result<()> {
        if len > self.limits.max_file_bytes {
            return Err(too_large(
                "code_file_too_large",
                format!(
                    "code file {shown:?} is {len} bytes; a file may have at most {} bytes",
                    self.limits.max_file_bytes
                ),
            ));
        }
        self.files += 1;
        self.bytes += len;
        if self.files > self.limits.max_files {
            return Err(too_large(
                "code_too_many_files",
                format!("the code has more than {} files", self.limits.max_files),
            ));
        }
        if self.bytes > self.limits.max_total_bytes {
            return Err(too_large(
                "code_too_large",
                format!("the code is larger than {} bytes in all", self.limits.max_total_bytes),
            ));
        }
        Ok(())
    }

    fn collect_file(&mut self, src: &Path, shown: String, len: u64) -> Result<()> {
        self.count_file(&shown, len)?;
        let input = File::open(src).map_err(|e| io_error("cannot read", src, &e))?;
        // Read at most one byte past the limit, so a file that grows while
        // it is read is still refused.
        let mut content = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        std::io::Read::read_to_end(
            &mut std::io::Read::take(input, self.limits.max_file_bytes + 1),
            &mut content,
        )
        .map_err(|e| io_error("cannot read", src, &e))?;
        let read = u64::try_from(content.len()).unwrap_or(u64::MAX);
        if read != len {
            // The file changed size while it was read.
            if read > self.limits.max_file_bytes {
                return Err(too_large(
                    "code_file_too_large",
                    format!("code file {shown:?} has more than {} bytes", self.limits.max_file_bytes),
                ));
            }
            self.bytes = self.bytes - len + read;
            if self.bytes > self.limits.max_total_bytes {
                return Err(too_large(
                    "code_too_large",
                    format!("the code is larger than {} bytes in all", self.limits.max_total_bytes),
                ));
            }
        }
        self.entries.push(NewCodeEntry::new(CodeEntry {
            path: shown,
            kind: CodeKind::File,
            content,
        }));
        Ok(())
    }

    fn collect_symlink(&mut self, src: &Path, shown: String) -> Result<()> {
        let target = fs::read_link(src).map_err(|e| io_error("cannot read", src, &e))?;
        if target.is_absolute() {
            return Err(invalid_path(
                &shown,
                "it is a symlink with an absolute target; only relative links inside the directory are allowed",
            ));
        }
        let resolved = fs::canonicalize(src).map_err(|_| {
            invalid_path(
                &shown,
                "it is a symlink that does not resolve; only links to files inside the directory are allowed",
            )
        })?;
        // A lexical check too: the copy must resolve inside its tree even
        // though the directory above it differs.
        if !resolved.starts_with(&self.root_real) || !symlink_stays_inside(&shown, &target) {
            return Err(invalid_path(
                &shown,
                "it is a symlink that points outside the directory",
            ));
        }
        self.entries.push(NewCodeEntry::new(CodeEntry {
            path: shown,
            kind: CodeKind::Symlink,
            content: target.as_os_str().as_bytes().to_vec(),
        }));
        Ok(())
    }
}

/// Reads every entry of `source`, checking names, symlinks and limits, and
/// hashes it.
pub(crate) fn collect_blocking(source: &Path, limits: &CodeLimits) -> Result<(Vec<NewCodeEntry>, CodeSummary)> {
    let meta = fs::metadata(source).map_err(|e| {
        Error::invalid(
            "invalid_code_dir",
            format!("cannot read the code directory {}: {e}", source.display()),
        )
    })?;
    if !meta.is_dir() {
        return Err(Error::invalid(
            "invalid_code_dir",
            format!("{} is not a directory", source.display()),
        ));
    }
    let root_real = fs::canonicalize(source).map_err(|e| io_error("cannot read", source, &e))?;
    let mut collector = Collector {
        root_real,
        limits,
        files: 0,
        bytes: 0,
        entries: Vec::new(),
    };
    collector.collect_dir(source, "", 1)?;
    let summary = CodeSummary {
        files: collector.files,
        bytes: collector.bytes,
        warnings: Vec::new(),
        skipped: Skipped::default(),
    };
    Ok((collector.entries, summary))
}

/// A symlink target as stored: its bytes.
pub(crate) fn stored_target(content: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(content))
}
