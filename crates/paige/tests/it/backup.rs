//! Backups through the real binary: one taken while ten writers overwrite
//! keys through the API of a real `paige serve` holds every write
//! acknowledged before it started; verify (with the key) passes, a flipped
//! byte fails it; restore refuses a non-empty target and a wrong key; the
//! live-store verify works on both backends, and on a PostgreSQL database
//! that `pg_restore` filled.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paige::{Config, Paige};
use secrecy::ExposeSecret;

use crate::common::{Env, PgDatabase, both_backends, contains, stderr, stdout};

const WRITERS: usize = 10;
const KEYS_PER_WRITER: usize = 4;

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// A user with a token and a project `proj`, made through the CLI.
fn user_token_project(env: &Env) -> String {
    ok(&env.cli(&["users", "create", "alice@example.com"], b"a long password!"));
    let token = ok(&env.cli(&["tokens", "create", "alice@example.com"], b""))
        .trim()
        .to_owned();
    ok(&env.cli(&["projects", "create", "proj", "--owner", "alice@example.com"], b""));
    token
}

/// A private data dir holding only a copy of `from`'s master key.
fn data_dir_with_key(env: &Env, name: &str, from: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::DirBuilderExt;
    let dir = env.scratch().join(name);
    std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    std::fs::copy(from.join("master.key"), dir.join("master.key")).unwrap();
    dir
}

/// One acknowledged write: writer, key, sequence number, when it was answered.
struct Acked {
    key: String,
    seq: usize,
    at: Instant,
}

fn value_of(writer: usize, seq: usize) -> String {
    format!("backup-writer-{writer:02}-seq-{seq:06}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_ten_writers_holds_every_write_acknowledged_before_it() {
    let env = Env::sqlite().await;
    let token = user_token_project(&env);
    let server = tokio::task::block_in_place(|| env.serve("serve.log", &[]));
    let client = reqwest::Client::new();
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let (client, token, acked, stop) = (client.clone(), token.clone(), acked.clone(), stop.clone());
        let base = server.base.clone();
        writers.spawn(async move {
            let mut seq = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let key = format!("KEY_{writer:02}_{}", seq % KEYS_PER_WRITER);
                let response = client
                    .put(format!("{base}/api/v1/projects/proj/secrets/{key}"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "value": value_of(writer, seq) }))
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success(), "{}", response.status());
                acked.lock().unwrap().push(Acked {
                    key,
                    seq,
                    at: Instant::now(),
                });
                seq += 1;
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let file = env.scratch().join("under-load.paige-backup");
    let started = Instant::now();
    let made = tokio::task::block_in_place(|| env.cli(&["backup", "create", file.to_str().unwrap()], b""));
    let created = ok(&made);
    assert!(created.contains("backup written to"), "{created}");
    // The writers carry on past the backup, then stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writers.join_all().await;
    drop(server);

    // Per key, the last write acknowledged before the backup started: the
    // backup holds it or a later write of the same writer (each key has one).
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let after = acked.iter().filter(|a| a.at >= started).count();
    assert!(after > 0, "writes went on during the backup");
    let mut floor: HashMap<String, usize> = HashMap::new();
    for a in acked.iter().filter(|a| a.at < started) {
        let seq = floor.entry(a.key.clone()).or_default();
        *seq = (*seq).max(a.seq);
    }
    assert_eq!(
        floor.len(),
        WRITERS * KEYS_PER_WRITER,
        "every key written before the backup"
    );

    let bytes = std::fs::read(&file).unwrap();
    for (key, seq) in &floor {
        let writer: usize = key[4..6].parse().unwrap();
        assert!(
            !contains(&bytes, value_of(writer, *seq).as_bytes()),
            "a plaintext value in the backup"
        );
    }
    let master_key = std::fs::read(env.data_dir().join("master.key")).unwrap();
    assert!(
        !contains(&bytes, &master_key[master_key.len() - 65..master_key.len() - 1]),
        "the master key in the backup"
    );

    let verified = ok(&env.cli(&["backup", "verify", file.to_str().unwrap(), "--with-key"], b""));
    assert!(verified.contains("digest ok"), "{verified}");
    assert!(verified.contains("integrity: ok"), "{verified}");
    assert!(verified.contains("1 of 1 data keys unwrap"), "{verified}");
    assert!(
        verified.contains(&format!("{n} of {n} values open", n = WRITERS * KEYS_PER_WRITER)),
        "{verified}"
    );
    // The overwritten values' kept versions open too.
    assert!(verified.contains("kept versions open: ok"), "{verified}");

    let fresh = data_dir_with_key(&env, "restored", env.data_dir());
    let restored = ok(&env
        .command(&["backup", "restore", file.to_str().unwrap()])
        .env("PAIGE_DATA_DIR", &fresh)
        .output()
        .unwrap());
    assert!(restored.contains("restored into"), "{restored}");
    let paige = Paige::open(&Config::new(&fresh)).await.unwrap();
    let resolved = paige.resolve("proj").await.unwrap();
    assert_eq!(resolved.secrets.len(), WRITERS * KEYS_PER_WRITER);
    for (key, value) in &resolved.secrets {
        let writer: usize = key[4..6].parse().unwrap();
        let value = value.expose_secret();
        let prefix = format!("backup-writer-{writer:02}-seq-");
        let seq: usize = value
            .strip_prefix(&prefix)
            .expect("a value this writer wrote")
            .parse()
            .unwrap();
        assert_eq!(seq % KEYS_PER_WRITER, key[7..].parse::<usize>().unwrap(), "{key}");
        assert!(
            seq >= floor[key],
            "{key}: restored write #{seq}, acknowledged #{} before the backup",
            floor[key]
        );
    }
    paige.close().await;
}

/// A small store with one project and two values, backed up to a file.
async fn small_backup(env: &Env) -> std::path::PathBuf {
    env.project("proj").await;
    env.set("proj", "API_KEY", "small-backup-value-1").await;
    env.set("proj", "DB_PASSWORD", "small-backup-value-2").await;
    let file = env.scratch().join("small.paige-backup");
    ok(&env.cli(&["backup", "create", file.to_str().unwrap()], b""));
    // The snapshot and the partial file it was written as are gone.
    let beside: Vec<_> = std::fs::read_dir(env.scratch())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("small."))
        .collect();
    assert_eq!(beside, ["small.paige-backup"]);
    // A backup never overwrites a file.
    let again = env.cli(&["backup", "create", file.to_str().unwrap()], b"");
    assert!(
        !again.status.success() && stderr(&again).contains("never overwrites"),
        "{}",
        stderr(&again)
    );
    file
}

