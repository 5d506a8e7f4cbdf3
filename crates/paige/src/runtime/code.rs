//! A project's bot code: a tree of files on the local file system.
//!
//! Layout, per project (by id, which is never reused):
//!
//! ```text
//! <data dir>/code/<project id>/
//!   .lock                 flock'd by every change, so changes never interleave
//!   current -> trees/T2   symlink to the live tree; replaced with one rename
//!   trees/T1/             the previous tree (kept for executions still running in it)
//!   trees/T2/             the live tree: app.js, ...
//!   trees/.staging-R/     a push being copied (removed if the push fails)
//! ```
//!
//! `push_code` copies a whole directory into a staging tree, checking
//! every name and the size limits as it goes, makes it durable (fsync), and
//! only then swaps `current` with one `rename`: a push that fails half-way,
//! or a crash, leaves the old tree live. `put_code_file` replaces one file
//! of the live tree, also with a rename.
//!
//! Paths are confined to the tree: relative, `/`-separated, no `.`, `..` or
//! empty component, no NUL. A pushed directory may contain symlinks only
//! when they are relative and resolve inside it; a single-file write never
//! goes through a symlink.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, symlink};
use std::path::{Component, Path, PathBuf};

use crate::Paige;
use crate::error::{Error, Result};
use crate::store::{Actor, NewAudit};

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
const TMP_PREFIX: &str = ".paige-";

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

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Config(format!("{what} {}: {e}", path.display()))
}

/// The directory holding one project's code trees.
pub(crate) fn project_code_dir(data_dir: &Path, project_id: i64) -> PathBuf {
    data_dir.join("code").join(project_id.to_string())
}

/// The live tree's real path, or `None` if no code was ever pushed.
pub(crate) fn live_tree(project_dir: &Path) -> Result<Option<PathBuf>> {
    let current = project_dir.join("current");
    match fs::read_link(&current) {
        Ok(target) => Ok(Some(project_dir.join(target))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("cannot read", &current, &e)),
    }
}

fn random_name() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn mkdir_private(path: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("cannot sync", path, &e))
}

/// Holds the project's code lock (an exclusive `flock`) while alive.
struct CodeLock {
    _file: File,
}

fn lock_project(project_dir: &Path) -> Result<CodeLock> {
    mkdir_private(&project_dir.join("trees")).map_err(|e| io_error("cannot create", project_dir, &e))?;
    let path = project_dir.join(".lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_error("cannot open", &path, &e))?;
    file.lock().map_err(|e| io_error("cannot lock", &path, &e))?;
    Ok(CodeLock { _file: file })
}

/// Makes `trees/<tree_name>` the live tree and removes every other tree
/// but the one it replaces.
fn install_tree(project_dir: &Path, tree_name: &str) -> Result<()> {
    let previous = live_tree(project_dir)?;
    let link_tmp = project_dir.join(format!("{TMP_PREFIX}current-{}", random_name()));
    symlink(Path::new("trees").join(tree_name), &link_tmp).map_err(|e| io_error("cannot create", &link_tmp, &e))?;
    let current = project_dir.join("current");
    if let Err(e) = fs::rename(&link_tmp, &current) {
        let _ = fs::remove_file(&link_tmp);
        return Err(io_error("cannot install", &current, &e));
    }
    sync_dir(project_dir)?;
    // Best effort from here on: the new tree is live.
    let keep_previous = previous
        .as_ref()
        .and_then(|p| p.file_name().map(std::ffi::OsStr::to_os_string));
    if let Ok(entries) = fs::read_dir(project_dir.join("trees")) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name == tree_name || Some(&name) == keep_previous.as_ref() {
                continue;
            }
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// Counts and sizes the regular files of a tree (symlinks are not followed).
fn measure(tree: &Path) -> Result<CodeSummary> {
    let mut summary = CodeSummary { files: 0, bytes: 0 };
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| io_error("cannot read", &dir, &e))? {
            let entry = entry.map_err(|e| io_error("cannot read", &dir, &e))?;
            let meta = entry
                .path()
                .symlink_metadata()
                .map_err(|e| io_error("cannot read", &entry.path(), &e))?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                summary.files += 1;
                summary.bytes += meta.len();
            }
        }
    }
    Ok(summary)
}

/// Copies `source` into a new staging tree, checking every entry.
struct Copier<'a> {
    root_real: PathBuf,
    limits: &'a CodeLimits,
    files: usize,
    bytes: u64,
}

