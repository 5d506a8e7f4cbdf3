//! Executions queue for a global cap; one project cannot starve the others.

use paige::runtime::{ExecutionRecord, ExecutionRequest, ExecutionSlots, ExecutionStatus};

use super::node_request;
use crate::common::Env;

fn sleeper(ms: u64) -> ExecutionRequest {
    ExecutionRequest {
        command: Some(vec!["sleep".into(), format!("{}", ms as f64 / 1000.0)]),
        ..node_request("env", serde_json::json!({}))
    }
}

#[tokio::test]
async fn a_busy_project_cannot_take_every_slot() {
    let env = Env::sqlite().await;
    env.project("busy").await;
    env.project("quiet").await;
    // Two slots in all, one per project.
    let slots = ExecutionSlots::new(2, 1);
    assert_eq!((slots.global_cap(), slots.per_project_cap()), (2, 1));

    let mut busy = Vec::new();
    for _ in 0..3 {
        let (paige, slots) = (env.paige.clone(), slots.clone());
        busy.push(tokio::spawn(async move {
            paige.execute_queued(&slots, "busy", sleeper(800), None).await.unwrap()
        }));
    }
    // Let the busy project's executions queue up first.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let quiet = env
        .paige
        .execute_queued(&slots, "quiet", sleeper(0), None)
        .await
        .unwrap();
    let mut busy: Vec<ExecutionRecord> = futures_join(busy).await;
    busy.sort_by_key(|r| r.started_at);
    for record in busy.iter().chain([&quiet]) {
        assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    }
    // The busy project ran one at a time ...
    for pair in busy.windows(2) {
        assert!(pair[1].started_at >= pair[0].finished_at.unwrap(), "{pair:?}");
    }
    // ... and the quiet one did not wait for it.
    assert!(
        quiet.finished_at.unwrap() <= busy[0].finished_at.unwrap(),
        "{quiet:?} {busy:?}"
    );
    assert_eq!(slots.running(), 0);
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<ExecutionRecord>>) -> Vec<ExecutionRecord> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
