//! `paige backup verify --with-key` opens every kept previous version too:
//! a good store (and a backup file of it) passes with the versions counted
//! apart from the current values, and a version row whose ciphertext was
//! swapped for another version's (sealed, but bound to another version
//! number) fails verify, named by project, key and version, never shown.

use crate::common::{Env, both_backends, stderr, stdout};

const VALUES: [&str; 3] = [
    "kept-version-value-1-7c1e",
    "kept-version-value-2-9a4d",
    "kept-version-value-3-02bf",
];

fn said(out: &std::process::Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

both_backends!(verify_opens_every_kept_version);

async fn verify_opens_every_kept_version(env: Env) {
    env.project("proj").await;
    for value in VALUES {
        env.set("proj", "API_KEY", value).await;
    }
    env.set("proj", "OTHER", "kept-version-other-value").await;

    // Two current values; API_KEY keeps versions 1 and 2.
    let out = env.cli(&["backup", "verify"], b"");
    let text = said(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("1 of 1 data keys unwrap, 2 of 2 values open, 2 of 2 kept versions open: ok"),
        "{text}"
    );

    if !env.is_postgres() {
        // The same counts from a backup file of the store.
        let file = env.scratch().join("versions.paige-backup");
        let out = env.cli(&["backup", "create", file.to_str().unwrap()], b"");
        assert!(out.status.success(), "{}", said(&out));
        let out = env.cli(&["backup", "verify", file.to_str().unwrap(), "--with-key"], b"");
        let text = said(&out);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("2 of 2 values open, 2 of 2 kept versions open: ok"),
            "{text}"
        );
    }

    // Version 1 now holds version 2's ciphertext: a genuine sealed value,
    // but bound to version 2, so it must not open as version 1.
    let db = env.db().await;
    let changed = db
        .execute(
            "UPDATE secret_versions SET ciphertext =
               (SELECT ciphertext FROM secret_versions WHERE key = 'API_KEY' AND version = 2)
             WHERE key = 'API_KEY' AND version = 1",
            &[],
        )
        .await;
    assert_eq!(changed, 1);
    let out = env.cli(&["backup", "verify"], b"");
    let text = said(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("2 of 2 values open, 1 of 2 kept versions open: FAILED"),
        "{text}"
    );
    assert!(text.contains("project proj, key API_KEY kept version 1"), "{text}");
    assert!(!text.contains("kept version 2"), "{text}");
    for value in VALUES {
        assert!(!text.contains(value), "a value in the output: {text}");
    }
    assert!(!text.contains("kept-version-other-value"), "{text}");
}
