//! The `paige` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = paige::cli::Cli::parse();
    paige::cli::run(cli)
}
