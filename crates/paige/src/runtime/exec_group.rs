//! One execution's limits in force: its cgroup(s) on this machine's
//! [`Backend`], or the rlimits that stand in for them; the counters that
//! say a limit was reached; and killing what is left in a group. Which
//! backend applies, and the limits themselves, are `limits.rs`'s.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Resource, Rlimit, Signal, prlimit};

use super::limits::{Backend, LimitHit, ResourceLimits, make_group_dir, write};

/// One execution's cgroup(s); removed by [`ExecGroup::remove`].
#[derive(Debug)]
pub struct ExecGroup {
    limits: ResourceLimits,
    kind: GroupKind,
}

#[derive(Debug)]
enum GroupKind {
    V2 {
        dir: PathBuf,
    },
    /// `home_*`: paige's own groups, where a thread returns after
    /// [`ExecGroup::start_inside`].
    V1 {
        pids: PathBuf,
        memory: PathBuf,
        home_pids: PathBuf,
        home_memory: PathBuf,
    },
    Rlimits,
}

/// The most processes a v1 group holds beyond the sandbox's own: the
/// outer `bwrap`, born there by [`ExecGroup::start_inside`].
const V1_OUTER_PROCESSES: u32 = 1;

impl ExecGroup {
    /// Creates the execution's group(s) and writes their limits. With the
    /// rlimit backend, nothing happens until [`ExecGroup::attach`].
    pub fn create(backend: &Backend, name: &str, limits: ResourceLimits) -> io::Result<Self> {
        let kind = match backend {
            Backend::CgroupV2 { base } => {
                let dir = base.join(name);
                make_group_dir(&dir)?;
                let group = Self {
                    limits,
                    kind: GroupKind::V2 { dir: dir.clone() },
                };
                write(&dir, "pids.max", &limits.max_processes.to_string())?;
                write(&dir, "memory.max", &limits.memory_bytes.to_string())?;
                // Optional files: no swap where there is swap accounting, and
                // an OOM kill takes the whole group (one clear end).
                let _ = write(&dir, "memory.swap.max", "0");
                let _ = write(&dir, "memory.oom.group", "1");
                return Ok(group);
            }
            Backend::CgroupV1 { pids, memory } => GroupKind::V1 {
                pids: pids.join(name),
                memory: memory.join(name),
                home_pids: home(pids)?,
                home_memory: home(memory)?,
            },
            Backend::Rlimits { .. } => GroupKind::Rlimits,
        };
        let group = Self { limits, kind };
        if let GroupKind::V1 { pids, memory, .. } = &group.kind {
            make_group_dir(pids)?;
            make_group_dir(memory)?;
            let most = limits.max_processes.saturating_add(V1_OUTER_PROCESSES);
            write(pids, "pids.max", &most.to_string())?;
            write(memory, "memory.limit_in_bytes", &limits.memory_bytes.to_string())?;
            // Present with swap accounting; must not be below the memory limit.
            let _ = write(memory, "memory.memsw.limit_in_bytes", &limits.memory_bytes.to_string());
        }
        Ok(group)
    }

    pub fn limits(&self) -> ResourceLimits {
        self.limits
    }

    /// True when a sandbox is started with [`ExecGroup::start_inside`]
    /// rather than moved in by [`ExecGroup::attach`].
    pub fn starts_inside(backend: &Backend) -> bool {
        matches!(backend, Backend::CgroupV1 { .. })
    }

    /// cgroup v1: runs `start` (which starts a process) with the calling
    /// thread alone in the group, so the process is born in it, then
    /// moves the thread back home. Why not start it and move it in, as
    /// on v2: moving a process (`cgroup.procs`) takes the kernel's global
    /// threadgroup lock, whose write side waits for an RCU grace period
    /// (measured 5 to 15 ms per move here), while a thread moving itself
    /// (`0` into `tasks`) skips that lock (0.06 ms). `start` must not
    /// yield: nothing else may run on the thread meanwhile. On another
    /// backend, `start` just runs. If the thread cannot go home, the
    /// started process is dropped (its handle kills it) with the error.
    pub fn start_inside<T>(&self, start: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let GroupKind::V1 {
            pids,
            memory,
            home_pids,
            home_memory,
        } = &self.kind
        else {
            return start();
        };
        let go_home = || {
            let pids_home = write(home_pids, "tasks", "0");
            write(home_memory, "tasks", "0").and(pids_home)
        };
        if let Err(e) = write(pids, "tasks", "0").and_then(|()| write(memory, "tasks", "0")) {
            go_home()?;
            return Err(e);
        }
        let started = start();
        go_home()?;
        started
    }

    /// Puts a process (not yet running the bot) in the group, and sets
    /// the rlimits its descendants inherit. On cgroup v1, the process is
    /// already in ([`ExecGroup::start_inside`]).
    pub fn attach(&self, pid: u32) -> io::Result<()> {
        match &self.kind {
            GroupKind::V2 { dir } => write(dir, "cgroup.procs", &pid.to_string())?,
            GroupKind::V1 { .. } => {}
            GroupKind::Rlimits => {
                set_rlimit(pid, Resource::Nproc, u64::from(self.limits.max_processes))?;
                set_rlimit(pid, Resource::Data, self.limits.memory_bytes)?;
            }
        }
        // Soft limit: SIGXCPU; a second later the hard limit's SIGKILL.
        let cpu = self.limits.cpu_time.as_secs().max(1);
        let target = to_pid(pid)?;
        prlimit(
            Some(target),
            Resource::Cpu,
            Rlimit {
                current: Some(cpu),
                maximum: Some(cpu + 1),
            },
        )?;
        Ok(())
    }

