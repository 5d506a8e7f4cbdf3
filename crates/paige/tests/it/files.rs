//! A planted value never reaches any file in the data dir, nor the
//! PostgreSQL database.

use crate::common::{Env, actor, both_backends, contains, secret};

const PLANTED: &[&str] = &[
    "planted-first-7f3a9c41e2b8d5",
    "planted-overwrite-0c9e44b1aa",
    "planted-imported-5d1e0f77c3",
    "-----BEGIN PRIVATE KEY-----\nplanted-line-MIIEvQIBADANBg\n-----END PRIVATE KEY-----",
];

fn assert_absent(env: &Env, moment: &str) {
    let files = env.stored();
    let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    assert!(
        names.iter().any(|n| n.ends_with("paige.db") || n == "pg_dump"),
        "{moment}: {names:?}"
    );
    // The scan itself must be able to see what is stored in the clear.
    assert!(
        files.iter().any(|(_, bytes)| contains(bytes, b"PLANTED_KEY")),
        "{moment}: key names are stored in the clear and should be found"
    );
    for (path, bytes) in &files {
        for value in PLANTED {
            assert!(
                !contains(bytes, value.as_bytes()),
                "{moment}: {} contains a planted value",
                path.display()
            );
            for line in value.lines().filter(|l| l.starts_with("planted")) {
                assert!(
                    !contains(bytes, line.as_bytes()),
                    "{moment}: {} contains a line",
                    path.display()
                );
            }
        }
    }
}

both_backends!(planted_values_are_absent_from_every_file_after_writes_overwrites_and_deletes);

async fn planted_values_are_absent_from_every_file_after_writes_overwrites_and_deletes(env: Env) {
    env.project("bot").await;

    env.set("bot", "PLANTED_KEY", PLANTED[0]).await;
    env.set("bot", "PEM_KEY", PLANTED[3]).await;
    assert_absent(&env, "after the first writes");

    env.set("bot", "PLANTED_KEY", PLANTED[1]).await;
    let entries = vec![("IMPORTED".to_owned(), secret(PLANTED[2]))];
    env.paige.import_secrets("bot", &entries, &actor()).await.unwrap();
    assert_absent(&env, "after an overwrite and an import");

    env.paige.delete_secret("bot", "IMPORTED", &actor()).await.unwrap();
    env.paige.delete_secret("bot", "PEM_KEY", &actor()).await.unwrap();
    assert_absent(&env, "after deletes, database open");

    env.paige.close().await;
    assert_absent(&env, "after close");
}

#[tokio::test]
async fn a_pg_dump_holds_no_planted_value_token_or_password() {
    let Some(env) = Env::postgres().await else {
        return;
    };
    let password = "planted-password-5b0e77d2";
    env.paige
        .create_user("alice@example.com", &secret(password), &actor())
        .await
        .unwrap();
    env.paige
        .create_project("bot", Some("alice@example.com"), &actor())
        .await
        .unwrap();
    let (_, token) = env.paige.create_token("alice@example.com", &actor()).await.unwrap();
    env.set("bot", "PLANTED_KEY", PLANTED[0]).await;
    env.set("bot", "PLANTED_KEY", PLANTED[1]).await;
    env.set("bot", "PEM_KEY", PLANTED[3]).await;
    let entries = vec![("IMPORTED".to_owned(), secret(PLANTED[2]))];
    env.paige.import_secrets("bot", &entries, &actor()).await.unwrap();
    env.paige.delete_secret("bot", "IMPORTED", &actor()).await.unwrap();

    let url = env.config().database_url.unwrap();
    let dump = std::process::Command::new("pg_dump")
        .arg(format!("--dbname={url}"))
        .output()
        .unwrap();
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let dump = dump.stdout;
    // The dump is real: names stored in the clear are in it.
    assert!(contains(&dump, b"PLANTED_KEY") && contains(&dump, b"alice@example.com"));
    let token_body = token.expose().trim_start_matches("paige_").to_owned();
    for (secret, what) in PLANTED
        .iter()
        .map(|v| (v.to_string(), "a planted value"))
        .chain([(token_body, "the token"), (password.to_owned(), "the password")])
    {
        assert!(!contains(&dump, secret.as_bytes()), "the dump holds {what}");
        assert!(
            !contains(&dump, hex::encode(&secret).as_bytes()),
            "the dump holds {what} in hex"
        );
    }
}
