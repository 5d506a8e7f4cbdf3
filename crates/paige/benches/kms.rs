//! Key provider benchmark (not a timed test): prints figures for the
//! master key file against OpenBao Transit on this machine.
//!
//! - `resolve` of a project with 10 secrets: the key file; Transit with a
//!   warm cache; Transit with no cache (every call unwraps the data key
//!   through Transit, as a cold cache does);
//! - the first `set_secret` of a new project: on the node that created it
//!   (it holds the key), and on another node with a cold cache.
//!
//! Needs `bao` (PAIGE_TEST_BAO or PATH); it starts its own dev server.
//! Run: `cargo bench -p paige --bench kms`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paige::config::{KmsConfig, KmsKind, TransitSettings};
use paige::model::Actor;
use paige::{Config, Paige};
use secrecy::SecretString;
use serde_json::json;

const RESOLVES: usize = 500;
const PROJECTS: usize = 100;

fn actor() -> Actor {
    Actor {
        name: "bench".into(),
        user_id: None,
        request_id: None,
    }
}

fn median_p90(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.9))
}

fn bao_binary() -> Option<String> {
    std::env::var("PAIGE_TEST_BAO")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| {
            std::env::var("PATH")
                .ok()?
                .split(':')
                .map(|d| format!("{d}/bao"))
                .find(|p| std::path::Path::new(p).is_file())
        })
}

async fn resolve_times(paige: &Paige, slug: &str) -> (f64, f64) {
    let mut times = Vec::with_capacity(RESOLVES);
    for _ in 0..RESOLVES {
        let start = Instant::now();
        paige.resolve(slug).await.expect("resolve");
        times.push(start.elapsed());
    }
    median_p90(times)
}

/// Creates PROJECTS projects on `creator`; times each first write there,
/// then the first write of each again on `other` (a cold cache).
async fn first_writes(creator: &Paige, other_config: &Config, prefix: &str) -> ((f64, f64), (f64, f64)) {
    let value = SecretString::from("first-value-0123456789");
    let mut same = Vec::new();
    for i in 0..PROJECTS {
        let slug = format!("{prefix}{i}");
        creator.create_project(&slug, None, &actor()).await.expect("project");
        let start = Instant::now();
        creator.set_secret(&slug, "FIRST", &value, &actor()).await.expect("set");
        same.push(start.elapsed());
    }
    let other = Paige::open(other_config).await.expect("open");
    let mut cold = Vec::new();
    for i in 0..PROJECTS {
        let start = Instant::now();
        other
            .set_secret(&format!("{prefix}{i}"), "SECOND", &value, &actor())
            .await
            .expect("set");
        cold.push(start.elapsed());
    }
    (median_p90(same), median_p90(cold))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(bao) = bao_binary() else {
        println!("skipped: no OpenBao `bao` binary (set PAIGE_TEST_BAO or put bao on PATH)");
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let root = "bench-root-token";
    let mut server = Command::new(bao)
        .args(["server", "-dev"])
        .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
        .arg(format!("-dev-root-token-id={root}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("bao server");
    let address = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{address}/v1/sys/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (path, body) in [
        ("sys/mounts/transit", json!({"type": "transit"})),
        ("transit/keys/paige", json!({"derived": true})),
    ] {
        let r = http
            .post(format!("{address}/v1/{path}"))
            .header("X-Vault-Token", root)
            .json(&body)
            .send()
            .await
            .expect("set up");
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temporary dir");
    let transit = |ttl: Duration| KmsConfig {
        kind: KmsKind::Transit,
        transit: Some(TransitSettings {
            address: address.clone(),
            mount: "transit".into(),
            key: "paige".into(),
            token: SecretString::from(root),
            token_file: None,
            timeout: Duration::from_secs(5),
        }),
        cache_ttl: ttl,
    };
    let file_config = Config::new(dir.path().join("file"));
    let mut warm_config = Config::new(dir.path().join("transit"));
    warm_config.kms = transit(Duration::from_secs(300));
    let mut cold_config = warm_config.clone();
    cold_config.kms = transit(Duration::ZERO);

    let secrets: Vec<(String, SecretString)> = (0..10)
        .map(|i| {
            (
                format!("SECRET_{i}"),
                SecretString::from(format!("value-{i}-{}", "v".repeat(30))),
            )
        })
        .collect();
    let file = Paige::open(&file_config).await.expect("open file");
    let warm = Paige::open(&warm_config).await.expect("open transit");
    for paige in [&file, &warm] {
        paige.create_project("bench", None, &actor()).await.expect("project");
        paige.import_secrets("bench", &secrets, &actor()).await.expect("import");
        paige.resolve("bench").await.expect("resolve");
    }
    let cold = Paige::open(&cold_config).await.expect("open transit, no cache");

    let (m, p) = resolve_times(&file, "bench").await;
    println!("resolve_10_secrets key_file median_us={m:.0} p90_us={p:.0}");
    let (m, p) = resolve_times(&warm, "bench").await;
    println!("resolve_10_secrets transit_warm_cache median_us={m:.0} p90_us={p:.0}");
    let (m, p) = resolve_times(&cold, "bench").await;
    println!("resolve_10_secrets transit_cold_cache median_us={m:.0} p90_us={p:.0}");

    let ((sm, sp), (cm, cp)) = first_writes(&file, &file_config, "f").await;
    println!("first_put key_file creating_node median_us={sm:.0} p90_us={sp:.0}");
    println!("first_put key_file other_node median_us={cm:.0} p90_us={cp:.0}");
    let ((sm, sp), (cm, cp)) = first_writes(&warm, &warm_config, "t").await;
    println!("first_put transit creating_node median_us={sm:.0} p90_us={sp:.0}");
    println!("first_put transit other_node_cold_cache median_us={cm:.0} p90_us={cp:.0}");

    let _ = server.kill();
    let _ = server.wait();
}
