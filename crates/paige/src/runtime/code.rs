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
//! Paths are confined to the tree: relative, `/`-separated, no `.`, `..` or
//! empty component, no NUL. A pushed directory may contain symlinks only
//! when they are relative and resolve inside it; a single-file write never
//! goes through a symlink (nor through a file, nor over a directory).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::Paige;
use crate::error::{Error, Result};
use crate::store::Actor;
use crate::store::code::{CodeEntry, CodeKind, CodeMeta, NewCodeEntry};

/// The entry point of the default command, `node app.js`.
pub const ENTRY_POINT: &str = "app.js";

/// Size limits of one project's code tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeLimits {
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
    pub max_files: usize,
    pub max_depth: usize,
    pub max_path_bytes: usize,
}

impl Default for CodeLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 10 * 1024 * 1024,
            max_total_bytes: 100 * 1024 * 1024,
            max_files: 20_000,
            max_depth: 32,
            max_path_bytes: 1024,
        }
    }
}

/// What a code change left in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeSummary {
    /// Regular files in the live tree (symlinks not counted).
    pub files: usize,
    pub bytes: u64,
}

const NAME_MAX: usize = 255;
pub(crate) const TMP_PREFIX: &str = ".paige-";

fn invalid_path(path: &str, why: &str) -> Error {
    Error::invalid("invalid_code_path", format!("invalid code path {path:?}: {why}"))
}

/// Checks a code path as an API caller gives it (`lib/util.js`) and returns
/// it as a relative path with only normal components.
pub fn check_code_path(path: &str, limits: &CodeLimits) -> Result<PathBuf> {
    if path.is_empty() {
        return Err(invalid_path(path, "it is empty"));
    }
    if path.starts_with('/') {
        return Err(invalid_path(path, "absolute paths are not allowed"));
    }
    if path.contains('\0') {
        return Err(invalid_path(path, "it contains a NUL byte"));
    }
    if path.len() > limits.max_path_bytes {
        return Err(invalid_path(
            path,
            &format!("it is longer than {} bytes", limits.max_path_bytes),
        ));
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() > limits.max_depth {
        return Err(invalid_path(
            path,
            &format!("it is nested deeper than {} levels", limits.max_depth),
        ));
    }
    for part in &parts {
        check_name(path, part)?;
    }
    Ok(parts.iter().collect())
}

fn check_name(path: &str, name: &str) -> Result<()> {
    match name {
        "" => Err(invalid_path(path, "it has an empty component (`//` or a trailing `/`)")),
        "." => Err(invalid_path(path, "`.` components are not allowed")),
        ".." => Err(invalid_path(path, "`..` components are not allowed")),
        _ if name.len() > NAME_MAX => Err(invalid_path(path, "a component is longer than 255 bytes")),
        _ if name.starts_with(TMP_PREFIX) => Err(invalid_path(path, "names starting with `.paige-` are reserved")),
        _ => Ok(()),
    }
}

fn too_large(code: &'static str, message: String) -> Error {
    Error::invalid(code, message)
}

pub(crate) fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Config(format!("{what} {}: {e}", path.display()))
}

/// The directory holding one project's local copy of its code.
pub(crate) fn project_code_dir(data_dir: &Path, project_id: i64) -> PathBuf {
    data_dir.join("code").join(project_id.to_string())
}

