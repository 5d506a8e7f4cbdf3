//! The `paige` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Before paige opens anything: the descriptors it was given, made
    // close-on-exec (any left inheritable are found when the first sandbox
    // starts: see `runtime::bwrap::inherited_fds`).
    paige::hardening::close_inherited_on_exec();
    if let Err(e) = paige::hardening::harden_process() {
        eprintln!("warning: could not disable core dumps and memory access: {e}");
    }
    let cli = paige::cli::parse();
    paige::cli::run(cli)
}
