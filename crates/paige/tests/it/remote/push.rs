//! `paige code push` against a real `paige serve` sends the whole tree in
//! one `PUT …/code`: a file gone from the directory is gone from the
//! server, a push refused for a flow secret changes nothing, and the
//! `--json` is the local push's for the same tree.

use std::path::Path;

use super::{Remote, json, ok};
use crate::common::stderr;

const VALUE: &str = "remote-push-value-4b7e19c2";
const STRIPE: &str = "sk_live_51Hx3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z";

fn write(dir: &Path, path: &str, text: &str) {
    let file = dir.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

async fn stored_paths(remote: &Remote) -> String {
    remote
        .env
        .db()
        .await
        .scalar::<String>(
            "SELECT COALESCE(group_concat(path, ','), '') FROM (SELECT path FROM code_files ORDER BY path)",
            &[],
        )
        .await
}

async fn revision(remote: &Remote) -> i64 {
    remote
        .env
        .db()
        .await
        .scalar::<i64>("SELECT revision FROM code_revisions", &[])
        .await
}

/// A push's `--json` without what differs between two pushes of the same
/// tree: the findings' ids and revision (and the id in the fix command).
fn comparable(mut pushed: serde_json::Value) -> serde_json::Value {
    for warning in pushed["warnings"].as_array_mut().unwrap() {
        let fields = warning.as_object_mut().unwrap();
        fields.remove("id");
        fields.remove("revision");
        let message = fields["message"].as_str().unwrap();
        let message = message[..message.find("--finding ").unwrap()].to_owned();
        fields.insert("message".into(), message.into());
    }
    pushed
}

#[tokio::test]
async fn a_remote_push_replaces_the_tree_like_a_local_one() {
    let remote = Remote::start().await;
    remote.login();
    remote.env.set("bot", "API_KEY", VALUE).await;
    let dir = remote.env.scratch().join("code");
    write(&dir, "app.js", &format!("const key = '{VALUE}';\nconsole.log('hi');\n"));
    write(&dir, "lib/pay.js", &format!("const stripeKey = '{STRIPE}';\n"));
    write(&dir, "lib/old.js", "module.exports = 1;\n");
    write(&dir, "node_modules/dep/index.js", "module.exports = 2;\n");
    std::os::unix::fs::symlink("lib/pay.js", dir.join("pay.js")).unwrap();
    let code = dir.to_str().unwrap();

    let pushed = json(&remote.cli(&["code", "push", "bot", code, "--json"], b""));
    assert_eq!(pushed["files"], 4, "{pushed}");
    assert_eq!(pushed["warnings"].as_array().unwrap().len(), 2, "{pushed}");
    assert_eq!(pushed["skipped"], serde_json::json!({"node_modules": 1, "binary": 0}));
    assert_eq!(
        stored_paths(&remote).await,
        "app.js,lib/old.js,lib/pay.js,node_modules/dep/index.js,pay.js"
    );

    // The same tree pushed locally answers the same.
    let local = json(&remote.local(&["code", "push", "bot", code, "--json"], b""));
    assert_eq!(comparable(pushed), comparable(local));

    // A file gone from the directory is gone from the server.
    std::fs::remove_file(dir.join("lib/old.js")).unwrap();
    let pushed = json(&remote.cli(&["code", "push", "bot", code, "--json"], b""));
    assert_eq!(pushed["files"], 3, "{pushed}");
    assert_eq!(
        stored_paths(&remote).await,
        "app.js,lib/pay.js,node_modules/dep/index.js,pay.js"
    );

    // Piped, nothing but the JSON and no value anywhere.
    let out = remote.cli(&["code", "push", "bot", code], b"");
    let said = format!("{}{}", ok(&out), stderr(&out));
    assert!(!said.contains(VALUE) && !said.contains(STRIPE), "{said}");
    assert!(
        said.contains("not scanned for secrets: 1 file under node_modules/"),
        "{said}"
    );
}

#[tokio::test]
async fn a_remote_push_refused_for_a_flow_secret_changes_nothing() {
    let remote = Remote::start().await;
    remote.login();
    remote.env.set("bot", "API_KEY", VALUE).await;
    let dir = remote.env.scratch().join("code");
    write(&dir, "app.js", "console.log('hi');\n");
    write(&dir, "gone.js", "module.exports = 1;\n");
    let code = dir.to_str().unwrap();
    ok(&remote.cli(&["code", "push", "bot", code], b""));
    let before = (stored_paths(&remote).await, revision(&remote).await);

    std::fs::remove_file(dir.join("gone.js")).unwrap();
    write(&dir, "new.js", "module.exports = 2;\n");
    write(&dir, "flows/signup.json", &format!("{{\"token\": \"{VALUE}\"}}\n"));
    let out = remote.cli(&["code", "push", "bot", code, "--json"], b"");
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(
        said.contains("flows/signup.json") && said.contains("carries a secret"),
        "{said}"
    );
    assert!(!said.contains(VALUE), "{said}");
    assert_eq!((stored_paths(&remote).await, revision(&remote).await), before);
    assert_eq!(before.0, "app.js,gone.js");
}
