//! Concurrent overwrites: no lost update, no duplicate version, no lost
//! audit record.

use std::collections::BTreeSet;

use secrecy::ExposeSecret;

use super::{Server, answer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_overwrites_end_at_version_fifty_with_fifty_audit_records() {
    let server = Server::start().await;
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
    let audited: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM audit_events WHERE key = 'HOT_KEY' ORDER BY version")
            .fetch_all(&server.env.raw().await)
            .await
            .unwrap();
    assert_eq!(audited, (1..=50).collect::<Vec<i64>>());

    // The stored value is the one whose write was given version 50.
    let (winner, _) = answers.iter().find(|(_, (_, b))| b["version"] == 50).unwrap();
    let resolved = server.env.paige.resolve("proj").await.unwrap();
    assert_eq!(resolved.secrets[0].1.expose_secret(), winner);
    server.stop().await;
}
