//! A whole code tree sent as entries (the API's `PUT …/code`), checked by
//! the rules a local push applies while it reads a directory: every path
//! (`check_code_path`), the size and count limits, symlinks relative and
//! inside the tree, and a tree that could exist on disk (no path twice, no
//! file where a directory is needed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::code::{CodeLimits, CodeSummary, Skipped, check_code_path};
use crate::error::Result;
use crate::model::code_limits::{invalid_path, symlink_stays_inside, too_large};
use crate::model::{CodeEntry, CodeKind, NewCodeEntry};

/// The largest body of a whole-tree push: every byte the limits allow,
/// base64-encoded (4/3), plus each entry's path and JSON framing.
pub fn max_tree_body_bytes(limits: &CodeLimits) -> u64 {
    let content = limits.max_total_bytes.div_ceil(3) * 4;
    let per_entry = u64::try_from(limits.max_path_bytes).unwrap_or(u64::MAX) + 64;
    content + u64::try_from(limits.max_files).unwrap_or(u64::MAX) * per_entry + 1024
}

/// Checks `entries` as a whole tree and hashes them; the summary counts
/// regular files and their bytes, as a local push does.
pub(crate) fn check_tree(entries: Vec<CodeEntry>, limits: &CodeLimits) -> Result<(Vec<NewCodeEntry>, CodeSummary)> {
    let mut files = 0usize;
    let mut bytes = 0u64;
    let mut kinds: BTreeMap<&str, CodeKind> = BTreeMap::new();
    for entry in &entries {
        let shown = entry.path.as_str();
        check_code_path(shown, limits)?;
        if kinds.insert(shown, entry.kind).is_some() {
            return Err(invalid_path(shown, "it appears twice in the tree"));
        }
        match entry.kind {
            CodeKind::File => {
                let len = u64::try_from(entry.content.len()).unwrap_or(u64::MAX);
                if len > limits.max_file_bytes {
                    return Err(too_large(
                        "code_file_too_large",
                        format!(
                            "code file {shown:?} is {len} bytes; a file may have at most {} bytes",
                            limits.max_file_bytes
                        ),
                    ));
                }
                files += 1;
                bytes += len;
                if files > limits.max_files {
                    return Err(too_large(
                        "code_too_many_files",
                        format!("the code has more than {} files", limits.max_files),
                    ));
                }
                if bytes > limits.max_total_bytes {
                    return Err(too_large(
                        "code_too_large",
                        format!("the code is larger than {} bytes in all", limits.max_total_bytes),
                    ));
                }
            }
            CodeKind::Symlink => check_link(shown, &entry.content)?,
        }
    }
    // A file or link whose path is another entry's directory cannot exist.
    let mut dirs = BTreeSet::new();
    for path in kinds.keys() {
        let mut at = 0;
        while let Some(slash) = path[at..].find('/') {
            dirs.insert(&path[..at + slash]);
            at += slash + 1;
        }
    }
    if let Some(clash) = dirs.iter().find(|dir| kinds.contains_key(**dir)) {
        return Err(invalid_path(
            clash,
            "it is a file or symlink and also a directory of other entries",
        ));
    }
    // A link must resolve to something in the tree, as a local push
    // requires of a link in the directory it reads.
    for entry in entries.iter().filter(|e| e.kind == CodeKind::Symlink) {
        let target = resolve(&entry.path, &entry.content);
        if !target.is_empty() && !kinds.contains_key(target.as_str()) && !dirs.contains(target.as_str()) {
            return Err(invalid_path(
                &entry.path,
                "it is a symlink that does not resolve; only links to files inside the directory are allowed",
            ));
        }
    }
    let entries = entries.into_iter().map(NewCodeEntry::new).collect();
    let summary = CodeSummary {
        files,
        bytes,
        warnings: Vec::new(),
        skipped: Skipped::default(),
    };
    Ok((entries, summary))
}

fn check_link(shown: &str, target: &[u8]) -> Result<()> {
    let Ok(text) = std::str::from_utf8(target) else {
        return Err(invalid_path(shown, "a symlink target must be UTF-8"));
    };
    if text.is_empty() || text.contains('\0') {
        return Err(invalid_path(shown, "it is a symlink with an empty or NUL target"));
    }
    if Path::new(text).is_absolute() {
        return Err(invalid_path(
            shown,
            "it is a symlink with an absolute target; only relative links inside the directory are allowed",
        ));
    }
    if !symlink_stays_inside(shown, Path::new(text)) {
        return Err(invalid_path(shown, "it is a symlink that points outside the directory"));
    }
    Ok(())
}

/// The tree path a relative link at `path` names (lexically; the link was
/// checked to stay inside).
fn resolve(path: &str, target: &[u8]) -> String {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for part in std::str::from_utf8(target).unwrap_or_default().split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    parts.join("/")
}
