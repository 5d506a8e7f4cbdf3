//! Durability: a process writing secrets is killed with SIGKILL mid-stream;
//! every write it had acknowledged is there on reopen, and (SQLite) the
//! database passes `PRAGMA integrity_check`.
//!
//! The writer is this test binary itself, re-run with `--exact` on the
//! ignored `durability_writer_child` test and a data dir in its
//! environment: a real, separate process using the library.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use paige::{Config, Paige};
use secrecy::ExposeSecret;

use crate::common::{Db, Env, actor, both_backends, secret};

const CHILD_ENV: &str = "PAIGE_TEST_DURABILITY_DIR";
/// The PostgreSQL database of the PostgreSQL variant.
const CHILD_DATABASE_ENV: &str = "PAIGE_TEST_DURABILITY_DATABASE";
const ACKS_BEFORE_KILL: usize = 40;

fn value_for(i: usize) -> String {
    format!("durable-value-{i:05}-{}", "z".repeat(i % 50))
}

/// The writer: only does anything when started by the test below.
#[tokio::test]
#[ignore = "run as a child process by killed_writer_loses_no_acknowledged_write"]
async fn durability_writer_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut config = Config::new(dir);
    config.database_url = std::env::var(CHILD_DATABASE_ENV).ok();
    let paige = Paige::open(&config).await.unwrap();
    for i in 0.. {
        // Alternate new keys and overwrites so both paths are under the knife.
        let key = format!("KEY_{:05}", i / 2);
        paige
            .set_secret("bot", &key, &secret(&value_for(i)), &actor())
            .await
            .unwrap();
        println!("ack {i}");
    }
}

both_backends!(killed_writer_loses_no_acknowledged_write);

async fn killed_writer_loses_no_acknowledged_write(env: Env) {
    env.paige.create_project("bot", None, &actor()).await.unwrap();
    let config = env.config();

    let mut child = Command::new(std::env::current_exe().unwrap());
    if let Some(url) = &config.database_url {
        child.env(CHILD_DATABASE_ENV, url);
    }
    let mut child = child
        .args([
            "--exact",
            "durability::durability_writer_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &config.data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while acked.len() < ACKS_BEFORE_KILL {
        let line = lines.next().expect("the writer stopped early").unwrap();
        if let Some(n) = line.strip_prefix("ack ") {
            acked.push(n.parse::<usize>().unwrap());
        }
    }
    // Kill the whole group at once while it keeps writing. The `--` matters:
    // without it procps `kill` can read `-PGID` as an option and signal -1.
    let pgid = child.id();
    assert!(pgid > 1);
    let status = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
    assert!(status.success());
    // Acks already in the pipe were acknowledged before the kill.
    for line in lines {
        if let Some(n) = line.unwrap().strip_prefix("ack ") {
            acked.push(n.parse().unwrap());
        }
    }
    let exit = child.wait().unwrap();
    assert!(!exit.success(), "the writer must have been killed, not finished");

    if let Db::Sqlite(pool) = env.db().await {
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(check, "ok");
        pool.close().await;
    }

    let paige = Paige::open(&config).await.unwrap();
    let resolved = paige.resolve("bot").await.unwrap();
    let last = *acked.last().unwrap();
    for i in &acked {
        let key = format!("KEY_{:05}", i / 2);
        let (_, value) = resolved
            .secrets
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("acknowledged write {i} ({key}) is missing"));
        // A key holds its latest acknowledged value, or the one write after
        // it that was in flight when the process died.
        let latest = if i / 2 == last / 2 { last } else { i | 1 };
        let allowed = [value_for(latest), value_for(latest + 1)];
        assert!(
            allowed.contains(&value.expose_secret().to_owned()),
            "{key} holds an unexpected value"
        );
    }
}
