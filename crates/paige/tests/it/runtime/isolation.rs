//! The child's environment is built from nothing; secrets are resolved
//! once, when an execution starts.

use paige::model::Page;
use paige::runtime::{ExecutionStatus, Stream};
use sha2::{Digest, Sha256};

use super::{bot, lines_of, node_request, run, stored};
use crate::common::{Env, stderr};

const PLATFORM: &[&str] = &[
    "HOME",
    "LOGNAME",
    "NODE_ENV",
    "PAIGE_EXECUTION_ID",
    "PAIGE_PROJECT",
    "PAIGE_TRIGGER",
    "PATH",
    "PWD",
    "SHELL",
    "TMPDIR",
    "TZ",
    "USER",
];

#[tokio::test]
async fn nothing_of_the_parent_environment_reaches_the_bot() {
    let env = Env::sqlite().await;
    env.project("iso").await;
    env.set("iso", "OPENAI_API_KEY", "sk-proj-isolation-0123456789").await;
    env.set("iso", "CRM_TOKEN", "crm-token-abcdefghijkl").await;
    let key_file = env.data_dir().join("master.key");
    let master_key_text = std::fs::read_to_string(&key_file).unwrap();
    let event = env.dir.path().join("event.json");
    std::fs::write(&event, br#"{"text": "hi", "from": "+15550100"}"#).unwrap();

    let out = env.cli_with_env(
        &[
            "run",
            "iso",
            "--event",
            event.to_str().unwrap(),
            "--",
            "node",
            bot("env").join("app.js").to_str().unwrap(),
        ],
        b"",
        &[
            ("PARENT_ONLY_VARIABLE", "from-the-parent"),
            ("PAIGE_MASTER_KEY", "not-a-real-key-but-must-not-pass"),
            ("PAIGE_MASTER_KEY_FILE", key_file.to_str().unwrap()),
            ("NODE_OPTIONS", "--require /nonexistent/hook.js"),
            ("LD_PRELOAD", "/nonexistent/preload.so"),
            ("HOME", "/root/the-parents-home"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut expected: Vec<&str> = PLATFORM.to_vec();
    expected.extend(["CRM_TOKEN", "OPENAI_API_KEY"]);
    expected.sort_unstable();
    assert_eq!(report["keys"], serde_json::json!(expected), "{report}");
    let platform = &report["platform"];
    assert_eq!(platform["PATH"], "/usr/local/bin:/usr/bin:/bin");
    assert_eq!(platform["NODE_ENV"], "production");
    assert_eq!(platform["PAIGE_PROJECT"], "iso");
    assert_eq!(platform["PAIGE_TRIGGER"], "manual");
    assert_eq!(platform["TZ"], "UTC");
    assert_eq!(platform["HOME"], platform["TMPDIR"]);
    assert_ne!(platform["HOME"], "/root/the-parents-home");
    assert_eq!(report["home_is_dir"], true);
    // The home is the sandbox's private tmpfs, gone with it (see runtime::jail).
    assert_eq!(platform["HOME"], paige::runtime::bwrap::HOME_DIR);
    // The event arrived on stdin, as JSON.
    assert_eq!(report["event"], serde_json::json!({"text": "hi", "from": "+15550100"}));
    // A local run works in the caller's directory, and PWD says so (as
    // bwrap sets it: the one variable of the sandbox's own).
    assert_eq!(report["cwd"], crate::common::fixtures().display().to_string());
    assert_eq!(platform["PWD"], report["cwd"]);

    let text = String::from_utf8_lossy(&out.stdout);
    for leaked in ["from-the-parent", "not-a-real-key", "the-parents-home", "nonexistent/"] {
        assert!(!text.contains(leaked), "{leaked} reached the bot: {text}");
    }
    for line in master_key_text.lines() {
        if let Some(hex) = line.strip_prefix("key=") {
            assert!(!text.contains(hex));
        }
    }
    let page = Page {
        before_id: None,
        limit: 1,
    };
    let record = env.paige.list_executions("iso", page).await.unwrap().remove(0);
    assert_eq!(platform["PAIGE_EXECUTION_ID"], record.id.to_string());
    assert_eq!(record.secret_names, vec!["CRM_TOKEN", "OPENAI_API_KEY"]);
    assert_eq!(record.trigger, "manual");
    assert_eq!(record.actor, crate::common::cli_actor());
}

#[tokio::test]
async fn the_entry_point_runs_in_the_code_tree_with_the_event_on_stdin() {
    let env = Env::sqlite().await;
    env.project("iso").await;
    env.paige
        .push_code("iso", &bot("env"), &crate::common::actor())
        .await
        .unwrap();
    let request = paige::runtime::ExecutionRequest::entry_point(
        serde_json::json!({"message": {"text": "ping"}}),
        paige::runtime::Trigger::Webhook,
        crate::common::actor(),
    );
    let record = run(&env, "iso", request).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    assert_eq!(record.command, vec!["node", "app.js"]);
    let execution = stored(&env, "iso", record.id).await;
    let out = lines_of(&execution, Stream::Stdout);
    let report: serde_json::Value = serde_json::from_str(out[0]).unwrap();
    assert_eq!(report["event"]["message"]["text"], "ping");
    assert_eq!(report["platform"]["PAIGE_TRIGGER"], "webhook");
    // The code tree, read-only at the sandbox's fixed path.
    assert_eq!(report["cwd"], paige::runtime::bwrap::CODE_DIR);
    assert_eq!(report["platform"]["PWD"], paige::runtime::bwrap::CODE_DIR);
}

fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

#[tokio::test]
async fn an_overwrite_takes_effect_on_the_next_execution_only() {
    let env = Env::sqlite().await;
    env.project("rot").await;
    let old = "rotating-old-value-0001";
    let new = "rotating-new-value-0002";
    env.set("rot", "ROTATING_KEY", old).await;
    let mut rendezvous = super::Rendezvous::new().await;

    // The first execution starts, then waits for the go.
    let paige = env.paige.clone();
    let event = serde_json::json!({"port": rendezvous.port()});
    let first = tokio::spawn(async move {
        paige
            .execute("rot", node_request("rotation", event), None)
            .await
            .unwrap()
    });
    rendezvous.ready().await;
    // Overwritten while it runs.
    env.set("rot", "ROTATING_KEY", new).await;
    rendezvous.go().await;
    let first = first.await.unwrap();
    let second = run(&env, "rot", node_request("rotation", serde_json::json!({}))).await;

    for (record, value, other) in [(&first, old, new), (&second, new, old)] {
        assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
        let execution = stored(&env, "rot", record.id).await;
        let out = lines_of(&execution, Stream::Stdout);
        assert_eq!(out[0], format!("sha256={}", sha256_hex(value)), "{out:?}");
        assert_ne!(out[0], format!("sha256={}", sha256_hex(other)));
        // Its own value is the one its redactor masks.
        assert_eq!(out[1], "value=[REDACTED:ROTATING_KEY]");
    }
}
