//! Process hardening applied before any key or value is in memory.

use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
use rustix::thread::set_no_new_privs;

/// Turns core dumps off for this process and the bots it starts (a dump
/// would write decrypted keys and values to disk), and marks this process
/// not dumpable, so other processes of the same user — the bots included —
/// cannot read its memory or `/proc/<pid>/environ` or attach a debugger.
/// Bots get their own dumpable flag back when they exec.
///
/// It also sets `no_new_privs`, which every thread and child inherits and
/// nobody can clear: a bot that runs as its project's unprivileged user
/// cannot become root again through a set-user-id program (`su`, `sudo`,
/// or a flawed one like pkexec's CVE-2021-4034) or a file capability.
/// Paige itself never needs to gain privileges by `exec`. Call it before
/// any other thread exists (the flag is per thread, inherited on creation).
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
    set_no_new_privs(true)?;
    Ok(())
}

/// Marks every descriptor from 3 up close-on-exec. Paige opens its own
/// close-on-exec, so these are the ones whatever started it left open
/// (a shell's, a supervisor's): no child needs them, and no bot may get
/// them. Done first thing, while paige is one thread; without it, each
/// sandbox would close them in a shell in front of the bot (see
/// `runtime::bwrap::inherited_fds`), two more `exec`s per execution.
pub fn close_inherited_on_exec() {
    close_fds::set_fds_cloexec(3, &[]);
}

#[cfg(test)]
mod tests {
    use rustix::process::{DumpableBehavior, Resource, dumpable_behavior, getrlimit};
    use rustix::thread::no_new_privs;

    #[test]
    fn core_dumps_are_off_and_the_process_is_not_dumpable_afterwards() {
        // In a thread of its own: no_new_privs stays with the thread (and
        // what it starts), not with the other tests.
        std::thread::spawn(|| {
            super::harden_process().unwrap();
            let limit = getrlimit(Resource::Core);
            assert_eq!((limit.current, limit.maximum), (Some(0), Some(0)));
            assert_eq!(dumpable_behavior().unwrap(), DumpableBehavior::NotDumpable);
            assert!(no_new_privs().unwrap());
        })
        .join()
        .unwrap();
    }
}
