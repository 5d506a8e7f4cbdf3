//! The dashboard's history of a key: members see its versions, never a
//! value; those who may overwrite it roll back with a button; a viewer
//! sees no button, and a rollback posted anyway is refused.

use secrecy::ExposeSecret;

use crate::common::{Env, actor, both_backends};
use crate::web::{Browser, csrf_of, signed_in};

const FIRST: &str = "planted-dashboard-first-2b9e51";
const SECOND: &str = "planted-dashboard-second-c7d03f";
const HISTORY: &str = "/projects/bot/settings/secrets/API_TOKEN/versions";
const ROLLBACK: &str = "/projects/bot/settings/secrets/API_TOKEN/rollback";

both_backends!(a_key_history_page_rolls_back_for_writers_and_only_shows_for_viewers);

async fn a_key_history_page_rolls_back_for_writers_and_only_shows_for_viewers(env: Env) {
    let (server, mut owner) = signed_in(env).await;
    server.env.set("bot", "API_TOKEN", FIRST).await;
    server.env.set("bot", "API_TOKEN", SECOND).await;
    server.user("viewer@example.com").await;
    server
        .env
        .paige
        .add_member("bot", "viewer@example.com", paige::model::Role::Viewer, &actor())
        .await
        .unwrap();
    let mut viewer = Browser::new(&server);
    viewer.sign_in("viewer@example.com").await;
    let mut pages = Vec::new();

    let list = owner.get("/projects/bot/settings/secrets").await;
    assert!(
        list.body
            .contains("href=\"secrets/API_TOKEN/versions\" aria-label=\"History of API_TOKEN\">History</a>"),
        "{}",
        list.body
    );
    let list = viewer.get("/projects/bot/settings/secrets").await;
    assert!(
        list.body
            .contains("href=\"secrets/API_TOKEN/versions\" aria-label=\"History of API_TOKEN\">History</a>"),
        "{}",
        list.body
    );

    let seen = viewer.get(HISTORY).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert!(
        seen.body.contains("<td>2 (current)") && seen.body.contains("<td>1<td>"),
        "{}",
        seen.body
    );
    assert!(!seen.body.contains("Roll back to version"), "a viewer gets no button");
    let csrf = csrf_of(&seen.body);
    let refused = viewer.post(ROLLBACK, &[("csrf", &csrf), ("version", "1")]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    pages.extend([seen.body, refused.body]);

    let page = owner.get(HISTORY).await;
    assert!(
        page.body.contains("id=\"rollback-1\">Roll back to version 1</button>"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("id=\"rollback-2\""),
        "no button on the current version"
    );
    let csrf = csrf_of(&page.body);
    let rolled = owner.post(ROLLBACK, &[("csrf", &csrf), ("version", "1")]).await;
    assert_eq!(rolled.status, 303, "{}", rolled.body);
    let location = rolled.location.unwrap();
    assert_eq!(location, format!("{HISTORY}?restored=1&now=3"));
    let after = owner.get(&location).await;
    assert!(
        after
            .body
            .contains("Rolled API_TOKEN back to the value of version 1, now version 3."),
        "{}",
        after.body
    );
    assert!(after.body.contains("<td>3 (current)"), "{}", after.body);
    let resolved = server.env.paige.resolve("bot").await.unwrap();
    assert_eq!(resolved.secrets[0].1.expose_secret(), FIRST);
    // A version that is not kept: a clear error page, nothing written.
    let missing = owner.post(ROLLBACK, &[("csrf", &csrf), ("version", "42")]).await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    pages.extend([page.body, rolled.body.clone(), after.body, missing.body]);
    for body in &pages {
        assert!(!body.contains(FIRST) && !body.contains(SECOND), "{body}");
    }
    server.stop().await;
}
