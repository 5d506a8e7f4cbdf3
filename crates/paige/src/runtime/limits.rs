//! Resource limits of one execution: process count, memory, CPU time and
//! the size of its private tmpfs.
//!
//! Where the machine gives a writable cgroup hierarchy, each execution gets
//! a cgroup of its own below paige's (`<own cgroup>/paige-<pid>/exec-…`):
//!
//! - cgroup v2 with the `pids` and `memory` controllers available: `pids.max`,
//!   `memory.max` (no swap, the whole group killed on OOM);
//! - cgroup v1 with writable `pids` and `memory` hierarchies: `pids.max`,
//!   `memory.limit_in_bytes` (and the same for memory plus swap).
//!
//! Otherwise rlimits stand in, set on the sandbox's first process before it
//! starts the bot, and inherited by all it starts: `RLIMIT_NPROC` (counted
//! per user namespace on kernels from 5.14, so per sandbox) and
//! `RLIMIT_DATA` (per process; `RLIMIT_AS` would stop Node at start, as V8
//! reserves gigabytes of address space it never uses). `RLIMIT_CPU` (per
//! process) applies in every case. The tmpfs size is a mount option (see
//! `bwrap`), the same everywhere.
//!
//! A limit reached ends the execution: `ExecGroup::limit_hit`
//! (`exec_group.rs`) reads the
//! controllers' event counters (`pids.events`, `memory.events`, v1's
//! `memory.oom_control`), and the runtime kills the sandbox when one moves.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

// The limits are configuration; what they mean on this machine is below.
pub use crate::config::{
    DEFAULT_CPU_TIME, DEFAULT_MAX_PROCESSES, DEFAULT_MEMORY_BYTES, DEFAULT_TMPFS_BYTES, ResourceLimits,
};

/// "256 MiB", "1.5 GiB", "512 KiB", "100 bytes".
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            return if bytes.is_multiple_of(size) {
                format!("{} {unit}", bytes / size)
            } else {
                #[allow(clippy::cast_precision_loss, reason = "a rounded figure for people")]
                let value = bytes as f64 / size as f64;
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{bytes} bytes")
}

/// Which limit an execution reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Processes(u32),
    Memory(u64),
    CpuTime(Duration),
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Processes(n) => write!(f, "process limit ({n}) reached"),
            Self::Memory(bytes) => write!(f, "memory limit ({}) reached", format_bytes(*bytes)),
            Self::CpuTime(d) => write!(f, "CPU time limit ({} s per process) reached", d.as_secs()),
        }
    }
}

/// How limits are enforced on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Executions' cgroups go below this directory (paige's own cgroup v2
    /// plus `paige-<pid>`), whose `pids` and `memory` controllers are on.
    CgroupV2 { base: PathBuf },
    /// The same below paige's own groups of the v1 `pids` and `memory` hierarchies.
    CgroupV1 { pids: PathBuf, memory: PathBuf },
    /// No writable cgroups: rlimits only.
    Rlimits { why: String },
}

/// This process's backend, found once ([`Backend::detect`]).
static BACKEND: OnceLock<Backend> = OnceLock::new();

impl Backend {
    /// One line for the operator (printed at `serve` start).
    pub fn describe(&self) -> String {
        match self {
            Self::CgroupV2 { base } => format!(
                "cgroup v2 (pids, memory) below {}; CPU time by rlimit, per process",
                base.display()
            ),
            Self::CgroupV1 { pids, memory } => format!(
                "cgroup v1 (pids below {}, memory below {}); CPU time by rlimit, per process",
                pids.display(),
                memory.display()
            ),
            Self::Rlimits { why } => format!(
                "rlimits only ({why}): processes by RLIMIT_NPROC (per sandbox), memory by RLIMIT_DATA \
                 (per process, so a bot of several processes may use more in all), CPU time by RLIMIT_CPU"
            ),
        }
    }

