//! `paige keys migrate --to transit`, killed with SIGKILL halfway, then run
//! again: every secret resolves at every step; then back to a key file.

use std::time::{Duration, Instant};

use paige::Paige;
use paige::config::KmsConfig;
use secrecy::ExposeSecret;

use super::Bao;
use crate::common::{Env, stderr, stdout};

const PROJECTS: usize = 300;

fn value(i: usize) -> String {
    format!("migrated-value-{i:04}-c3f1")
}

async fn assert_all_resolve(paige: &Paige, when: &str) {
    for i in 0..PROJECTS {
        let resolved = paige
            .resolve(&format!("p{i}"))
            .await
            .unwrap_or_else(|e| panic!("{when}: p{i}: {e}"));
        assert_eq!(resolved.secrets[0].1.expose_secret(), value(i), "{when}");
    }
}

async fn count(env: &Env, provider: &str) -> i64 {
    env.db()
        .await
        .scalar(
            "SELECT COUNT(*) FROM projects WHERE key_provider = ?",
            &[provider.into()],
        )
        .await
}

fn migrate(env: &Env, bao: &Bao, to: &str) -> std::process::Command {
    let mut command = env.command(&["keys", "migrate", "--to", to]);
    for (name, value) in bao.vars() {
        if name != "PAIGE_KMS" {
            command.env(name, value);
        }
    }
    command
}

async fn killed_migration_resumes(env: Env, bao: Bao) {
    for i in 0..PROJECTS {
        let slug = format!("p{i}");
        env.project(&slug).await;
        env.set(&slug, "VALUE", &value(i)).await;
    }
    assert_eq!(count(&env, "file").await, PROJECTS as i64);

    // Killed as soon as some keys have moved.
    let mut child = migrate(&env, &bao, "transit")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let db = env.db().await;
    let started = Instant::now();
    loop {
        let moved: i64 = db
            .scalar("SELECT COUNT(*) FROM projects WHERE key_provider = 'transit'", &[])
            .await;
        if moved >= 10 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the migration does not progress"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    let moved = count(&env, "transit").await;
    assert!(
        moved > 0 && moved < PROJECTS as i64,
        "the kill came at {moved} of {PROJECTS}: not halfway"
    );

    // Halfway, a node with both providers resolves everything.
    let mut both = env.config();
    both.kms = bao.kms();
    assert_all_resolve(&Paige::open(&both).await.unwrap(), "halfway").await;
    // A node with Transit alone refuses to start, saying why.
    let key_file = env.data_dir().join("master.key");
    let aside = env.scratch().join("master.key.aside");
    std::fs::rename(&key_file, &aside).unwrap();
    let refused = Paige::open(&both).await.unwrap_err().to_string();
    assert!(refused.contains("migrate --to transit"), "{refused}");
    std::fs::rename(&aside, &key_file).unwrap();

    // Run again: the rest moves.
    let out = migrate(&env, &bao, "transit").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!(
            "migrated {} data keys to the transit key provider",
            PROJECTS as i64 - moved
        )
    );
    assert_eq!(count(&env, "transit").await, PROJECTS as i64);

    // The key file is no longer needed.
    std::fs::rename(&key_file, &aside).unwrap();
    assert_all_resolve(&Paige::open(&both).await.unwrap(), "on transit").await;

    // And back to a (new) key file.
    let out = migrate(&env, &bao, "file").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("migrated {PROJECTS} data keys to the file key provider")
    );
    assert!(key_file.exists());
    let mut file_only = env.config();
    file_only.kms = KmsConfig::default();
    assert_all_resolve(&Paige::open(&file_only).await.unwrap(), "back on a file").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_killed_halfway_loses_nothing_and_resumes_sqlite() {
    let Some(bao) = Bao::start().await else { return };
    killed_migration_resumes(Env::sqlite().await, bao).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_killed_halfway_loses_nothing_and_resumes_postgres() {
    let Some(bao) = Bao::start().await else { return };
    let Some(env) = Env::postgres().await else { return };
    killed_migration_resumes(env, bao).await;
}
