//! The dashboard's runtime card: the mode shown and set, and the test
//! event of an `http` project (a signed WhatsApp message to the bot).

use paige::model::RuntimeMode;

use super::express_bot;
use crate::common::{Env, actor};
use crate::web::signed_in;

#[tokio::test]
async fn the_mode_is_set_on_the_executions_page_and_the_test_event_reaches_the_express_bot() {
    let (server, mut alice) = signed_in(Env::sqlite().await).await;
    let paige = &server.env.paige;
    paige.push_code("bot", &express_bot(), &actor()).await.unwrap();
    crate::common::Env::set(
        &server.env,
        "bot",
        "WHATSAPP_APP_SECRET",
        "app-secret-for-the-dashboard",
    )
    .await;
    let page_path = "/projects/bot/executions";
    let page = alice.get(page_path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<option value=\"http\" selected>"), "{}", page.body);
    assert!(page.body.contains("/hooks/bot/whatsapp_webhook"));

    let csrf = alice.csrf(page_path).await;
    let set = alice
        .post("/projects/bot/runtime", &[("csrf", &csrf), ("mode", "event")])
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    assert_eq!(paige.runtime_mode("bot").await.unwrap(), RuntimeMode::Event);
    let bad = alice
        .post("/projects/bot/runtime", &[("csrf", &csrf), ("mode", "daemon")])
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(paige.runtime_mode("bot").await.unwrap(), RuntimeMode::Event);
    let set = alice
        .post("/projects/bot/runtime", &[("csrf", &csrf), ("mode", "http")])
        .await;
    assert_eq!(set.status, 303);

    let sent = alice.post(page_path, &[("csrf", &csrf), ("event", "{}")]).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let location = sent.location.unwrap();
    let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    let execution = paige.execution("bot", id).await.unwrap();
    assert_eq!(execution.record.trigger, "test");
    assert_eq!(
        execution.record.response_status,
        Some(200),
        "{:?}",
        execution.record.error
    );
    assert!(super::log_text(&execution).contains("message from 16505551234"));
    paige.stop_warm_bots().await;
}
