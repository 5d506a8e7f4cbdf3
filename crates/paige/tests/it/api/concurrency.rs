//! Concurrent overwrites: no lost update, no duplicate version, no lost
//! audit record — from one server, and from two servers (nodes) on one
//! database. Nodes starting together on a fresh PostgreSQL database apply
//! its migrations once; a node whose database is unreachable fails fast.

use std::collections::BTreeSet;

use secrecy::ExposeSecret;

use super::{Server, answer};
use crate::common::{Env, PgDatabase, actor, both_backends, secret};

both_backends!(
    fifty_concurrent_overwrites_end_at_version_fifty_with_fifty_audit_records,
    multi_thread
);

async fn fifty_concurrent_overwrites_end_at_version_fifty_with_fifty_audit_records(env: Env) {
    let server = Server::start_on(env).await;
    let token = server.user("owner@example.com").await;
    server
        .env
        .paige
        .create_project("proj", Some("owner@example.com"), &crate::common::actor())
        .await
        .unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let client = server.client.clone();
        let url = format!("{}/api/v1/projects/proj/secrets/HOT_KEY", server.base);
        let token = token.clone();
        tasks.spawn(async move {
            let value = format!("concurrent-value-{i:02}");
            let response = client
                .put(url)
                .bearer_auth(token)
                .json(&serde_json::json!({ "value": value }))
                .send()
                .await
                .unwrap();
            (value, answer(response).await)
        });
    }
    let answers = tasks.join_all().await;
    let mut versions = BTreeSet::new();
    let mut created = 0;
    for (_, (status, body)) in &answers {
        assert!(*status == 200 || *status == 201, "{status} {body}");
        created += usize::from(*status == 201);
        versions.insert(body["version"].as_i64().unwrap());
    }
    assert_eq!(created, 1, "exactly one request created the key");
    assert_eq!(
        versions,
        (1..=50).collect::<BTreeSet<i64>>(),
        "every version handed out once"
    );

    let listed = server.env.paige.list_secrets("proj").await.unwrap();
    assert_eq!(listed[0].version, 50);
    let audited: Vec<i64> = server
        .env
        .db()
        .await
        .column(
            "SELECT version FROM audit_events WHERE key = 'HOT_KEY' ORDER BY version",
            &[],
        )
        .await;
    assert_eq!(audited, (1..=50).collect::<Vec<i64>>());

    // The stored value is the one whose write was given version 50.
    let (winner, _) = answers.iter().find(|(_, (_, b))| b["version"] == 50).unwrap();
    let resolved = server.env.paige.resolve("proj").await.unwrap();
    assert_eq!(resolved.secrets[0].1.expose_secret(), winner);
    server.stop().await;
}

both_backends!(
    concurrent_writes_at_the_project_limit_are_refused_one_by_one,
    multi_thread
);

async fn concurrent_writes_at_the_project_limit_are_refused_one_by_one(env: Env) {
    let server = Server::start_on(env).await;
    let token = server.user("owner@example.com").await;
    let paige = &server.env.paige;
    paige
        .create_project("proj", Some("owner@example.com"), &crate::common::actor())
        .await
        .unwrap();
    let entries: Vec<_> = (0..995)
        .map(|i| (format!("KEY_{i:04}"), crate::common::secret(&format!("value-{i:04}"))))
        .collect();
    paige
        .import_secrets("proj", &entries, &crate::common::actor())
        .await
        .unwrap();

    // 20 new keys at once for 5 free places: the writes share commits, but
    // each is checked and refused on its own.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let client = server.client.clone();
        let url = format!("{}/api/v1/projects/proj/secrets/NEW_{i:02}", server.base);
        let token = token.clone();
        tasks.spawn(async move {
            let response = client
                .put(url)
                .bearer_auth(token)
                .json(&serde_json::json!({ "value": format!("new-value-{i:02}") }))
                .send()
                .await
                .unwrap();
            answer(response).await
        });
    }
    let answers = tasks.join_all().await;
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    let refused: Vec<_> = answers.iter().filter(|(status, _)| *status == 409).collect();
    assert_eq!((created, refused.len()), (5, 15), "{answers:?}");
    assert!(
        refused
            .iter()
            .all(|(_, body)| body["error"]["code"] == "too_many_secrets")
    );

    let listed = paige.list_secrets("proj").await.unwrap();
    assert_eq!(listed.len(), 1000);
    let db = server.env.db().await;
    let new_audited: i64 = db
        .scalar(
            "SELECT COUNT(*) FROM audit_events WHERE key LIKE 'NEW_%' AND action = 'secret.create'",
            &[],
        )
        .await;
    assert_eq!(new_audited, 5, "no audit record of a refused write survives");
    let new_rows: i64 = db
        .scalar("SELECT COUNT(*) FROM secrets WHERE key LIKE 'NEW_%'", &[])
        .await;
    assert_eq!(new_rows, 5, "no row of a refused write survives");
    server.stop().await;
}