    /// The limit the group has reached, if any (read from its counters;
    /// the rlimit backend has none, its limits show as the bot's own errors).
    pub fn limit_hit(&self) -> Option<LimitHit> {
        let (pids_dir, memory_dir, v2) = match &self.kind {
            GroupKind::V2 { dir } => (dir.as_path(), dir.as_path(), true),
            GroupKind::V1 { pids, memory, .. } => (pids.as_path(), memory.as_path(), false),
            GroupKind::Rlimits => return None,
        };
        let memory_hit = if v2 {
            counter(&memory_dir.join("memory.events"), "oom_kill").unwrap_or(0) > 0
                || counter(&memory_dir.join("memory.events"), "oom").unwrap_or(0) > 0
        } else {
            let file = memory_dir.join("memory.oom_control");
            counter(&file, "oom_kill").unwrap_or(0) > 0 || counter(&file, "under_oom").unwrap_or(0) > 0
        };
        if memory_hit {
            return Some(LimitHit::Memory(self.limits.memory_bytes));
        }
        if counter(&pids_dir.join("pids.events"), "max").unwrap_or(0) > 0 {
            return Some(LimitHit::Processes(self.limits.max_processes));
        }
        None
    }

    /// SIGKILL to every process in the group (the sandbox's pid namespace
    /// normally takes them all with it; this is for what it cannot).
    pub fn kill_all(&self) {
        match &self.kind {
            GroupKind::V2 { dir } => {
                if write(dir, "cgroup.kill", "1").is_err() {
                    kill_listed(&dir.join("cgroup.procs"));
                }
            }
            GroupKind::V1 { pids, .. } => kill_listed(&pids.join("cgroup.procs")),
            GroupKind::Rlimits => {}
        }
    }

    /// True once no process is left in the group.
    pub fn is_empty(&self) -> bool {
        let procs = match &self.kind {
            GroupKind::V2 { dir } => dir.join("cgroup.procs"),
            GroupKind::V1 { pids, .. } => pids.join("cgroup.procs"),
            GroupKind::Rlimits => return true,
        };
        fs::read_to_string(procs).map_or(true, |text| text.trim().is_empty())
    }

    /// Kills what is left, waits up to `within` for it to go, and removes
    /// the group(s). Blocking. A group that cannot be removed yet (a
    /// process still exiting) is left to the stale sweep of the next start.
    pub fn remove(self, within: Duration) -> io::Result<()> {
        if matches!(self.kind, GroupKind::Rlimits) {
            return Ok(());
        }
        let deadline = Instant::now() + within;
        let mut killed = false;
        while !self.is_empty() {
            if !killed {
                self.kill_all();
                killed = true;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let dirs: Vec<&Path> = match &self.kind {
            GroupKind::V2 { dir } => vec![dir],
            GroupKind::V1 { pids, memory, .. } => vec![pids, memory],
            GroupKind::Rlimits => vec![],
        };
        let mut result = Ok(());
        for dir in dirs {
            if let Err(e) = remove_group_dir(dir, deadline, || {}) {
                result = Err(e);
            }
        }
        result
    }

    /// The group's directories (for tests and diagnostics).
    pub fn dirs(&self) -> Vec<PathBuf> {
        match &self.kind {
            GroupKind::V2 { dir } => vec![dir.clone()],
            GroupKind::V1 { pids, memory, .. } => vec![pids.clone(), memory.clone()],
            GroupKind::Rlimits => vec![],
        }
    }
}

/// Paige's own cgroup, the parent of its `paige-PID` base.
fn home(base: &Path) -> io::Result<PathBuf> {
    base.parent().map(Path::to_path_buf).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no parent cgroup", base.display()),
        )
    })
}

fn to_pid(pid: u32) -> io::Result<Pid> {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("no such process id {pid}")))
}

fn set_rlimit(pid: u32, resource: Resource, value: u64) -> io::Result<()> {
    prlimit(
        Some(to_pid(pid)?),
        resource,
        Rlimit {
            current: Some(value),
            maximum: Some(value),
        },
    )?;
    Ok(())
}

/// The value of `name` in a flat-keyed file ("name value" lines).
fn counter(file: &Path, name: &str) -> Option<u64> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok())?
    })
}

/// SIGKILL to each process listed in a `cgroup.procs`, through a pidfd
/// (a pid reused since the read is never signalled).
fn kill_listed(procs: &Path) {
    let Ok(text) = fs::read_to_string(procs) else { return };
    for pid in text.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
        if let Ok(target) = to_pid(pid)
            && let Ok(fd) = rustix::process::pidfd_open(target, rustix::process::PidfdFlags::empty())
        {
            let _ = rustix::process::pidfd_send_signal(&fd, Signal::KILL);
        }
    }
}

/// Removes the group at `dir`, which no running paige owns any more,
/// after killing whatever is left in it: a sandbox whose paige was killed
/// while it started (`bwrap` can then wait for ever, outside its parent's
/// reach) must not run on, nor keep its group. Gives up after `within`
/// (a later paige tries again).
pub(super) fn remove_orphaned(dir: &Path, within: Duration) -> io::Result<()> {
    let procs = dir.join("cgroup.procs");
    remove_group_dir(dir, Instant::now() + within, || kill_listed(&procs))
}

/// Removes the group directory `dir` (gone already counts), trying again
/// until `deadline` while it is busy: a process still on its way out, or
/// the memory group lagging the pids group by a moment. `before_each`
/// runs before every try.
fn remove_group_dir(dir: &Path, deadline: Instant, before_each: impl Fn()) -> io::Result<()> {
    loop {
        before_each();
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("memory.oom_control");
        fs::write(&file, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n").unwrap();
        assert_eq!(counter(&file, "oom_kill"), Some(2));
        assert_eq!(counter(&file, "under_oom"), Some(0));
        assert_eq!(counter(&file, "oom"), None);
    }
}
