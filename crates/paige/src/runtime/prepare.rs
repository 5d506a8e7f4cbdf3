//! The prepare step: what an execution needs before anything is recorded
//! or started. The code to run (leased), the command line, and the one
//! read of the project's secrets (the redactor is built from it once the
//! execution is recorded, while the bot starts: `execution.rs`).
//!
//! Nothing here is tied to one process's lifetime, so a bot process that
//! serves many requests can be prepared once in the same way.

use std::path::PathBuf;

use super::code_cache::CodeTree;
use super::timing::Phases;
use super::{ENTRY_POINT, ExecutionRequest};
use crate::Paige;
use crate::error::{Error, Result};
use crate::model::ProjectRecord;
use crate::secrets::Resolved;

/// Everything needed to start the bot.
#[derive(Debug)]
pub(super) struct Prepared {
    /// Program and arguments (the program is looked up in the platform
    /// `PATH`).
    pub argv: Vec<String>,
    /// `None`: the execution's fresh home.
    pub workdir: Option<PathBuf>,
    /// This node's copy of the project's code, leased for as long as this
    /// is kept (a build removes only trees nobody leases).
    pub code: Option<CodeTree>,
    /// The one read of the secrets for this execution: an overwrite takes
    /// effect on the next execution, and none sees a mix. The redactor
    /// is built from it once the execution is recorded (`execution.rs`).
    pub secrets: Resolved,
}

/// What the prepare step found.
#[derive(Debug)]
pub(super) enum Preparation {
    Ready(Prepared),
    /// The project has no entry point to run: recorded as a failed
    /// execution that never started (and never read the secrets).
    NoEntryPoint {
        argv: Vec<String>,
        error: String,
    },
}

impl Prepared {
    /// The names of the secrets, sorted: what the records and the audit show.
    pub(super) fn secret_names(&self) -> Vec<String> {
        self.secrets.names()
    }
}

impl Paige {
    /// Leases the code, works out the command line and reads the secrets.
    /// `Err` is for an empty command, an unknown project or a store failure.
    pub(super) async fn prepare_execution(
        &self,
        project: &ProjectRecord,
        request: &ExecutionRequest,
        phases: &mut Phases,
    ) -> Result<Preparation> {
        if request.command.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::invalid("empty_command", "the command to run is empty"));
        }
        // This node's copy of the current code, leased until the end of
        // the execution (an explicit command with its own workdir needs none).
        let code = if request.command.is_none() || request.workdir.is_none() {
            self.code_tree(project).await?
        } else {
            None
        };
        phases.mark("code");
        let live_tree = code.as_ref().map(|t| t.path.clone());
        let (argv, workdir) = match &request.command {
            Some(argv) => (argv.clone(), request.workdir.clone().or(live_tree)),
            None => {
                let argv = vec!["node".to_owned(), ENTRY_POINT.to_owned()];
                match live_tree {
                    Some(tree) if tree.join(ENTRY_POINT).is_file() => {
                        (argv, Some(request.workdir.clone().unwrap_or(tree)))
                    }
                    _ => {
                        let error = format!(
                            "the project has no entry point: {ENTRY_POINT} is missing from its code \
                             (push the bot code with `paige code push {} DIR`)",
                            project.slug
                        );
                        return Ok(Preparation::NoEntryPoint { argv, error });
                    }
                }
            }
        };

        let secrets = self.resolve(&project.slug).await?;
        phases.mark("resolve");
        if secrets.project_id != project.id {
            return Err(Error::NotFound(format!("project {}", project.slug)));
        }
        Ok(Preparation::Ready(Prepared {
            argv,
            workdir,
            code,
            secrets,
        }))
    }
}
