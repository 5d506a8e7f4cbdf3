//! Backup benchmark (not a timed test): prints figures.
//!
//! Builds a store of PROJECTS projects × SECRETS secrets (40-byte values)
//! through the library by the fastest path (`import_secrets`, many projects
//! at once, so the group commit puts many of them in one transaction),
//! then, with the real `paige` binary:
//! - `paige backup create FILE`: time, and the file's size beside the
//!   database's;
//! - `paige backup verify FILE`, then with `--with-key`: time (digest and
//!   integrity; then also every data key unwrapped,
//!   every value opened);
//! - `paige backup restore FILE` into a fresh data dir: time.
//!
//! Run: `bench/backup.sh [PROJECTS] [SECRETS]` (defaults 10000 × 100), or
//! `PAIGE_BENCH_PROJECTS=… PAIGE_BENCH_SECRETS=… cargo bench -p paige --bench backup`.
//! The data dir is a temporary directory beside `target/` (PAIGE_BENCH_DIR
//! names another; PAIGE_BENCH_KEEP=1 keeps it).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use paige::model::Actor;
use paige::{Config, Paige};
use secrecy::SecretString;

/// Projects filled at once: enough to fill the group commit's batches.
const CONCURRENCY: usize = 32;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Runs the real binary on `data_dir` and returns the seconds it took.
fn timed(data_dir: &Path, args: &[&str]) -> f64 {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_paige"))
        .args(args)
        .env("PAIGE_DATA_DIR", data_dir)
        .output()
        .expect("paige runs");
    let took = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "paige {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    print!("    {}", String::from_utf8_lossy(&out.stdout).replace('\n', "\n    "));
    println!();
    took
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let projects = setting("PAIGE_BENCH_PROJECTS", 10_000);
    let secrets = setting("PAIGE_BENCH_SECRETS", 100);
    let base = std::env::var("PAIGE_BENCH_DIR").unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").to_owned());
    let dir = tempfile::tempdir_in(base).expect("temporary dir");
    let data = dir.path().join("data");
    println!("backup benchmark: {projects} projects x {secrets} secrets of 40 bytes");

    let started = Instant::now();
    let paige = Arc::new(Paige::open(&Config::new(&data)).await.expect("open"));
    let actor = Actor {
        name: "bench".into(),
        user_id: None,
        request_id: None,
    };
    let entries: Arc<Vec<(String, SecretString)>> = Arc::new(
        (0..secrets)
            .map(|i| {
                (
                    format!("SECRET_{i:03}"),
                    SecretString::from(format!("{i:03}-{}", "v".repeat(36))),
                )
            })
            .collect(),
    );
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut fillers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (paige, actor, entries, next) = (paige.clone(), actor.clone(), entries.clone(), next.clone());
        fillers.spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= projects {
                    return;
                }
                let slug = format!("project-{n:05}");
                paige.create_project(&slug, None, &actor).await.expect("project");
                paige.import_secrets(&slug, &entries, &actor).await.expect("import");
            }
        });
    }
    fillers.join_all().await;
    paige.close().await;
    drop(paige);
    let db = data.join("paige.db");
    println!(
        "  filled in {:.1} s; database {} ({} bytes), WAL {} bytes",
        started.elapsed().as_secs_f64(),
        mib(size(&db)),
        size(&db),
        size(&data.join("paige.db-wal"))
    );

    let file = dir.path().join("bench.paige-backup");
    let file_arg = file.to_str().expect("UTF-8 path");
    println!("  paige backup create:");
    let create = timed(&data, &["backup", "create", file_arg]);
    println!("  paige backup verify (digest and integrity only):");
    let verify_plain = timed(&data, &["backup", "verify", file_arg]);
    println!("  paige backup verify --with-key:");
    let verify = timed(&data, &["backup", "verify", file_arg, "--with-key"]);
    let fresh = dir.path().join("restored");
    std::fs::create_dir(&fresh).expect("fresh data dir");
    std::fs::copy(data.join("master.key"), fresh.join("master.key")).expect("copy the key");
    println!("  paige backup restore:");
    let restore = timed(&fresh, &["backup", "restore", file_arg]);
    println!(
        "  RESULT projects={projects} secrets={} database={} backup={} create={create:.2}s verify={verify_plain:.2}s verify_with_key={verify:.2}s \
         restore={restore:.2}s",
        projects * secrets,
        mib(size(&db)),
        mib(size(&file)),
    );
    if std::env::var_os("PAIGE_BENCH_KEEP").is_some() {
        println!("  kept {}", dir.keep().display());
    }
}
