//! `/metrics` of a real `paige serve`, parsed by a real Prometheus text
//! parser (`prometheus_client`'s OpenMetrics parser, from PyPI, installed
//! by `.ci/run` in /opt/paige-venv): the families are there with the
//! samples the requests and a real bot execution made, behind the metrics
//! token on the main listener and without it on `--metrics-listen`; a
//! planted value, token, email, key name and slug appear nowhere in a
//! scrape; with `PAIGE_LOG_FORMAT=json` every log line is JSON with the
//! request fields, and carries no value either.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

use crate::common::{Env, contains, stderr, stdout};

const VALUE: &str = "planted-metrics-value-5d0c7e1a";
const EMAIL: &str = "planted-metrics-user-81b2@example.com";
const PASSWORD: &str = "planted-metrics-password-3f9a";
const KEY: &str = "PLANTED_METRICS_KEY_77";
const SLUG: &str = "planted-metrics-slug-42";
const METRICS_TOKEN: &str = "metrics-token-0123456789abcdef0123456789abcdef";

/// The bot: prints its secret (which the redactor masks) and exits.
const BOT: &str = "console.log(`the key is ${process.env.PLANTED_METRICS_KEY_77}`);\n";

const FAMILIES: [&str; 9] = [
    "paige_http_requests",
    "paige_http_request_duration_seconds",
    "paige_executions",
    "paige_execution_queue_depth",
    "paige_execution_slots_in_use",
    "paige_group_commit_batch_size",
    "paige_db_pool_connections",
    "paige_redactor_bytes",
    "paige_redactor_masks",
];

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "exit {:?}: {}", out.status, stderr(out));
    stdout(out)
}

