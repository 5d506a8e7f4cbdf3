//! Limits and path rules of a project's bot code: pure checks, so the
//! store can apply them inside a write's transaction and the runtime when
//! it reads a directory or builds a copy on disk.
//!
//! Paths are confined to the tree: relative, `/`-separated, no `.`, `..` or
//! empty component, no NUL.

use std::path::{Component, Path, PathBuf};

use super::code::{CodeKind, CodeMeta};
use crate::error::{Error, Result};

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

const NAME_MAX: usize = 255;
pub(crate) const TMP_PREFIX: &str = ".paige-";

pub(crate) fn invalid_path(path: &str, why: &str) -> Error {
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

pub(crate) fn check_name(path: &str, name: &str) -> Result<()> {
    match name {
        "" => Err(invalid_path(path, "it has an empty component (`//` or a trailing `/`)")),
        "." => Err(invalid_path(path, "`.` components are not allowed")),
        ".." => Err(invalid_path(path, "`..` components are not allowed")),
        _ if name.len() > NAME_MAX => Err(invalid_path(path, "a component is longer than 255 bytes")),
        _ if name.starts_with(TMP_PREFIX) => Err(invalid_path(path, "names starting with `.paige-` are reserved")),
        _ => Ok(()),
    }
}

/// A size limit was broken: its own stable code, the message names the limit.
pub(crate) fn too_large(code: &'static str, message: String) -> Error {
    Error::invalid(code, message)
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