both_backends!(two_nodes_on_one_database_share_versions_and_audit, multi_thread);

/// Two real `paige serve` processes on one store. On PostgreSQL each has a
/// data dir of its own holding a copy of the deployment's master key, as
/// nodes on two machines would; on SQLite both serve the one data dir (two
/// processes, each with its own group-commit writer, on one database file).
async fn two_nodes_on_one_database_share_versions_and_audit(env: Env) {
    let paige = &env.paige;
    paige
        .create_user("owner@example.com", &secret(super::PASSWORD), &actor())
        .await
        .unwrap();
    let (_, token) = paige.create_token("owner@example.com", &actor()).await.unwrap();
    let token = token.expose().to_owned();
    paige
        .create_project("proj", Some("owner@example.com"), &actor())
        .await
        .unwrap();
    let other = env.another_node().await;
    let nodes = [env.serve("node-a.log", &[]), other.serve("node-b.log", &[])];
    let bases = [nodes[0].base.clone(), nodes[1].base.clone()];
    let client = reqwest::Client::new();

    // A write through one node is read through the other at once.
    let put = |base: &str, key: &str, value: String| {
        client
            .put(format!("{base}/api/v1/projects/proj/secrets/{key}"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "value": value }))
            .send()
    };
    let (status, _) = answer(put(&bases[0], "SEEN_KEY", "seen-value-1".into()).await.unwrap()).await;
    assert_eq!(status, 201);
    let listed = client
        .get(format!("{}/api/v1/projects/proj/secrets", bases[1]))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (status, body) = answer(listed).await;
    assert_eq!(status, 200);
    assert_eq!(body["secrets"][0]["key"], "SEEN_KEY", "{body}");

    // 40 concurrent overwrites, alternating between the nodes.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let request = put(&bases[i % 2], "HOT_KEY", format!("two-node-value-{i:02}"));
        tasks.spawn(async move { answer(request.await.unwrap()).await });
    }
    let answers = tasks.join_all().await;
    let mut versions = BTreeSet::new();
    for (status, body) in &answers {
        assert!(*status == 200 || *status == 201, "{status} {body}");
        versions.insert(body["version"].as_i64().unwrap());
    }
    assert_eq!(versions, (1..=40).collect::<BTreeSet<i64>>());
    let audited: Vec<i64> = env
        .db()
        .await
        .column(
            "SELECT version FROM audit_events WHERE key = 'HOT_KEY' ORDER BY version",
            &[],
        )
        .await;
    assert_eq!(audited, (1..=40).collect::<Vec<i64>>());
    let listed = paige.list_secrets("proj").await.unwrap();
    assert_eq!(listed.iter().find(|s| s.key == "HOT_KEY").unwrap().version, 40);
    for (i, mut node) in nodes.into_iter().enumerate() {
        assert!(node.still_running(), "node {i} stopped");
        node.terminate();
        assert!(node.child.wait().unwrap().success(), "node {i} did not stop cleanly");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_on_a_fresh_database_migrate_once() {
    let Some(db) = PgDatabase::fresh().await else {
        return;
    };
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut opens = tokio::task::JoinSet::new();
    for dir in &dirs {
        let mut config = paige::Config::new(dir.path().join("data"));
        config.database_url = Some(db.url.clone());
        opens.spawn(async move { paige::Paige::open(&config).await.map(|p| p.config().clone()) });
    }
    for opened in opens.join_all().await {
        opened.unwrap();
    }
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(applied, [1, 2, 3, 4, 5, 10]);
    pool.close().await;
}

#[tokio::test]
async fn a_node_whose_database_is_unreachable_fails_fast_and_says_so() {
    let env = Env::sqlite().await;
    let started = std::time::Instant::now();
    let out = env.cli_with_env(
        &["serve", "--listen", "127.0.0.1:0"],
        b"",
        // Port 9 (discard) on loopback: nothing listens there.
        &[("PAIGE_DATABASE_URL", "postgres://paige:hunter2@127.0.0.1:9/paige")],
    );
    assert!(!out.status.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let stderr = crate::common::stderr(&out);
    assert!(
        stderr.contains("cannot reach the PostgreSQL database at postgres://paige:***@127.0.0.1:9/paige"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
async fn a_node_with_another_master_key_refuses_to_start() {
    let Some(env) = Env::postgres().await else {
        return;
    };
    env.project("proj").await;
    let stranger = tempfile::tempdir().unwrap();
    let mut config = env.config();
    config.data_dir = stranger.path().join("data");
    let err = paige::Paige::open(&config).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("every node of a deployment needs the same master key"),
        "{err}"
    );

    // Given the deployment's key, the same node starts.
    std::fs::copy(env.data_dir().join("master.key"), config.data_dir.join("master.key")).unwrap();
    let node = paige::Paige::open(&config).await.unwrap();
    assert_eq!(node.resolve("proj").await.unwrap().secrets.len(), 0);
}
