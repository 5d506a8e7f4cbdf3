//! Store benchmark (not a timed test): prints figures.
//!
//! - `resolve` of a project with 100 secrets of 40 bytes, warm: median and
//!   p90 over many calls;
//! - `list_secrets` of the same project (what the API's GET does);
//! - durable `set_secret` writes per second from one process, one
//!   transaction (and one fsync) per write.
//!
//! Run: `cargo bench -p paige --bench store` (the data dir is a temporary
//! directory on the same disk as `target/`).

use std::time::{Duration, Instant};

use paige::model::Actor;
use paige::{Config, Paige};
use secrecy::SecretString;

const SECRETS: usize = 100;
const RESOLVES: usize = 2_000;
const WRITES: usize = 300;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temporary dir");
    let paige = Paige::open(&Config::new(dir.path().join("data"))).await.expect("open");
    let actor = Actor {
        name: "bench".into(),
        user_id: None,
        request_id: None,
    };
    paige.create_project("bench", None, &actor).await.expect("project");
    let entries: Vec<(String, SecretString)> = (0..SECRETS)
        .map(|i| {
            (
                format!("SECRET_{i:03}"),
                SecretString::from(format!("{i:03}-{}", "v".repeat(36))),
            )
        })
        .collect();
    paige.import_secrets("bench", &entries, &actor).await.expect("import");

    for _ in 0..200 {
        paige.resolve("bench").await.expect("resolve");
    }
    let mut times = Vec::with_capacity(RESOLVES);
    for _ in 0..RESOLVES {
        let start = Instant::now();
        let resolved = paige.resolve("bench").await.expect("resolve");
        times.push(start.elapsed());
        assert_eq!(resolved.secrets.len(), SECRETS);
    }
    times.sort();
    println!(
        "resolve_100_secrets median_us={:.1} p90_us={:.1} min_us={:.1}",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.9).as_secs_f64() * 1e6,
        times[0].as_secs_f64() * 1e6
    );

    // Where a cold resolve's time goes: the whole read of the ciphertexts.
    let mut times = Vec::with_capacity(RESOLVES);
    for _ in 0..RESOLVES {
        let start = Instant::now();
        let sealed = paige.store().sealed_secrets("bench").await.expect("read");
        times.push(start.elapsed());
        assert_eq!(sealed.expect("project").1.len(), SECRETS);
    }
    times.sort();
    println!(
        "  a cold read of all 100: median_us={:.1} p90_us={:.1}",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.9).as_secs_f64() * 1e6,
    );

    // The warm read: the generation check alone (nothing changed).
    let current = paige
        .store()
        .sealed_secrets_since("bench", paige::store::NO_GENERATION)
        .await
        .expect("read")
        .expect("project");
    let mut times = Vec::with_capacity(RESOLVES);
    for _ in 0..RESOLVES {
        let start = Instant::now();
        let read = paige
            .store()
            .sealed_secrets_since("bench", current.generation)
            .await
            .expect("read");
        times.push(start.elapsed());
        assert!(read.expect("project").secrets.is_none());
    }
    times.sort();
    println!(
        "  of which the warm generation check: median_us={:.1} p90_us={:.1}",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.9).as_secs_f64() * 1e6,
    );

    // And the opening of 100 values of 40 bytes alone.
    let dek = paige::crypto::DataKey::generate();
    let sealed: Vec<(String, Vec<u8>)> = entries
        .iter()
        .map(|(key, value)| (key.clone(), paige::crypto::seal_value(&dek, 1, key, 1, value)))
        .collect();
    let mut times = Vec::with_capacity(RESOLVES);
    for _ in 0..RESOLVES {
        let start = Instant::now();
        let opened: Vec<SecretString> = sealed
            .iter()
            .map(|(key, blob)| paige::crypto::open_value(&dek, 1, key, 1, blob).expect("open"))
            .collect();
        times.push(start.elapsed());
        assert_eq!(opened.len(), SECRETS);
    }
    times.sort();
    println!(
        "  of which opening 100 values: median_us={:.1} p90_us={:.1}",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.9).as_secs_f64() * 1e6,
    );

    let mut times = Vec::with_capacity(RESOLVES);
    for _ in 0..RESOLVES {
        let start = Instant::now();
        let listed = paige.list_secrets("bench").await.expect("list");
        times.push(start.elapsed());
        assert_eq!(listed.len(), SECRETS);
    }
    times.sort();
    println!(
        "list_100_secrets median_us={:.1} p90_us={:.1}",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.9).as_secs_f64() * 1e6,
    );

    let value = SecretString::from("w".repeat(40));
    let start = Instant::now();
    for i in 0..WRITES {
        paige
            .set_secret("bench", &format!("WRITE_{}", i % 10), &value, &actor)
            .await
            .expect("set");
    }
    let elapsed = start.elapsed();
    println!(
        "durable_set_one_process writes_per_s={:.0} mean_ms={:.2} writes={WRITES}",
        WRITES as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 / WRITES as f64
    );
    paige.close().await;
}
