//! Concurrent overwrites: no lost update, no duplicate version, no lost
//! audit record.

use std::collections::BTreeSet;

use secrecy::ExposeSecret;

use super::{Server, answer};
use crate::common::{Env, both_backends};

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