impl Copier<'_> {
    fn copy_dir(&mut self, from: &Path, to: &Path, rel: &Path, depth: usize) -> Result<()> {
        if depth > self.limits.max_depth {
            return Err(invalid_path(
                &rel.display().to_string(),
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
            let rel_path = rel.join(&name);
            let shown = rel_path.display().to_string();
            let Some(name_str) = name.to_str() else {
                return Err(invalid_path(&shown, "file names must be UTF-8"));
            };
            check_name(&shown, name_str)?;
            if rel_path.as_os_str().len() > self.limits.max_path_bytes {
                return Err(invalid_path(
                    &shown,
                    &format!("it is longer than {} bytes", self.limits.max_path_bytes),
                ));
            }
            let src = entry.path();
            let dst = to.join(&name);
            let meta = src.symlink_metadata().map_err(|e| io_error("cannot read", &src, &e))?;
            let kind = meta.file_type();
            if kind.is_symlink() {
                self.copy_symlink(&src, &dst, &shown)?;
            } else if kind.is_dir() {
                mkdir_private(&dst).map_err(|e| io_error("cannot create", &dst, &e))?;
                self.copy_dir(&src, &dst, &rel_path, depth + 1)?;
                sync_dir(&dst)?;
            } else if kind.is_file() {
                self.copy_file(&src, &dst, &shown, meta.len())?;
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

    fn copy_file(&mut self, src: &Path, dst: &Path, shown: &str, len: u64) -> Result<()> {
        self.count_file(shown, len)?;
        let mut input = File::open(src).map_err(|e| io_error("cannot read", src, &e))?;
        let mut output = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dst)
            .map_err(|e| io_error("cannot create", dst, &e))?;
        // Copy at most one byte past the limit, so a file that grows while
        // it is copied is still refused.
        let copied = std::io::copy(
            &mut std::io::Read::take(&mut input, self.limits.max_file_bytes + 1),
            &mut output,
        )
        .map_err(|e| io_error("cannot copy", src, &e))?;
        if copied != len {
            // The file changed size while it was copied.
            if copied > self.limits.max_file_bytes {
                return Err(too_large(
                    "code_file_too_large",
                    format!("code file {shown:?} has more than {} bytes", self.limits.max_file_bytes),
                ));
            }
            self.bytes = self.bytes - len + copied;
            if self.bytes > self.limits.max_total_bytes {
                return Err(too_large(
                    "code_too_large",
                    format!("the code is larger than {} bytes in all", self.limits.max_total_bytes),
                ));
            }
        }
        output.sync_all().map_err(|e| io_error("cannot sync", dst, &e))
    }

    fn copy_symlink(&mut self, src: &Path, dst: &Path, shown: &str) -> Result<()> {
        let target = fs::read_link(src).map_err(|e| io_error("cannot read", src, &e))?;
        if target.is_absolute() {
            return Err(invalid_path(
                shown,
                "it is a symlink with an absolute target; only relative links inside the directory are allowed",
            ));
        }
        let resolved = fs::canonicalize(src).map_err(|_| {
            invalid_path(
                shown,
                "it is a symlink that does not resolve; only links to files inside the directory are allowed",
            )
        })?;
        if !resolved.starts_with(&self.root_real) {
            return Err(invalid_path(shown, "it is a symlink that points outside the directory"));
        }
        // A lexical check too: the copy must resolve inside the new tree
        // even though the directory above it differs.
        let parent_depth = Path::new(shown).components().count().saturating_sub(1);
        let mut depth = i64::try_from(parent_depth).unwrap_or(i64::MAX);
        for part in target.components() {
            match part {
                Component::ParentDir => depth -= 1,
                Component::Normal(_) => depth += 1,
                _ => {}
            }
            if depth < 0 {
                return Err(invalid_path(shown, "it is a symlink that points outside the directory"));
            }
        }
        symlink(&target, dst).map_err(|e| io_error("cannot create", dst, &e))
    }
}

fn push_blocking(project_dir: &Path, source: &Path, limits: &CodeLimits) -> Result<CodeSummary> {
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
    let _lock = lock_project(project_dir)?;
    let trees = project_dir.join("trees");
    let staging = trees.join(format!("{TMP_PREFIX}staging-{}", random_name()));
    mkdir_private(&staging).map_err(|e| io_error("cannot create", &staging, &e))?;
    let mut copier = Copier {
        root_real,
        limits,
        files: 0,
        bytes: 0,
    };
    let copied = copier
        .copy_dir(source, &staging, Path::new(""), 1)
        .and_then(|()| sync_dir(&staging));
    if let Err(e) = copied {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    let name = format!("{}-{}", crate::store::now_millis(), random_name());
    if let Err(e) = fs::rename(&staging, trees.join(&name)) {
        let _ = fs::remove_dir_all(&staging);
        return Err(io_error("cannot install", &staging, &e));
    }
    sync_dir(&trees)?;
    install_tree(project_dir, &name)?;
    Ok(CodeSummary {
        files: copier.files,
        bytes: copier.bytes,
    })
}

fn put_blocking(project_dir: &Path, rel: &Path, shown: &str, bytes: &[u8], limits: &CodeLimits) -> Result<CodeSummary> {
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if len > limits.max_file_bytes {
        return Err(too_large(
            "code_file_too_large",
            format!(
                "code file {shown:?} is {len} bytes; a file may have at most {} bytes",
                limits.max_file_bytes
            ),
        ));
    }
    let _lock = lock_project(project_dir)?;
    let tree = if let Some(tree) = live_tree(project_dir)? {
        tree
    } else {
        let name = format!("{}-{}", crate::store::now_millis(), random_name());
        let tree = project_dir.join("trees").join(&name);
        mkdir_private(&tree).map_err(|e| io_error("cannot create", &tree, &e))?;
        install_tree(project_dir, &name)?;
        tree
    };
    // Walk down, creating directories, never through a symlink.
    let mut dir = tree.clone();
    let parts: Vec<_> = rel.components().collect();
    let (file_name, parents) = parts.split_last().ok_or_else(|| invalid_path(shown, "it is empty"))?;
    for part in parents {
        dir.push(part);
        match dir.symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(invalid_path(shown, "a directory on the path is a symlink"));
            }
            Ok(_) => return Err(invalid_path(shown, "a file is in the way of a directory on the path")),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                mkdir_private(&dir).map_err(|e| io_error("cannot create", &dir, &e))?;
            }
            Err(e) => return Err(io_error("cannot read", &dir, &e)),
        }
    }
    let target = dir.join(file_name);
    let old_len = match target.symlink_metadata() {
        Ok(m) if m.is_dir() => return Err(invalid_path(shown, "a directory of that name exists")),
        Ok(m) if m.is_file() => Some(m.len()),
        Ok(_) => Some(0),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(io_error("cannot read", &target, &e)),
    };
    let before = measure(&tree)?;
    let files = before.files + usize::from(old_len.is_none());
    let total = before.bytes - old_len.unwrap_or(0) + len;
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
    let tmp = dir.join(format!("{TMP_PREFIX}tmp-{}", random_name()));
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, &target));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_error("cannot write", &target, &e));
    }
    sync_dir(&dir)?;
    Ok(CodeSummary { files, bytes: total })
}

