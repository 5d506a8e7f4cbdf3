//! Set, resolve and run with Transit; the project binding; `keys status`;
//! and no data key, token or master key anywhere it could leak.

use paige::Paige;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::{Bao, with_transit};
use crate::common::{Env, contains, stderr, stdout};

const VALUE: &str = "sk-live-transit-value-4b1e9d";

async fn set_resolve_and_run(env: Env, bao: Bao) {
    assert!(
        !env.data_dir().join("master.key").exists(),
        "no master key file with Transit"
    );
    env.project("alpha").await;
    env.project("beta").await;
    let set = env.cli(&["secrets", "set", "alpha", "API_KEY"], VALUE.as_bytes());
    assert!(set.status.success(), "{}", stderr(&set));
    env.set("beta", "OTHER", "beta-value-000111").await;

    // Resolved by this process (a cache of its own) and by a fresh one.
    let resolved = env.paige.resolve("alpha").await.unwrap();
    assert_eq!(resolved.secrets[0].1.expose_secret(), VALUE);
    let fresh = Paige::open(&env.config()).await.unwrap();
    assert_eq!(
        fresh.resolve("alpha").await.unwrap().secrets[0].1.expose_secret(),
        VALUE
    );

    // Stored as Transit wrapped it, version 1.
    let rows: Vec<(i64, String, String, Vec<u8>)> = env
        .db()
        .await
        .rows(
            "SELECT id, key_provider, kek_id, wrapped_data_key FROM projects ORDER BY id",
            &[],
        )
        .await;
    for (_, provider, kek_id, blob) in &rows {
        assert_eq!((provider.as_str(), kek_id.as_str()), ("transit", "paige:v1"));
        assert!(blob.starts_with(b"vault:v1:"));
    }

    // A real run: the bot gets the value (it prints its hash).
    let run = env.cli(
        &[
            "run",
            "alpha",
            "--",
            "node",
            "-e",
            "console.log('sha ' + require('crypto').createHash('sha256').update(process.env.API_KEY).digest('hex'))",
        ],
        b"",
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let expected = hex::encode(Sha256::digest(VALUE.as_bytes()));
    assert!(stdout(&run).contains(&format!("sha {expected}")), "{}", stdout(&run));

    // `keys status`: the provider, its version, the keys on it.
    let status = env.cli(&["keys", "status"], b"");
    assert!(status.status.success(), "{}", stderr(&status));
    let text = stdout(&status);
    assert!(text.contains("provider: transit"), "{text}");
    assert!(text.contains("current key paige:v1"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["transit", "paige:v1", "2"]),
        "{text}"
    );

    // Leaks: the data keys' plaintext (as Transit gives it to its root),
    // in base64, hex and raw; the tokens; anywhere stored, printed or
    // audited by Transit.
    let mut planted: Vec<(String, Vec<u8>)> = Vec::new();
    for (id, _, _, blob) in &rows {
        let b64 = bao.plaintext_of(*id, std::str::from_utf8(blob).unwrap()).await;
        let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &b64).unwrap();
        planted.push((format!("data key {id} (base64)"), b64.into_bytes()));
        planted.push((format!("data key {id} (hex)"), hex::encode(&raw).into_bytes()));
        planted.push((format!("data key {id} (raw)"), raw));
    }
    planted.push(("paige's token".to_owned(), bao.token.clone().into_bytes()));
    planted.push(("the root token".to_owned(), bao.root_token().as_bytes().to_vec()));
    let mut haystacks = env.stored();
    haystacks.push(("transit audit log".into(), bao.audit()));
    for out in [&set, &run, &status] {
        haystacks.push(("cli output".into(), [out.stdout.clone(), out.stderr.clone()].concat()));
    }
    assert!(bao.audit().len() > 1000, "the audit device recorded the calls");
    for (name, needle) in &planted {
        for (place, bytes) in &haystacks {
            assert!(!contains(bytes, needle), "{name} found in {}", place.display());
        }
    }
    // The value itself is in none of them either.
    for (place, bytes) in &haystacks {
        assert!(
            !contains(bytes, VALUE.as_bytes()),
            "the value is in {}",
            place.display()
        );
    }

    // The binding: alpha's wrapped key copied onto beta does not unwrap
    // (Transit's context is the project id).
    let db = env.db().await;
    db.execute(
        "UPDATE projects SET wrapped_data_key = (SELECT wrapped_data_key FROM projects WHERE slug = 'alpha')
         WHERE slug = 'beta'",
        &[],
    )
    .await;
    drop(db);
    let copied = Paige::open(&env.config())
        .await
        .unwrap()
        .resolve("beta")
        .await
        .unwrap_err();
    assert_eq!(copied.code(), "integrity", "{copied}");
    assert!(copied.to_string().contains("project beta"), "{copied}");
}

#[tokio::test]
async fn set_resolve_and_run_with_transit_sqlite() {
    let Some(bao) = Bao::start().await else { return };
    let env = with_transit(&bao).sqlite().await;
    set_resolve_and_run(env, bao).await;
}

#[tokio::test]
async fn set_resolve_and_run_with_transit_postgres() {
    let Some(bao) = Bao::start().await else { return };
    let Some(env) = with_transit(&bao).postgres().await else {
        return;
    };
    set_resolve_and_run(env, bao).await;
}
