//! The `paige` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    if let Err(e) = paige::hardening::harden_process() {
        eprintln!("warning: could not disable core dumps and memory access: {e}");
    }
    let cli = paige::cli::Cli::parse();
    paige::cli::run(cli)
}
