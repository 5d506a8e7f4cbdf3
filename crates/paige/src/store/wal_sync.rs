//! Makes SQLite's relaxed commits (`relaxed.rs`) durable promptly, off
//! the path of whoever committed: one task per store fsyncs the WAL after
//! each of them, so a power loss can lose only what committed in the last
//! fsync's time (about a millisecond here), never an execution that ended
//! minutes ago and was followed by no other write.
//!
//! The WAL is synced with `fdatasync`, as SQLite itself does at a
//! `synchronous = FULL` commit in WAL mode, so once a sync that began
//! after a commit is done, that commit is as durable as a full one. A
//! checkpoint that moved the WAL into the database synced both first, so
//! a WAL found missing or reset has nothing left to sync. Requests that
//! arrive during a sync are served by one more sync after it: under load
//! the syncs are fewer than the commits, as in a group commit.
//!
//! An opening record asks for a sync *soon* ([`WalSync::request_soon`]):
//! within [`SOON`], or with the close's sync if that comes first, as it
//! does for a bot that ends sooner. Synced at once, it cost a handed-off
//! `paige run` 0.9 ms (an fsync while `bwrap` starts, on two cores).
//!
//! A CLI command's store ([`WalSync::at_close`]) has no task: the command
//! closes it right after its work, and the close syncs what is pending
//! (a background sync there cost a local `paige run` 0.6 ms: a thread
//! and an fsync more while `bwrap` starts).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The syncing task of one SQLite store and what it has done.
#[derive(Debug)]
pub(super) struct WalSync {
    shared: Arc<Shared>,
    /// None: synced at the close only.
    task: Option<JoinHandle<()>>,
}

/// How long a sync asked for soon may wait for one asked for at once.
pub(super) const SOON: Duration = Duration::from_millis(50);

#[derive(Debug)]
struct Shared {
    wal: PathBuf,
    wake: Notify,
    /// A sync is asked for at once (not only soon).
    urgent: AtomicBool,
    /// Relaxed commits so far; the syncs below say up to which one they
    /// made durable.
    requested: AtomicU64,
    synced: AtomicU64,
    syncs: AtomicU64,
}

impl WalSync {
    /// Starts the task for the database at `db_path` (its WAL is beside it).
    pub(super) fn start(db_path: &Path) -> Self {
        let shared = Shared::new(db_path);
        let task = tokio::spawn(run(Arc::clone(&shared)));
        Self {
            shared,
            task: Some(task),
        }
    }

    /// No task: what is pending is synced by [`WalSync::finish`] alone.
    pub(super) fn at_close(db_path: &Path) -> Self {
        Self {
            shared: Shared::new(db_path),
            task: None,
        }
    }

