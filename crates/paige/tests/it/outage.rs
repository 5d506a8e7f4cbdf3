//! PostgreSQL restarted under load (issue 7): two real `paige serve` nodes
//! on a PostgreSQL server of the test's own, stopped for several seconds and
//! started again while clients keep writing and listing through both nodes.
//! During the outage every failed request is a 503 with the API's JSON
//! error and no value in it, no request waits past the pool's acquire
//! timeout, and both nodes serve again once the database is back, without
//! being restarted; versions and audit records stay whole.
//!
//! The shared server of `PAIGE_TEST_DATABASE_URL` cannot be restarted (other
//! tests run on it at the same time), hence [`PrivatePostgres`].

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paige::store::postgres::ACQUIRE_TIMEOUT;
use sqlx::Connection;

use crate::common::{Env, actor, secret};

mod private_postgres;
use private_postgres::PrivatePostgres;

const EMAIL: &str = "owner@example.com";
const HOT_KEY: &str = "HOT_KEY";
/// Every value written starts with this, so a leak is one substring search.
const PLANTED: &str = "planted-outage-value-5e0c2a";
const CLIENTS: usize = 12;
const WARM_UP: Duration = Duration::from_secs(2);
/// How long the database stays down: longer than a request may take, so a
/// request that waited for the database instead of failing is caught.
const OUTAGE: Duration = Duration::from_secs(8);
/// A request may take the pool's acquire timeout plus this (scheduling on
/// a loaded machine); the outage is longer than the sum.
const LATENCY_SLACK: Duration = Duration::from_millis(2500);
/// Both nodes serve again within this after the database accepts
/// connections again.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);
/// The API's answer while the database is away (`http/error.rs`).
const UNAVAILABLE: &str =
    r#"{"error":{"code":"unavailable","message":"the database is unavailable; try again shortly"}}"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Put,
    List,
}

/// One request of the load, timed from the start of the load.
#[derive(Debug)]
struct Call {
    node: usize,
    kind: Kind,
    started: Duration,
    ended: Duration,
    outcome: Outcome,
}

#[derive(Debug)]
enum Outcome {
    Answered {
        status: u16,
        request_id: String,
        content_type: String,
        body: String,
    },
    /// No HTTP answer: refused, reset, timed out.
    Failed(String),
}

impl Call {
    fn took(&self) -> Duration {
        self.ended - self.started
    }

    fn status(&self) -> Option<u16> {
        match &self.outcome {
            Outcome::Answered { status, .. } => Some(*status),
            Outcome::Failed(_) => None,
        }
    }

    fn ok(&self) -> bool {
        matches!(
            (self.kind, self.status()),
            (Kind::Put, Some(200 | 201)) | (Kind::List, Some(200))
        )
    }

    fn unavailable(&self) -> bool {
        self.status() == Some(503)
    }
}

/// When the database went down and came back, from the start of the load.
#[derive(Debug)]
struct Timeline {
    stop_begun: Duration,
    stopped: Duration,
    start_begun: Duration,
    started: Duration,
}

async fn send(node: usize, kind: Kind, request: reqwest::RequestBuilder, t0: Instant) -> Call {
    let started = t0.elapsed();
    let outcome = match request.send().await {
        Ok(response) => {
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let (request_id, content_type) = (header("x-request-id"), header("content-type"));
            let status = response.status().as_u16();
            match response.text().await {
                Ok(body) => Outcome::Answered {
                    status,
                    request_id,
                    content_type,
                    body,
                },
                Err(e) => Outcome::Failed(format!("reading the body: {e}")),
            }
        }
        Err(e) => Outcome::Failed(e.to_string()),
    };
    Call {
        node,
        kind,
        started,
        ended: t0.elapsed(),
        outcome,
    }
}

/// Which node a client's requests go to.
#[derive(Clone, Copy)]
enum Route {
    /// Client `id`: overwrite through one node, list through the other,
    /// alternating.
    Alternating(usize),
    /// Both through this node.
    Pinned(usize),
}

impl Route {
    /// Unique per client: part of the values it writes.
    fn label(self) -> String {
        match self {
            Route::Alternating(id) => id.to_string(),
            Route::Pinned(node) => format!("pinned-{node}"),
        }
    }
}

