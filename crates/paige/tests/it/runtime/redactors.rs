//! The redactor a node keeps for a project's next executions at the same
//! secrets generation (`secrets/redactor_cache.rs`): whatever changes the
//! values, on this node or another, the very next execution here masks
//! the values it is given, never by an older redactor.

use paige::runtime::{ExecutionRequest, ExecutionStatus};

use super::{log_text, node_request, run, stored};
use crate::common::{Env, actor, both_backends};

/// What the bot prints: the two secrets' values, as its log shows them.
async fn printed(env: &Env) -> String {
    let request = ExecutionRequest {
        command: Some(vec!["sh".into(), "-c".into(), "echo \"A=$API_KEY N=$NEW_KEY\"".into()]),
        ..node_request("env", serde_json::json!({}))
    };
    let record = run(env, "bot", request).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    let log = log_text(&stored(env, "bot", record.id).await);
    for value in [
        "first-value-1234",
        "second-value-1234",
        "new-value-123456",
        "local-value-1234",
    ] {
        assert!(!log.contains(value), "a value is in the log:\n{log}");
    }
    log
}

async fn every_change_of_the_values_is_masked_by_the_next_execution(env: Env) {
    env.project("bot").await;
    env.set("bot", "API_KEY", "first-value-1234").await;
    let masked = "stdout: A=[REDACTED:API_KEY] N=\n";
    assert_eq!(printed(&env).await, masked);
    // Unchanged: the same log from the redactor this node kept.
    assert_eq!(printed(&env).await, masked);

    let other = env.another_node().await;
    other.set("bot", "API_KEY", "second-value-1234").await;
    assert_eq!(printed(&env).await, masked, "a value changed on another node");
    other.set("bot", "NEW_KEY", "new-value-123456").await;
    assert_eq!(
        printed(&env).await,
        "stdout: A=[REDACTED:API_KEY] N=[REDACTED:NEW_KEY]\n",
        "a secret added on another node"
    );
    // Version 1 again: the first value, masked.
    other
        .paige
        .rollback_secret("bot", "API_KEY", 1, &actor())
        .await
        .unwrap();
    assert_eq!(
        printed(&env).await,
        "stdout: A=[REDACTED:API_KEY] N=[REDACTED:NEW_KEY]\n"
    );
    other.paige.delete_secret("bot", "NEW_KEY", &actor()).await.unwrap();
    assert_eq!(printed(&env).await, masked, "a secret deleted on another node");
    env.set("bot", "API_KEY", "local-value-1234").await;
    assert_eq!(printed(&env).await, masked, "a value changed on this node");
}

both_backends!(every_change_of_the_values_is_masked_by_the_next_execution);