#[tokio::test]
async fn a_flipped_byte_anywhere_fails_verify_and_restore() {
    let env = Env::sqlite().await;
    let file = small_backup(&env).await;
    ok(&env.cli(&["backup", "verify", file.to_str().unwrap(), "--with-key"], b""));
    let original = std::fs::read(&file).unwrap();
    let body_start = original.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    // A byte in the middle of the database, the last one, and one of the key id.
    for at in [body_start + (original.len() - body_start) / 2, original.len() - 1, 25] {
        let mut bytes = original.clone();
        bytes[at] ^= 0x01;
        let flipped = env.scratch().join(format!("flipped-{at}.paige-backup"));
        std::fs::write(&flipped, &bytes).unwrap();
        for with_key in [false, true] {
            let mut args = vec!["backup", "verify", flipped.to_str().unwrap()];
            if with_key {
                args.push("--with-key");
            }
            let out = env.cli(&args, b"");
            assert!(
                !out.status.success(),
                "byte {at} flipped, verify passed: {}",
                stdout(&out)
            );
            let said = stderr(&out);
            assert!(said.contains("digest does not match"), "byte {at}: {said}");
        }
        let fresh = data_dir_with_key(&env, &format!("fresh-{at}"), env.data_dir());
        let out = env
            .command(&["backup", "restore", flipped.to_str().unwrap()])
            .env("PAIGE_DATA_DIR", &fresh)
            .output()
            .unwrap();
        assert!(!out.status.success(), "byte {at} flipped, restore passed");
        let left: Vec<_> = std::fs::read_dir(&fresh)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["master.key"], "a refused restore leaves nothing behind");
    }
    let cut = env.scratch().join("cut.paige-backup");
    std::fs::write(&cut, &original[..original.len() - 4096]).unwrap();
    let out = env.cli(&["backup", "verify", cut.to_str().unwrap()], b"");
    assert!(
        !out.status.success() && stderr(&out).contains("the header says"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn restore_refuses_a_non_empty_target_a_missing_key_and_a_wrong_key() {
    let env = Env::sqlite().await;
    let file = small_backup(&env).await;
    let file = file.to_str().unwrap();

    // The environment's own data dir holds its database.
    let out = env.cli(&["backup", "restore", file], b"");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already holds a database"), "{}", stderr(&out));
    assert_eq!(env.paige.list_secrets("proj").await.unwrap().len(), 2, "untouched");

    // No key at all: the backup never holds one.
    let keyless = env.scratch().join("keyless");
    let out = env
        .command(&["backup", "restore", file])
        .env("PAIGE_DATA_DIR", &keyless)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no master key"), "{}", stderr(&out));
    assert!(!keyless.join("paige.db").exists());

    // Another deployment's key.
    let other = Env::sqlite().await;
    let wrong = data_dir_with_key(&env, "wrong-key", other.data_dir());
    for args in [
        vec!["backup", "restore", file],
        vec!["backup", "verify", file, "--with-key"],
    ] {
        let out = env.command(&args).env("PAIGE_DATA_DIR", &wrong).output().unwrap();
        assert!(!out.status.success(), "{args:?} passed with the wrong key");
        assert!(stderr(&out).contains("wrapped by master key"), "{}", stderr(&out));
    }
    let left: Vec<_> = std::fs::read_dir(&wrong)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["master.key"], "a refused restore leaves nothing behind");

    // Without the key, verify checks the digest and integrity only.
    let out = env
        .command(&["backup", "verify", file])
        .env("PAIGE_DATA_DIR", &wrong)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("with the key"));
}

