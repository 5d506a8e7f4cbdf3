//! Overwrites keep one row and bump the version; imports are all-or-nothing.

use secrecy::ExposeSecret;

use crate::common::{Env, actor, both_backends, secret};

async fn row_count(env: &Env, key: &str) -> i64 {
    env.db()
        .await
        .scalar("SELECT COUNT(*) FROM secrets WHERE key = ?", &[key.into()])
        .await
}

async fn values(env: &Env, slug: &str) -> Vec<(String, String)> {
    env.paige
        .resolve(slug)
        .await
        .unwrap()
        .secrets
        .iter()
        .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
        .collect()
}

both_backends!(overwrite_keeps_one_row_and_bumps_the_version);

async fn overwrite_keeps_one_row_and_bumps_the_version(env: Env) {
    env.project("bot").await;
    let first = env.set("bot", "API_KEY", "first-value").await;
    assert!(first.outcome.created);
    assert_eq!(first.outcome.version, 1);
    let second = env.set("bot", "API_KEY", "second-value").await;
    assert!(!second.outcome.created);
    assert_eq!(second.outcome.version, 2);
    assert!(second.outcome.updated_at >= first.outcome.updated_at);
    assert_eq!(row_count(&env, "API_KEY").await, 1);

    let listed = env.paige.list_secrets("bot").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].key.as_str(), listed[0].version), ("API_KEY", 2));
    assert_eq!(listed[0].updated_by, "tester");
    assert_eq!(
        values(&env, "bot").await,
        vec![("API_KEY".into(), "second-value".into())]
    );

    // The audit log has one record per change, and no value.
    let project = env.paige.project("bot").await.unwrap();
    let page = paige::model::Page {
        before_id: None,
        limit: 10,
    };
    let events = env.paige.store().audit_events(project.id, page).await.unwrap();
    let actions: Vec<_> = events.iter().map(|e| (e.action.as_str(), e.version)).collect();
    assert_eq!(
        actions,
        [
            ("secret.overwrite", Some(2)),
            ("secret.create", Some(1)),
            ("project.create", None)
        ]
    );
    assert!(!format!("{events:?}").contains("-value"));
}

both_backends!(delete_removes_the_value_and_a_second_delete_is_not_found);

async fn delete_removes_the_value_and_a_second_delete_is_not_found(env: Env) {
    env.project("bot").await;
    env.set("bot", "API_KEY", "first-value").await;
    env.set("bot", "KEEP", "keep-value").await;
    assert_eq!(env.paige.delete_secret("bot", "API_KEY", &actor()).await.unwrap(), 1);
    assert_eq!(values(&env, "bot").await, vec![("KEEP".into(), "keep-value".into())]);
    let err = env.paige.delete_secret("bot", "API_KEY", &actor()).await.unwrap_err();
    assert_eq!(err.code(), "not_found");
    assert_eq!(env.paige.list_secrets("bot").await.unwrap().len(), 1);
}

both_backends!(import_applies_all_lines_or_none);

async fn import_applies_all_lines_or_none(env: Env) {
    env.project("bot").await;
    env.set("bot", "EXISTING", "existing-value").await;
    let before_list = env.paige.list_secrets("bot").await.unwrap();
    let before_values = values(&env, "bot").await;

    // A bad line at the end: nothing applied, not even the good lines before it.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.env");
    std::fs::write(
        &bad,
        "EXISTING=overwritten-value\nNEW_ONE=new-value-one\nbad-key=whatever-value\n",
    )
    .unwrap();
    let out = env.cli(&["secrets", "import", "bot", bad.to_str().unwrap()], b"");
    assert!(!out.status.success());
    let stderr = crate::common::stderr(&out);
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(
        !stderr.contains("whatever-value") && !stderr.contains("new-value-one"),
        "{stderr}"
    );
    assert_eq!(env.paige.list_secrets("bot").await.unwrap(), before_list);
    assert_eq!(values(&env, "bot").await, before_values);

    // A file that breaks a project limit mid-way: refused in the transaction.
    let too_big: Vec<_> = (0..9)
        .map(|i| (format!("BIG_{i}"), secret(&"x".repeat(64 * 1024))))
        .collect();
    let err = env.paige.import_secrets("bot", &too_big, &actor()).await.unwrap_err();
    assert_eq!(err.code(), "project_too_large");
    assert_eq!(env.paige.list_secrets("bot").await.unwrap(), before_list);
    assert_eq!(row_count(&env, "BIG_0").await, 0, "no row of a refused import remains");

    // A good file applies every line, with the values it says.
    let good = dir.path().join("good.env");
    std::fs::write(
        &good,
        "# bot settings\nexport EXISTING='overwritten-value'\nNEW_ONE=\"multi\nline value\"\n",
    )
    .unwrap();
    let out = env.cli(&["secrets", "import", "bot", good.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    assert_eq!(
        crate::common::stdout(&out).trim(),
        "imported 2 secrets into bot (1 created, 1 overwritten)"
    );
    assert_eq!(
        values(&env, "bot").await,
        vec![
            ("EXISTING".into(), "overwritten-value".into()),
            ("NEW_ONE".into(), "multi\nline value".into())
        ]
    );
}
