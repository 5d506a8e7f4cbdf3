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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> CodeEntry {
        CodeEntry {
            path: path.into(),
            kind: CodeKind::File,
            content: content.into(),
        }
    }

    fn link(path: &str, target: &str) -> CodeEntry {
        CodeEntry {
            path: path.into(),
            kind: CodeKind::Symlink,
            content: target.into(),
        }
    }

    fn refused(entries: Vec<CodeEntry>, limits: &CodeLimits) -> String {
        check_tree(entries, limits).unwrap_err().to_string()
    }

    #[test]
    fn a_good_tree_is_counted_like_a_local_push() {
        let entries = vec![
            file("app.js", "abc"),
            file("lib/a.js", "de"),
            link("a.js", "lib/a.js"),
            link("lib/up", ".."),
            link("dir", "lib"),
        ];
        let (entries, summary) = check_tree(entries, &CodeLimits::default()).unwrap();
        assert_eq!((entries.len(), summary.files, summary.bytes), (5, 2, 5));
    }

    #[test]
    fn what_a_directory_could_not_hold_is_refused() {
        let limits = CodeLimits::default();
        let twice = refused(vec![file("a.js", "1"), file("a.js", "2")], &limits);
        assert!(twice.contains("appears twice"), "{twice}");
        let clash = refused(vec![file("lib", "1"), file("lib/a.js", "2")], &limits);
        assert!(clash.contains("also a directory"), "{clash}");
        for bad in ["../x.js", "/etc/passwd", "a//b.js", "./a.js", ".paige-tmp"] {
            let said = refused(vec![file(bad, "1")], &limits);
            assert!(said.contains("invalid code path"), "{bad}: {said}");
        }
        let outside = refused(vec![file("a.js", "1"), link("l", "../a.js")], &limits);
        assert!(outside.contains("points outside"), "{outside}");
        let absolute = refused(vec![link("l", "/etc/passwd")], &limits);
        assert!(absolute.contains("absolute target"), "{absolute}");
        let dangling = refused(vec![link("l", "missing.js")], &limits);
        assert!(dangling.contains("does not resolve"), "{dangling}");
    }

    #[test]
    fn the_code_limits_apply() {
        let limits = CodeLimits {
            max_file_bytes: 4,
            max_total_bytes: 6,
            max_files: 2,
            ..CodeLimits::default()
        };
        assert!(refused(vec![file("a", "12345")], &limits).contains("at most 4 bytes"));
        assert!(refused(vec![file("a", "1234"), file("b", "123")], &limits).contains("larger than 6"));
        assert!(refused(vec![file("a", "1"), file("b", "1"), file("c", "1")], &limits).contains("more than 2 files"));
    }
}