    /// What the machine gives, found once per process (later calls return
    /// the first answer).
    pub fn detect() -> &'static Backend {
        BACKEND.get_or_init(|| {
            let backend = Self::probe(Path::new("/proc/self"));
            if !matches!(backend, Self::Rlimits { .. }) {
                remove_stale_groups(&backend);
            }
            backend
        })
    }

    /// True once [`Backend::detect`] has found it.
    pub fn detected() -> bool {
        BACKEND.get().is_some()
    }

    /// Detection, from the `cgroup` and `mountinfo` files of `proc_self`.
    fn probe(proc_self: &Path) -> Backend {
        let (Ok(cgroups), Ok(mounts)) = (
            fs::read_to_string(proc_self.join("cgroup")),
            fs::read_to_string(proc_self.join("mountinfo")),
        ) else {
            return Self::Rlimits {
                why: "/proc/self/cgroup is not readable".into(),
            };
        };
        let mounts = CgroupMounts::parse(&mounts);
        let memberships = Membership::parse(&cgroups);
        let base_name = format!("paige-{}", std::process::id());
        let mut v1_problem = None;
        // v1 first: on a hybrid machine (like this one's), the controllers
        // are there and the v2 tree has none.
        if let (Some(pids_mount), Some(memory_mount)) = (mounts.v1("pids"), mounts.v1("memory")) {
            let pids_own = memberships.iter().find(|m| m.controllers.iter().any(|c| c == "pids"));
            let memory_own = memberships.iter().find(|m| m.controllers.iter().any(|c| c == "memory"));
            if let (Some(p), Some(m)) = (pids_own, memory_own) {
                let pids = join_cgroup(pids_mount, &p.path).join(&base_name);
                let memory = join_cgroup(memory_mount, &m.path).join(&base_name);
                match make_group_dir(&pids).and_then(|()| make_group_dir(&memory)) {
                    Ok(()) => return Self::CgroupV1 { pids, memory },
                    Err(e) => {
                        let _ = fs::remove_dir(&pids);
                        v1_problem = Some(format!("cgroup v1 is not writable: {e}"));
                    }
                }
            }
        }
        if let (Some(mount), Some(own)) = (mounts.v2(), memberships.iter().find(|m| m.hierarchy == "0")) {
            let own_dir = join_cgroup(mount, &own.path);
            match v2_base(&own_dir, &base_name) {
                Ok(base) => return Self::CgroupV2 { base },
                Err(e) if v1_problem.is_none() => v1_problem = Some(e),
                Err(_) => {}
            }
        }
        Self::Rlimits {
            why: v1_problem.unwrap_or_else(|| "no writable cgroup with the pids and memory controllers".into()),
        }
    }
}

/// A cgroup path from `/proc/self/cgroup` below its mount point.
fn join_cgroup(mount: &Path, path: &str) -> PathBuf {
    mount.join(path.trim_start_matches('/'))
}

pub(super) fn make_group_dir(path: &Path) -> io::Result<()> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot create {}: {e}", path.display()),
        )),
    }
}

/// Readies `<own>/<base_name>` with the pids and memory controllers on
/// for its children. A cgroup with processes cannot hand controllers to
/// children ("no internal processes"), so when paige's own group is not
/// ready for that, paige first moves itself into a leaf `<own>/paige-main`.
fn v2_base(own: &Path, base_name: &str) -> Result<PathBuf, String> {
    let has = |dir: &Path, file: &str| {
        fs::read_to_string(dir.join(file)).is_ok_and(|text| {
            let words: Vec<&str> = text.split_whitespace().collect();
            words.contains(&"pids") && words.contains(&"memory")
        })
    };
    if !has(own, "cgroup.controllers") {
        return Err("cgroup v2 has no pids and memory controllers for paige's cgroup".into());
    }
    if !has(own, "cgroup.subtree_control") {
        let enable = |dir: &Path| fs::write(dir.join("cgroup.subtree_control"), "+pids +memory");
        if let Err(first) = enable(own) {
            // Busy with paige's own processes: move them to a leaf, retry.
            let leaf = own.join("paige-main");
            make_group_dir(&leaf).map_err(|e| e.to_string())?;
            fs::write(leaf.join("cgroup.procs"), std::process::id().to_string())
                .map_err(|e| format!("cgroup v2: cannot enable controllers ({first}) nor move paige to a leaf: {e}"))?;
            enable(own).map_err(|e| format!("cgroup v2: cannot enable the pids and memory controllers: {e}"))?;
        }
    }
    let base = own.join(base_name);
    make_group_dir(&base).map_err(|e| e.to_string())?;
    if let Err(e) = fs::write(base.join("cgroup.subtree_control"), "+pids +memory") {
        let _ = fs::remove_dir(&base);
        return Err(format!(
            "cgroup v2: cannot enable controllers below {}: {e}",
            base.display()
        ));
    }
    Ok(base)
}

/// How long the removal of a dead paige's group waits for what it killed
/// there to exit.
const ORPHANS_GONE_WITHIN: Duration = Duration::from_millis(500);

/// Groups left by a paige that is gone (crash, `kill -9`). Their
/// processes nearly always died with their sandboxes (`--die-with-parent`),
/// but a `bwrap` whose paige was killed while it started can wait for
/// ever on its own child: whatever is left is killed, then the group goes.
fn remove_stale_groups(backend: &Backend) {
    let bases: Vec<&Path> = match backend {
        Backend::CgroupV2 { base } => vec![base],
        Backend::CgroupV1 { pids, memory } => vec![pids, memory],
        Backend::Rlimits { .. } => return,
    };
    for base in bases {
        let Some(parent) = base.parent() else { continue };
        let Ok(entries) = fs::read_dir(parent) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix("paige-"))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            // Gone means no process with that pid in this /proc: the groups
            // below one parent are made by paige processes of one machine
            // (or container), which share the PID namespace. A pid reused
            // since leaves the group for a later paige: never a live one's.
            if pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists() {
                continue;
            }
            if let Ok(children) = fs::read_dir(entry.path()) {
                for child in children.flatten() {
                    if child.path().is_dir() {
                        let _ = super::exec_group::remove_orphaned(&child.path(), ORPHANS_GONE_WITHIN);
                    }
                }
            }
            let _ = fs::remove_dir(entry.path());
        }
    }
}

