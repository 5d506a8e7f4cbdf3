//! Bot code shared by `paige serve` nodes on one PostgreSQL database, each
//! with its own data dir (so its own copy of the code): code written
//! through one node is what an execution started through the other runs.

use reqwest::header::CONTENT_TYPE;

use super::{Server, answer};
use crate::common::{Env, actor};

const SECRET: &str = "sk-live-shared-code-5d1e0a77";

fn app(version: &str) -> String {
    format!(
        "'use strict';\nconsole.log('app {version}');\nconsole.log(`key is ${{process.env.API_KEY}}`);\n\
         console.log(require('./lib/helper.js'));\n"
    )
}

/// Another node: its own data dir (with the deployment's master key
/// copied in), the same database, served on its own port.
async fn other_node(server: &Server) -> (String, Env, tokio::sync::oneshot::Sender<()>) {
    let node = server.env.another_node().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(paige::http::serve(
        listener,
        node.paige.clone(),
        paige::http::ServeOptions::default(),
        async {
            let _ = rx.await;
        },
    ));
    (base, node, tx)
}

async fn put_code(server: &Server, base: &str, token: &str, path: &str, body: &str) {
    let response = server
        .client
        .put(format!("{base}/api/v1/projects/proj/code/{path}"))
        .bearer_auth(token)
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let (status, body) = answer(response).await;
    assert_eq!(status, 200, "{path} through {base}: {body}");
}

/// Runs the bot through the node at `base`; returns its stdout lines.
async fn run_through(server: &Server, base: &str, token: &str) -> Vec<String> {
    let response = server
        .client
        .post(format!("{base}/api/v1/projects/proj/executions"))
        .bearer_auth(token)
        .json(&serde_json::json!({"event": {}}))
        .send()
        .await
        .unwrap();
    let (status, summary) = answer(response).await;
    assert_eq!(status, 201, "{summary}");
    let response = server
        .client
        .get(format!("{base}/api/v1/projects/proj/executions/{}", summary["id"]))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, execution) = answer(response).await;
    assert_eq!(status, 200, "{execution}");
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert!(!execution.to_string().contains(SECRET), "{execution}");
    execution["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["stream"] == "stdout")
        .map(|l| l["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_written_through_one_node_runs_on_the_other() {
    let Some(env) = Env::postgres().await else {
        return;
    };
    let server = Server::start_on(env).await;
    let token = server.user("owner@example.com").await;
    server
        .env
        .paige
        .create_project("proj", Some("owner@example.com"), &actor())
        .await
        .unwrap();
    assert_eq!(server.put_value(&token, "proj", "API_KEY", SECRET).await.status(), 201);
    let (b, b_node, stop_b) = other_node(&server).await;
    let a = server.base.clone();

    // Written through A, run through B: B had no copy, so it builds one.
    put_code(&server, &a, &token, "app.js", &app("one")).await;
    put_code(&server, &a, &token, "lib/helper.js", "module.exports = 'helper one';").await;
    assert_eq!(
        run_through(&server, &b, &token).await,
        vec!["app one", "key is [REDACTED:API_KEY]", "helper one"]
    );
    assert!(
        b_node.data_dir().join("code").is_dir(),
        "node B ran without its own copy"
    );

    // A runs it too (its own copy), then B overwrites a file and A runs
    // the new content: A's copy was of an older revision, so it is rebuilt.
    assert_eq!(
        run_through(&server, &a, &token).await,
        vec!["app one", "key is [REDACTED:API_KEY]", "helper one"]
    );
    put_code(&server, &b, &token, "lib/helper.js", "module.exports = 'helper two';").await;
    assert_eq!(
        run_through(&server, &a, &token).await,
        vec!["app one", "key is [REDACTED:API_KEY]", "helper two"]
    );
    put_code(&server, &b, &token, "app.js", &app("two")).await;
    assert_eq!(
        run_through(&server, &a, &token).await,
        vec!["app two", "key is [REDACTED:API_KEY]", "helper two"]
    );
    assert_eq!(
        run_through(&server, &b, &token).await,
        vec!["app two", "key is [REDACTED:API_KEY]", "helper two"]
    );

    // One history for both nodes: four writes, four revisions, four audit records.
    let db = server.env.db().await;
    let revision: i64 = db.scalar("SELECT revision FROM code_revisions", &[]).await;
    assert_eq!(revision, 4);
    let details: Vec<String> = db
        .column(
            "SELECT detail FROM audit_events WHERE action = 'code.put' ORDER BY id",
            &[],
        )
        .await;
    assert_eq!(
        details,
        vec![
            format!("revision 1: app.js ({} bytes)", app("one").len()),
            "revision 2: lib/helper.js (30 bytes)".to_owned(),
            "revision 3: lib/helper.js (30 bytes)".to_owned(),
            format!("revision 4: app.js ({} bytes)", app("two").len()),
        ]
    );

    // Concurrent writes through both nodes: each gets its own revision and
    // audit record, and none is lost.
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..10 {
        let base = if i % 2 == 0 { a.clone() } else { b.clone() };
        let request = server
            .client
            .put(format!("{base}/api/v1/projects/proj/code/data/{i}.json"))
            .bearer_auth(&token)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(format!("{{\"n\": {i}}}"));
        writes.spawn(async move { answer(request.send().await.unwrap()).await });
    }
    for (status, body) in writes.join_all().await {
        assert_eq!(status, 200, "{body}");
    }
    let revision: i64 = db.scalar("SELECT revision FROM code_revisions", &[]).await;
    assert_eq!(revision, 14);
    let files: i64 = db.scalar("SELECT COUNT(*) FROM code_files", &[]).await;
    assert_eq!(files, 12);
    let revisions: Vec<String> = db
        .column(
            "SELECT detail FROM audit_events WHERE action = 'code.put' ORDER BY id",
            &[],
        )
        .await;
    let mut numbers: Vec<i64> = revisions
        .iter()
        .map(|d| {
            d.strip_prefix("revision ")
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=14).collect::<Vec<i64>>());
    let _ = stop_b.send(());
    server.stop().await;
}
