//! `paige code push` to a server: the tree is read and checked here with
//! the same rules as a local push, then written file by file through the
//! API, with a progress bar on a terminal.

use std::path::Path;

use super::failure::{Class, CliError, CliResult};
use super::remote::Client;
use super::views::CodePushed;
use crate::model::CodeKind;
use crate::runtime::CodeLimits;
use crate::runtime::code::collect_blocking;

pub async fn push_remote(
    client: &Client,
    slug: &str,
    dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> CliResult<CodePushed> {
    let source = dir.to_path_buf();
    let (entries, _) = tokio::task::spawn_blocking(move || collect_blocking(&source, &CodeLimits::default()))
        .await
        .map_err(|e| CliError::new(Class::Failure, format!("reading the code stopped: {e}")))??;
    let files: Vec<_> = entries
        .into_iter()
        .map(|e| e.entry)
        .filter(|e| e.kind == CodeKind::File)
        .collect();
    let total: u64 = files.iter().map(|f| f.content.len() as u64).sum();
    let mut sent = 0;
    let mut last = None;
    let mut warnings = Vec::new();
    progress(0, total);
    for file in files {
        sent += file.content.len() as u64;
        let answer = client.put_code_file(slug, &file.path, file.content).await?;
        if let Some(found) = answer["warnings"].as_array() {
            warnings.extend(found.iter().cloned());
        }
        last = Some(answer);
        progress(sent, total);
    }
    let last = last.ok_or_else(|| CliError::usage(format!("{} has no files to push", dir.display())))?;
    Ok(CodePushed {
        files: usize::try_from(last["files"].as_u64().unwrap_or_default()).unwrap_or(usize::MAX),
        bytes: last["bytes"].as_u64().unwrap_or_default(),
        warnings,
        skipped: None,
        skipped_notice: None,
    })
}