/// The cgroup mounts of `/proc/self/mountinfo`.
#[derive(Debug, Default)]
struct CgroupMounts {
    v1: Vec<(PathBuf, Vec<String>)>,
    v2: Option<PathBuf>,
}

impl CgroupMounts {
    fn parse(mountinfo: &str) -> Self {
        let mut mounts = Self::default();
        for line in mountinfo.lines() {
            // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTS"
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let (Some(root), Some(mount_point)) = (left.split(' ').nth(3), left.split(' ').nth(4)) else {
                continue;
            };
            let mut right = right.split(' ');
            let (Some(fstype), _, Some(options)) = (right.next(), right.next(), right.next()) else {
                continue;
            };
            // A bind of a sub-tree would need the path adjusted: skip it.
            if root != "/" {
                continue;
            }
            let mount_point = PathBuf::from(unescape_mount(mount_point));
            match fstype {
                "cgroup" => mounts
                    .v1
                    .push((mount_point, options.split(',').map(str::to_owned).collect())),
                "cgroup2" if mounts.v2.is_none() => mounts.v2 = Some(mount_point),
                _ => {}
            }
        }
        mounts
    }

    fn v1(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|(_, options)| options.iter().any(|o| o == controller))
            .map(|(path, _)| path.as_path())
    }

    fn v2(&self) -> Option<&Path> {
        self.v2.as_deref()
    }
}

/// Mount points in mountinfo escape space, tab, newline and backslash as octal.
fn unescape_mount(text: &str) -> String {
    text.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// One line of `/proc/self/cgroup`: "HIERARCHY:CONTROLLERS:PATH".
#[derive(Debug)]
struct Membership {
    hierarchy: String,
    controllers: Vec<String>,
    path: String,
}

impl Membership {
    fn parse(text: &str) -> Vec<Self> {
        text.lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ':');
                Some(Self {
                    hierarchy: parts.next()?.to_owned(),
                    controllers: parts
                        .next()?
                        .split(',')
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    path: parts.next()?.to_owned(),
                })
            })
            .collect()
    }
}

pub(super) fn write(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    let path = dir.join(file);
    fs::write(&path, value).map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_paiges_groups_go_with_what_was_left_in_them() {
        use std::os::unix::process::ExitStatusExt;
        let bases: Vec<PathBuf> = match Backend::detect() {
            Backend::CgroupV2 { base } => vec![base.clone()],
            Backend::CgroupV1 { pids, memory } => vec![pids.clone(), memory.clone()],
            Backend::Rlimits { why } => {
                eprintln!("skipped: no writable cgroup here ({why})");
                return;
            }
        };
        // A paige that is gone: a pid no process has any more.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let dead = gone.id();
        gone.wait().unwrap();
        // Its execution's groups, with a process left in them (as the
        // `bwrap` of a paige killed while it started).
        let mut left = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let groups: Vec<PathBuf> = bases
            .iter()
            .map(|base| base.with_file_name(format!("paige-{dead}")).join("exec-1-left"))
            .collect();
        for group in &groups {
            fs::create_dir_all(group).unwrap();
            fs::write(group.join("cgroup.procs"), left.id().to_string()).unwrap();
        }
        remove_stale_groups(Backend::detect());
        let status = left.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "what was left is killed: {status:?}");
        for group in &groups {
            assert!(!group.exists(), "{} is removed", group.display());
            assert!(!group.parent().unwrap().exists());
        }
    }

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(format_bytes(256 * MIB), "256 MiB");
        assert_eq!(format_bytes(3 * MIB / 2), "1.5 MiB");
        assert_eq!(format_bytes(1 << 30), "1 GiB");
        assert_eq!(format_bytes(4096), "4 KiB");
        assert_eq!(format_bytes(100), "100 bytes");
        assert_eq!(
            LimitHit::Memory(256 * MIB).to_string(),
            "memory limit (256 MiB) reached"
        );
        assert_eq!(LimitHit::Processes(64).to_string(), "process limit (64) reached");
    }

    #[test]
    fn mounts_and_memberships_are_parsed_from_proc() {
        let mountinfo = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
42 31 0:39 /sub /mnt/bound rw - cgroup cgroup rw,cpu
";
        let mounts = CgroupMounts::parse(mountinfo);
        assert_eq!(mounts.v1("pids"), Some(Path::new("/sys/fs/cgroup/pids")));
        assert_eq!(mounts.v1("memory"), Some(Path::new("/sys/fs/cgroup/memory")));
        assert_eq!(mounts.v1("cpu"), None, "a bind of a sub-tree is skipped");
        assert_eq!(mounts.v2(), Some(Path::new("/sys/fs/cgroup/unified")));
        let memberships = Membership::parse("8:pids:/\n4:memory:/process_api/76ae\n0::/\n");
        assert_eq!(memberships.len(), 3);
        assert_eq!(memberships[1].controllers, ["memory"]);
        assert_eq!(
            join_cgroup(Path::new("/sys/fs/cgroup/memory"), &memberships[1].path),
            Path::new("/sys/fs/cgroup/memory/process_api/76ae")
        );
        assert_eq!(memberships[2].hierarchy, "0");
    }
}
