//! Process hardening applied before any key or value is in memory.

use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};

/// Turns core dumps off for this process and the bots it starts (a dump
/// would write decrypted keys and values to disk), and marks this process
/// not dumpable, so other processes of the same user — the bots included —
/// cannot read its memory or `/proc/<pid>/environ` or attach a debugger.
/// Bots get their own dumpable flag back when they exec.
///
/// Failure is reported, not fatal (some sandboxes forbid these calls).
pub fn harden_process() -> std::io::Result<()> {
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use rustix::process::{DumpableBehavior, Resource, dumpable_behavior, getrlimit};

    #[test]
    fn core_dumps_are_off_and_the_process_is_not_dumpable_afterwards() {
        super::harden_process().unwrap();
        let limit = getrlimit(Resource::Core);
        assert_eq!((limit.current, limit.maximum), (Some(0), Some(0)));
        assert_eq!(dumpable_behavior().unwrap(), DumpableBehavior::NotDumpable);
    }
}