both_backends!(verify_checks_the_live_store_with_the_key);

async fn verify_checks_the_live_store_with_the_key(env: Env) {
    env.project("proj").await;
    env.set("proj", "API_KEY", "live-verify-value-1").await;
    env.set("proj", "OTHER", "live-verify-value-2").await;
    let out = ok(&env.cli(&["backup", "verify"], b""));
    assert!(
        out.contains("1 of 1 data keys unwrap, 2 of 2 values open, 0 of 0 kept versions open: ok"),
        "{out}"
    );
    assert!(!out.contains("live-verify-value"), "{out}");

    if env.is_postgres() {
        // A backup file is the embedded store's; PostgreSQL has pg_dump.
        let file = env.scratch().join("pg.paige-backup");
        let refused = env.cli(&["backup", "create", file.to_str().unwrap()], b"");
        assert!(!refused.status.success());
        assert!(stderr(&refused).contains("pg_dump"), "{}", stderr(&refused));
        restored_with_pg_restore_verifies(&env).await;
    }

    // A changed ciphertext is found, and named by key, never shown.
    let db = env.db().await;
    db.execute(
        "UPDATE secrets SET ciphertext = $1 WHERE key = 'OTHER'",
        &[vec![1u8; 60].as_slice().into()],
    )
    .await;
    let out = env.cli(&["backup", "verify"], b"");
    assert!(!out.status.success());
    let said = stdout(&out);
    assert!(
        said.contains("1 of 2 values open, 0 of 0 kept versions open: FAILED"),
        "{said}"
    );
    assert!(said.contains("key OTHER version 1"), "{said}");
}

/// The README's PostgreSQL backup: `pg_dump -Fc`, `pg_restore` into an
/// empty database, then `paige backup verify` against it with the key.
async fn restored_with_pg_restore_verifies(env: &Env) {
    let dump = env.scratch().join("paige.dump");
    let source = env.config().database_url.unwrap();
    let out = std::process::Command::new("pg_dump")
        .args([
            "-Fc",
            "--no-owner",
            &format!("--dbname={source}"),
            "-f",
            dump.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let target = PgDatabase::fresh().await.unwrap();
    let out = std::process::Command::new("pg_restore")
        .args([
            "--no-owner",
            &format!("--dbname={}", target.url),
            dump.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let restored = env
        .command(&["backup", "verify"])
        .env("PAIGE_DATABASE_URL", &target.url)
        .output()
        .unwrap();
    let said = ok(&restored);
    assert!(
        said.contains("2 of 2 values open, 0 of 0 kept versions open: ok"),
        "{said}"
    );
}
