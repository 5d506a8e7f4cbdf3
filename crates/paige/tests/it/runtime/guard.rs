//! The code guard (SPEC §1, issue 14): a push or a file write holding one
//! of the project's own values or a recognisable credential is stored with
//! warnings naming file and line, never the value; a flow JSON file
//! carrying a secret is refused and nothing changes.

use std::path::Path;

use base64::Engine;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;

use crate::api::{Server, answer};
use crate::common::{Env, actor, both_backends, stderr, stdout};

/// A project value planted in the code.
const PLANTED: &str = "planted-openai-value-7f3a9c2e41d8";
/// A Stripe-shaped live key (made up).
const STRIPE: &str = "sk_live_51Hx3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z";

fn write_tree(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn b64(value: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(value)
}

/// A PEM private key (made up).
const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7yvY3dZ0k9PlantedPemBodyLineAbCdEfGhIjKlMnOpQr\n-----END RSA PRIVATE KEY-----";
const PEM_BODY: &str = "MIIEowIBAAKCAQEA7yvY3dZ0k9PlantedPemBodyLineAbCdEfGhIjKlMnOpQr";

/// The forms of the planted values that must never be shown.
fn forbidden() -> Vec<String> {
    vec![PLANTED.to_owned(), b64(PLANTED), STRIPE.to_owned(), PEM_BODY.to_owned()]
}

fn assert_no_value(what: &str, text: &str) {
    for value in forbidden() {
        assert!(!text.contains(&value), "{what} shows a planted value: {text}");
    }
}

async fn project_id(env: &Env, slug: &str) -> i64 {
    env.paige.project(slug).await.unwrap().id
}

async fn audit_details(env: &Env, project_id: i64) -> Vec<(String, Option<String>)> {
    env.db()
        .await
        .rows(
            "SELECT action, detail FROM audit_events WHERE project_id = ? ORDER BY id",
            &[project_id.into()],
        )
        .await
}

async fn revision(env: &Env, project_id: i64) -> Option<i64> {
    env.db()
        .await
        .column::<i64>(
            "SELECT revision FROM code_revisions WHERE project_id = ?",
            &[project_id.into()],
        )
        .await
        .first()
        .copied()
}

async fn stored_file(env: &Env, project_id: i64, path: &str) -> Option<Vec<u8>> {
    env.db()
        .await
        .column::<Vec<u8>>(
            "SELECT content FROM code_files WHERE project_id = ? AND path = ?",
            &[project_id.into(), path.into()],
        )
        .await
        .pop()
}

both_backends!(a_push_with_hard_coded_values_warns_by_file_and_line_never_the_value);

/// (file, line, column, rule, key) of each finding of a JSON listing.
fn places(findings: &serde_json::Value) -> Vec<(String, u64, u64, String, Option<String>)> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["file"].as_str().unwrap().to_owned(),
                w["line"].as_u64().unwrap(),
                w["column"].as_u64().unwrap(),
                w["rule"].as_str().unwrap().to_owned(),
                w["key"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

async fn a_push_with_hard_coded_values_warns_by_file_and_line_never_the_value(env: Env) {
    env.project("my-bot").await;
    env.set("my-bot", "OPENAI_API_KEY", PLANTED).await;
    let id = project_id(&env, "my-bot").await;
    let dir = env.dir.path().join("code");
    let app = format!(
        "'use strict';\nconst key = '{PLANTED}';\nconst encoded = '{}';\nconst stripe = require('stripe')('{STRIPE}');\nconst signing = `{PEM}`;\n",
        b64(PLANTED)
    );
    write_tree(
        &dir,
        &[
            ("app.js", &app),
            // A near miss in a comment of the README: not a finding.
            ("README.md", "<!-- Use a test key such as sk_test_example here. -->\n"),
            // Installed dependencies are not scanned.
            ("node_modules/dep/index.js", &format!("module.exports = '{STRIPE}';\n")),
        ],
    );
    std::fs::write(dir.join("logo.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let out = env.cli(&["code", "push", "my-bot", dir.to_str().unwrap()], b"");
    let (out_text, err_text) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{err_text}");
    assert!(out_text.starts_with("pushed 4 files"), "{out_text}");
    let stripe_column = app.lines().nth(3).unwrap().find("sk_live").unwrap() + 1;
    let warnings: Vec<String> = err_text
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .map(|l| l.rsplit_once("--finding ").unwrap().0.to_owned())
        .collect();
    assert_eq!(
        warnings,
        [
            "warning: app.js:2:14 contains the value of OPENAI_API_KEY; move it into Secrets as OPENAI_API_KEY: \
             paige code fix my-bot "
                .to_owned(),
            "warning: app.js:3:18 contains the value of OPENAI_API_KEY; move it into Secrets as OPENAI_API_KEY: \
             paige code fix my-bot "
                .to_owned(),
            format!(
                "warning: app.js:4:{stripe_column} contains a Stripe credential (stripe_secret_key sk_live_…Xy4z); \
                 move it into Secrets as STRIPE_SECRET_KEY: paige code fix my-bot "
            ),
            "warning: app.js:5:18 contains a PEM credential (pem_private_key -----BEGIN RSA PRIVATE KEY-----); \
             move it into Secrets as SIGNING: paige code fix my-bot "
                .to_owned(),
        ],
        "{err_text}"
    );
    assert!(
        err_text.contains("note: not scanned for secrets: 1 file under node_modules/, 1 binary file"),
        "{err_text}"
    );
    assert_no_value("stdout", &out_text);
    assert_no_value("stderr", &err_text);
    // Stored all the same: a warning, not a refusal.
    assert_eq!(stored_file(&env, id, "app.js").await.as_deref(), Some(app.as_bytes()));
    // The findings are stored with the revision, in its transaction.
    let stored: Vec<(i64, String, i64, Option<String>)> = env
        .db()
        .await
        .rows(
            "SELECT revision, file, line, fingerprint FROM code_findings WHERE project_id = ? ORDER BY line",
            &[id.into()],
        )
        .await;
    let rev = revision(&env, id).await.unwrap();
    assert_eq!(
        stored.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(),
        [(rev, 2), (rev, 3), (rev, 4), (rev, 5)]
    );
    assert_no_value("the stored findings", &format!("{stored:?}"));
    // The audit keeps file:line and names only.
    let audit = audit_details(&env, id).await;
    let guard: Vec<&Option<String>> = audit
        .iter()
        .filter(|(action, _)| action == "code.warnings")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        guard,
        [&Some(format!(
            "revision {rev}: app.js:2 OPENAI_API_KEY, app.js:3 OPENAI_API_KEY, app.js:4 stripe_secret_key, \
             app.js:5 pem_private_key"
        ))]
    );
    for (action, detail) in &audit {
        assert_no_value(action, detail.as_deref().unwrap_or(""));
    }

    // --json carries the same findings, without the value.
    let out = env.cli(&["code", "push", "my-bot", dir.to_str().unwrap(), "--json"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_value("--json", &stdout(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["files"], 4);
    assert_eq!(json["skipped"], serde_json::json!({"node_modules": 1, "binary": 1}));
    let s = |t: &str| t.to_owned();
    let key = Some(s("OPENAI_API_KEY"));
    let expected = vec![
        (s("app.js"), 2, 14, s("project_value"), key.clone()),
        (s("app.js"), 3, 18, s("project_value"), key),
        (s("app.js"), 4, stripe_column as u64, s("stripe_secret_key"), None),
        (s("app.js"), 5, 18, s("pem_private_key"), None),
    ];
    assert_eq!(places(&json["warnings"]), expected);
    assert_eq!(json["warnings"][2]["fingerprint"], "sk_live_…Xy4z");
    assert_eq!(json["warnings"][0]["fingerprint"], serde_json::Value::Null);

    // Listed: by the CLI and by the API, the same findings.
    let out = env.cli(&["code", "findings", "my-bot", "--json"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_value("findings --json", &stdout(&out));
    let listed: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(places(&listed["findings"]), expected);
    assert_eq!(listed["findings"], json["warnings"]);

    // A clean push prints no warning, audits none and clears the list.
    let clean = env.dir.path().join("clean");
    write_tree(
        &clean,
        &[("app.js", "console.log(process.env.OPENAI_API_KEY.length);\n")],
    );
    let out = env.cli(&["code", "push", "my-bot", clean.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("not scanned"), "{}", stderr(&out));
    let audit = audit_details(&env, id).await;
    assert_eq!(audit.iter().filter(|(a, _)| a == "code.warnings").count(), 2);
    assert!(env.paige.code_findings("my-bot").await.unwrap().is_empty());
}

both_backends!(a_flow_carrying_a_secret_is_refused_and_nothing_changes);

async fn a_flow_carrying_a_secret_is_refused_and_nothing_changes(env: Env) {
    env.project("my-bot").await;
    env.set("my-bot", "OPENAI_API_KEY", PLANTED).await;
    let id = project_id(&env, "my-bot").await;
    let v1 = env.dir.path().join("v1");
    let flow = "{\n  \"version\": \"3.1\",\n  \"screens\": []\n}\n";
    write_tree(&v1, &[("app.js", "console.log('v1');\n"), ("flows/signup.json", flow)]);
    // A flow without secrets is accepted.
    env.paige.push_code("my-bot", &v1, &actor()).await.unwrap();
    let before = revision(&env, id).await;
    assert!(before.is_some());

    let bad_flows = [
        format!("{{\n  \"version\": \"3.1\",\n  \"data\": {{\"key\": \"{PLANTED}\"}}\n}}\n"),
        format!(
            "{{\n  \"version\": \"3.1\",\n  \"data\": {{\"key\": \"{}\"}}\n}}\n",
            b64(PLANTED)
        ),
        "{\n  \"version\": \"3.1\",\n  \"data\": \"process.env.OPENAI_API_KEY\"\n}\n".to_owned(),
        "{\n  \"version\": \"3.1\",\n  \"data\": \"{{secrets.OPENAI_API_KEY}}\"\n}\n".to_owned(),
        "{\n  \"version\": \"3.1\",\n  \"data\": \"${OPENAI_API_KEY}\"\n}\n".to_owned(),
        "{\n  \"version\": \"3.1\",\n  \"data\": \"{{OPENAI_API_KEY}}\"\n}\n".to_owned(),
        "{\n  \"version\": \"3.1\",\n  \"data\": \"OPENAI_API_KEY\"\n}\n".to_owned(),
        format!("{{\n  \"version\": \"3.1\",\n  \"data\": \"{STRIPE}\"\n}}\n"),
    ];
    for (i, bad) in bad_flows.iter().enumerate() {
        // The whole push is refused.
        let dir = env.dir.path().join(format!("bad{i}"));
        write_tree(&dir, &[("app.js", "console.log('v2');\n"), ("flows/signup.json", bad)]);
        let err = env.paige.push_code("my-bot", &dir, &actor()).await.unwrap_err();
        assert_eq!(err.code(), "secret_in_flow", "flow {i}: {err}");
        let message = err.to_string();
        assert!(message.contains("flows/signup.json:3 at $.data"), "{message}");
        assert!(
            message.contains("Secrets are not available in flow JSON files (flows run on Meta's infrastructure); pass the value as a flow action payload from bot code"),
            "{message}"
        );
        assert_no_value("the error", &message);
        // And a write of that one file.
        let err = env
            .paige
            .put_code_file("my-bot", "flows/signup.json", bad.as_bytes(), &actor())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "secret_in_flow", "flow {i}: {err}");
        assert_eq!(revision(&env, id).await, before, "flow {i}");
        assert_eq!(
            stored_file(&env, id, "app.js").await.as_deref(),
            Some(&b"console.log('v1');\n"[..])
        );
        assert_eq!(
            stored_file(&env, id, "flows/signup.json").await.as_deref(),
            Some(flow.as_bytes())
        );
    }

    // The CLI says why, and exits non-zero.
    let dir = env.dir.path().join("bad0");
    let out = env.cli(&["code", "push", "my-bot", dir.to_str().unwrap()], b"");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("flows/signup.json:3"), "{}", stderr(&out));
    assert_no_value("stderr", &stderr(&out));
    assert_eq!(revision(&env, id).await, before);
    // A file shaped like a WhatsApp Flow is a flow wherever it is.
    let shaped = "{\n  \"version\": \"3.1\",\n  \"screens\": [{\"k\": \"process.env.OPENAI_API_KEY\"}]\n}\n";
    let err = env
        .paige
        .put_code_file("my-bot", "lib/signup.json", shaped.as_bytes(), &actor())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "secret_in_flow");
    assert!(err.to_string().contains("lib/signup.json:3"), "{err}");
    assert_eq!(revision(&env, id).await, before);
    assert_eq!(stored_file(&env, id, "lib/signup.json").await, None);
    // JSON that is not a flow is ordinary code: a warning only.
    let summary = env
        .paige
        .put_code_file("my-bot", "lib/flows.json", bad_flows[0].as_bytes(), &actor())
        .await
        .unwrap();
    assert_eq!(summary.warnings.len(), 1);
}

both_backends!(a_file_write_answers_with_its_warnings);

async fn a_file_write_answers_with_its_warnings(env: Env) {
    let server = Server::start_on(env).await;
    let owner = server.user("owner@example.com").await;
    server
        .env
        .paige
        .create_project("proj", Some("owner@example.com"), &actor())
        .await
        .unwrap();
    assert_eq!(
        server
            .put_value(&owner, "proj", "OPENAI_API_KEY", PLANTED)
            .await
            .status(),
        201
    );
    let put = |path: &'static str, body: String| {
        let request = server
            .request(Method::PUT, &format!("/api/v1/projects/proj/code/{path}"), Some(&owner))
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            answer(response).await
        }
    };
    let (status, body) = put(
        "app.js",
        format!("// hi\nconst k = '{PLANTED}';\nconst s = '{STRIPE}';\n"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_no_value("the answer", &body.to_string());
    let warnings = body["warnings"].as_array().unwrap();
    let seen: Vec<(String, u64, String, String)> = warnings
        .iter()
        .map(|w| {
            (
                w["file"].as_str().unwrap().to_owned(),
                w["line"].as_u64().unwrap(),
                w["kind"].as_str().unwrap().to_owned(),
                w["key"].as_str().or(w["rule"].as_str()).unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("app.js".to_owned(), 2, "secret".to_owned(), "OPENAI_API_KEY".to_owned()),
            (
                "app.js".to_owned(),
                3,
                "credential".to_owned(),
                "stripe_secret_key".to_owned()
            ),
        ]
    );
    let (status, body) = put("clean.js", "console.log(process.env.OPENAI_API_KEY);\n".to_owned()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["warnings"], serde_json::json!([]));
    let (status, body) = put("flows/a.json", "{\"x\": \"{{secrets.OPENAI_API_KEY}}\"}".to_owned()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "secret_in_flow", "{body}");
    server.stop().await;
}
