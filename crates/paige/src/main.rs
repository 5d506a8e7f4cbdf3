//! The `paige` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Before paige opens anything: the descriptors it was given, made
    // close-on-exec; any left inheritable are found, so that no bot gets them.
    paige::hardening::close_inherited_on_exec();
    let _ = paige::runtime::bwrap::inherited_fds();
    if let Err(e) = paige::hardening::harden_process() {
        eprintln!("warning: could not disable core dumps and memory access: {e}");
    }
    let cli = paige::cli::parse();
    paige::cli::run(cli)
}
