//! Every remote command round-trips and prints what the local command
//! prints for the same data; the actor is the token's user remotely and
//! the OS user and host locally; no value shows anywhere.

use std::os::unix::fs::PermissionsExt;

use super::{EMAIL, PASSWORD, Remote, json, ok};
use crate::common::{cli_actor, contains, fixtures, stderr, stdout};

const VALUE_SET: &str = "remote-set-value-4f1c9a";
const VALUE_IMPORTED: &str = "remote-imported-value-8d2e";

#[tokio::test]
async fn login_then_every_remote_command_matches_the_local_one() {
    let remote = Remote::start().await;
    let said = remote.login();
    assert!(said.contains(&format!("as {EMAIL}")), "{said}");
    let config = remote.config_file();
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the config file holds a token");

    let mut outputs = Vec::new();
    let mut run = |out: std::process::Output| {
        outputs.push(out.stdout.clone());
        outputs.push(out.stderr.clone());
        out
    };

    // Secrets: set (value on stdin), import, list.
    let set = run(remote.cli(&["secrets", "set", "bot", "API_KEY", "--json"], VALUE_SET.as_bytes()));
    let set = json(&set);
    assert_eq!(
        (set["key"].as_str(), set["version"].as_i64(), set["created"].as_bool()),
        (Some("API_KEY"), Some(1), Some(true))
    );
    let env_file = remote.env.dir.path().join("import.env");
    std::fs::write(
        &env_file,
        format!("IMPORTED_KEY={VALUE_IMPORTED}\nAPI_KEY=\"{VALUE_IMPORTED}-2\"\n"),
    )
    .unwrap();
    let file = env_file.to_str().unwrap();
    let imported = json(&run(remote.cli(&["secrets", "import", "bot", file, "--json"], b"")));
    assert_eq!(imported["secrets"].as_array().unwrap().len(), 2);
    let listed = json(&run(remote.cli(&["secrets", "list", "bot", "--json"], b"")));
    let local = json(&run(remote.local(&["secrets", "list", "bot", "--json"], b"")));
    assert_eq!(listed, local);
    let keys: Vec<_> = listed["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].clone())
        .collect();
    assert_eq!(keys, ["API_KEY", "IMPORTED_KEY"]);
    assert!(
        listed["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["updated_by"] == EMAIL)
    );
    // The table too.
    assert_eq!(
        stdout(&run(remote.cli(&["secrets", "list", "bot"], b""))),
        stdout(&run(remote.local(&["secrets", "list", "bot"], b"")))
    );

    // Projects: the caller's role is the one field only a server knows.
    let mut projects = json(&run(remote.cli(&["projects", "list", "--json"], b"")));
    assert_eq!(projects["projects"][0]["role"], "owner");
    projects["projects"][0].as_object_mut().unwrap().remove("role");
    assert_eq!(projects, json(&run(remote.local(&["projects", "list", "--json"], b""))));
    ok(&run(remote.cli(&["projects", "create", "second-bot"], b"")));

    // Members.
    ok(&remote.local(&["users", "create", "viewer@example.com"], PASSWORD));
    let added = ok(&run(
        remote.cli(&["members", "add", "bot", "viewer@example.com", "viewer"], b"")
    ));
    // An invitation (the viewer joins by accepting it), the same on both back ends.
    assert!(
        added.starts_with("invited viewer@example.com as viewer to bot (invitation #"),
        "{added}"
    );
    // The viewer accepts it with a token of their own; then they are a member.
    let invite: i64 = added
        .split("invitation #")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let viewer_token = ok(&remote.local(&["tokens", "create", "viewer@example.com"], b""));
    let accepted = reqwest::Client::new()
        .post(format!("{}/api/v1/invites/{invite}/accept", remote.server.base))
        .bearer_auth(viewer_token.trim())
        .send()
        .await
        .unwrap();
    assert!(accepted.status().is_success(), "{}", accepted.status());
    let members = json(&run(remote.cli(&["members", "list", "bot", "--json"], b"")));
    assert_eq!(
        members,
        json(&run(remote.local(&["members", "list", "bot", "--json"], b"")))
    );
    assert_eq!(members["members"].as_array().unwrap().len(), 2);
    ok(&run(remote.cli(&["members", "rm", "bot", "viewer@example.com"], b"")));
    let members = json(&run(remote.cli(&["members", "list", "bot", "--json"], b"")));
    assert_eq!(members["members"].as_array().unwrap().len(), 1);

    // Code, a run on the server, executions.
    let code = fixtures().join("bots/hello");
    let pushed = json(&run(
        remote.cli(&["code", "push", "bot", code.to_str().unwrap(), "--json"], b"")
    ));
    assert!(pushed["files"].as_u64().unwrap() >= 1, "{pushed}");
    let ran = run(remote.cli(&["run", "bot", "--remote"], b""));
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    let executions = json(&run(remote.cli(&["executions", "list", "bot", "--json"], b"")));
    assert_eq!(
        executions,
        json(&run(remote.local(&["executions", "list", "bot", "--json"], b"")))
    );
    let id = executions["executions"][0]["id"].as_i64().unwrap().to_string();
    assert_eq!(executions["executions"][0]["actor"], EMAIL);
    let shown = json(&run(remote.cli(&["executions", "show", "bot", &id, "--json"], b"")));
    assert_eq!(
        shown,
        json(&run(remote.local(&["executions", "show", "bot", &id, "--json"], b"")))
    );
    let logged = stdout(&run(remote.cli(&["logs", "bot", &id], b"")));
    let log_texts: Vec<String> = shown["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["stream"] == "stdout")
        .map(|l| format!("{}\n", l["text"].as_str().unwrap()))
        .collect();
    assert_eq!(logged, log_texts.concat());

    // Delete, then the audit log: who did what, the same both ways.
    ok(&run(remote.cli(&["secrets", "rm", "bot", "IMPORTED_KEY"], b"")));
    ok(&run(
        remote.local(&["secrets", "set", "bot", "LOCAL_KEY"], b"local-value-x1")
    ));
    let audit = json(&run(remote.cli(&["audit", "bot", "--json", "--limit", "100"], b"")));
    assert_eq!(
        audit,
        json(&run(remote.local(&["audit", "bot", "--json", "--limit", "100"], b"")))
    );
    let actor_of = |action: &str, key: &str| {
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == action && e["key"] == key)
            .map(|e| e["actor"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {action} of {key}: {audit}"))
    };
    assert_eq!(
        actor_of("secret.create", "API_KEY"),
        EMAIL,
        "a remote command acts as the token's user"
    );
    assert_eq!(actor_of("secret.delete", "IMPORTED_KEY"), EMAIL);
    assert_eq!(
        actor_of("secret.create", "LOCAL_KEY"),
        cli_actor(),
        "a local one as the OS user at this host"
    );
    assert!(!cli_actor().contains("unknown"));

    // No value in any output, in the config file, or in the server's log.
    let mut everything = outputs.concat();
    everything.extend(std::fs::read(&config).unwrap());
    everything.extend(std::fs::read(&remote.server.log).unwrap());
    for value in [VALUE_SET, VALUE_IMPORTED] {
        assert!(!contains(&everything, value.as_bytes()), "{value} leaked");
    }
}

#[tokio::test]
async fn paige_server_and_paige_token_work_without_a_config_file() {
    let remote = Remote::start().await;
    let vars = [
        ("PAIGE_SERVER", remote.server.base.as_str()),
        ("PAIGE_TOKEN", remote.token.as_str()),
    ];
    let out = remote
        .env
        .cli_with_env(&["secrets", "set", "bot", "CI_KEY"], b"ci-value-12345", &vars);
    ok(&out);
    let listed = json(
        &remote
            .env
            .cli_with_env(&["secrets", "list", "bot", "--json"], b"", &vars),
    );
    assert_eq!(listed["secrets"][0]["updated_by"], EMAIL);
    assert!(!remote.config_file().exists(), "nothing was stored");
    // --local wins over the environment.
    let local = json(
        &remote
            .env
            .cli_with_env(&["--local", "secrets", "list", "bot", "--json"], b"", &vars),
    );
    assert_eq!(local, listed);
}

#[tokio::test]
async fn local_only_commands_say_so_and_help_names_the_back_end() {
    let remote = Remote::start().await;
    let help = ok(&remote.cli(&["--help"], b""));
    assert!(help.contains("Back end: this machine's data dir"), "{help}");
    remote.login();
    let help = ok(&remote.cli(&["secrets", "--help"], b""));
    assert!(
        help.contains(&format!("Back end: the server default ({})", remote.server.base)),
        "{help}"
    );
    assert!(help.contains("--local"), "{help}");
    for args in [
        &["users", "create", "x@example.com"][..],
        &["keys", "rotate"],
        &["serve"],
        &["tokens", "create", EMAIL],
    ] {
        let out = remote.cli(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("works only on the server's own machine") && err.contains("--local"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    // With --local they run here.
    ok(&remote.cli(&["--local", "users", "create", "x@example.com"], PASSWORD));
    // Completions need no back end.
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&remote.cli(&["completions", shell], b""));
        assert!(script.contains("secrets"), "{shell}");
    }
}