    /// After a relaxed commit: has the WAL synced at once, without waiting.
    pub(super) fn request(&self) {
        self.shared.requested.fetch_add(1, Ordering::SeqCst);
        self.shared.urgent.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// After a relaxed commit: has the WAL synced within [`SOON`].
    pub(super) fn request_soon(&self) {
        self.shared.requested.fetch_add(1, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// How many syncs the task has done.
    #[cfg(test)]
    pub(super) fn syncs(&self) -> u64 {
        self.shared.syncs.load(Ordering::SeqCst)
    }

    /// Stops the task and syncs whatever it had not synced yet: before
    /// the store closes (its close checkpoints only when no other process
    /// has the database open).
    pub(super) async fn finish(&self) {
        if let Some(task) = &self.task {
            task.abort();
        }
        if self.shared.synced.load(Ordering::SeqCst) < self.shared.requested.load(Ordering::SeqCst) {
            sync_once(Arc::clone(&self.shared)).await;
        }
    }
}

impl Drop for WalSync {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Shared {
    fn new(db_path: &Path) -> Arc<Self> {
        let mut wal = db_path.as_os_str().to_owned();
        wal.push("-wal");
        Arc::new(Self {
            wal: PathBuf::from(wal),
            wake: Notify::new(),
            urgent: AtomicBool::new(false),
            requested: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
        })
    }
}

async fn run(shared: Arc<Shared>) {
    loop {
        shared.wake.notified().await;
        if !shared.urgent.swap(false, Ordering::SeqCst) {
            // Only soon: until an urgent request or the delay, whichever first.
            let due = tokio::time::sleep(SOON);
            tokio::pin!(due);
            loop {
                tokio::select! {
                    () = &mut due => break,
                    () = shared.wake.notified() => {
                        if shared.urgent.swap(false, Ordering::SeqCst) {
                            break;
                        }
                    }
                }
            }
        }
        sync_once(Arc::clone(&shared)).await;
    }
}

/// One `fdatasync` of the WAL, on a blocking thread.
async fn sync_once(shared: Arc<Shared>) {
    // Every commit counted before the sync begins is in the WAL by now.
    let upto = shared.requested.load(Ordering::SeqCst);
    let path = shared.wal.clone();
    let synced = tokio::task::spawn_blocking(move || sync_file(&path)).await;
    match synced {
        Ok(Ok(())) => {
            shared.synced.fetch_max(upto, Ordering::SeqCst);
            shared.syncs.fetch_add(1, Ordering::SeqCst);
        }
        Ok(Err(e)) => tracing::error!(
            wal = %shared.wal.display(),
            "cannot sync the database's WAL: the executions recorded last may not survive a power loss: {e}"
        ),
        Err(e) => tracing::error!(wal = %shared.wal.display(), "the WAL's sync did not finish: {e}"),
    }
}

fn sync_file(path: &Path) -> std::io::Result<()> {
    match std::fs::File::open(path) {
        Ok(file) => file.sync_data(),
        // Checkpointed and removed by the last connection's close, which
        // synced it first: nothing is left to sync.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_request_is_followed_by_a_sync_and_a_missing_wal_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("paige.db");
        let sync = WalSync::start(&db);
        // No WAL yet: nothing to sync, and no error.
        sync.request();
        wait_for(&sync, 1).await;
        std::fs::write(dir.path().join("paige.db-wal"), b"frames").unwrap();
        sync.request();
        wait_for(&sync, 2).await;
        assert_eq!(sync.shared.synced.load(Ordering::SeqCst), 2);
        // Nothing pending: finish does not sync again.
        sync.finish().await;
        assert_eq!(sync.syncs(), 2);
    }

    #[tokio::test]
    async fn a_sync_asked_for_soon_waits_for_an_urgent_one_or_its_delay() {
        let dir = tempfile::tempdir().unwrap();
        let sync = WalSync::start(&dir.path().join("paige.db"));
        // Alone: synced once the delay is over, not before.
        let asked = tokio::time::Instant::now();
        sync.request_soon();
        sync.request_soon();
        wait_for(&sync, 1).await;
        assert!(asked.elapsed() >= SOON, "synced after {:?}", asked.elapsed());
        tokio::time::sleep(SOON * 2).await;
        assert_eq!(sync.syncs(), 1, "one sync for both");
        // An urgent one meanwhile: one sync, at once.
        let asked = tokio::time::Instant::now();
        sync.request_soon();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        sync.request();
        wait_for(&sync, 2).await;
        assert!(asked.elapsed() < SOON, "synced after {:?}", asked.elapsed());
        tokio::time::sleep(SOON * 2).await;
        assert_eq!(sync.syncs(), 2, "the soon one was served by the urgent one's sync");
    }

    #[tokio::test]
    async fn without_a_task_only_finish_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let sync = WalSync::at_close(&dir.path().join("paige.db"));
        sync.request();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(sync.syncs(), 0, "no sync before the close");
        sync.finish().await;
        assert_eq!(sync.syncs(), 1);
        assert_eq!(sync.shared.synced.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn finish_syncs_what_the_task_had_not() {
        let dir = tempfile::tempdir().unwrap();
        let sync = WalSync::start(&dir.path().join("paige.db"));
        // Counted but not yet synced when the store closes.
        sync.shared.requested.fetch_add(1, Ordering::SeqCst);
        sync.finish().await;
        assert_eq!(sync.syncs(), 1);
        assert_eq!(sync.shared.synced.load(Ordering::SeqCst), 1);
    }

    async fn wait_for(sync: &WalSync, syncs: u64) {
        for _ in 0..200 {
            if sync.syncs() >= syncs {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("{} syncs, not {syncs}", sync.syncs());
    }
}
