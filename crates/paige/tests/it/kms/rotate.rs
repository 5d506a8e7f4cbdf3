//! `paige keys rotate` with Transit while two `paige serve` nodes on one
//! PostgreSQL database serve reads, writes and executions: no request
//! fails, no file is copied to any node, every data key ends on the new
//! version, and `paige keys status` says so.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use paige::Paige;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use super::{Bao, with_transit};
use crate::common::{actor, stderr, stdout};

const PROJECTS: usize = 150;
const BOT: &str = "'use strict';\nconsole.log(`key length ${process.env.KEY.length}`);\n";

fn value(i: usize) -> String {
    format!("rotated-value-{i:04}-9a0b")
}

#[derive(Default)]
struct Tally {
    writes: AtomicUsize,
    reads: AtomicUsize,
    executions: AtomicUsize,
}

/// One client of one node: write, list and run, until `stop`. Panics (and
/// so fails the test) on the first answer that is not a success.
async fn client(base: String, token: String, offset: usize, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let http = reqwest::Client::new();
    let mut i = offset;
    while !stop.load(Ordering::Relaxed) {
        let slug = format!("p{}", i % PROJECTS);
        let put = http
            .put(format!("{base}/api/v1/projects/{slug}/secrets/KEY"))
            .bearer_auth(&token)
            .json(&json!({"value": value(i % PROJECTS)}))
            .send()
            .await
            .unwrap();
        let status = put.status();
        assert!(
            status.is_success(),
            "write through {base}: {status} {}",
            put.text().await.unwrap()
        );
        tally.writes.fetch_add(1, Ordering::Relaxed);

        let list = http
            .get(format!("{base}/api/v1/projects/{slug}/secrets"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(list.status(), 200, "read through {base}");
        tally.reads.fetch_add(1, Ordering::Relaxed);

        if i.is_multiple_of(4) {
            let run = http
                .post(format!("{base}/api/v1/projects/bot/executions"))
                .bearer_auth(&token)
                .json(&json!({"event": {}}))
                .send()
                .await
                .unwrap();
            let status = run.status();
            let body: serde_json::Value = run.json().await.unwrap();
            assert_eq!(status, 201, "execution through {base}: {body}");
            assert_eq!(body["status"], "succeeded", "{body}");
            tally.executions.fetch_add(1, Ordering::Relaxed);
        }
        i += 7;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_while_two_nodes_serve_reads_writes_and_executions() {
    let Some(bao) = Bao::start().await else { return };
    let Some(env) = with_transit(&bao).postgres().await else {
        return;
    };
    env.project("bot").await;
    env.set("bot", "KEY", "bot-key-value-0c0c").await;
    for i in 0..PROJECTS {
        let slug = format!("p{i}");
        env.project(&slug).await;
        env.set(&slug, "KEY", &value(i)).await;
    }
    let (_, token) = env.paige.create_token("alice@example.com", &actor()).await.unwrap();
    let token = token.expose().to_owned();
    let node2 = env.another_node().await;
    // No cache: every request that needs a data key asks Transit, so the
    // rotation happens under the nodes' feet.
    let no_cache = [("PAIGE_KMS_CACHE_TTL", "0")];
    let servers = [env.serve("node1.log", &no_cache), node2.serve("node2.log", &no_cache)];
    let code = reqwest::Client::new()
        .put(format!("{}/api/v1/projects/bot/code/app.js", servers[0].base))
        .bearer_auth(&token)
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(BOT)
        .send()
        .await
        .unwrap();
    assert_eq!(code.status(), 200);

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut clients = Vec::new();
    for (n, server) in servers.iter().enumerate() {
        for c in 0..2 {
            clients.push(tokio::spawn(client(
                server.base.clone(),
                token.clone(),
                n * 50 + c * 13,
                Arc::clone(&stop),
                Arc::clone(&tally),
            )));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for version in [2, 3] {
        let out = tokio::task::block_in_place(|| env.cli(&["keys", "rotate"], b""));
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out).trim(),
            format!(
                "master key rotated to paige:v{version}: {} data keys re-wrapped",
                PROJECTS + 1
            )
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let (writes, reads, executions) = (
        tally.writes.load(Ordering::Relaxed),
        tally.reads.load(Ordering::Relaxed),
        tally.executions.load(Ordering::Relaxed),
    );
    eprintln!("during the rotations: {writes} writes, {reads} reads, {executions} executions, no error");
    assert!(writes > 20 && reads > 20 && executions > 4);
    assert_eq!(bao.latest_version().await, 3);

    // Every data key on the new version; no key file anywhere.
    let status = env.cli(&["keys", "status"], b"");
    let text = stdout(&status);
    assert!(text.contains("current key paige:v3"), "{text}");
    let expected = ["transit".to_owned(), "paige:v3".to_owned(), (PROJECTS + 1).to_string()];
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>() == expected),
        "{text}"
    );
    for dir in [env.data_dir(), node2.data_dir()] {
        assert!(!dir.join("master.key").exists());
    }
    let fresh = Paige::open(&env.config()).await.unwrap();
    for i in 0..PROJECTS {
        let resolved = fresh.resolve(&format!("p{i}")).await.unwrap();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&resolved.secrets[0].1), value(i));
    }
    // Rotating again with nothing left behind starts a new version; the
    // audit trail has each rotation.
    let audits: Vec<String> = env
        .db()
        .await
        .column(
            "SELECT detail FROM audit_events WHERE action = 'keys.rotate' ORDER BY id",
            &[],
        )
        .await;
    assert_eq!(
        audits,
        [2, 3]
            .map(|v| format!("{} data keys re-wrapped under transit key paige:v{v}", PROJECTS + 1))
            .to_vec()
    );
}

#[tokio::test]
async fn an_interrupted_rotation_is_finished_by_the_next_run() {
    let Some(bao) = Bao::start().await else { return };
    let env = with_transit(&bao).sqlite().await;
    for slug in ["a", "b", "c"] {
        env.project(slug).await;
        env.set(slug, "KEY", &format!("{slug}-value-5151")).await;
    }
    // As if a run had rotated the key in Transit and died before re-wrapping.
    bao.api("POST", "transit/keys/paige/rotate", json!({})).await;
    let out = env.cli(&["keys", "rotate"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "finished an interrupted rotation: 3 data keys re-wrapped under paige:v2"
    );
    assert_eq!(bao.latest_version().await, 2);
    let out = env.cli(&["keys", "rotate"], b"");
    assert_eq!(
        stdout(&out).trim(),
        "master key rotated to paige:v3: 3 data keys re-wrapped"
    );
    let fresh = Paige::open(&env.config()).await.unwrap();
    for slug in ["a", "b", "c"] {
        assert_eq!(fresh.resolve(slug).await.unwrap().secrets.len(), 1);
    }
}