/// True when a symlink at `path` (relative to the tree's root) with
/// `target` stays inside the tree by its words alone: a relative target
/// whose `..` never climb above the root. Checked on push, and again when
/// a node builds its copy, so a copy never resolves outside its tree
/// whatever the directory above it.
pub(crate) fn symlink_stays_inside(path: &str, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let parent_depth = path.split('/').count().saturating_sub(1);
    let mut depth = i64::try_from(parent_depth).unwrap_or(i64::MAX);
    for part in target.components() {
        match part {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
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
    };
    Ok((collector.entries, summary))
}

/// Checks one file write against the project's entries now and returns the
/// entries after it. The stores call it inside the write's transaction.
pub(crate) fn plan_put(mut current: Vec<CodeMeta>, new: CodeMeta, limits: &CodeLimits) -> Result<Vec<CodeMeta>> {
    let shown = new.path.as_str();
    if new.size > limits.max_file_bytes {
        return Err(too_large(
            "code_file_too_large",
            format!(
                "code file {shown:?} is {} bytes; a file may have at most {} bytes",
                new.size, limits.max_file_bytes
            ),
        ));
    }
    let as_dir = format!("{shown}/");
    for entry in &current {
        let entry_dir = format!("{}/", entry.path);
        if shown.starts_with(&entry_dir) {
            return Err(match entry.kind {
                CodeKind::Symlink => invalid_path(shown, "a directory on the path is a symlink"),
                CodeKind::File => invalid_path(shown, "a file is in the way of a directory on the path"),
            });
        }
        if entry.path.starts_with(&as_dir) {
            return Err(invalid_path(shown, "a directory of that name exists"));
        }
    }
    // Replacing a symlink with a file is allowed, as writing through the
    // path would have replaced it on disk.
    current.retain(|e| e.path != new.path);
    current.push(new);
    let files = current.iter().filter(|e| e.kind == CodeKind::File).count();
    let total: u64 = current
        .iter()
        .filter(|e| e.kind == CodeKind::File)
        .map(|e| e.size)
        .sum();
    if files > limits.max_files {
        return Err(too_large(
            "code_too_many_files",
            format!("the code would have more than {} files", limits.max_files),
        ));
    }
    if total > limits.max_total_bytes {
        return Err(too_large(
            "code_too_large",
            format!("the code would be larger than {} bytes in all", limits.max_total_bytes),
        ));
    }
    Ok(current)
}

/// Limits that let any stored path through the structural checks: a node
/// re-checks what it reads from the database, whatever limits wrote it.
pub(crate) const STORED_PATHS: CodeLimits = CodeLimits {
    max_file_bytes: u64::MAX,
    max_total_bytes: u64::MAX,
    max_files: usize::MAX,
    max_depth: usize::MAX,
    max_path_bytes: usize::MAX,
};

/// A symlink target as stored: its bytes.
pub(crate) fn stored_target(content: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(content))
}

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
            .map_err(|e| Error::Config(format!("the code push stopped: {e}")))??;
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
            .map_err(|e| Error::Config(format!("the code write stopped: {e}")))?;
        let revision = self.store.put_code_file(project.id, entry, limits, actor).await?;
        Ok(CodeSummary {
            files: usize::try_from(revision.files).unwrap_or(usize::MAX),
            bytes: revision.bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(path: &str, kind: CodeKind, size: u64) -> CodeMeta {
        CodeMeta {
            path: path.to_owned(),
            kind,
            size,
            sha256: [0; 32],
        }
    }

    #[test]
    fn a_symlink_stays_inside_by_its_words_alone() {
        for (path, target) in [
            ("alias.js", "lib/real.js"),
            ("lib/v.json", "../version.json"),
            ("a/b/c", "../../x"),
            ("a/b", "./c/../d"),
        ] {
            assert!(symlink_stays_inside(path, Path::new(target)), "{path} -> {target}");
        }
        for (path, target) in [
            ("alias.js", "../x"),
            ("lib/v.json", "../../version.json"),
            ("a", "b/../../c"),
            ("a", "/etc/passwd"),
        ] {
            assert!(!symlink_stays_inside(path, Path::new(target)), "{path} -> {target}");
        }
    }

    #[test]
    fn a_put_is_checked_against_the_stored_entries() {
        let limits = CodeLimits {
            max_files: 3,
            max_total_bytes: 100,
            ..CodeLimits::default()
        };
        let current = vec![
            meta("app.js", CodeKind::File, 40),
            meta("lib/v.js", CodeKind::File, 40),
            meta("link", CodeKind::Symlink, 3),
        ];
        let refused = |path: &str, size: u64| {
            plan_put(current.clone(), meta(path, CodeKind::File, size), &limits)
                .unwrap_err()
                .to_string()
        };
        assert!(refused("link/x.js", 1).contains("a directory on the path is a symlink"));
        assert!(refused("app.js/x.js", 1).contains("a file is in the way"));
        assert!(refused("lib", 1).contains("a directory of that name exists"));
        assert!(refused("lib/w.js", 21).contains("larger than 100 bytes"));
        // An overwrite counts the new size in place of the old one.
        let after = plan_put(current.clone(), meta("lib/v.js", CodeKind::File, 60), &limits).unwrap();
        assert_eq!(after.len(), 3);
        // A symlink replaced by a file becomes a file: 3 files, at the limit.
        let after = plan_put(current.clone(), meta("link", CodeKind::File, 1), &limits).unwrap();
        assert_eq!(after.iter().filter(|e| e.kind == CodeKind::File).count(), 3);
        let more = plan_put(after, meta("x.js", CodeKind::File, 1), &limits).unwrap_err();
        assert_eq!(more.code(), "code_too_many_files");
    }
}
