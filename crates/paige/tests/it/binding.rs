//! A ciphertext moved to another project, key or version fails to decrypt
//! with an integrity error: never garbage, never a panic.

use crate::common::{Db, Env, both_backends};
use paige::Error;

async fn ciphertext(db: &Db, project: &str, key: &str) -> Vec<u8> {
    db.scalar(
        "SELECT s.ciphertext FROM secrets s JOIN projects p ON p.id = s.project_id WHERE p.slug = ? AND s.key = ?",
        &[project.into(), key.into()],
    )
    .await
}

async fn replace(db: &Db, project: &str, key: &str, blob: &[u8]) {
    let changed = db
        .execute(
            "UPDATE secrets SET ciphertext = ? WHERE key = ? AND project_id = (SELECT id FROM projects WHERE slug = ?)",
            &[blob.into(), key.into(), project.into()],
        )
        .await;
    assert_eq!(changed, 1);
}

fn assert_integrity_error(result: paige::Result<paige::secrets::Resolved>, project: &str, key: &str) {
    match result {
        Err(Error::Integrity { project: p, key: k, .. }) => {
            assert_eq!((p.as_str(), k.as_str()), (project, key));
        }
        other => panic!("expected an integrity error for {project}/{key}, got {other:?}"),
    }
}

both_backends!(moved_ciphertexts_fail_with_an_integrity_error);

async fn moved_ciphertexts_fail_with_an_integrity_error(env: Env) {
    env.project("alpha").await;
    env.project("beta").await;
    env.set("alpha", "API_KEY", "alpha-api-key-value").await;
    env.set("alpha", "OTHER_KEY", "alpha-other-value").await;
    env.set("beta", "API_KEY", "beta-api-key-value").await;
    let pool = env.db().await;

    // Another project's row, same key name and version.
    let alpha_api = ciphertext(&pool, "alpha", "API_KEY").await;
    let beta_api = ciphertext(&pool, "beta", "API_KEY").await;
    replace(&pool, "beta", "API_KEY", &alpha_api).await;
    assert_integrity_error(env.paige.resolve("beta").await, "beta", "API_KEY");
    replace(&pool, "beta", "API_KEY", &beta_api).await;
    assert_eq!(env.paige.resolve("beta").await.unwrap().secrets.len(), 1);

    // Another key's row in the same project, same version.
    let other = ciphertext(&pool, "alpha", "OTHER_KEY").await;
    replace(&pool, "alpha", "API_KEY", &other).await;
    assert_integrity_error(env.paige.resolve("alpha").await, "alpha", "API_KEY");
    replace(&pool, "alpha", "API_KEY", &alpha_api).await;

    // An older version's ciphertext put back after an overwrite.
    let version_1 = alpha_api;
    env.set("alpha", "API_KEY", "alpha-api-key-rotated").await;
    replace(&pool, "alpha", "API_KEY", &version_1).await;
    assert_integrity_error(env.paige.resolve("alpha").await, "alpha", "API_KEY");

    // A deleted and re-created key continues its version count, so the old
    // version-1 ciphertext cannot be replayed into it either.
    env.paige
        .delete_secret("alpha", "API_KEY", &crate::common::actor())
        .await
        .unwrap();
    let again = env.set("alpha", "API_KEY", "alpha-api-key-recreated").await;
    assert_eq!(again.outcome.version, 3);
    assert!(again.outcome.created);
    replace(&pool, "alpha", "API_KEY", &version_1).await;
    assert_integrity_error(env.paige.resolve("alpha").await, "alpha", "API_KEY");

    // A flipped bit and a truncated blob are integrity failures too.
    let mut flipped = beta_api.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    replace(&pool, "beta", "API_KEY", &flipped).await;
    assert_integrity_error(env.paige.resolve("beta").await, "beta", "API_KEY");
    replace(&pool, "beta", "API_KEY", &beta_api[..10]).await;
    assert_integrity_error(env.paige.resolve("beta").await, "beta", "API_KEY");
}

both_backends!(a_data_key_moved_to_another_project_does_not_unwrap);

async fn a_data_key_moved_to_another_project_does_not_unwrap(env: Env) {
    env.project("alpha").await;
    env.project("beta").await;
    env.set("beta", "API_KEY", "beta-api-key-value").await;
    env.db()
        .await
        .execute(
            "UPDATE projects SET wrapped_data_key = (SELECT wrapped_data_key FROM projects WHERE slug = 'alpha')
             WHERE slug = 'beta'",
            &[],
        )
        .await;
    match env.paige.resolve("beta").await {
        Err(Error::DataKey { project, .. }) => assert_eq!(project, "beta"),
        other => panic!("expected a data key error, got {other:?}"),
    }
}
