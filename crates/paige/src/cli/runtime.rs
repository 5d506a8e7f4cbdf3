//! `paige code push` and `paige run`: the runtime's commands.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::Paige;
use crate::error::{Error, Result};
use crate::store::Actor;

#[derive(Debug, Subcommand)]
pub enum CodeCommand {
    /// Replace the project's whole bot code tree with the contents of DIR.
    Push { slug: String, dir: PathBuf },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub slug: String,
    /// A JSON file whose contents are the event handed to the command on stdin.
    #[arg(long)]
    pub event: Option<PathBuf>,
    /// The command to run, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub async fn code(_paige: &Paige, _command: CodeCommand, _actor: &Actor) -> Result<()> {
    Err(Error::invalid("not_built", "bot code is not built yet"))
}

pub async fn run(_paige: &Paige, _args: RunArgs, _actor: &Actor) -> Result<()> {
    Err(Error::invalid("not_built", "executions are not built yet"))
}
