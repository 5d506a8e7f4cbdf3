//! `paige keys rotate`: every data key re-wrapped, values untouched, the old
//! master key gone and useless; an interrupted rotation is recovered.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use paige::Paige;
use paige::crypto::{self, CryptoError, FileKeyProvider, MasterKey};
use secrecy::ExposeSecret;

use crate::common::{Env, actor, both_backends, stderr, stdout};

async fn wrapped_keys(env: &Env) -> Vec<(i64, Vec<u8>)> {
    env.db()
        .await
        .rows("SELECT id, wrapped_data_key FROM projects ORDER BY id", &[])
        .await
}

async fn all_values(paige: &Paige, slugs: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for slug in slugs {
        for (key, value) in paige.resolve(slug).await.unwrap().secrets {
            out.push((format!("{slug}/{key}"), value.expose_secret().to_owned()));
        }
    }
    out
}

/// Loads a master key from a copy of a key file's text.
fn key_from_text(dir: &std::path::Path, name: &str, text: &[u8]) -> Arc<MasterKey> {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    FileKeyProvider::open_or_create(&path).unwrap().current().unwrap()
}

both_backends!(rotation_rewraps_every_data_key_and_retires_the_old_master_key);

async fn rotation_rewraps_every_data_key_and_retires_the_old_master_key(env: Env) {
    let slugs = ["alpha", "beta", "gamma"];
    for slug in slugs {
        env.project(slug).await;
        env.set(slug, "API_KEY", &format!("{slug}-api-key-value")).await;
        env.set(slug, "DB_PASSWORD", &format!("{slug}-db-password")).await;
    }
    let key_path = env.data_dir().join("master.key");
    let old_text = std::fs::read(&key_path).unwrap();
    let before_values = all_values(&env.paige, &slugs).await;
    let before_wrapped = wrapped_keys(&env).await;
    let before_ciphertexts: Vec<Vec<u8>> = env
        .db()
        .await
        .column("SELECT ciphertext FROM secrets ORDER BY project_id, key", &[])
        .await;

    let out = env.cli(&["keys", "rotate"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "master key rotated: 3 data keys re-wrapped");

    // The file holds one key, a new one, and nothing of the old.
    let new_text = std::fs::read(&key_path).unwrap();
    assert_ne!(new_text, old_text);
    let old_key_line = String::from_utf8(old_text.clone()).unwrap();
    let old_key_line = old_key_line.lines().find(|l| l.starts_with("key=")).unwrap();
    assert!(!crate::common::contains(&new_text, old_key_line.as_bytes()));
    assert_eq!(
        std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!env.data_dir().join("master.key.next").exists());

    // Values untouched; data keys re-wrapped.
    let after_ciphertexts: Vec<Vec<u8>> = env
        .db()
        .await
        .column("SELECT ciphertext FROM secrets ORDER BY project_id, key", &[])
        .await;
    assert_eq!(after_ciphertexts, before_ciphertexts);
    let after_wrapped = wrapped_keys(&env).await;
    assert_eq!(after_wrapped.len(), 3);
    for (before, after) in before_wrapped.iter().zip(&after_wrapped) {
        assert_ne!(before.1, after.1);
    }

    // Every secret still resolves: through the handle opened before the
    // rotation (it re-reads the key file) and through a fresh one.
    assert_eq!(all_values(&env.paige, &slugs).await, before_values);
    let fresh = Paige::open(&env.config()).await.unwrap();
    assert_eq!(all_values(&fresh, &slugs).await, before_values);

    // The old master key unwraps none of the data keys now.
    let scratch = tempfile::tempdir().unwrap();
    let old_key = key_from_text(scratch.path(), "old.key", &old_text);
    let new_key = key_from_text(scratch.path(), "new.key", &new_text);
    for (project_id, wrapped) in &after_wrapped {
        assert_eq!(
            crypto::unwrap_data_key(&old_key, *project_id, wrapped).unwrap_err(),
            CryptoError::Integrity
        );
        assert!(crypto::unwrap_data_key(&new_key, *project_id, wrapped).is_ok());
    }

    // The rotation is in the audit trail, without key material.
    let new_id = String::from_utf8(new_text).unwrap();
    let new_id = new_id.lines().find_map(|l| l.strip_prefix("id=")).unwrap().to_owned();
    let detail: String = env
        .db()
        .await
        .scalar("SELECT detail FROM audit_events WHERE action = 'keys.rotate'", &[])
        .await;
    assert_eq!(detail, format!("3 data keys re-wrapped under master key {new_id}"));
}

both_backends!(a_rotation_interrupted_before_its_commit_keeps_the_old_key);

async fn a_rotation_interrupted_before_its_commit_keeps_the_old_key(env: Env) {
    env.project("alpha").await;
    env.set("alpha", "API_KEY", "alpha-api-key-value").await;
    let key_path = env.data_dir().join("master.key");
    let old_text = std::fs::read(&key_path).unwrap();

    // A crash after staging the new key, before the database commit.
    let provider = FileKeyProvider::open_or_create(&key_path).unwrap();
    provider.stage(&MasterKey::generate()).unwrap();
    assert!(env.data_dir().join("master.key.next").exists());

    let reopened = Paige::open(&env.config()).await.unwrap();
    assert!(!env.data_dir().join("master.key.next").exists());
    assert_eq!(std::fs::read(&key_path).unwrap(), old_text);
    assert_eq!(reopened.resolve("alpha").await.unwrap().secrets.len(), 1);
}

both_backends!(a_rotation_interrupted_after_its_commit_is_finished_on_open);

async fn a_rotation_interrupted_after_its_commit_is_finished_on_open(env: Env) {
    env.project("alpha").await;
    env.set("alpha", "API_KEY", "alpha-api-key-value").await;
    let key_path = env.data_dir().join("master.key");

    // A crash after the database commit, before the key file swap.
    let provider = FileKeyProvider::open_or_create(&key_path).unwrap();
    let old = provider.current().unwrap();
    let new = MasterKey::generate();
    provider.stage(&new).unwrap();
    let rewrap = |id: i64, wrapped: &[u8], _kek: &str| -> paige::Result<Vec<u8>> {
        let dek = crypto::unwrap_data_key(&old, id, wrapped).unwrap();
        Ok(crypto::wrap_data_key(&new, id, &dek))
    };
    env.paige
        .store()
        .rewrap_data_keys(new.id().as_str(), &rewrap, &actor())
        .await
        .unwrap();

    let reopened = Paige::open(&env.config()).await.unwrap();
    assert!(!env.data_dir().join("master.key.next").exists());
    let text = std::fs::read_to_string(&key_path).unwrap();
    assert!(text.contains(&format!("id={}", new.id())));
    let resolved = reopened.resolve("alpha").await.unwrap();
    assert_eq!(resolved.secrets[0].1.expose_secret(), "alpha-api-key-value");
}