impl Paige {
    /// The directory of a project's code (see the module docs for its layout).
    pub fn code_dir(&self, project_id: i64) -> PathBuf {
        project_code_dir(&self.config().data_dir, project_id)
    }

    /// Replaces the project's whole code tree with the contents of `dir`,
    /// atomically: if anything is refused or fails, the old tree stays live.
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
        let project_dir = self.code_dir(project.id);
        let source = dir.to_path_buf();
        let limits = *limits;
        let summary = tokio::task::spawn_blocking(move || push_blocking(&project_dir, &source, &limits))
            .await
            .map_err(|e| Error::Config(format!("the code push stopped: {e}")))??;
        let audit = NewAudit {
            project_id: Some(project.id),
            action: "code.push",
            detail: Some(format!("{} files, {} bytes", summary.files, summary.bytes)),
            ..NewAudit::default()
        };
        self.store.append_audit(audit, actor).await?;
        Ok(summary)
    }

    /// Writes one file of the live code tree (creating the tree and parent
    /// directories as needed), replacing it atomically.
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
        let rel = check_code_path(path, limits)?;
        let project = self.project(slug).await?;
        let project_dir = self.code_dir(project.id);
        let shown = path.to_owned();
        let len = bytes.len();
        let bytes = bytes.to_vec();
        let limits = *limits;
        let summary = tokio::task::spawn_blocking(move || put_blocking(&project_dir, &rel, &shown, &bytes, &limits))
            .await
            .map_err(|e| Error::Config(format!("the code write stopped: {e}")))??;
        let audit = NewAudit {
            project_id: Some(project.id),
            action: "code.put",
            detail: Some(format!("{path} ({len} bytes)")),
            ..NewAudit::default()
        };
        self.store.append_audit(audit, actor).await?;
        Ok(summary)
    }
}
