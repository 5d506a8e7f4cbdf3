//! What reaches the bot and what comes back: the handshake, signatures,
//! headers, the 404s, the executions and their masked logs.

use std::time::Duration;

use paige::runtime::ExecutionStatus;

use super::{client, execution_of, express_project, log_text, serve, signature};
use crate::common::{Env, both_backends};

const VERIFY: &str = "verify-token-4f1c9a";
const APP_SECRET: &str = "app-secret-9b7e2d51c0";
const TOKEN: &str = "tok-live-7d3f9e1a2b";

both_backends!(the_whatsapp_handshake_and_signed_messages_reach_the_express_bot);
async fn the_whatsapp_handshake_and_signed_messages_reach_the_express_bot(env: Env) {
    express_project(
        &env,
        "shop",
        &[
            ("WHATSAPP_VERIFY_TOKEN", VERIFY),
            ("WHATSAPP_APP_SECRET", APP_SECRET),
            ("API_TOKEN", TOKEN),
        ],
    )
    .await;
    let server = serve(&env, &[]);
    let http = client();
    let hook = format!("{}/hooks/shop/whatsapp_webhook", server.base);

    // Meta's verification handshake: answered only with the right token.
    let ok = http
        .get(format!(
            "{hook}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let execution = execution_of(&env, "shop", &ok).await;
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(execution.record.trigger, "webhook");
    assert_eq!(execution.record.request_method.as_deref(), Some("GET"));
    assert_eq!(execution.record.response_status, Some(200));
    // The verify token in the query is masked in the recorded path.
    let path = execution.record.request_path.clone().unwrap();
    assert!(path.starts_with("/whatsapp_webhook?hub.mode=subscribe"), "{path}");
    assert!(
        !path.contains(VERIFY) && path.contains("[REDACTED:WHATSAPP_VERIFY_TOKEN]"),
        "{path}"
    );
    let wrong = http
        .get(format!(
            "{hook}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);

    // A message, signed over the raw body: 200; signed wrongly: 401.
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","messages":[{"from":"15551234567","id":"wamid.1","type":"text","text":{"body":"hello shop"}}]}}]}]}"#;
    let signed = http
        .post(&hook)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature(APP_SECRET, body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    let execution = execution_of(&env, "shop", &signed).await;
    assert_eq!(execution.record.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.record.request_method.as_deref(), Some("POST"));
    assert!(
        log_text(&execution).contains("message from 15551234567: hello shop"),
        "{}",
        log_text(&execution)
    );
    let forged = http
        .post(&hook)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature("not-the-secret", body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let execution = execution_of(&env, "shop", &forged).await;
    assert_eq!(execution.record.response_status, Some(401));
    assert!(log_text(&execution).contains("rejected: bad signature"));

    // Headers: the execution id, X-Forwarded-For/-Proto; the raw body length.
    let echo = http
        .post(format!("{}/hooks/shop/echo", server.base))
        .header("content-type", "application/octet-stream")
        .body(vec![b'x'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(echo.status(), 200);
    let id = echo.headers()["x-paige-execution-id"].to_str().unwrap().to_owned();
    let seen: serde_json::Value = echo.json().await.unwrap();
    assert_eq!(seen["length"], 1024);
    assert_eq!(seen["execution"], id.as_str());
    assert_eq!(seen["forwardedFor"], "127.0.0.1");
    assert_eq!(seen["proto"], "http");

    // A secret the bot logs while handling a request: masked in that request's execution.
    let logged = http
        .get(format!("{}/hooks/shop/log-secret", server.base))
        .send()
        .await
        .unwrap();
    let execution = execution_of(&env, "shop", &logged).await;
    let text = log_text(&execution);
    assert!(text.contains("handling with token [REDACTED:API_TOKEN]"), "{text}");
    assert!(!text.contains(TOKEN));

    // Over the body limit: 413.
    let big = http
        .post(format!("{}/hooks/shop/echo", server.base))
        .body(vec![b'x'; 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);

    // Unknown slug, a project without code, a project in event mode: the same bare 404.
    env.project("empty").await;
    env.project("oneshot").await;
    env.paige
        .set_runtime_mode("oneshot", paige::model::RuntimeMode::Event, &crate::common::actor())
        .await
        .unwrap();
    env.paige
        .push_code("oneshot", &super::express_bot(), &crate::common::actor())
        .await
        .unwrap();
    let mut answers = Vec::new();
    for slug in ["nope", "empty", "oneshot"] {
        let r = http
            .post(format!("{}/hooks/{slug}/whatsapp_webhook", server.base))
            .body("{}")
            .send()
            .await
            .unwrap();
        answers.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    assert!(answers.iter().all(|a| a == &answers[0] && a.0 == 404), "{answers:?}");

    // Nothing in serve's own log holds a value.
    let log = std::fs::read_to_string(&server.log).unwrap();
    for value in [VERIFY, APP_SECRET, TOKEN] {
        assert!(!log.contains(value));
    }
}

#[tokio::test]
async fn the_test_event_of_an_http_project_is_a_signed_whatsapp_message() {
    let env = Env::sqlite().await;
    express_project(&env, "wa", &[("WHATSAPP_APP_SECRET", APP_SECRET)]).await;
    let id = env
        .paige
        .send_whatsapp_test_event("wa", &crate::common::actor())
        .await
        .unwrap();
    let execution = env.paige.execution("wa", id).await.unwrap();
    assert_eq!(execution.record.trigger, "test");
    assert_eq!(execution.record.request_method.as_deref(), Some("POST"));
    assert_eq!(execution.record.request_path.as_deref(), Some("/whatsapp_webhook"));
    // The bot checked Meta's signature and read the message.
    assert_eq!(
        execution.record.response_status,
        Some(200),
        "{:?}",
        execution.record.error
    );
    let text = log_text(&execution);
    assert!(text.contains("message from 16505551234: Hello from Paige"), "{text}");

    // Without the app secret the message is unsigned: the bot refuses it.
    env.paige
        .delete_secret("wa", "WHATSAPP_APP_SECRET", &crate::common::actor())
        .await
        .unwrap();
    let id = env
        .paige
        .send_whatsapp_test_event("wa", &crate::common::actor())
        .await
        .unwrap();
    let execution = env.paige.execution("wa", id).await.unwrap();
    assert_eq!(execution.record.response_status, Some(401));
    env.paige.stop_warm_bots().await;
}

#[tokio::test]
async fn the_runtime_mode_is_set_by_the_cli_new_projects_are_http() {
    let env = Env::sqlite().await;
    env.project("modes").await;
    let shown = env.cli(&["projects", "mode", "modes"], b"");
    assert_eq!(crate::common::stdout(&shown).trim(), "http");
    let set = env.cli(&["projects", "mode", "modes", "event"], b"");
    assert!(set.status.success(), "{}", crate::common::stderr(&set));
    assert_eq!(
        env.paige.runtime_mode("modes").await.unwrap(),
        paige::model::RuntimeMode::Event
    );
    let bad = env.cli(&["projects", "mode", "modes", "server"], b"");
    assert!(!bad.status.success());
    assert!(crate::common::stderr(&bad).contains("must be `http` or `event`"));
    assert_eq!(
        env.paige.runtime_mode("modes").await.unwrap(),
        paige::model::RuntimeMode::Event
    );
}

#[tokio::test]
async fn x_forwarded_proto_is_https_when_the_server_is_declared_behind_tls_whatever_the_caller_says() {
    let env = Env::sqlite().await;
    express_project(&env, "tls", &[]).await;
    let server = serve(&env, &[("PAIGE_SECURE_COOKIES", "true")]);
    let echo = client()
        .post(format!("{}/hooks/tls/echo", server.base))
        .header("x-forwarded-proto", "gopher")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(echo.status(), 200);
    let seen: serde_json::Value = echo.json().await.unwrap();
    assert_eq!(seen["proto"], "https");

    // Without the option, `http`, also whatever the caller says.
    let env = Env::sqlite().await;
    express_project(&env, "plain", &[]).await;
    let server = serve(&env, &[]);
    let echo = client()
        .post(format!("{}/hooks/plain/echo", server.base))
        .header("x-forwarded-proto", "https")
        .body("hi")
        .send()
        .await
        .unwrap();
    let seen: serde_json::Value = echo.json().await.unwrap();
    assert_eq!(seen["proto"], "http");
}

#[tokio::test]
async fn paige_projects_test_event_sends_the_message_locally_and_through_a_server() {
    let env = Env::sqlite().await;
    let actor = crate::common::actor();
    env.paige
        .create_user(
            "owner@example.com",
            &crate::common::secret("correct horse battery"),
            &actor,
        )
        .await
        .unwrap();
    let (_, token) = env.paige.create_token("owner@example.com", &actor).await.unwrap();
    let token = token.expose().to_owned();
    env.paige
        .create_project("wa", Some("owner@example.com"), &actor)
        .await
        .unwrap();
    env.set("wa", "WHATSAPP_APP_SECRET", APP_SECRET).await;
    env.paige.push_code("wa", &super::express_bot(), &actor).await.unwrap();

    // Locally: the bot runs in the CLI's process, and stops with it.
    let local = env.cli(&["projects", "test-event", "wa"], b"");
    let out = crate::common::stdout(&local);
    assert!(local.status.success(), "{}", crate::common::stderr(&local));
    assert!(out.contains("succeeded, the bot answered 200"), "{out}");

    // Through a server, `--json`.
    let server = serve(&env, &[]);
    let vars = [("PAIGE_SERVER", server.base.as_str()), ("PAIGE_TOKEN", token.as_str())];
    let remote = env.cli_with_env(&["projects", "test-event", "wa", "--json"], b"", &vars);
    assert!(remote.status.success(), "{}", crate::common::stderr(&remote));
    let sent: serde_json::Value = serde_json::from_str(&crate::common::stdout(&remote)).unwrap();
    assert_eq!(sent["trigger"], "test");
    assert_eq!(sent["response_status"], 200);
    let execution = env.paige.execution("wa", sent["id"].as_i64().unwrap()).await.unwrap();
    assert!(log_text(&execution).contains("message from 16505551234: Hello from Paige"));

    // An `event` project: a clear refusal, nothing sent.
    env.paige
        .set_runtime_mode("wa", paige::model::RuntimeMode::Event, &actor)
        .await
        .unwrap();
    let refused = env.cli_with_env(&["projects", "test-event", "wa"], b"", &vars);
    assert!(!refused.status.success());
    assert!(
        crate::common::stderr(&refused).contains("`http` projects"),
        "{}",
        crate::common::stderr(&refused)
    );
}

both_backends!(closes_gathered_into_one_commit_are_all_written_and_a_stopping_server_writes_what_it_holds);

/// A webhook's closing write waits up to 20 ms for others and shares their
/// commit (`warm::closer`): each of many requests sent back to back still
/// ends with its own status and response status; and a server stopped
/// right after answering writes the close it still holds before it exits.
async fn closes_gathered_into_one_commit_are_all_written_and_a_stopping_server_writes_what_it_holds(env: Env) {
    express_project(&env, "shop", &[("WHATSAPP_VERIFY_TOKEN", VERIFY)]).await;
    let mut server = serve(&env, &[]);
    let http = client();
    let hook = format!("{}/hooks/shop/whatsapp_webhook", server.base);
    let handshake = |challenge: usize| {
        http.get(format!(
            "{hook}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge={challenge}"
        ))
        .send()
    };
    let id_of = |response: &reqwest::Response| -> i64 {
        response.headers()["x-paige-execution-id"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let mut ids = Vec::new();
    for challenge in 0..20 {
        let answer = handshake(challenge).await.unwrap();
        assert_eq!(answer.status(), 200);
        ids.push(id_of(&answer));
        assert_eq!(answer.text().await.unwrap(), challenge.to_string());
    }
    for id in ids {
        let execution = super::finished(&env, "shop", id).await;
        assert_eq!(execution.record.status, ExecutionStatus::Succeeded, "#{id}");
        assert_eq!(execution.record.response_status, Some(200), "#{id}");
    }

    let last = handshake(99).await.unwrap();
    let id = id_of(&last);
    assert_eq!(last.text().await.unwrap(), "99");
    server.terminate();
    let stopping = std::time::Instant::now();
    while server.still_running() {
        assert!(stopping.elapsed() < Duration::from_secs(20), "paige serve did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let execution = env.paige.execution("shop", id).await.unwrap();
    assert_eq!(execution.record.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.record.response_status, Some(200));
}
