//! Transit away: `paige serve` refuses to start (token masked); a running
//! node answers 503 `unavailable` within its timeout for the data keys it
//! has not cached, keeps serving those it has, and recovers without a
//! restart once Transit is back (or, for a revoked token, once its token
//! file holds a new one).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Bao, with_transit};
use crate::common::{Env, ServeProcess, actor, contains};

/// The per-call timeout the node is given.
const TIMEOUT: Duration = Duration::from_secs(1);
/// What a refused request may take beyond it on a loaded machine.
const SLACK: Duration = Duration::from_millis(2500);
const OUTAGE: Duration = Duration::from_secs(3);
const RECOVERY: Duration = Duration::from_secs(10);

/// Runs `paige serve` with `vars`; it must exit, failing, within 10 s.
fn serve_must_fail(env: &Env, vars: &[(&str, &str)], remove: &[&str]) -> String {
    let mut command = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    command.envs(vars.iter().copied());
    for name in remove {
        command.env_remove(name);
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("paige serve did not fail fast with {vars:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty() || !String::from_utf8_lossy(&out.stdout).contains("serving"));
    String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned()
}

#[tokio::test]
async fn serve_fails_fast_when_transit_is_unreachable_or_the_key_is_missing() {
    let Some(bao) = Bao::start().await else { return };
    let env = with_transit(&bao).sqlite().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_address = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let token_file = env.scratch().join("kms-token");
    std::fs::write(&token_file, format!("{}\n", bao.token)).unwrap();
    bao.api("POST", "transit/keys/plain", json!({})).await;

    let unreachable = serve_must_fail(
        &env,
        &[
            ("PAIGE_KMS_ADDRESS", &closed_address),
            ("PAIGE_KMS_TOKEN_FILE", token_file.to_str().unwrap()),
        ],
        &["PAIGE_KMS_TOKEN"],
    );
    assert!(unreachable.contains("unreachable"), "{unreachable}");
    let missing = serve_must_fail(&env, &[("PAIGE_KMS_KEY", "missing")], &[]);
    assert!(missing.contains("\"missing\""), "{missing}");
    let refused = serve_must_fail(&env, &[("PAIGE_KMS_TOKEN", "not-a-valid-token-8c1d")], &[]);
    assert!(refused.contains("the token is revoked"), "{refused}");
    let plain = serve_must_fail(
        &env,
        &[("PAIGE_KMS_KEY", "plain"), ("PAIGE_KMS_TOKEN", bao.root_token())],
        &[],
    );
    assert!(plain.contains("not a derived key"), "{plain}");
    for message in [&unreachable, &missing, &refused, &plain] {
        for token in [bao.token.as_str(), bao.root_token(), "not-a-valid-token-8c1d"] {
            assert!(!message.contains(token), "a token is in {message}");
        }
    }
}

async fn put(client: &reqwest::Client, server: &ServeProcess, token: &str, slug: &str) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = client
        .put(format!("{}/api/v1/projects/{slug}/secrets/KEY", server.base))
        .bearer_auth(token)
        .json(&json!({"value": "failure-test-value-77aa"}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null);
    (status, body, started.elapsed())
}

/// During an outage: the warm project keeps working, the cold one gets
/// quick 503s; after it, the cold one works again within [`RECOVERY`].
async fn outage(client: &reqwest::Client, server: &ServeProcess, token: &str, warm: &str, cold: &str, what: &str) {
    let started = Instant::now();
    let (mut warm_ok, mut refused) = (0, 0);
    while started.elapsed() < OUTAGE {
        let ((ws, wbody, _), (cs, cbody, took)) =
            tokio::join!(put(client, server, token, warm), put(client, server, token, cold));
        assert!(ws < 300, "{what}: the cached project failed: {ws} {wbody}");
        warm_ok += 1;
        assert_eq!(cs, 503, "{what}: {cbody}");
        assert_eq!(
            cbody,
            json!({"error": {"code": "unavailable", "message": "the key service is unavailable; try again shortly"}})
        );
        assert!(took < TIMEOUT + SLACK, "{what}: a refusal took {took:?}");
        refused += 1;
    }
    assert!(warm_ok > 0 && refused > 0);
}

async fn recovers(client: &reqwest::Client, server: &ServeProcess, token: &str, cold: &str, what: &str) {
    let started = Instant::now();
    loop {
        let (status, body, _) = put(client, server, token, cold).await;
        if status == 201 {
            return;
        }
        assert!(started.elapsed() < RECOVERY, "{what}: no recovery: {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transit_away_gives_bounded_503s_for_uncached_keys_then_recovers() {
    let Some(bao) = Bao::start().await else { return };
    let env = with_transit(&bao).sqlite().await;
    for slug in ["warm", "cold-frozen", "cold-sealed", "cold-revoked"] {
        env.project(slug).await;
    }
    let (_, api_token) = env.paige.create_token("alice@example.com", &actor()).await.unwrap();
    let api_token = api_token.expose().to_owned();
    // The token from a file, which the node re-reads when Transit refuses it.
    let token_file = env.scratch().join("kms-token");
    std::fs::write(&token_file, &bao.token).unwrap();
    let server = env.serve(
        "serve.log",
        &[
            ("PAIGE_KMS_TIMEOUT", "1s"),
            ("PAIGE_KMS_TOKEN_FILE", token_file.to_str().unwrap()),
        ],
    );
    let client = reqwest::Client::new();
    // The node unwraps (and caches) the warm project's key.
    assert_eq!(put(&client, &server, &api_token, "warm").await.0, 201);

    // The process stopped: calls hang until the node's timeout.
    bao.freeze();
    outage(&client, &server, &api_token, "warm", "cold-frozen", "frozen").await;
    bao.thaw();
    recovers(&client, &server, &api_token, "cold-frozen", "frozen").await;

    // Sealed: every call is answered 503 at once.
    bao.seal().await;
    outage(&client, &server, &api_token, "warm", "cold-sealed", "sealed").await;
    bao.unseal().await;
    recovers(&client, &server, &api_token, "cold-sealed", "sealed").await;

    // The token revoked: refused (403) by Transit, 503 to callers.
    bao.api("POST", "auth/token/revoke", json!({"token": bao.token})).await;
    outage(&client, &server, &api_token, "warm", "cold-revoked", "revoked").await;
    // A new token in the file is taken up at the next refusal.
    let new_token = bao.new_token().await;
    std::fs::write(&token_file, format!("{new_token}\n")).unwrap();
    recovers(&client, &server, &api_token, "cold-revoked", "revoked").await;

    // The log says why, and holds no token.
    let log = std::fs::read(&server.log).unwrap();
    assert!(contains(&log, b"the key service is unavailable"));
    for token in [bao.token.as_bytes(), bao.root_token().as_bytes(), new_token.as_bytes()] {
        assert!(!contains(&log, token));
    }
}
