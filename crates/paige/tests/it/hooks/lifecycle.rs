//! Warm processes over time: rotation on overwrite and code push, a
//! crashing bot, one that never listens, a slow one, a flood, and another
//! project's bot that cannot reach this one's socket.

use std::time::Duration;

use paige::runtime::{ExecutionRequest, ExecutionStatus, Limits, Trigger};

use super::{client, execution_of, express_project, log_text, serve};
use crate::common::{Env, actor, both_backends, fixtures};

async fn get_text(http: &reqwest::Client, url: String) -> (u16, String) {
    let r = http.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

both_backends!(an_overwrite_and_a_code_push_reach_the_very_next_request_never_the_one_in_flight);
async fn an_overwrite_and_a_code_push_reach_the_very_next_request_never_the_one_in_flight(env: Env) {
    express_project(&env, "rot", &[("API_TOKEN", "old-value-1")]).await;
    let server = serve(&env, &[]);
    let http = client();
    let base = format!("{}/hooks/rot", server.base);
    assert_eq!(
        get_text(&http, format!("{base}/value")).await,
        (200, "old-value-1 old-value-1".into())
    );

    // In flight during the overwrite: the old value, whole.
    let in_flight = tokio::spawn({
        let (http, url) = (http.clone(), format!("{base}/value?wait=1500"));
        async move { get_text(&http, url).await }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    env.set("rot", "API_TOKEN", "new-value-2").await;
    assert_eq!(
        get_text(&http, format!("{base}/value")).await,
        (200, "new-value-2 new-value-2".into())
    );
    assert_eq!(in_flight.await.unwrap(), (200, "old-value-1 old-value-1".into()));
    // The deletion too.
    env.paige.delete_secret("rot", "API_TOKEN", &actor()).await.unwrap();
    assert_eq!(get_text(&http, format!("{base}/value")).await, (200, " ".into()));

    // A code push, the same way.
    assert_eq!(get_text(&http, format!("{base}/version")).await, (200, "v1".into()));
    let in_flight = tokio::spawn({
        let (http, url) = (http.clone(), format!("{base}/version?wait=1500"));
        async move { get_text(&http, url).await }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    env.paige
        .put_code_file("rot", "version.txt", b"v2\n", &actor())
        .await
        .unwrap();
    assert_eq!(get_text(&http, format!("{base}/version")).await, (200, "v2".into()));
    assert_eq!(in_flight.await.unwrap(), (200, "v1".into()));

    // Each process has a start record with what it printed outside requests.
    let starts: Vec<_> = env
        .paige
        .list_executions(
            "rot",
            paige::model::Page {
                before_id: None,
                limit: 100,
            },
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.trigger == "start")
        .collect();
    assert!(starts.len() >= 3, "{starts:?}");
    let first = env.paige.execution("rot", starts.last().unwrap().id).await.unwrap();
    assert!(log_text(&first).contains("bot v1 starting"), "{}", log_text(&first));
}

#[tokio::test]
async fn a_crashing_a_slow_and_a_silent_bot_end_in_recorded_errors_and_the_next_request_recovers() {
    let env = Env::sqlite().await;
    express_project(&env, "bad", &[]).await;
    let server = serve(&env, &[("PAIGE_HOOK_TIMEOUT_SECONDS", "2")]);
    let http = client();
    let base = format!("{}/hooks/bad", server.base);

    let crash = http.get(format!("{base}/crash")).send().await.unwrap();
    assert_eq!(crash.status(), 502);
    let execution = execution_of(&env, "bad", &crash).await;
    assert_eq!(execution.record.status, ExecutionStatus::Failed);
    let error = execution.record.error.clone().unwrap();
    assert!(error.contains("boom: the bot crashes on purpose"), "{error}");
    // Restarted on the next request.
    assert_eq!(get_text(&http, format!("{base}/version")).await, (200, "v1".into()));

    let slow = http.get(format!("{base}/slow")).send().await.unwrap();
    assert_eq!(slow.status(), 504);
    let execution = execution_of(&env, "bad", &slow).await;
    assert_eq!(execution.record.status, ExecutionStatus::TimedOut);
    assert_eq!(execution.record.response_status, Some(504));
    assert_eq!(get_text(&http, format!("{base}/version")).await, (200, "v1".into()));

    // A bot that never listens: a clear error once the start timeout is over.
    env.paige
        .put_code_file(
            "bad",
            "app.js",
            b"console.log('up but not listening'); setInterval(() => {}, 1000);\n",
            &actor(),
        )
        .await
        .unwrap();
    let silent = http.get(format!("{base}/version")).send().await.unwrap();
    assert_eq!(silent.status(), 502);
    let execution = execution_of(&env, "bad", &silent).await;
    let error = execution.record.error.clone().unwrap();
    assert!(error.contains("did not listen on its PORT"), "{error}");
    assert!(error.contains("up but not listening"), "{error}");
}

#[tokio::test]
async fn a_flood_beyond_the_queue_gets_503_with_retry_after_then_recovers() {
    let env = Env::sqlite().await;
    express_project(&env, "busy", &[]).await;
    let server = serve(&env, &[("PAIGE_BOT_PROCESSES", "1"), ("PAIGE_BOT_QUEUE", "1")]);
    let http = client();
    let url = format!("{}/hooks/busy/version?wait=800", server.base);
    assert_eq!(get_text(&http, url.clone()).await.0, 200);
    let flood: Vec<_> = (0..6)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move { http.get(url).send().await.unwrap() })
        })
        .collect();
    let mut ok = 0;
    let mut busy = 0;
    for answer in flood {
        let answer = answer.await.unwrap();
        match answer.status().as_u16() {
            200 => ok += 1,
            503 => {
                busy += 1;
                assert_eq!(answer.headers()["retry-after"], "1");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(ok >= 1 && busy >= 1, "ok {ok}, busy {busy}");
    assert_eq!(get_text(&http, url).await, (200, "v1".into()));
}

#[tokio::test]
async fn another_projects_bot_cannot_reach_this_ones_socket() {
    let env = Env::sqlite().await;
    express_project(&env, "mine", &[]).await;
    let server = serve(&env, &[]);
    let http = client();
    assert_eq!(
        get_text(&http, format!("{}/hooks/mine/version", server.base)).await.0,
        200
    );
    let socket = std::fs::read_dir(env.data_dir().join("run"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("bot.sock"))
        .find(|p| p.exists())
        .expect("the warm bot's socket");
    // Paige itself reaches it.
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_ok());

    env.project("other").await;
    let script = format!(
        "for (const p of [{:?}, '/run/paige/bot.sock']) {{ require('net').connect(p)\
         .on('connect', () => {{ console.log('CONNECTED ' + p); process.exit(0); }})\
         .on('error', e => console.log('refused ' + e.code)); }}",
        socket.display().to_string()
    );
    let request = ExecutionRequest {
        command: Some(vec!["node".to_owned(), "-e".to_owned(), script]),
        workdir: Some(fixtures().to_path_buf()),
        event: serde_json::json!({}),
        trigger: Trigger::Test,
        actor: actor(),
        limits: Limits::default(),
        cancel: None,
    };
    let record = env.paige.execute("other", request, None).await.unwrap();
    let stored = env.paige.execution("other", record.id).await.unwrap();
    let text = log_text(&stored);
    assert!(!text.contains("CONNECTED"), "{text}");
    assert_eq!(text.matches("refused ENOENT").count(), 2, "{text}");
}

#[tokio::test]
async fn changing_the_runtime_mode_stops_the_warm_processes_at_once() {
    let env = Env::sqlite().await;
    let paige = &env.paige;
    paige
        .create_user(
            "owner@example.com",
            &crate::common::secret("correct horse battery"),
            &actor(),
        )
        .await
        .unwrap();
    let (_, token) = paige.create_token("owner@example.com", &actor()).await.unwrap();
    let token = token.expose().to_owned();
    paige
        .create_project("modal", Some("owner@example.com"), &actor())
        .await
        .unwrap();
    paige.push_code("modal", &super::express_bot(), &actor()).await.unwrap();
    let server = serve(&env, &[("PAIGE_BOT_PROCESSES", "1")]);
    let http = client();
    let (status, _) = get_text(&http, format!("{}/hooks/modal/version", server.base)).await;
    assert_eq!(status, 200);
    let start_record = || async {
        paige
            .list_executions(
                "modal",
                paige::model::Page {
                    before_id: None,
                    limit: 100,
                },
            )
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.trigger == "start")
            .expect("the warm process has a start record")
    };
    assert_eq!(start_record().await.status, ExecutionStatus::Running);

    let set = http
        .put(format!("{}/api/v1/projects/modal/runtime", server.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "mode": "event" }))
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success(), "{}", set.text().await.unwrap());
    // Stopped when the answer came, not at the idle limit (300 s).
    let stopped = start_record().await;
    assert_ne!(
        stopped.status,
        ExecutionStatus::Running,
        "{stopped:?} {}",
        std::fs::read_to_string(&server.log).unwrap()
    );
    let text = log_text(&paige.execution("modal", stopped.id).await.unwrap());
    assert!(text.contains("runtime mode changed"), "{text}");
}

both_backends!(every_change_to_a_projects_secrets_moves_its_generation_and_reaches_the_next_request);
async fn every_change_to_a_projects_secrets_moves_its_generation_and_reaches_the_next_request(env: Env) {
    express_project(&env, "gen", &[("API_TOKEN", "first-value-1")]).await;
    env.project("other").await;
    let generation = || async {
        let target = env.paige.store().hook_target("gen").await.unwrap().unwrap();
        target.secrets_generation
    };
    let server = serve(&env, &[]);
    let http = client();
    let value = format!("{}/hooks/gen/value", server.base);
    assert_eq!(get_text(&http, value.clone()).await.1, "first-value-1 first-value-1");

    let mut last = generation().await;
    let mut moved = |now: i64, what: &str| {
        assert!(now > last, "{what} did not move the generation ({last} -> {now})");
        last = now;
    };
    env.set("gen", "API_TOKEN", "second-value-2").await;
    moved(generation().await, "an overwrite");
    env.set("gen", "OTHER_KEY", "another-value").await;
    moved(generation().await, "a new key");
    env.paige.delete_secret("gen", "OTHER_KEY", &actor()).await.unwrap();
    moved(generation().await, "a delete");
    // A rollback re-seals version 1 as a new version: the next request has it.
    env.paige
        .rollback_secret("gen", "API_TOKEN", 1, &actor())
        .await
        .unwrap();
    moved(generation().await, "a rollback");
    assert_eq!(get_text(&http, value.clone()).await.1, "first-value-1 first-value-1");
    // An import, the same way.
    let entries = vec![("API_TOKEN".to_owned(), secrecy::SecretString::from("imported-value-3"))];
    env.paige.import_secrets("gen", &entries, &actor()).await.unwrap();
    moved(generation().await, "an import");
    assert_eq!(
        get_text(&http, value.clone()).await.1,
        "imported-value-3 imported-value-3"
    );

    // Another project's writes, and the code, leave it alone.
    let before = generation().await;
    env.set("other", "API_TOKEN", "not-this-project").await;
    env.paige
        .put_code_file("gen", "version.txt", b"v3\n", &actor())
        .await
        .unwrap();
    assert_eq!(generation().await, before);
    assert_eq!(get_text(&http, value).await.1, "imported-value-3 imported-value-3");
}
