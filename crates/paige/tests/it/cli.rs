//! The `paige` command line as scripts see it (SPEC §6).

use std::os::unix::fs::PermissionsExt;

use secrecy::ExposeSecret;

use crate::common::{Env, both_backends, cli_actor, contains, stderr, stdout};

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "exit {:?}: {}", out.status, stderr(out));
    stdout(out)
}

/// A user and a project, made through the CLI.
fn setup(env: &Env) {
    ok(&env.cli(&["users", "create", "Alice@Example.com"], b"a long password!\n"));
    ok(&env.cli(&["projects", "create", "my-bot", "--owner", "alice@example.com"], b""));
}

both_backends!(first_use_creates_a_private_data_dir_and_key_file);

async fn first_use_creates_a_private_data_dir_and_key_file(env: Env) {
    setup(&env);
    let data = env.data_dir();
    assert_eq!(std::fs::metadata(data).unwrap().permissions().mode() & 0o777, 0o700);
    let key = data.join("master.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("paige-master-key v1\n")
    );
}

both_backends!(a_key_file_readable_by_others_is_refused_with_a_clear_message);

async fn a_key_file_readable_by_others_is_refused_with_a_clear_message(env: Env) {
    setup(&env);
    let data = env.data_dir();
    let key = data.join("master.key");
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = env.cli(&["secrets", "set", "my-bot", "API_KEY"], b"some-secret-value");
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains("refusing to use master key file"), "{err}");
        assert!(
            err.contains(&format!("mode {mode:04o}")) && err.contains("chmod 600"),
            "{err}"
        );
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(!ok(&env.cli(&["secrets", "list", "my-bot"], b"")).contains("API_KEY"));
}

both_backends!(secrets_set_reads_stdin_drops_one_newline_and_never_takes_argv);

