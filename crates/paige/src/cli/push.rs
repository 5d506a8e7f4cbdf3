//! `paige code push` to a server: the tree is read and checked here with
//! the same rules as a local push (so a bad tree fails before anything is
//! sent), then sent whole in one `PUT /api/v1/projects/{slug}/code`, which
//! replaces the stored tree in one transaction exactly like a local push:
//! files gone from the directory are removed, a refusal changes nothing.
//!
//! The progress bar follows the request being built (each file read into
//! it) and completes when the server has answered: reqwest's streaming
//! bodies, which would let it follow the bytes on the wire, need a feature
//! this build does not enable.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;

use super::failure::{Class, CliError, CliResult};
use super::remote::Client;
use super::views::{CodePushed, SkippedView};
use crate::model::CodeKind;
use crate::runtime::CodeLimits;
use crate::runtime::code::{Skipped, collect_blocking};

/// A whole tree may be 100 MB; its upload gets longer than an ordinary
/// request.
const PUSH_TIMEOUT: Duration = Duration::from_secs(600);

pub async fn push_remote(
    client: &Client,
    slug: &str,
    dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> CliResult<CodePushed> {
    let source = dir.to_path_buf();
    let (entries, summary) = tokio::task::spawn_blocking(move || collect_blocking(&source, &CodeLimits::default()))
        .await
        .map_err(|e| CliError::new(Class::Failure, format!("reading the code stopped: {e}")))??;
    // Everything counted in bytes of content, links as their targets.
    let total: u64 = entries.iter().map(|e| e.entry.content.len() as u64).sum::<u64>() + 1;
    progress(0, total);
    let mut body = Vec::with_capacity(entries.len());
    let mut built = 0;
    for new in entries {
        let entry = new.entry;
        built += entry.content.len() as u64;
        body.push(serde_json::json!({
            "path": entry.path,
            "kind": match entry.kind {
                CodeKind::File => "file",
                CodeKind::Symlink => "symlink",
            },
            "content": STANDARD.encode(&entry.content),
        }));
        progress(built, total);
    }
    let request = client
        .request(
            Method::PUT,
            &format!("/api/v1/projects/{}/code", super::remote::segment(slug)),
        )
        .timeout(PUSH_TIMEOUT)
        .json(&serde_json::json!({ "entries": body }));
    let response = client.send_streaming(request).await?;
    let answer: serde_json::Value = client.decode(response).await?;
    progress(total, total);
    let count =
        |name: &str| usize::try_from(answer["skipped"][name].as_u64().unwrap_or_default()).unwrap_or(usize::MAX);
    let skips = Skipped {
        vendored: count("node_modules"),
        binary: count("binary"),
    };
    Ok(CodePushed {
        files: usize::try_from(answer["files"].as_u64().unwrap_or(summary.files as u64)).unwrap_or(usize::MAX),
        bytes: answer["bytes"].as_u64().unwrap_or(summary.bytes),
        warnings: answer["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(local_shape)
            .collect(),
        skipped: SkippedView::of(skips),
    })
}

/// A warning as the local push prints it: the API leaves out an absent
/// `key` or `fingerprint`, the local `--json` has them as `null`.
fn local_shape(warning: &serde_json::Value) -> serde_json::Value {
    let mut warning = warning.clone();
    if let Some(fields) = warning.as_object_mut() {
        for name in ["key", "fingerprint"] {
            fields.entry(name).or_insert(serde_json::Value::Null);
        }
    }
    warning
}
