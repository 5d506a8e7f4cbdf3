//! Rollback over the real `paige serve`: an old value comes back as a new
//! version, a real Node bot sees it on its next execution, the audit has
//! the record, viewers see the history but cannot roll back, and no
//! response, log line, audit record or stored byte carries either value.

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::common::{Env, actor, all_files, both_backends, contains};

const OLD: &str = "planted-old-value-5e0a9c77d1";
const NEW: &str = "planted-new-value-b3f81d2a64";

fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A client of the real server that keeps every response it got, whole.
struct Client {
    base: String,
    http: reqwest::Client,
    seen: Vec<String>,
}

impl Client {
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let mut whole = format!("{status}\n");
        for (name, value) in response.headers() {
            whole.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
        }
        let text = response.text().await.unwrap();
        whole.push_str(&text);
        self.seen.push(whole);
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }
}

async fn token(paige: &paige::Paige, email: &str) -> String {
    let (_, token) = paige.create_token(email, &actor()).await.unwrap();
    token.expose().to_owned()
}

both_backends!(rollback_restores_an_old_value_that_the_next_execution_sees);

async fn rollback_restores_an_old_value_that_the_next_execution_sees(env: Env) {
    env.project("proj").await;
    let paige = &env.paige;
    paige
        .create_user(
            "viewer@example.com",
            &crate::common::secret("a long password!"),
            &actor(),
        )
        .await
        .unwrap();
    paige
        .add_member("proj", "viewer@example.com", paige::model::Role::Viewer, &actor())
        .await
        .unwrap();
    let owner = token(paige, "alice@example.com").await;
    let viewer = token(paige, "viewer@example.com").await;

    let server = env.serve("serve.log", &[("PAIGE_LOG", "debug")]);
    let mut api = Client {
        base: server.base.clone(),
        http: reqwest::Client::new(),
        seen: Vec::new(),
    };
    let key = "/api/v1/projects/proj/secrets/ROTATING_KEY";
    let put = |value: &str| Some(serde_json::json!({ "value": value }));
    assert_eq!(api.call(Method::PUT, key, &owner, put(OLD)).await.0, 201);
    assert_eq!(api.call(Method::PUT, key, &owner, put(NEW)).await.0, 200);

    // Members see the history: version, time, author; never a value.
    let versions = format!("{key}/versions");
    for token in [&owner, &viewer] {
        let (status, listed) = api.call(Method::GET, &versions, token, None).await;
        assert_eq!(status, 200, "{listed}");
        let numbers: Vec<i64> = listed["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect();
        assert_eq!(numbers, [2, 1]);
        assert_eq!(listed["versions"][0]["current"], true);
        assert_eq!(listed["versions"][1]["current"], false);
        assert!(
            listed["versions"][1]["created_by"]
                .as_str()
                .unwrap()
                .contains("alice@example.com"),
            "{listed}"
        );
    }

    // No route reads a version, or a value.
    for path in [format!("{versions}/1"), format!("{versions}/2"), key.to_owned()] {
        let (status, body) = api.call(Method::GET, &path, &owner, None).await;
        assert!(status == 404 || status == 405, "GET {path}: {status} {body}");
    }

    // Viewers cannot roll back; a version not kept is a clear 404; nothing changes.
    let rollback = format!("{key}/rollback");
    let to = |version: i64| Some(serde_json::json!({ "version": version }));
    assert_eq!(api.call(Method::POST, &rollback, &viewer, to(1)).await.0, 403);
    let (status, body) = api.call(Method::POST, &rollback, &owner, to(9)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    assert_eq!(
        api.call(
            Method::POST,
            &rollback,
            &owner,
            Some(serde_json::json!({"version": "1"}))
        )
        .await
        .0,
        400
    );
    let (_, listed) = api.call(Method::GET, &versions, &owner, None).await;
    assert_eq!(
        listed["versions"].as_array().unwrap().len(),
        2,
        "a refused rollback wrote nothing"
    );

    let (status, rolled) = api.call(Method::POST, &rollback, &owner, to(1)).await;
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(
        (rolled["version"].as_i64(), rolled["restored_from"].as_i64()),
        (Some(3), Some(1))
    );
    let (_, listed) = api.call(Method::GET, &versions, &viewer, None).await;
    let numbers: Vec<i64> = listed["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        [3, 2, 1],
        "versions never go back: the old value is a new version"
    );

    // A real Node bot, run by the server, sees the old value on its next execution.
    let code = std::fs::read_to_string(crate::runtime::bot("rotation").join("app.js")).unwrap();
    let response = api
        .http
        .put(format!("{}/api/v1/projects/proj/code/app.js", api.base))
        .bearer_auth(&owner)
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(code)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, run) = api
        .call(
            Method::POST,
            "/api/v1/projects/proj/executions",
            &owner,
            Some(serde_json::json!({"event": {}})),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["status"], "succeeded", "{run}");
    let (_, execution) = api
        .call(
            Method::GET,
            &format!("/api/v1/projects/proj/executions/{}", run["id"]),
            &owner,
            None,
        )
        .await;
    let lines: Vec<&str> = execution["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(
        lines.contains(&format!("sha256={}", sha256_hex(OLD)).as_str()),
        "{lines:?}"
    );
    assert!(lines.contains(&"value=[REDACTED:ROTATING_KEY]"), "{lines:?}");

    // The audit has the rollback, named by version, never by value.
    let (_, audit) = api.call(Method::GET, "/api/v1/projects/proj/audit", &owner, None).await;
    let record = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "secret.rollback")
        .unwrap_or_else(|| panic!("no rollback record: {audit}"));
    assert_eq!(record["key"], "ROTATING_KEY");
    assert_eq!(record["version"], 3);
    assert_eq!(record["detail"], "to the value of version 1");
    assert!(
        record["actor"].as_str().unwrap().contains("alice@example.com"),
        "{record}"
    );

    // The CLI rolls back the same way, and says so without the value.
    drop(server);
    let cli = env.cli(&["secrets", "rollback", "proj", "ROTATING_KEY", "--to", "2"], b"");
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let said = String::from_utf8(cli.stdout.clone()).unwrap();
    assert!(said.contains("version 2") && said.contains("now version 4"), "{said}");
    let listed = env.cli(&["secrets", "versions", "proj", "ROTATING_KEY"], b"");
    assert!(listed.status.success());
    let table = String::from_utf8(listed.stdout.clone()).unwrap();
    assert_eq!(table.lines().count(), 5, "a header and four versions: {table}");
    let json = env.cli(&["secrets", "versions", "proj", "ROTATING_KEY", "--json"], b"");
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let numbers: Vec<i64> = json["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [4, 3, 2, 1]);
    let resolved = env.paige.resolve("proj").await.unwrap();
    assert_eq!(resolved.secrets.len(), 1);
    assert!(
        resolved.secrets[0].1.expose_secret() == NEW,
        "version 4 holds version 2's value"
    );

    // Plant-a-value: nothing the server said, logged or stored carries either value.
    let mut outputs: Vec<(String, Vec<u8>)> = api
        .seen
        .iter()
        .map(|s| ("response".to_owned(), s.clone().into_bytes()))
        .collect();
    outputs.push((
        "serve.log".to_owned(),
        std::fs::read(env.scratch().join("serve.log")).unwrap(),
    ));
    outputs.push((
        "cli".to_owned(),
        [cli.stdout, cli.stderr, listed.stdout, listed.stderr].concat(),
    ));
    let db = env.db().await;
    let details: Vec<Option<String>> = db.column("SELECT detail FROM audit_events", &[]).await;
    outputs.push(("audit".to_owned(), format!("{details:?}").into_bytes()));
    for (path, bytes) in env.stored().into_iter().chain(
        all_files(env.scratch())
            .into_iter()
            .filter(|(p, _)| !p.starts_with(env.data_dir())),
    ) {
        outputs.push((path.display().to_string(), bytes));
    }
    for (name, bytes) in &outputs {
        for value in [OLD, NEW] {
            assert!(!contains(bytes, value.as_bytes()), "{value} found in {name}");
        }
    }
}
