//! The kept versions of a key, through the library on both stores: the
//! last N are kept (the current one included), each bound to its version
//! number, and a deleted key's versions go with it.

use paige::Paige;

use crate::common::{Arg, Env, actor, both_backends, secret};

/// The library on `env`'s store, keeping `keep` versions per key.
async fn keeping(env: &Env, keep: u32) -> Paige {
    let mut config = env.config();
    config.secret_versions = keep;
    Paige::open(&config).await.unwrap()
}

async fn numbers(paige: &Paige, key: &str) -> Vec<i64> {
    paige
        .secret_versions("proj", key)
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect()
}

both_backends!(the_last_n_versions_are_kept_bound_to_their_number);

async fn the_last_n_versions_are_kept_bound_to_their_number(env: Env) {
    env.project("proj").await;
    let paige = keeping(&env, 3).await;
    for i in 1..=5 {
        paige
            .set_secret("proj", "KEY", &secret(&format!("value number {i}")), &actor())
            .await
            .unwrap();
    }
    assert_eq!(
        numbers(&paige, "KEY").await,
        [5, 4, 3],
        "three kept, the current one included"
    );
    let db = env.db().await;
    let held: i64 = db.scalar("SELECT COUNT(*) FROM secret_versions", &[]).await;
    assert_eq!(held, 2, "the previous versions only; the current one is the key's row");

    // An import writing the key again keeps counting and pruning.
    let entries = vec![("KEY".to_owned(), secret("value number 6"))];
    paige.import_secrets("proj", &entries, &actor()).await.unwrap();
    assert_eq!(numbers(&paige, "KEY").await, [6, 5, 4]);

    // A version's ciphertext copied under another number does not open:
    // the rollback is refused as an integrity failure and writes nothing.
    db.execute(
        "UPDATE secret_versions SET ciphertext = (SELECT ciphertext FROM secret_versions WHERE key = ? AND version = 5)
         WHERE key = ? AND version = 4",
        &[Arg::from("KEY"), Arg::from("KEY")],
    )
    .await;
    let swapped = paige.rollback_secret("proj", "KEY", 4, &actor()).await.unwrap_err();
    assert_eq!(swapped.code(), "integrity", "{swapped}");
    assert_eq!(numbers(&paige, "KEY").await, [6, 5, 4]);

    // A good one restores version 5's value as version 7.
    let rolled = paige.rollback_secret("proj", "KEY", 5, &actor()).await.unwrap();
    assert_eq!(rolled.version, 7);
    let resolved = paige.resolve("proj").await.unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(resolved.secrets[0].1.expose_secret(), "value number 5");
    assert_eq!(numbers(&paige, "KEY").await, [7, 6, 5]);
    let rollbacks: i64 = db
        .scalar(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'secret.rollback' AND version = 7",
            &[],
        )
        .await;
    assert_eq!(rollbacks, 1);

    // One version kept: no history at all; the next write trims it.
    let single = keeping(&env, 1).await;
    single
        .set_secret("proj", "KEY", &secret("value number 8"), &actor())
        .await
        .unwrap();
    assert_eq!(numbers(&single, "KEY").await, [8]);
    single
        .set_secret("proj", "OTHER", &secret("other value"), &actor())
        .await
        .unwrap();
    single
        .set_secret("proj", "OTHER", &secret("other value 2"), &actor())
        .await
        .unwrap();
    assert_eq!(numbers(&single, "OTHER").await, [2]);
    let held: i64 = db.scalar("SELECT COUNT(*) FROM secret_versions", &[]).await;
    assert_eq!(held, 0);
    let gone = single.rollback_secret("proj", "KEY", 7, &actor()).await.unwrap_err();
    assert_eq!(gone.code(), "not_found", "{gone}");
}

both_backends!(a_deleted_keys_versions_are_purged_with_it);

async fn a_deleted_keys_versions_are_purged_with_it(env: Env) {
    env.project("proj").await;
    for i in 1..=4 {
        env.set("proj", "GONE", &format!("value number {i}")).await;
        env.set("proj", "KEPT", &format!("value number {i}")).await;
    }
    env.paige.delete_secret("proj", "GONE", &actor()).await.unwrap();
    let db = env.db().await;
    let left: Vec<String> = db.column("SELECT DISTINCT key FROM secret_versions", &[]).await;
    assert_eq!(left, ["KEPT"]);
    let detail: Option<String> = db
        .scalar("SELECT detail FROM audit_events WHERE action = 'secret.delete'", &[])
        .await;
    assert_eq!(detail.as_deref(), Some("and its 3 previous versions"));
    let listed = env.paige.secret_versions("proj", "GONE").await.unwrap_err();
    assert_eq!(listed.code(), "not_found");
    let rolled = env
        .paige
        .rollback_secret("proj", "GONE", 3, &actor())
        .await
        .unwrap_err();
    assert_eq!(rolled.code(), "not_found");
    // Set again, its versions go on from the tombstone, with no history.
    let again = env.set("proj", "GONE", "value number 5").await;
    assert_eq!(again.outcome.version, 5);
    assert_eq!(numbers(&env.paige, "GONE").await, [5]);
}
