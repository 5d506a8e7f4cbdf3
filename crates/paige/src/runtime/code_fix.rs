//! The code guard's findings as `Paige` methods: list them, and "move into
//! Secrets" one of them (SPEC §1, "not in code").
//!
//! A fix never takes the value from the caller and never hands it back:
//! the server reads it again from the stored code at the finding's
//! position, stores it as a secret (unless it already is one) and rewrites
//! that occurrence to `process.env.NAME`, in one store transaction.

use paige_redact::Redactor;
use secrecy::ExposeSecret;

use super::code::CodeLimits;
use super::code_push::guard_entries;
use crate::Paige;
use crate::error::{Error, Result};
use crate::model::{Actor, CodeEntry, CodeFinding, CodeKind, NewCodeEntry, ProjectRecord, WriteOutcome};
use crate::secrets::guard_fix::{locate, rewrite};
use crate::secrets::rules::check_key;
use crate::store::CodeFix;

/// What a fix did.
#[derive(Debug, Clone)]
pub struct FixOutcome {
    pub file: String,
    pub line: i64,
    /// The key the code now reads.
    pub key: String,
    /// The secret's new version; `None` when the value already was the
    /// project's secret `key` and only the code changed.
    pub secret: Option<WriteOutcome>,
    /// The code revision the fix made.
    pub revision: i64,
    /// The findings left in the file.
    pub remaining: Vec<CodeFinding>,
}

impl Paige {
    /// The code guard's findings in the project's current code.
    pub async fn code_findings(&self, slug: &str) -> Result<Vec<CodeFinding>> {
        let project = self.project(slug).await?;
        self.store.code_findings(project.id).await
    }

    /// Moves the value of finding `id` into Secrets under `key` (or the
    /// finding's suggested key) and makes the code read it from
    /// `process.env`. All or nothing.
    pub async fn fix_code_finding(&self, slug: &str, id: i64, key: Option<&str>, actor: &Actor) -> Result<FixOutcome> {
        let project = self.project(slug).await?;
        let finding = self
            .store
            .code_findings(project.id)
            .await?
            .into_iter()
            .find(|f| f.id == id)
            .ok_or_else(|| Error::NotFound(format!("finding {id} in the code of {slug}")))?;
        let found = &finding.finding;
        let (entry, revision) = self.stored_file(&project, &found.file).await?;
        let text = String::from_utf8(entry.content)
            .map_err(|_| Error::invalid("unfixable_finding", format!("{} is not text any more", found.file)))?;
        let resolved = self.resolve(slug).await?;
        let project_value = found.key.as_ref().and_then(|k| {
            resolved
                .secrets
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.expose_secret().to_owned())
        });
        let range = locate(&text, found, project_value.as_deref())?;
        // The value may already be a secret of the project (a project
        // value, or a credential someone stored since): then only the code
        // changes, and it reads that key.
        let existing = resolved
            .secrets
            .iter()
            .find(|(_, v)| v.expose_secret().as_bytes() == text[range.clone()].as_bytes())
            .map(|(name, _)| name.clone())
            .or_else(|| found.key.clone());
        let name = match (&existing, key) {
            (Some(existing), Some(asked)) if asked != existing => {
                return Err(Error::invalid(
                    "invalid_key",
                    format!("that value already is the secret {existing}; the code will read it, so leave out the key"),
                ));
            }
            (Some(existing), _) => existing.clone(),
            (None, asked) => asked.unwrap_or(&found.suggested_key).to_owned(),
        };
        check_key(&name)?;
        let rewritten = rewrite(&text, range, &name, found)?;
        let secret = match existing {
            Some(_) => None,
            None => {
                if resolved.secrets.iter().any(|(k, _)| *k == name) {
                    return Err(Error::Conflict(format!(
                        "the secret {name} already holds another value; choose another key (--key)"
                    )));
                }
                Some(self.secret_write(&project, &name, &rewritten.value).await?)
            }
        };
        // The findings of the new content, with the new value among the
        // project's.
        let mut pairs: Vec<(&str, &[u8])> = resolved
            .secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret().as_bytes()))
            .collect();
        if secret.is_some() {
            pairs.push((name.as_str(), rewritten.value.expose_secret().as_bytes()));
        }
        let redactor = Redactor::new(&pairs);
        let keys = resolved.names();
        let path = found.file.clone();
        let code = rewritten.code.into_bytes();
        let (file, findings) = tokio::task::spawn_blocking(move || {
            let file = NewCodeEntry::new(CodeEntry {
                path,
                kind: CodeKind::File,
                content: code,
            });
            let (findings, _) = guard_entries(std::slice::from_ref(&file), &redactor, &keys)?;
            Ok::<_, Error>((file, findings))
        })
        .await
        .map_err(|e| Error::internal(format!("the code guard stopped: {e}")))??;
        let fix = CodeFix {
            expected_revision: revision,
            file,
            findings,
            secret,
            keep: self.config.secret_versions,
            detail: format!("{}:{} moved into Secrets as {name}", found.file, found.line),
        };
        let fixed = self
            .store
            .fix_code(project.id, fix, &CodeLimits::default(), actor)
            .await?;
        Ok(FixOutcome {
            file: found.file.clone(),
            line: found.line,
            key: name,
            secret: fixed.secret,
            revision: fixed.changed.revision.revision,
            remaining: fixed.changed.findings,
        })
    }

    /// One file of the project's stored code, and the revision it was read at.
    async fn stored_file(&self, project: &ProjectRecord, path: &str) -> Result<(CodeEntry, i64)> {
        let (sink, mut entries) = tokio::sync::mpsc::channel::<CodeEntry>(16);
        let wanted = path.to_owned();
        let pick = async move {
            let mut found = None;
            while let Some(entry) = entries.recv().await {
                if entry.path == wanted && entry.kind == CodeKind::File {
                    found = Some(entry);
                }
            }
            found
        };
        let (revision, found) = tokio::join!(self.store.read_code(project.id, sink), pick);
        match (revision?, found) {
            (Some(revision), Some(entry)) => Ok((entry, revision.revision)),
            _ => Err(Error::NotFound(format!("{path} in the code of {}", project.slug))),
        }
    }
}