/// One client: overwrite the hot key and list the keys, by `route`, until
/// told to stop. No pause after a failure, so the outage is met by as
/// many requests as possible.
async fn client(
    route: Route,
    http: reqwest::Client,
    bases: Arc<[String; 2]>,
    token: Arc<str>,
    calls: Arc<Mutex<Vec<Call>>>,
    stop: Arc<AtomicBool>,
    t0: Instant,
) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let (node, other) = match route {
            Route::Alternating(id) => ((id + n) % 2, 1 - (id + n) % 2),
            Route::Pinned(node) => (node, node),
        };
        let put = http
            .put(format!("{}/api/v1/projects/proj/secrets/{HOT_KEY}", bases[node]))
            .bearer_auth(&*token)
            .json(&serde_json::json!({ "value": format!("{PLANTED}-{}-{n}", route.label()) }));
        let call = send(node, Kind::Put, put, t0).await;
        calls.lock().unwrap().push(call);
        let list = http
            .get(format!("{}/api/v1/projects/proj/secrets", bases[other]))
            .bearer_auth(&*token);
        let call = send(other, Kind::List, list, t0).await;
        calls.lock().unwrap().push(call);
        n += 1;
    }
}

/// Both nodes have answered `runs` requests successfully that started after `since`.
fn both_serving(calls: &[Call], since: Duration, runs: usize) -> bool {
    (0..2).all(|node| {
        calls
            .iter()
            .filter(|c| c.node == node && c.started >= since && c.ok())
            .count()
            >= runs
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_answers_503_and_recovers_without_restarting_nodes() {
    // Opt-in like the other PostgreSQL tests (CI sets the variable), though
    // this one runs a server of its own.
    if !std::env::var("PAIGE_TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        eprintln!("skipped: the PostgreSQL outage test (PAIGE_TEST_DATABASE_URL is not set)");
        return;
    }
    let pg = match tokio::task::block_in_place(PrivatePostgres::start) {
        Ok(pg) => pg,
        Err(why) => {
            eprintln!("skipped: the PostgreSQL outage test: {why}");
            return;
        }
    };
    let mut admin = sqlx::PgConnection::connect(&pg.url("postgres")).await.unwrap();
    sqlx::query("CREATE DATABASE paige").execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    let url = pg.url("paige");

    // A user, token and project, made through the library; then two nodes
    // with the same master key.
    let env = Env::builder().database(&url).await;
    let setup = &env.paige;
    setup
        .create_user(EMAIL, &secret("a long password!"), &actor())
        .await
        .unwrap();
    let (_, token) = setup.create_token(EMAIL, &actor()).await.unwrap();
    let token: Arc<str> = Arc::from(token.expose());
    setup.create_project("proj", Some(EMAIL), &actor()).await.unwrap();
    let other = env.another_node().await;
    // Only the two `paige serve` processes use the database from here on.
    setup.close().await;
    other.paige.close().await;
    let mut nodes = tokio::task::block_in_place(|| [&env, &other].map(|node| node.serve("node.log", &[])));
    let bases = Arc::new([nodes[0].base.clone(), nodes[1].base.clone()]);

    // The load, on both nodes, through the whole outage.
    let http = reqwest::Client::builder()
        // Far past any bound below: a hang is recorded as a failure.
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    // The alternating clients can all end up waiting on one node (the
    // slower one) when the database stops, so that the other meets the
    // outage only as a wait: one client pinned to each node as well.
    let routes = (0..CLIENTS)
        .map(Route::Alternating)
        .chain([Route::Pinned(0), Route::Pinned(1)]);
    for route in routes {
        let (http, bases, token) = (http.clone(), Arc::clone(&bases), Arc::clone(&token));
        let (calls, stop) = (Arc::clone(&calls), Arc::clone(&stop));
        clients.spawn(client(route, http, bases, token, calls, stop, t0));
    }
    tokio::time::sleep(WARM_UP).await;
    let stop_begun = t0.elapsed();
    tokio::task::block_in_place(|| pg.stop());
    let stopped = t0.elapsed();
    tokio::time::sleep(OUTAGE).await;
    let start_begun = t0.elapsed();
    tokio::task::block_in_place(|| pg.restart());
    let started = t0.elapsed();
    let time = Timeline {
        stop_begun,
        stopped,
        start_begun,
        started,
    };
    // Load on until both nodes have served a run of requests again (or the
    // recovery bound has passed; the checks below then say what is wrong).
    while t0.elapsed() < started + RECOVERY_BOUND + Duration::from_secs(1)
        && !both_serving(&calls.lock().unwrap(), started, 20)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    clients.join_all().await;
    let calls = std::mem::take(&mut *calls.lock().unwrap());
    report(&calls, &time);

    check_answers(&calls, &time);
    for (i, node) in nodes.iter_mut().enumerate() {
        assert!(node.still_running(), "node {i} exited during the outage");
    }

    // After recovery a write through either node is read through the other.
    let http = reqwest::Client::new();
    for (from, to, key) in [(0, 1, "AFTER_A"), (1, 0, "AFTER_B")] {
        let put = http
            .put(format!("{}/api/v1/projects/proj/secrets/{key}", bases[from]))
            .bearer_auth(&*token)
            .json(&serde_json::json!({ "value": format!("{PLANTED}-{key}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201, "{}", put.text().await.unwrap());
        let listed: serde_json::Value = http
            .get(format!("{}/api/v1/projects/proj/secrets", bases[to]))
            .bearer_auth(&*token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let seen = listed["secrets"].as_array().unwrap().iter().any(|s| s["key"] == key);
        assert!(
            seen,
            "{key}, written through node {from}, is not listed by node {to}: {listed}"
        );
    }

    check_versions_and_audit(&calls, &time, &url).await;

    // The nodes' logs record the failures, and never a value.
    for (i, node) in nodes.iter().enumerate() {
        let log = std::fs::read_to_string(&node.log).unwrap();
        assert!(!log.contains(PLANTED), "node {i}'s log contains a value");
        assert!(
            log.contains("status=503") && log.contains("request failed"),
            "node {i}'s log does not show the outage:\n{log}"
        );
        // Which database errors the outage produced, for the output.
        let mut causes: HashMap<&str, usize> = HashMap::new();
        for line in log.lines().filter(|l| l.contains("request failed")) {
            let cause = line.split_once("error=").map_or(line, |(_, cause)| cause);
            *causes.entry(cause).or_default() += 1;
        }
        eprintln!("outage: node {i} logged failures: {causes:?}");
    }
}

/// Figures for the test's output (`--nocapture`).
fn report(calls: &[Call], time: &Timeline) {
    let mut statuses: HashMap<String, usize> = HashMap::new();
    for call in calls {
        let key = match (&call.outcome, call.kind) {
            (Outcome::Answered { status, .. }, kind) => format!("{kind:?} {status}"),
            (Outcome::Failed(_), kind) => format!("{kind:?} no answer"),
        };
        *statuses.entry(key).or_default() += 1;
    }
    let mut statuses: Vec<_> = statuses.into_iter().collect();
    statuses.sort();
    let slowest = calls.iter().map(Call::took).max().unwrap_or_default();
    let slowest_ok = calls
        .iter()
        .filter(|c| c.ok())
        .map(Call::took)
        .max()
        .unwrap_or_default();
    eprintln!(
        "outage: {} requests by {CLIENTS} clients and 2 pinned; {statuses:?}; slowest {slowest:?} (slowest success \
         {slowest_ok:?}); database stopped {:?}..{:?}, started {:?}..{:?}",
        calls.len(),
        time.stop_begun,
        time.stopped,
        time.start_begun,
        time.started
    );
    for node in 0..2 {
        let back = calls
            .iter()
            .filter(|c| c.node == node && c.started >= time.started && c.ok())
            .map(|c| c.ended)
            .min();
        eprintln!(
            "outage: node {node}: {} × 503, first success after the restart ends {:?} after it",
            calls.iter().filter(|c| c.node == node && c.unavailable()).count(),
            back.map(|b| b - time.started)
        );
    }
}

/// Every request answered, quickly, with a success or a clean 503, and
/// 503s only while the database was away; both nodes back afterwards.
fn check_answers(calls: &[Call], time: &Timeline) {
    let bound = ACQUIRE_TIMEOUT + LATENCY_SLACK;
    assert!(OUTAGE > bound, "the outage must outlast a request's bound");
    for call in calls {
        let (status, content_type, body) = match &call.outcome {
            Outcome::Answered {
                status,
                content_type,
                body,
                ..
            } => (status, content_type, body),
            Outcome::Failed(error) => panic!("a request got no HTTP answer (reset, refused, hung): {error}: {call:?}"),
        };
        assert!(!body.contains(PLANTED), "a response contains a value: {call:?}");
        assert!(
            call.took() <= bound,
            "a request took {:?} (bound {bound:?}): {call:?}",
            call.took()
        );
        if call.ok() {
            continue;
        }
        assert_eq!(*status, 503, "neither a success nor a 503: {call:?}");
        assert!(content_type.starts_with("application/json"), "{call:?}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body, serde_json::from_str::<serde_json::Value>(UNAVAILABLE).unwrap());
        // A 503 overlaps the outage: no request that ended before the stop
        // or began once the database was back failed.
        assert!(
            call.ended >= time.stop_begun && call.started < time.started,
            "a 503 outside the outage ({time:?}): {call:?}"
        );
    }
    for node in 0..2 {
        let on = |c: &&Call| c.node == node;
        assert!(
            calls.iter().filter(on).any(|c| c.ended < time.stop_begun && c.ok()),
            "node {node} served nothing before the outage"
        );
        assert!(
            calls.iter().filter(on).any(Call::unavailable),
            "node {node} never answered 503: was the database really down?"
        );
        // Failing fast: 503s came while the database was going or gone,
        // not only once it was back. (From the stop's beginning: under load
        // pg_ctl's own stop can take most of the outage.)
        assert!(
            calls
                .iter()
                .filter(on)
                .any(|c| c.unavailable() && c.ended > time.stop_begun && c.ended < time.start_begun),
            "node {node} answered no 503 while the database was down"
        );
        // Back within the bound, and from then on every request succeeds.
        let back = calls
            .iter()
            .filter(on)
            .filter(|c| c.started >= time.started && c.ok())
            .map(|c| c.ended)
            .min()
            .unwrap_or_else(|| panic!("node {node} never served again after the database came back"));
        assert!(
            back - time.started <= RECOVERY_BOUND,
            "node {node} served again only {:?} after the database was back",
            back - time.started
        );
        let after: Vec<&Call> = calls.iter().filter(on).filter(|c| c.started > back).collect();
        assert!(
            after.len() >= 5,
            "too few requests to node {node} after recovery: {}",
            after.len()
        );
        if let Some(failed) = after.iter().find(|c| !c.ok()) {
            panic!("node {node} failed again after it had recovered: {failed:?}");
        }
    }
}

/// The hot key's version counts its writes, each with one audit record:
/// every successful write's record (found by its request id, with the
/// version it was answered), and besides them only writes that were in
/// flight when the database went down (committed, but the answer lost).
async fn check_versions_and_audit(calls: &[Call], time: &Timeline, url: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let version: i64 = sqlx::query_scalar("SELECT version FROM secrets WHERE key = $1")
        .bind(HOT_KEY)
        .fetch_one(&pool)
        .await
        .unwrap();
    let audit: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT version, request_id FROM audit_events WHERE key = $1 ORDER BY version")
            .bind(HOT_KEY)
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    let versions: Vec<i64> = audit.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions,
        (1..=version).collect::<Vec<_>>(),
        "one audit record per version"
    );
    let audited: HashMap<&str, i64> = audit.iter().filter_map(|(v, id)| Some((id.as_deref()?, *v))).collect();
    assert_eq!(audited.len(), audit.len(), "every write's record names its request");

    let puts: HashMap<&str, &Call> = calls
        .iter()
        .filter(|c| c.kind == Kind::Put)
        .filter_map(|c| match &c.outcome {
            Outcome::Answered { request_id, .. } => Some((request_id.as_str(), c)),
            Outcome::Failed(_) => None,
        })
        .collect();
    let mut answered_versions = BTreeSet::new();
    for call in puts.values().filter(|c| c.ok()) {
        let Outcome::Answered { request_id, body, .. } = &call.outcome else {
            unreachable!()
        };
        let answered = serde_json::from_str::<serde_json::Value>(body).unwrap()["version"]
            .as_i64()
            .unwrap();
        assert!(answered_versions.insert(answered), "version {answered} answered twice");
        assert_eq!(
            audited.get(request_id.as_str()),
            Some(&answered),
            "the successful write {request_id} has no audit record of version {answered}"
        );
    }
    let mut lost_answers = 0;
    for (request_id, v) in &audited {
        let call = puts
            .get(request_id)
            .unwrap_or_else(|| panic!("audit record of version {v} from an unknown request {request_id}"));
        if call.unavailable() {
            assert!(
                call.started < time.stopped,
                "a 503 write committed though it began with the database down: {call:?}"
            );
            lost_answers += 1;
        }
    }
    eprintln!(
        "outage: {HOT_KEY} at version {version}: {} successful writes, {lost_answers} committed as the database \
         stopped (answered 503)",
        answered_versions.len()
    );
    assert_eq!(
        answered_versions.len() + lost_answers,
        usize::try_from(version).unwrap()
    );
}
