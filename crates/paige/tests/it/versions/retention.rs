//! Retention: executions and their logs older than the deployment keeps
//! them are purged, newer ones kept, on both stores; audit records have a
//! retention of their own; each purge that removed something leaves one
//! audit record with its counts; the sweep of a real `paige serve` runs it.

use std::time::{Duration, Instant};

use paige::config::Retention;
use paige::model::now_millis;
use paige::retention::PurgeCounts;

use crate::common::{Arg, Env, both_backends};
use crate::runtime::{node_request, run};

const DAY: i64 = 24 * 60 * 60 * 1_000;

/// Runs the chatty bot for `bytes` of output (100-byte lines) and returns
/// the execution's id.
async fn execution(env: &Env, bytes: u64) -> i64 {
    run(
        env,
        "proj",
        node_request("chatty", serde_json::json!({ "bytes": bytes })),
    )
    .await
    .id
}

async fn count(env: &Env, sql: &str, id: i64) -> i64 {
    env.db().await.scalar(sql, &[Arg::from(id)]).await
}

async fn age(env: &Env, id: i64, days: i64) {
    let changed = env
        .db()
        .await
        .execute(
            "UPDATE executions SET started_at = ? WHERE id = ?",
            &[Arg::from(now_millis() - days * DAY), Arg::from(id)],
        )
        .await;
    assert_eq!(changed, 1);
}

both_backends!(retention_purges_old_executions_with_their_logs_and_keeps_newer_ones);

async fn retention_purges_old_executions_with_their_logs_and_keeps_newer_ones(env: Env) {
    env.project("proj").await;
    // 2,500 lines each: more than one statement's worth of log lines.
    let old = [execution(&env, 250_000).await, execution(&env, 250_000).await];
    let new = execution(&env, 10_000).await;
    let lines = "SELECT COUNT(*) FROM execution_logs WHERE execution_id = ?";
    let old_lines = count(&env, lines, old[0]).await + count(&env, lines, old[1]).await;
    let new_lines = count(&env, lines, new).await;
    assert!(old_lines > 4_000 && new_lines > 0, "{old_lines} {new_lines}");
    age(&env, old[0], 31).await;
    age(&env, old[1], 45).await;
    // One execution 29 days old: inside the 30 days, kept.
    let recent = execution(&env, 1_000).await;
    age(&env, recent, 29).await;
    let recent_lines = count(&env, lines, recent).await;

    // Audit records older than a year go; every one of ours is old but one.
    let db = env.db().await;
    let total: i64 = db.scalar("SELECT COUNT(*) FROM audit_events", &[]).await;
    let newest: i64 = db.scalar("SELECT MAX(id) FROM audit_events", &[]).await;
    db.execute(
        "UPDATE audit_events SET at = ? WHERE id < ?",
        &[Arg::from(now_millis() - 400 * DAY), Arg::from(newest)],
    )
    .await;

    let counts = env.paige.purge_expired(now_millis()).await.unwrap();
    assert_eq!(
        counts,
        PurgeCounts {
            executions: 2,
            log_lines: u64::try_from(old_lines).unwrap(),
            audit_events: u64::try_from(total - 1).unwrap(),
        }
    );
    let left: Vec<i64> = db.column("SELECT id FROM executions ORDER BY id", &[]).await;
    assert_eq!(left, [new, recent]);
    for id in old {
        assert_eq!(
            count(&env, lines, id).await,
            0,
            "the log of a purged execution goes with it"
        );
    }
    assert_eq!(count(&env, lines, new).await, new_lines, "newer logs are kept whole");
    assert!(env.paige.execution("proj", new).await.is_ok());

    // One audit record for the run, with its counts; the newest record stays.
    let records: Vec<(String, Option<String>)> = db
        .rows(
            "SELECT actor, detail FROM audit_events WHERE action = 'retention.purge'",
            &[],
        )
        .await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].0, "paige:retention");
    let detail = records[0].1.clone().unwrap();
    assert!(
        detail.starts_with(&format!(
            "2 executions with {old_lines} log lines older than 30 days, {} audit records",
            total - 1
        )),
        "{detail}"
    );
    let kept: i64 = db
        .scalar("SELECT COUNT(*) FROM audit_events WHERE id = ?", &[Arg::from(newest)])
        .await;
    assert_eq!(kept, 1);
    assert_eq!(env.paige.retention_counters().totals(), counts);
    // And in /metrics' registry (process-wide: other tests may add to it).
    let scrape = paige::metrics::global().encode();
    let purged: u64 = scrape
        .lines()
        .find_map(|l| l.strip_prefix("paige_retention_purged_total{what=\"executions\"} "))
        .unwrap_or_else(|| panic!("no retention family: {scrape}"))
        .parse()
        .unwrap();
    assert!(purged >= counts.executions, "{purged} < {}", counts.executions);

    // Nothing more to purge: no record, nothing counted.
    assert!(env.paige.purge_expired(now_millis()).await.unwrap().is_empty());
    let runs: i64 = db
        .scalar(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'retention.purge'",
            &[],
        )
        .await;
    assert_eq!(runs, 1);
    // Zero days keeps everything.
    let forever = Retention {
        execution_days: 0,
        audit_days: 0,
    };
    assert!(
        env.paige
            .purge_expired_with(now_millis() + 1_000 * DAY, forever)
            .await
            .unwrap()
            .is_empty()
    );

    // The sweep of a real `paige serve` purges with the days it is given.
    let server = env.serve("serve.log", &[("PAIGE_EXECUTION_RETENTION_DAYS", "28")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    // The run's record is written after its last delete: wait for both.
    let details = loop {
        let left: Vec<i64> = db.column("SELECT id FROM executions ORDER BY id", &[]).await;
        let details: Vec<Option<String>> = db
            .column(
                "SELECT detail FROM audit_events WHERE action = 'retention.purge' ORDER BY id",
                &[],
            )
            .await;
        if left == [new] && details.len() == 2 {
            break details;
        }
        assert!(
            Instant::now() < deadline,
            "the sweep did not purge: {left:?} {details:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(server);
    assert_eq!(details.len(), 2, "{details:?}");
    let expected = format!("1 executions with {recent_lines} log lines older than 28 days");
    assert!(details[1].as_deref().unwrap().starts_with(&expected), "{details:?}");
}
