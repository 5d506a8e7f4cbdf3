//! The routine statements every node runs whatever the traffic (the sweep
//! for abandoned executions, retention, the key checks at start) must not
//! read every execution, audit record or project: checked on SQLite's own
//! query plans, on a store made by the real migrations (issue 18: a store
//! of 10,000 projects with 1,000 executions each spent 1.7 s in each sweep
//! before these plans).

use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;

use super::SqliteStore;
use super::sql_executions::FAIL_ABANDONED;
use super::sql_keys::{KEK_IDS_IN_USE, KEY_PROVIDERS_IN_USE};
use super::sql_retention::{EXPIRED_AUDIT, EXPIRED_EXECUTIONS};

/// The steps of `statement`'s plan, its `$N` bound to zeros.
async fn plan(pool: &SqlitePool, statement: &str, params: usize) -> Vec<String> {
    let explain = format!("EXPLAIN QUERY PLAN {statement}");
    let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
    for _ in 0..params {
        query = query.bind(0_i64);
    }
    query
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, _, _, step)| step)
        .collect()
}

#[tokio::test]
async fn routine_statements_search_indexes_instead_of_scanning_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paige.db");
    SqliteStore::open(&path).await.unwrap();
    let pool = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path))
        .await
        .unwrap();
    for (statement, params, index) in [
        (FAIL_ABANDONED, 2, "executions_running"),
        (EXPIRED_EXECUTIONS, 2, "executions_by_start"),
        (EXPIRED_AUDIT, 2, "audit_by_time"),
        (KEY_PROVIDERS_IN_USE, 0, "projects_by_key"),
        (KEK_IDS_IN_USE, 0, "projects_by_key"),
    ] {
        let steps = plan(&pool, statement, params).await;
        // A whole-table read shows as `SCAN <table>` (with no index, or
        // every entry of one); the recursive query's own rows as `SCAN found`.
        let scans: Vec<&String> = steps
            .iter()
            .filter(|step| step.starts_with("SCAN ") && !step.starts_with("SCAN found"))
            .collect();
        assert!(scans.is_empty(), "{statement}\nreads a whole table: {steps:?}");
        assert!(
            steps
                .iter()
                .any(|step| step.starts_with("SEARCH ") && step.contains(index)),
            "{statement}\ndoes not use {index}: {steps:?}"
        );
    }
}
