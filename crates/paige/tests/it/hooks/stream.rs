//! The bot's answer streams back (issue 13): head and chunks as the bot
//! writes them, cut at the size and time limits with the execution saying
//! so, the lines printed while streaming in that request's execution, and
//! the connection to the process kept alive between requests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use paige::runtime::ExecutionStatus;
use paige::runtime::warm::RESPONSE_LIMIT;

use super::{client, execution_of, express_project, log_text, serve};
use crate::common::{Env, both_backends};

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

/// The `written at <ms>` stamp of each line the fixture's `/stream` wrote.
fn stamps(text: &str) -> Vec<u128> {
    text.lines()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect()
}

/// The body read to its end or to its first error: the bytes, and whether
/// it ended cleanly.
async fn read_all(mut response: reqwest::Response) -> (usize, bool) {
    let mut total = 0;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => total += chunk.len(),
            Ok(None) => return (total, true),
            Err(_) => return (total, false),
        }
    }
}

both_backends!(the_answer_streams_as_the_bot_writes_it_and_a_too_large_one_is_cut);
async fn the_answer_streams_as_the_bot_writes_it_and_a_too_large_one_is_cut(env: Env) {
    express_project(&env, "live", &[("API_TOKEN", "tok-stream-5e8a")]).await;
    let server = serve(&env, &[]);
    let http = client();
    let base = format!("{}/hooks/live", server.base);

    // Four chunks, 400 ms apart: the first is in the caller's hands long
    // before the bot writes the last.
    let mut response = http
        .get(format!("{base}/stream?chunks=4&delay=400"))
        .send()
        .await
        .unwrap();
    let head_at = now_ms();
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    let mut first_at = None;
    while let Some(chunk) = response.chunk().await.unwrap() {
        first_at.get_or_insert_with(now_ms);
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let written = stamps(&text);
    assert_eq!(written.len(), 4, "{text}");
    let (first_at, last_written) = (first_at.unwrap(), written[3]);
    assert!(
        head_at < last_written && first_at < last_written,
        "head at {head_at}, first chunk at {first_at}, last chunk written at {last_written}"
    );
    let execution = execution_of(&env, "live", &response).await;
    assert_eq!(execution.record.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.record.response_status, Some(200));
    let log = log_text(&execution);
    for line in ["streaming chunk 0", "streaming chunk 3", "stream done"] {
        assert!(log.contains(line), "{line:?} not in {log}");
    }

    // 11 MiB: cut at the 10 MiB limit, the caller's body ends in an error
    // (never a clean end that passes a part for the whole), the execution
    // says why, and the lines the bot printed meanwhile are its own.
    let big = http.get(format!("{base}/big?mib=11")).send().await.unwrap();
    assert_eq!(big.status(), 200);
    let id = big.headers()["x-paige-execution-id"].to_str().unwrap().parse().unwrap();
    let (received, clean) = read_all(big).await;
    assert!(!clean, "a cut answer must not end cleanly ({received} bytes)");
    assert!(received <= RESPONSE_LIMIT, "{received} bytes passed on");
    let execution = super::finished(&env, "live", id).await;
    assert_eq!(execution.record.status, ExecutionStatus::Failed);
    assert_eq!(execution.record.response_status, Some(200));
    let error = execution.record.error.clone().unwrap_or_default();
    assert!(error.contains("passed the limit of 10 MiB"), "{error}");
    assert!(
        log_text(&execution).contains("sending 11534336 bytes"),
        "{}",
        log_text(&execution)
    );

    // The cut process was stopped; the next request gets a fresh one, and
    // then keeps its connection: two requests in a row, one connection.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let r = http.get(format!("{base}/connection")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        seen.push(r.text().await.unwrap());
    }
    assert!(seen.iter().all(|c| c == &seen[0]), "connections used: {seen:?}");
}

#[tokio::test]
async fn a_stream_past_the_time_limit_is_cut_and_a_connection_the_bot_closed_is_replaced() {
    let env = Env::sqlite().await;
    // The bot closes idle connections after 100 ms (Node 20 adds a second),
    // far sooner than Node's default 5 s.
    express_project(&env, "edge", &[("BOT_KEEP_ALIVE_MS", "0100")]).await;
    let server = serve(&env, &[]);
    let http = client();
    let base = format!("{}/hooks/edge", server.base);

    // Every request after the bot closed the idle connection is answered
    // on a fresh one: none fails, none is sent twice.
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = http.get(format!("{base}/connection")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        seen.push(r.text().await.unwrap());
        tokio::time::sleep(Duration::from_millis(1600)).await;
    }
    let mut distinct = seen.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), seen.len(), "a closed connection was reused: {seen:?}");

    // A stream still going at the request's time limit (3 s here): cut,
    // `timed_out`, with what it logged until then.
    let started = std::time::Instant::now();
    let slow = http
        .get(format!("{base}/stream?chunks=20&delay=500"))
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), 200);
    let id = slow.headers()["x-paige-execution-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let (received, clean) = read_all(slow).await;
    assert!(!clean && received > 0, "{received} bytes, clean: {clean}");
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    let execution = super::finished(&env, "edge", id).await;
    assert_eq!(execution.record.status, ExecutionStatus::TimedOut);
    let error = execution.record.error.clone().unwrap_or_default();
    assert!(error.contains("while its answer was sent"), "{error}");
    let log = log_text(&execution);
    assert!(
        log.contains("streaming chunk 1") && !log.contains("stream done"),
        "{log}"
    );

    // And the project serves again.
    let r = http.get(format!("{base}/version")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
