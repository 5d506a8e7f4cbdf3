//! The runtime over HTTP: upload code, run it for an event, read the
//! redacted log; roles as SPEC §3 says (viewers read logs, cannot run).

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;

use super::{Server, answer};
use crate::common::{Env, actor, both_backends};

const SECRET: &str = "sk-live-http-execution-93f1c2";

const BOT: &str = r#"
'use strict';
let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  const event = JSON.parse(input);
  console.log(`event text: ${event.text}`);
  console.log(`key is ${process.env.API_KEY}`);
  console.error(`b64 ${Buffer.from(process.env.API_KEY).toString('base64')}`);
  require('./lib/helper.js').done();
});
"#;

const HELPER: &str = "exports.done = () => console.log('done');\n";

async fn put_code(server: &Server, token: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    answer(
        server
            .request(Method::PUT, &format!("/api/v1/projects/proj/code/{path}"), Some(token))
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body.to_owned())
            .send()
            .await
            .unwrap(),
    )
    .await
}

both_backends!(code_upload_run_and_redacted_log_over_http);

async fn code_upload_run_and_redacted_log_over_http(env: Env) {
    let server = Server::start_on(env).await;
    let owner = server.user("owner@example.com").await;
    let viewer = server.user("viewer@example.com").await;
    let stranger = server.user("stranger@example.com").await;
    server
        .env
        .paige
        .create_project("proj", Some("owner@example.com"), &actor())
        .await
        .unwrap();
    server
        .env
        .paige
        .add_member("proj", "viewer@example.com", paige::model::Role::Viewer, &actor())
        .await
        .unwrap();
    assert_eq!(server.put_value(&owner, "proj", "API_KEY", SECRET).await.status(), 201);

    assert_eq!(put_code(&server, &owner, "app.js", BOT).await.0, 200);
    let (status, written) = put_code(&server, &owner, "lib/helper.js", HELPER).await;
    assert_eq!((status, written["files"].as_u64()), (200, Some(2)));
    for bad in ["..%2Fescape.js", "lib/..%2F..%2Fescape.js", "%2Fetc%2Fpasswd"] {
        let (status, body) = put_code(&server, &owner, bad, "x").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_code_path")),
            "{bad}: {body}"
        );
    }
    assert_eq!(put_code(&server, &viewer, "app.js", "evil").await.0, 403);
    assert_eq!(put_code(&server, &stranger, "app.js", "evil").await.0, 404);

    let run = |token: &str| {
        server
            .request(Method::POST, "/api/v1/projects/proj/executions", Some(token))
            .json(&serde_json::json!({"event": {"text": "hi there"}}))
            .send()
    };
    let (status, summary) = answer(run(&owner).await.unwrap()).await;
    assert_eq!(status, 201, "{summary}");
    assert_eq!(summary["status"], "succeeded", "{summary}");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["secret_names"], serde_json::json!(["API_KEY"]));
    assert!(summary["duration_ms"].as_i64().is_some());
    assert_eq!(answer(run(&viewer).await.unwrap()).await.0, 403);
    assert_eq!(answer(run(&stranger).await.unwrap()).await.0, 404);
    let (status, body) = answer(
        server
            .request(Method::POST, "/api/v1/projects/proj/executions", Some(&owner))
            .json(&serde_json::json!({"event": "not an object"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_json")));

    // The viewer reads the log: redacted, streams told apart, event received.
    let path = format!("/api/v1/projects/proj/executions/{}", summary["id"]);
    let (status, execution) = answer(server.request(Method::GET, &path, Some(&viewer)).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let log = execution["log"].as_array().unwrap();
    let lines: Vec<(&str, &str)> = log
        .iter()
        .map(|l| (l["stream"].as_str().unwrap(), l["text"].as_str().unwrap()))
        .collect();
    assert!(lines.contains(&("stdout", "event text: hi there")), "{lines:?}");
    assert!(lines.contains(&("stdout", "key is [REDACTED:API_KEY]")), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|(s, t)| *s == "stderr" && t.contains("[REDACTED:API_KEY]")),
        "{lines:?}"
    );
    assert!(lines.contains(&("stdout", "done")), "{lines:?}");
    let whole = execution.to_string();
    let b64 = "c2stbGl2ZS1odHRwLWV4ZWN1dGlvbi05M2YxYzI";
    assert!(!whole.contains(SECRET) && !whole.contains(b64), "{whole}");

    let (status, listed) = answer(
        server
            .request(Method::GET, "/api/v1/projects/proj/executions", Some(&viewer))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed["executions"][0]["id"], summary["id"]);
    assert_eq!(
        answer(
            server
                .request(Method::GET, &path, Some(&stranger))
                .send()
                .await
                .unwrap()
        )
        .await
        .0,
        404
    );
    let other = "/api/v1/projects/proj/executions/999999";
    assert_eq!(
        answer(server.request(Method::GET, other, Some(&owner)).send().await.unwrap())
            .await
            .0,
        404
    );
    server.stop().await;
}

both_backends!(a_failing_bot_is_a_recorded_execution_not_an_error);

async fn a_failing_bot_is_a_recorded_execution_not_an_error(env: Env) {
    let server = Server::start_on(env).await;
    let owner = server.user("owner@example.com").await;
    server
        .env
        .paige
        .create_project("proj", Some("owner@example.com"), &actor())
        .await
        .unwrap();
    // No code at all: the entry point is missing.
    let (status, summary) = answer(
        server
            .request(Method::POST, "/api/v1/projects/proj/executions", Some(&owner))
            .json(&serde_json::json!({"event": {}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(summary["status"], "failed");
    let path = format!("/api/v1/projects/proj/executions/{}", summary["id"]);
    let (_, execution) = answer(server.request(Method::GET, &path, Some(&owner)).send().await.unwrap()).await;
    assert!(execution["error"].as_str().unwrap().contains("app.js"), "{execution}");
    server.stop().await;
}

both_backends!(executions_abandoned_by_a_dead_server_are_marked_failed_by_the_next_one);

/// A server that dies (crash, `kill -9`) leaves its executions `running`;
/// the next `paige serve` on the store marks those past their deadline
/// failed, and leaves one still within it alone.
async fn executions_abandoned_by_a_dead_server_are_marked_failed_by_the_next_one(env: Env) {
    env.project("proj").await;
    let db = env.db().await;
    let project: i64 = db
        .scalar("SELECT id FROM projects WHERE slug = ?", &["proj".into()])
        .await;
    let now = paige::model::now_millis();
    let plant = |started_at: i64, deadline_at: i64| {
        let db = &db;
        async move {
            let id: i64 = db
                .scalar(
                    "INSERT INTO executions
                       (project_id, status, trigger_kind, actor, command, secret_names, started_at, deadline_at)
                     VALUES (?, 'running', 'api', 'user:owner@example.com', '[]', '[]', ?, ?) RETURNING id",
                    &[project.into(), started_at.into(), deadline_at.into()],
                )
                .await;
            id
        }
    };
    let abandoned = plant(now - 600_000, now - 60_000).await;
    let live = plant(now - 5_000, now + 85_000).await;

    // Starting a server runs the sweep at once.
    let server = Server::start_on(env).await;
    let owner = server.user("owner@example.com").await;
    server
        .env
        .paige
        .add_member("proj", "owner@example.com", paige::model::Role::Owner, &actor())
        .await
        .unwrap();
    let get = |id: i64| {
        let request = server.request(
            Method::GET,
            &format!("/api/v1/projects/proj/executions/{id}"),
            Some(&owner),
        );
        async move { answer(request.send().await.unwrap()).await.1 }
    };
    let mut swept = get(abandoned).await;
    for _ in 0..50 {
        if swept["status"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        swept = get(abandoned).await;
    }
    assert_eq!(swept["status"], "failed", "{swept}");
    assert!(
        swept["error"]
            .as_str()
            .unwrap()
            .starts_with("interrupted: the server running this execution stopped"),
        "{swept}"
    );
    assert!(
        swept["finished_at"].is_string() || swept["finished_at"].is_number(),
        "{swept}"
    );
    assert_eq!(get(live).await["status"], "running");

    // Idempotent, so every node may sweep: nothing is left to mark.
    assert_eq!(server.env.paige.fail_abandoned_executions().await.unwrap(), 0);

    // A real execution gets a deadline past its start by at least the margin.
    let (status, summary) = answer(
        server
            .request(Method::POST, "/api/v1/projects/proj/executions", Some(&owner))
            .json(&serde_json::json!({"event": {}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let id = summary["id"].as_i64().unwrap();
    let (started, deadline): (i64, i64) = db
        .rows(
            "SELECT started_at, deadline_at FROM executions WHERE id = ?",
            &[id.into()],
        )
        .await[0];
    assert!(deadline >= started + 60_000, "{started} {deadline}");
    server.stop().await;
}