/// The scrape as the Python parser read it: `{family: {type, samples}}`.
fn parse(scrape: &str, dir: &Path) -> serde_json::Map<String, Value> {
    let python = std::env::var("PAIGE_TEST_PYTHON").unwrap_or_else(|_| "/opt/paige-venv/bin/python".to_owned());
    assert!(
        Path::new(&python).exists(),
        "{python} is missing: run `python3 -m venv /opt/paige-venv && /opt/paige-venv/bin/pip install \
         prometheus-client==0.21.1` (as .ci/run does)"
    );
    let file = dir.join("scrape.txt");
    std::fs::write(&file, scrape).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parse_metrics.py");
    let parsed = ok(&Command::new(python).arg(script).arg(&file).output().unwrap());
    let parsed: Value = serde_json::from_str(&parsed).unwrap();
    parsed["families"].as_object().unwrap().clone()
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(families: &serde_json::Map<String, Value>, family: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families[family]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
}

fn assert_clean(what: &str, text: &[u8], token: &str) {
    for planted in [VALUE, EMAIL, PASSWORD, KEY, SLUG, token, METRICS_TOKEN] {
        assert!(!contains(text, planted.as_bytes()), "{what} carries {planted}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_carry_the_expected_families_and_leak_nothing() {
    let env = Env::sqlite().await;
    ok(&env.cli(&["users", "create", EMAIL], PASSWORD.as_bytes()));
    let token = ok(&env.cli(&["tokens", "create", EMAIL], b"")).trim().to_owned();
    ok(&env.cli(&["projects", "create", SLUG, "--owner", EMAIL], b""));
    let token_file = env.scratch().join("metrics.token");
    std::fs::write(&token_file, format!("{METRICS_TOKEN}\n")).unwrap();
    let mut server = tokio::task::block_in_place(|| {
        env.serve(
            "serve.log",
            &[
                ("PAIGE_METRICS_TOKEN_FILE", token_file.to_str().unwrap()),
                ("PAIGE_METRICS_LISTEN", "127.0.0.1:0"),
                ("PAIGE_LOG_FORMAT", "json"),
                ("PAIGE_LOG", "debug"),
            ],
        )
    });
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);

    let put = client
        .put(url(&format!("/api/v1/projects/{SLUG}/secrets/{KEY}")))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "value": VALUE }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let code = client
        .put(url(&format!("/api/v1/projects/{SLUG}/code/app.js")))
        .bearer_auth(&token)
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(BOT)
        .send()
        .await
        .unwrap();
    assert_eq!(code.status(), 200, "{}", code.text().await.unwrap());
    let run = client
        .post(url(&format!("/api/v1/projects/{SLUG}/executions")))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "event": {} }))
        .send()
        .await
        .unwrap();
    let run: Value = run.json().await.unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    let listed = client
        .get(url(&format!("/api/v1/projects/{SLUG}/secrets")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let missing = client.get(url(&format!("/{SLUG}/{EMAIL}"))).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // The main listener: the metrics token only.
    for bad in [None, Some(token.as_str()), Some("metrics-token-wrong")] {
        let mut request = client.get(url("/metrics"));
        if let Some(bad) = bad {
            request = request.bearer_auth(bad);
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "{bad:?}");
    }
    let scraped = client
        .get(url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        scraped.headers()
    );
    let scrape = scraped.text().await.unwrap();
    assert_clean("the scrape", scrape.as_bytes(), &token);

    let families = parse(&scrape, env.scratch());
    for family in FAMILIES {
        assert!(families.contains_key(family), "{family} missing from {scrape}");
    }
    let route = "/api/v1/projects/{slug}/secrets/{key}";
    let puts = [("method", "PUT"), ("route", route), ("status", "201")];
    assert_eq!(
        sample(&families, "paige_http_requests", "paige_http_requests_total", &puts),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &families,
            "paige_http_requests",
            "paige_http_requests_total",
            &[("route", "(no route)"), ("status", "404")]
        ),
        Some(1.0)
    );
    let latency = [("method", "PUT"), ("route", route)];
    let name = "paige_http_request_duration_seconds_count";
    assert_eq!(
        sample(&families, "paige_http_request_duration_seconds", name, &latency),
        Some(1.0)
    );
    let ran = [("status", "succeeded"), ("trigger", "api")];
    assert_eq!(
        sample(&families, "paige_executions", "paige_executions_total", &ran),
        Some(1.0)
    );
    assert!(
        sample(
            &families,
            "paige_group_commit_batch_size",
            "paige_group_commit_batch_size_count",
            &[]
        )
        .unwrap()
            >= 1.0
    );
    assert!(sample(&families, "paige_redactor_masks", "paige_redactor_masks_total", &[]).unwrap() >= 1.0);
    assert!(sample(&families, "paige_redactor_bytes", "paige_redactor_bytes_total", &[]).unwrap() > 0.0);
    assert_eq!(
        sample(
            &families,
            "paige_execution_slots_in_use",
            "paige_execution_slots_in_use",
            &[]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &families,
            "paige_execution_queue_depth",
            "paige_execution_queue_depth",
            &[]
        ),
        Some(0.0)
    );
    let writer_max = [("pool", "sqlite_writer"), ("state", "max")];
    assert_eq!(
        sample(
            &families,
            "paige_db_pool_connections",
            "paige_db_pool_connections",
            &writer_max
        ),
        Some(1.0)
    );
    // Every label value is a route template, a method, a status or a name of
    // the code's own: nothing the client chose.
    for family in families.values() {
        for s in family["samples"].as_array().unwrap() {
            for (label, value) in s["labels"].as_object().unwrap() {
                let value = value.as_str().unwrap();
                assert!(!value.contains(SLUG) && !value.contains(KEY), "{label}={value}");
            }
        }
    }

    // The separate listener: no token, the same families.
    let log_path = server.log.clone();
    let alone = wait_for_metrics_address(&log_path).await;
    let scrape = client
        .get(format!("http://{alone}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_clean("the separate listener's scrape", scrape.as_bytes(), &token);
    let families = parse(&scrape, env.scratch());
    for family in FAMILIES {
        assert!(families.contains_key(family), "{family} missing from {scrape}");
    }

    server.terminate();
    assert!(tokio::task::block_in_place(|| server.child.wait()).unwrap().success());
    let log = std::fs::read(&log_path).unwrap();
    assert_clean("the log", &log, &token);
    let log = String::from_utf8(log).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["message"] == "request" && l["method"] == "PUT" && l["route"] == route)
        .unwrap_or_else(|| panic!("no request line for the PUT: {log}"));
    assert_eq!(request["status"], 201, "{request}");
    assert!(
        request["request_id"].as_str().is_some_and(|id| id.len() == 16),
        "{request}"
    );
    assert!(request["latency_us"].as_u64().is_some(), "{request}");
    assert!(
        request["level"] == "INFO" && request["timestamp"].is_string(),
        "{request}"
    );
}

/// The address `--metrics-listen` bound, from the server's (JSON) log.
async fn wait_for_metrics_address(log: &Path) -> String {
    for _ in 0..100 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            if let Ok(line) = serde_json::from_str::<Value>(line)
                && line["message"] == "metrics listening"
            {
                return line["address"].as_str().unwrap().to_owned();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server never said where metrics listen")
}

#[test]
fn an_unknown_log_format_is_refused() {
    let env = tokio::runtime::Runtime::new().unwrap().block_on(Env::sqlite());
    let out = env
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .env("PAIGE_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("PAIGE_LOG_FORMAT must be `text` or `json`"),
        "{}",
        stderr(&out)
    );
}
