//! A bot that prints its secrets in every form SPEC §4 lists: the stored
//! log and the live output of `paige run` contain none of them.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use paige::model::Page;
use paige::runtime::{ExecutionStatus, Stream};

use super::{bot, lines_of, log_text, stored};
use crate::common::{Env, all_files, contains, stderr, stdout};

const TOKEN: &str = r#"sk_live_4eC39HqLyjWDarjtT1zdp7dc"\/+ é?&=%Zq"#;
const PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
                   MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIB\n\
                   AQC7VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3S\n\
                   -----END PRIVATE KEY-----";

/// `encodeURIComponent`.
fn percent(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every printed form of a value, whole, as the bot prints it.
fn forms(value: &str) -> Vec<(String, String)> {
    let mut forms = vec![("plain".to_owned(), value.to_owned())];
    for (i, prefix) in ["", "x", "xy"].iter().enumerate() {
        let data = format!("{prefix}{value}");
        forms.push((format!("base64 offset {i}"), STANDARD.encode(&data)));
        forms.push((format!("base64url offset {i}"), URL_SAFE_NO_PAD.encode(&data)));
    }
    forms.push(("percent".to_owned(), percent(value)));
    let json = serde_json::to_string(value).unwrap();
    forms.push(("json".to_owned(), json[1..json.len() - 1].to_owned()));
    for (i, line) in value.lines().enumerate().filter(|(_, l)| !l.starts_with("-----")) {
        forms.push((format!("line {i}"), line.to_owned()));
    }
    forms
}

/// The part of a form that depends on the value alone: without the first
/// and last few characters (which an encoding shares with its neighbours).
fn core(form: &str) -> &str {
    let chars: Vec<(usize, char)> = form.char_indices().collect();
    let start = chars[4].0;
    let end = chars[chars.len() - 4].0;
    &form[start..end]
}

fn assert_masked(what: &str, output: &[u8]) {
    for value in [TOKEN, PEM] {
        for (name, form) in forms(value) {
            assert!(
                !contains(output, core(&form).as_bytes()),
                "{what}: the {name} form survived:\n{}",
                String::from_utf8_lossy(output)
            );
        }
    }
    for name in ["LEAK_TOKEN", "LEAK_PEM"] {
        let marker = format!("[REDACTED:{name}]");
        assert!(
            contains(output, marker.as_bytes()),
            "{what}: no {marker}:\n{}",
            String::from_utf8_lossy(output)
        );
    }
}

#[tokio::test]
async fn no_form_of_a_secret_survives_in_the_log_or_the_live_output() {
    let env = Env::sqlite().await;
    env.project("leaky").await;
    env.set("leaky", "LEAK_TOKEN", TOKEN).await;
    env.set("leaky", "LEAK_PEM", PEM).await;

    // The bot really prints every form: run it without Paige.
    let raw = std::process::Command::new("node")
        .arg(bot("leak").join("app.js"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LEAK_TOKEN", TOKEN)
        .env("LEAK_PEM", PEM)
        .output()
        .unwrap();
    let raw_all = [raw.stdout.as_slice(), raw.stderr.as_slice()].concat();
    for value in [TOKEN, PEM] {
        for (name, form) in forms(value) {
            assert!(
                contains(&raw_all, form.as_bytes()),
                "the bot does not print the {name} form"
            );
        }
    }
    assert!(contains(&raw.stderr, format!("Error: boom with {TOKEN}").as_bytes()));
    assert!(contains(
        &raw.stdout,
        format!("split: {TOKEN} (end of split)").as_bytes()
    ));

    // Through `paige code push` and `paige run`: the live output.
    let pushed = env.cli(&["code", "push", "leaky", bot("leak").to_str().unwrap()], b"");
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    let out = env.cli(&["run", "leaky"], b"");
    assert_eq!(
        out.status.code(),
        Some(1),
        "an uncaught exception exits 1: {}",
        stderr(&out)
    );
    let live = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
    assert_masked("live output", &live);
    assert!(
        stdout(&out).contains("split: [REDACTED:LEAK_TOKEN] (end of split)"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("Error: boom with [REDACTED:LEAK_TOKEN]"),
        "{}",
        stderr(&out)
    );

    // The stored log.
    let page = Page {
        before_id: None,
        limit: 10,
    };
    let records = env.paige.list_executions("leaky", page).await.unwrap();
    assert_eq!(records.len(), 1);
    let execution = stored(&env, "leaky", records[0].id).await;
    assert_eq!(execution.record.status, ExecutionStatus::Failed);
    assert_eq!(execution.record.exit_code, Some(1));
    assert_eq!(execution.record.secret_names, vec!["LEAK_PEM", "LEAK_TOKEN"]);
    let log = log_text(&execution);
    assert_masked("stored log", log.as_bytes());
    let err_lines = lines_of(&execution, Stream::Stderr);
    assert!(
        err_lines.contains(&"token on stderr: [REDACTED:LEAK_TOKEN]"),
        "{err_lines:?}"
    );
    assert!(
        err_lines.contains(&"Error: boom with [REDACTED:LEAK_TOKEN]"),
        "{err_lines:?}"
    );
    // Both stdout lines of the split write arrived and are in order.
    let out_lines = lines_of(&execution, Stream::Stdout);
    let split = out_lines.iter().position(|l| l.starts_with("split: ")).unwrap();
    assert_eq!(out_lines[split + 1], "before the exception");
    // The live output carried the same bytes as the log.
    for line in out_lines {
        assert!(stdout(&out).contains(line), "{line}");
    }
    // Nothing in the data dir (database, WAL, code, key) holds a value.
    let db_lines = all_files(env.data_dir());
    for (path, bytes) in &db_lines {
        for value in [TOKEN, PEM] {
            for (name, form) in forms(value) {
                assert!(
                    !contains(bytes, core(&form).as_bytes()),
                    "{} holds the {name} form",
                    path.display()
                );
            }
        }
    }
    // The record and the audit trail name the secrets, never a value.
    let audit = env.cli(&["audit", "leaky"], b"");
    assert!(stdout(&audit).contains("execution.start"), "{}", stdout(&audit));
    assert!(
        stdout(&audit).contains("secrets: LEAK_PEM, LEAK_TOKEN"),
        "{}",
        stdout(&audit)
    );
    assert!(!format!("{:?}", execution.record).contains(&TOKEN[..12]));
}

#[tokio::test]
async fn the_error_message_and_the_command_are_masked_too() {
    let env = Env::sqlite().await;
    env.project("leaky").await;
    env.set("leaky", "LEAK_TOKEN", TOKEN).await;
    // A command line that names the value (as a local run might), and its
    // base64 form: masked by a redactor of only the values that can occur
    // in it, which must mask as the whole one (built while the bot starts).
    let encoded = STANDARD.encode(TOKEN);
    let request = paige::runtime::ExecutionRequest {
        command: Some(vec![format!("/nonexistent/{TOKEN}"), format!("--key={encoded}")]),
        ..super::node_request("leak", serde_json::json!({}))
    };
    let record = super::run(&env, "leaky", request).await;
    assert_eq!(record.status, ExecutionStatus::Failed);
    let error = record.error.clone().unwrap();
    assert!(error.contains("cannot start"), "{error}");
    assert!(error.contains("[REDACTED:LEAK_TOKEN]"), "{error}");
    assert!(!error.contains(&TOKEN[..12]), "{error}");
    let execution = stored(&env, "leaky", record.id).await;
    assert_eq!(execution.record, record);
    assert!(!log_text(&execution).contains(&TOKEN[..12]));
    assert!(!execution.record.command.concat().contains(&TOKEN[..12]));
    assert_eq!(
        execution.record.command,
        ["/nonexistent/[REDACTED:LEAK_TOKEN]", "--key=[REDACTED:LEAK_TOKEN]"]
    );
    assert!(!format!("{:?}", execution.record).contains(&encoded[..12]));
}
