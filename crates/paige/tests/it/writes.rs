//! Overwrites keep one row and bump the version; imports are all-or-nothing.

use secrecy::ExposeSecret;

use paige::store::NO_GENERATION;

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

both_backends!(a_warm_resolve_sees_every_change_made_elsewhere_at_once);

/// `resolve` keeps the sealed values it read, labelled with the project's
/// secrets generation (`secrets::sealed_cache`), and reads them again only
/// when the database says the generation moved. Every change made by
/// another node (on SQLite: another `Paige` on the same file, as the CLI
/// is), and even a raw change of a ciphertext, reaches its very next resolve.
async fn a_warm_resolve_sees_every_change_made_elsewhere_at_once(env: Env) {
    let kv = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    env.project("bot").await;
    env.set("bot", "API_KEY", "first-value-1234").await;
    env.set("bot", "OTHER", "other-value-1234").await;
    let other = env.another_node().await;
    assert_eq!(
        values(&env, "bot").await,
        kv(&[("API_KEY", "first-value-1234"), ("OTHER", "other-value-1234")])
    );
    // Warm and unchanged: the store hands back the project alone.
    let store = env.paige.store();
    let read = store.sealed_secrets_since("bot", NO_GENERATION).await.unwrap().unwrap();
    assert_eq!(read.secrets.as_ref().map(Vec::len), Some(2));
    let again = store
        .sealed_secrets_since("bot", read.generation)
        .await
        .unwrap()
        .unwrap();
    assert!(again.secrets.is_none(), "an unchanged generation reads no values");
    assert_eq!(again.generation, read.generation);

    other.set("bot", "API_KEY", "second-value-1234").await;
    assert_eq!(
        values(&env, "bot").await,
        kv(&[("API_KEY", "second-value-1234"), ("OTHER", "other-value-1234")])
    );
    other.paige.delete_secret("bot", "OTHER", &actor()).await.unwrap();
    assert_eq!(values(&env, "bot").await, kv(&[("API_KEY", "second-value-1234")]));
    other.set("bot", "NEW_KEY", "new-value-12345").await;
    assert_eq!(
        values(&env, "bot").await,
        kv(&[("API_KEY", "second-value-1234"), ("NEW_KEY", "new-value-12345")])
    );
    // Another project's write leaves this one's generation alone.
    other.project("elsewhere").await;
    other.set("elsewhere", "API_KEY", "elsewhere-value-1").await;
    let before = store.sealed_secrets_since("bot", NO_GENERATION).await.unwrap().unwrap();
    assert!(
        store
            .sealed_secrets_since("bot", before.generation)
            .await
            .unwrap()
            .unwrap()
            .secrets
            .is_none()
    );
    // A ciphertext changed underneath (no paige code path): the trigger
    // moves the generation, so the warm resolve reads it and refuses it.
    let changed = env
        .db()
        .await
        .execute(
            "UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE key = 'NEW_KEY') \
             WHERE key = 'API_KEY' AND project_id = (SELECT id FROM projects WHERE slug = 'bot')",
            &[],
        )
        .await;
    assert_eq!(changed, 1);
    let refused = env.paige.resolve("bot").await.unwrap_err();
    assert_eq!(refused.code(), "integrity", "{refused}");
}