async fn secrets_set_reads_stdin_drops_one_newline_and_never_takes_argv(env: Env) {
    setup(&env);
    let out = ok(&env.cli(&["secrets", "set", "my-bot", "API_KEY"], b"line-one\nline-two\n\n"));
    assert_eq!(out.trim(), "created API_KEY in my-bot (version 1)");
    let out = ok(&env.cli(&["secrets", "set", "my-bot", "API_KEY"], b"sk-live-0123456789\r\n"));
    assert_eq!(out.trim(), "overwrote API_KEY in my-bot (version 2)");

    // A value on the command line is a usage error, and nothing is written.
    let out = env.cli(&["secrets", "set", "my-bot", "OTHER", "argv-value-123"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unexpected argument"));

    {
        let paige = &env.paige;
        let resolved = paige.resolve("my-bot").await.unwrap();
        assert_eq!(resolved.secrets.len(), 1);
        assert_eq!(resolved.secrets[0].1.expose_secret(), "sk-live-0123456789");
    }

    // Multi-line values keep their inner newlines; only one trailing one goes.
    ok(&env.cli(
        &["secrets", "set", "my-bot", "PEM"],
        b"-----BEGIN-----\nabc\n-----END-----\n\n",
    ));
    {
        let paige = &env.paige;
        let resolved = paige.resolve("my-bot").await.unwrap();
        let pem = resolved.secrets.iter().find(|(k, _)| k == "PEM").unwrap();
        assert_eq!(pem.1.expose_secret(), "-----BEGIN-----\nabc\n-----END-----\n");
    }
}

both_backends!(refusals_name_the_rule_and_never_echo_the_value);

async fn refusals_name_the_rule_and_never_echo_the_value(env: Env) {
    setup(&env);
    let cases: &[(&[&str], &[u8], &str)] = &[
        (
            &["secrets", "set", "my-bot", "openai_key"],
            b"never-read-1",
            "did you mean OPENAI_KEY?",
        ),
        (
            &["secrets", "set", "my-bot", "NODE_OPTIONS"],
            b"--require=/tmp/evil.js",
            "reserved key",
        ),
        (&["secrets", "set", "my-bot", "SHORT"], b"ab9\n", "value too short"),
        (&["secrets", "set", "my-bot", "NUL"], b"before\0after-nul", "NUL byte"),
        (&["secrets", "set", "my-bot", "BYTES"], b"bad-\xff-utf8", "UTF-8"),
        (
            &["secrets", "set", "nope", "API_KEY"],
            b"valid-value-x",
            "project nope not found",
        ),
        (
            &["secrets", "rm", "my-bot", "MISSING"],
            b"",
            "secret MISSING in project my-bot not found",
        ),
        (&["projects", "create", "Bad_Slug"], b"", "invalid slug"),
        (
            &["members", "add", "my-bot", "alice@example.com", "root"],
            b"",
            "invalid role",
        ),
        (
            &["users", "create", "bob@example.com"],
            b"short-pw\n",
            "password too short",
        ),
        (
            &["users", "create", "not-an-email"],
            b"a long password!\n",
            "invalid email",
        ),
    ];
    for (args, input, fragment) in cases {
        let out = env.cli(args, input);
        // One exit status per class: 4 for what does not exist, 2 for bad input.
        let class = if fragment.ends_with("not found") { 4 } else { 2 };
        assert_eq!(out.status.code(), Some(class), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(fragment), "{args:?}: {err}");
        let value = String::from_utf8_lossy(input);
        let value = value.trim_end();
        if value.len() >= 4 {
            assert!(
                !err.contains(value) && !stdout(&out).contains(value),
                "{args:?} echoed the value"
            );
        }
    }
    let listed = ok(&env.cli(&["secrets", "list", "my-bot", "--json"], b""));
    assert_eq!(listed.trim(), "{\n  \"secrets\": []\n}");
}

both_backends!(secrets_list_shows_keys_dates_and_authors_but_no_values);

async fn secrets_list_shows_keys_dates_and_authors_but_no_values(env: Env) {
    setup(&env);
    ok(&env.cli(&["secrets", "set", "my-bot", "STRIPE_KEY"], b"sk_live_listvalue01"));
    ok(&env.cli(&["secrets", "set", "my-bot", "A_TOKEN"], b"token-listvalue-02"));
    ok(&env.cli(&["secrets", "set", "my-bot", "A_TOKEN"], b"token-listvalue-03"));

    let table = ok(&env.cli(&["secrets", "list", "my-bot"], b""));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("KEY") && lines[0].contains("UPDATED (UTC)") && lines[0].contains("UPDATED BY"));
    assert!(
        lines[1].starts_with("A_TOKEN ") && lines[2].starts_with("STRIPE_KEY "),
        "sorted by key: {table}"
    );
    let today = time::OffsetDateTime::now_utc().date().to_string();
    for line in &lines[1..] {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields[1].starts_with(&today) && fields[1].ends_with('Z'), "{line}");
        assert_eq!(fields[2], cli_actor());
    }

    let json: serde_json::Value =
        serde_json::from_str(&ok(&env.cli(&["secrets", "list", "my-bot", "--json"], b""))).unwrap();
    let secrets = json["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 2);
    assert_eq!(secrets[0]["key"], "A_TOKEN");
    assert_eq!(secrets[0]["version"], 2);
    assert_eq!(secrets[0]["updated_by"], cli_actor());
    let updated = secrets[0]["updated_at"].as_str().unwrap();
    assert!(time::OffsetDateTime::parse(updated, &time::format_description::well_known::Rfc3339).is_ok());
    let keys: Vec<_> = secrets[0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["key", "updated_at", "updated_by", "version"]);

    for output in [table, json.to_string()] {
        assert!(!output.contains("listvalue"), "a value was listed");
    }
    let audit = ok(&env.cli(&["audit", "my-bot"], b""));
    assert!(
        audit.contains("secret.overwrite") && audit.contains("A_TOKEN v2"),
        "{audit}"
    );
    assert!(!audit.contains("listvalue"));
}

both_backends!(tokens_are_printed_once_and_stored_only_as_a_hash);

async fn tokens_are_printed_once_and_stored_only_as_a_hash(env: Env) {
    setup(&env);
    let out = env.cli(&["tokens", "create", "alice@example.com"], b"");
    let token = ok(&out).trim().to_owned();
    assert!(token.starts_with("paige_") && token.len() == 49, "{token}");
    assert!(stderr(&out).contains("shown once"));
    let second = ok(&env.cli(&["tokens", "create", "alice@example.com"], b""))
        .trim()
        .to_owned();
    assert_ne!(token, second);

    for (path, bytes) in env.stored() {
        assert!(
            !contains(&bytes, token.as_bytes()),
            "{} holds the token",
            path.display()
        );
    }
    {
        let paige = &env.paige;
        let user = paige.user_for_token(&token).await.unwrap().unwrap();
        assert_eq!(user.email, "alice@example.com");
        assert!(paige.user_for_token("paige_not-a-real-token").await.unwrap().is_none());
    }
}

both_backends!(projects_members_and_the_data_dir_flag);

async fn projects_members_and_the_data_dir_flag(env: Env) {
    setup(&env);
    let data = env.data_dir();
    ok(&env.cli(&["users", "create", "bob@example.com"], b"another long password\n"));
    // `members add` invites; bob joins when he accepts.
    let out = env.cli(&["members", "add", "my-bot", "Bob@example.com", "viewer"], b"");
    assert!(
        stdout(&out).starts_with("invited bob@example.com as viewer to my-bot (invitation #1, open until "),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("They join when they accept it on the dashboard's Projects page"));
    let out = env.cli(&["members", "add", "my-bot", "bob@example.com", "developer"], b"");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("bob@example.com is already invited as viewer"),
        "{}",
        stderr(&out)
    );
    let bob = env.paige.user("bob@example.com").await.unwrap();
    let accepted = env
        .paige
        .answer_invite(&bob, 1, paige::model::InviteAnswer::Accept, &crate::common::actor())
        .await
        .unwrap();
    assert_eq!(accepted.role, paige::model::Role::Viewer);
    // An existing member is refused, never re-roled (issue 16, item 1).
    let out = env.cli(&["members", "add", "my-bot", "bob@example.com", "developer"], b"");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already a member as viewer"), "{}", stderr(&out));
    let members = env.paige.list_members("my-bot").await.unwrap();
    assert!(
        members
            .iter()
            .any(|m| m.email == "bob@example.com" && m.role == paige::model::Role::Viewer)
    );
    // An email with no account is invited all the same.
    let out = ok(&env.cli(&["members", "add", "my-bot", "nobody@example.com", "admin"], b""));
    assert!(
        out.starts_with("invited nobody@example.com as admin to my-bot"),
        "{out}"
    );
    ok(&env.cli(&["projects", "create", "another-bot"], b""));
    let list = ok(&env.cli(&["projects", "list"], b""));
    let slugs: Vec<&str> = list.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(slugs, ["another-bot", "my-bot"]);
    let out = env.cli(&["projects", "create", "my-bot"], b"");
    assert!(stderr(&out).contains("project my-bot already exists"));

    let audit = ok(&env.cli(&["audit", "my-bot", "--json"], b""));
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "member.invite",
            "member.invite_accept",
            "member.invite",
            "project.create"
        ]
    );

    // --data-dir wins over nothing else set; the CLI made that dir, not ./paige-data.
    let other = data.parent().unwrap().join("other");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_paige"))
        .args(["--data-dir", other.to_str().unwrap(), "projects", "list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(other.join("master.key").exists() && other.join("paige.db").exists());
}

both_backends!(library_and_cli_see_the_same_store);

async fn library_and_cli_see_the_same_store(env: Env) {
    env.project("shared").await;
    env.set("shared", "FROM_LIB", "library-value-1").await;
    let listed = ok(&env.cli(&["secrets", "list", "shared"], b""));
    assert!(listed.contains("FROM_LIB") && listed.contains("tester"));
}
