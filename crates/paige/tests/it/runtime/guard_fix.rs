//! "Move into Secrets" (SPEC §1, issue 14): one finding's value stored as
//! a secret and its occurrence rewritten to `process.env.NAME`, in one
//! transaction. A real Node bot runs before and after; a failure injected
//! into the transaction (a trigger made by the test) changes nothing.

use std::path::{Path, PathBuf};

use paige::runtime::{ExecutionRequest, ExecutionStatus, Stream, Trigger};
use reqwest::Method;
use secrecy::ExposeSecret;

use super::{bot, lines_of, run, stored};
use crate::api::{Server, answer};
use crate::common::{Env, actor, both_backends, stderr, stdout};

/// The key the fixture `hardcoded` holds (made up).
const STRIPE: &str = "sk_live_51Hx3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z";

/// A copy of the fixture bot, plus `extra` files.
fn hardcoded(env: &Env, extra: &[(&str, &str)]) -> PathBuf {
    let dir = env.dir.path().join("hardcoded");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(bot("hardcoded").join("app.js"), dir.join("app.js")).unwrap();
    for (path, text) in extra {
        std::fs::write(dir.join(path), text).unwrap();
    }
    dir
}

/// Runs the project's entry point; its stdout lines.
async fn output(env: &Env, slug: &str) -> Vec<String> {
    let request = ExecutionRequest::entry_point(serde_json::json!({}), Trigger::Test, actor());
    let record = run(env, slug, request).await;
    let execution = stored(env, slug, record.id).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{:?}", execution.log);
    lines_of(&execution, Stream::Stdout)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

async fn app_js(env: &Env, id: i64) -> String {
    let content: Vec<u8> = env
        .db()
        .await
        .column::<Vec<u8>>(
            "SELECT content FROM code_files WHERE project_id = ? AND path = 'app.js'",
            &[id.into()],
        )
        .await
        .pop()
        .unwrap();
    String::from_utf8(content).unwrap()
}

async fn audit(env: &Env, id: i64) -> Vec<(String, Option<String>, Option<String>)> {
    env.db()
        .await
        .rows(
            "SELECT action, key, detail FROM audit_events WHERE project_id = ? ORDER BY id",
            &[id.into()],
        )
        .await
}

async fn revision(env: &Env, id: i64) -> i64 {
    env.db()
        .await
        .scalar::<i64>("SELECT revision FROM code_revisions WHERE project_id = ?", &[id.into()])
        .await
}

fn push(env: &Env, slug: &str, dir: &Path) {
    let out = env.cli(&["code", "push", slug, dir.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
}

both_backends!(moving_a_value_into_secrets_keeps_the_bot_running);

async fn moving_a_value_into_secrets_keeps_the_bot_running(env: Env) {
    let server = Server::start_on(env).await;
    let owner = server.user("owner@example.com").await;
    let env = &server.env;
    env.paige
        .create_project("shop", Some("owner@example.com"), &actor())
        .await
        .unwrap();
    let id = env.paige.project("shop").await.unwrap().id;
    let dir = hardcoded(env, &[]);
    push(env, "shop", &dir);
    // Before: the bot prints the hard-coded key as it is.
    assert_eq!(
        output(env, "shop").await,
        [
            format!("key {STRIPE}"),
            format!("Authorization: Bearer {STRIPE}"),
            "length 42".to_owned()
        ]
    );
    let findings = env.paige.code_findings("shop").await.unwrap();
    let lines: Vec<(i64, &str)> = findings
        .iter()
        .map(|f| (f.finding.line, f.finding.rule.as_str()))
        .collect();
    assert_eq!(lines, [(7, "stripe_secret_key"), (8, "stripe_secret_key")]);

    // Two findings: the CLI wants to know which.
    let out = env.cli(&["code", "fix", "shop"], b"");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("choose one with --finding ID"),
        "{}",
        stderr(&out)
    );
    // The first, under the key suggested from its variable.
    let first = findings[0].id.to_string();
    let out = env.cli(&["code", "fix", "shop", "--finding", &first], b"");
    let (out_text, err_text) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{err_text}");
    assert_eq!(
        out_text,
        "stored STRIPE_KEY (version 1) and rewrote app.js:7 to read process.env.STRIPE_KEY\n"
    );
    // The other occurrence is now a project value.
    assert!(
        err_text.contains("app.js:8:39 contains the value of STRIPE_KEY"),
        "{err_text}"
    );
    assert!(!out_text.contains(STRIPE) && !err_text.contains(STRIPE));
    let code = app_js(env, id).await;
    assert!(code.contains("const stripeKey = process.env.STRIPE_KEY;\n"), "{code}");
    let secrets = env.paige.resolve("shop").await.unwrap();
    let stored_value = secrets.secrets.iter().find(|(k, _)| k == "STRIPE_KEY").unwrap();
    assert_eq!(stored_value.1.expose_secret(), STRIPE);
    // After: the bot reads it from its environment, and its log masks it.
    assert_eq!(
        output(env, "shop").await,
        [
            "key [REDACTED:STRIPE_KEY]".to_owned(),
            "Authorization: Bearer [REDACTED:STRIPE_KEY]".to_owned(),
            "length 42".to_owned()
        ]
    );

    // The second through the API: already a secret, so only the code changes.
    let (status, body) = answer(
        server
            .request(Method::GET, "/api/v1/projects/shop/code/findings", Some(&owner))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.to_string().contains(STRIPE));
    let listed = body["findings"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{body}");
    assert_eq!(listed[0]["key"], "STRIPE_KEY");
    let second = listed[0]["id"].as_i64().unwrap();
    let (status, body) = answer(
        server
            .request(
                Method::POST,
                &format!("/api/v1/projects/shop/code/findings/{second}/fix"),
                Some(&owner),
            )
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key"], "STRIPE_KEY");
    assert_eq!(body["version"], serde_json::Value::Null, "{body}");
    assert_eq!(body["remaining"], serde_json::json!([]));
    assert!(!body.to_string().contains(STRIPE));
    let code = app_js(env, id).await;
    assert!(
        code.contains("const header = \"Authorization: Bearer \" + process.env.STRIPE_KEY;\n"),
        "{code}"
    );
    assert!(!code.contains(STRIPE));
    assert_eq!(
        output(env, "shop").await,
        [
            "key [REDACTED:STRIPE_KEY]".to_owned(),
            "Authorization: Bearer [REDACTED:STRIPE_KEY]".to_owned(),
            "length 42".to_owned()
        ]
    );
    assert!(env.paige.code_findings("shop").await.unwrap().is_empty());
    // Audited: the secret's version and both rewrites, never the value.
    let trail = audit(env, id).await;
    let actions: Vec<(&str, Option<&str>)> = trail
        .iter()
        .filter(|(a, _, _)| a.starts_with("secret.") || a == "code.fix")
        .map(|(a, k, _)| (a.as_str(), k.as_deref()))
        .collect();
    assert_eq!(
        actions,
        [
            ("secret.create", Some("STRIPE_KEY")),
            ("code.fix", None),
            ("code.fix", None)
        ]
    );
    assert!(
        trail.iter().any(|(a, _, d)| a == "code.fix"
            && d.as_deref()
                .is_some_and(|d| d.ends_with("app.js:7 moved into Secrets as STRIPE_KEY"))),
        "{trail:?}"
    );
    assert!(!format!("{trail:?}").contains(STRIPE));
    server.stop().await;
}

both_backends!(a_fix_that_fails_half_way_changes_nothing);

async fn a_fix_that_fails_half_way_changes_nothing(env: Env) {
    env.project("shop").await;
    let id = env.paige.project("shop").await.unwrap().id;
    let dir = hardcoded(&env, &[("notes.md", &format!("old key: {STRIPE}\n"))]);
    push(&env, "shop", &dir);
    let before_code = app_js(&env, id).await;
    let before_findings = env.paige.code_findings("shop").await.unwrap();
    let before_revision = revision(&env, id).await;
    let before_audit = audit(&env, id).await;
    let first = before_findings.iter().find(|f| f.finding.file == "app.js").unwrap().id;

    // The last write of a fix, its `code.fix` audit record, fails.
    env.break_audit("code.fix").await;
    let err = env
        .paige
        .fix_code_finding("shop", first, Some("STRIPE_SECRET_KEY"), &actor())
        .await
        .unwrap_err();
    assert!(!err.to_string().contains(STRIPE), "{err}");
    // The secret written before the failure was rolled back with the rest.
    assert!(env.paige.list_secrets("shop").await.unwrap().is_empty());
    assert_eq!(app_js(&env, id).await, before_code);
    assert_eq!(revision(&env, id).await, before_revision);
    assert_eq!(env.paige.code_findings("shop").await.unwrap(), before_findings);
    assert_eq!(audit(&env, id).await, before_audit);

    // A finding outside a string (here a Markdown file) is refused with
    // what to do by hand, and nothing changes either.
    let note = before_findings
        .iter()
        .find(|f| f.finding.file == "notes.md")
        .unwrap()
        .id;
    let err = env
        .paige
        .fix_code_finding("shop", note, None, &actor())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unfixable_finding", "{err}");
    assert!(err.to_string().contains("notes.md:1:10"), "{err}");
    assert!(env.paige.list_secrets("shop").await.unwrap().is_empty());

    // Without the injected failure the same fix goes through.
    env.mend_audit("code.fix").await;
    let fixed = env
        .paige
        .fix_code_finding("shop", first, Some("STRIPE_SECRET_KEY"), &actor())
        .await
        .unwrap();
    assert_eq!(fixed.secret.unwrap().version, 1);
    assert_eq!(revision(&env, id).await, before_revision + 1);
    assert!(app_js(&env, id).await.contains("process.env.STRIPE_SECRET_KEY"));
}

both_backends!(the_secrets_page_lists_findings_and_moves_one_into_secrets);

async fn the_secrets_page_lists_findings_and_moves_one_into_secrets(env: Env) {
    let (server, mut browser) = crate::web::signed_in(env).await;
    let env = &server.env;
    let dir = env.dir.path().join("web-code");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("app.js"),
        format!("const pay = require('stripe')('{STRIPE}');\n"),
    )
    .unwrap();
    std::fs::write(dir.join("notes.md"), format!("old key: {STRIPE}\n")).unwrap();
    push(env, "bot", &dir);
    let page_path = "/projects/bot/settings/secrets";
    let page = browser.get(page_path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("2 hard-coded credentials in your code"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<code>app.js:1</code>") && page.body.contains("<code>notes.md:1</code>"));
    assert!(page.body.contains("a Stripe credential sk_live_…Xy4z"), "{}", page.body);
    assert!(!page.body.contains(STRIPE));
    let csrf = crate::web::csrf_of(&page.body);
    let findings = env.paige.code_findings("bot").await.unwrap();
    let id_of = |file: &str| findings.iter().find(|f| f.finding.file == file).unwrap().id;

    // One that cannot be rewritten: refused on the page, saying why.
    let refused = browser
        .post(
            &format!("{page_path}/findings/{}/fix", id_of("notes.md")),
            &[("csrf", &csrf), ("key", "")],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("only JavaScript and TypeScript files are rewritten"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains(STRIPE));
    assert!(crate::web::keys(&server, "bot").await.is_empty());

    // The button, with a key of the user's choice.
    let moved = browser
        .post(
            &format!("{page_path}/findings/{}/fix", id_of("app.js")),
            &[("csrf", &csrf), ("key", "PAYMENTS_KEY")],
        )
        .await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    let location = moved.location.unwrap();
    assert_eq!(location, "/projects/bot/settings/secrets?fixed=PAYMENTS_KEY");
    let page = browser.get(&location).await;
    assert!(
        page.body.contains("the code now reads process.env.PAYMENTS_KEY"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("1 hard-coded credential in your code"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<code>PAYMENTS_KEY</code>"));
    assert!(!page.body.contains(STRIPE));
    assert_eq!(crate::web::keys(&server, "bot").await, [("PAYMENTS_KEY".to_owned(), 1)]);
    // Without the CSRF token nothing happens.
    let forged = browser
        .post(
            &format!("{page_path}/findings/{}/fix", id_of("notes.md")),
            &[("key", "X_KEY")],
        )
        .await;
    assert_ne!(forged.status, 303);
    server.stop().await;
}
