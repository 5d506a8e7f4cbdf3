//! What the dashboard shows around its forms (issue 16): error pages in the
//! signed-in layout, errors on the row they belong to, one run per "Send
//! test event" form, the viewer's read-only note, the sign-in form kept
//! under the rate limit.

use super::{Browser, LEAKY_BOT, csrf_of, signed_in};
use crate::common::{Env, actor, both_backends};
use paige::model::{Page, Role};

const MEMBERS: &str = "/projects/bot/members";

/// Whether `body` is a page in the signed-in layout of `email`.
fn signed_in_layout(body: &str, email: &str) -> bool {
    body.contains(&format!("id=\"signed-in-as\">{email}</strong>"))
        && body.contains("id=\"sign-out\"")
        && !body.contains("Not signed in")
}

both_backends!(error_pages_keep_the_signed_in_header_and_navigation);

async fn error_pages_keep_the_signed_in_header_and_navigation(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    server.user("viewer@example.com").await;
    server
        .env
        .paige
        .add_member("bot", "viewer@example.com", Role::Viewer, &actor())
        .await
        .unwrap();
    let mut viewer = Browser::new(&server);
    viewer.sign_in("viewer@example.com").await;

    // A viewer on Members: 403, in their layout, with the project's
    // navigation (the sections a viewer has) and the switcher.
    let refused = viewer.get(MEMBERS).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("<h1>Not allowed</h1>"), "{}", refused.body);
    assert!(
        signed_in_layout(&refused.body, "viewer@example.com"),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains("href=\"/projects/bot/settings/secrets\">Secrets</a>")
    );
    assert!(
        refused
            .body
            .contains("href=\"/projects/bot/executions\">Executions</a>")
    );
    assert!(!refused.body.contains(">Members</a>"));
    assert!(
        refused
            .body
            .contains("<option value=\"bot\" selected>bot (viewer)</option>")
    );

    // A refused POST (a viewer setting a secret) keeps the layout too, and
    // its sign-out form works: it carries the session's token.
    let csrf = viewer.csrf("/projects/bot/settings/secrets").await;
    let post = viewer
        .post(
            "/projects/bot/settings/secrets",
            &[("csrf", &csrf), ("key", "NEW_KEY"), ("value", "a value!")],
        )
        .await;
    assert_eq!(post.status, 403);
    assert!(signed_in_layout(&post.body, "viewer@example.com"), "{}", post.body);
    let out = viewer.post("/logout", &[("csrf", &csrf_of(&post.body))]).await;
    assert_eq!(out.status, 303, "{}", out.body);

    // A project that is not theirs: 404 in the layout, no project nav.
    let missing = alice.get("/projects/nowhere/executions").await;
    assert_eq!(missing.status, 404);
    assert!(signed_in_layout(&missing.body, "alice@example.com"), "{}", missing.body);
    assert!(!missing.body.contains("aria-label=\"Project\""));

    // Without a session the error page is the anonymous one.
    let stranger = Browser::new(&server).get("/static/nothing.css").await;
    assert_eq!(stranger.status, 404);
    assert!(stranger.body.contains("Not signed in"));
    server.stop().await;
}

both_backends!(last_owner_errors_show_on_the_owners_row);

async fn last_owner_errors_show_on_the_owners_row(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    server.user("bob@example.com").await;
    server
        .env
        .paige
        .add_member("bot", "bob@example.com", Role::Developer, &actor())
        .await
        .unwrap();
    let csrf = alice.csrf(MEMBERS).await;

    // Demoting the last owner from their row's role menu.
    let demoted = alice
        .post(
            MEMBERS,
            &[("csrf", &csrf), ("email", "alice@example.com"), ("role", "viewer")],
        )
        .await;
    assert_eq!(demoted.status, 409, "{}", demoted.body);
    assert_row_error(&demoted.body);
    assert!(signed_in_layout(&demoted.body, "alice@example.com"));

    // Removing the last owner through the confirm step.
    let confirm = alice.get("/projects/bot/members/remove?email=alice@example.com").await;
    let removed = alice
        .post(
            "/projects/bot/members/remove",
            &[("csrf", &csrf_of(&confirm.body)), ("email", "alice@example.com")],
        )
        .await;
    assert_eq!(removed.status, 409, "{}", removed.body);
    assert_row_error(&removed.body);
    let roles: Vec<_> = server
        .env
        .paige
        .list_members("bot")
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.email, m.role))
        .collect();
    assert!(
        roles.contains(&("alice@example.com".to_owned(), Role::Owner)),
        "{roles:?}"
    );
    server.stop().await;
}

/// The error sits in alice's row (after her email, before bob's row and
/// the Add form), and the Add form is empty and carries no error.
fn assert_row_error(body: &str) {
    let error = body
        .find("id=\"row-error\"")
        .unwrap_or_else(|| panic!("no row error:\n{body}"));
    let alice_row = body.find("<td>alice@example.com</td>").unwrap();
    let bob_row = body.find("<td>bob@example.com</td>").unwrap();
    let add = body.find("<h2>Invite a member</h2>").unwrap();
    assert!(alice_row < error && error < bob_row && error < add, "{body}");
    assert!(body[error..].contains("owner"), "{body}");
    assert_eq!(body.matches("role=\"alert\"").count(), 1, "{body}");
    assert!(!body.contains("id=\"member-error\""));
    assert!(
        body.contains("name=\"email\" type=\"email\" required value=\"\""),
        "{body}"
    );
}

/// The `run_key` of the "Send test event" form on `body`.
fn run_key_of(body: &str) -> String {
    let marker = "name=\"run_key\" value=\"";
    let start = body.find(marker).unwrap_or_else(|| panic!("no run key in:\n{body}")) + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

both_backends!(a_test_event_form_sent_three_times_runs_once);

async fn a_test_event_form_sent_three_times_runs_once(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    server
        .env
        .paige
        .put_code_file("bot", "app.js", LEAKY_BOT.as_bytes(), &actor())
        .await
        .unwrap();
    // A one-shot bot (the event on its stdin): `event` mode.
    server
        .env
        .paige
        .set_runtime_mode("bot", paige::model::RuntimeMode::Event, &actor())
        .await
        .unwrap();
    let path = "/projects/bot/executions";
    let page = alice.get(path).await;
    // The button shows a running state with JavaScript (paige.js).
    assert!(page.body.contains("data-runs") && page.body.contains("data-running=\"Running…\""));
    let (csrf, key) = (csrf_of(&page.body), run_key_of(&page.body));
    assert!(key.len() >= 22, "{key}");
    let again = alice.get(path).await;
    assert_ne!(run_key_of(&again.body), key, "each render has its own key");

    // Three clicks at once: three requests of the same session and form.
    let form = [
        ("csrf", csrf.as_str()),
        ("run_key", key.as_str()),
        ("event", "{\"text\": \"once\"}"),
    ];
    let mut tabs: Vec<Browser> = (0..3)
        .map(|_| {
            let mut tab = Browser::new(&server);
            tab.session = alice.session.clone();
            tab
        })
        .collect();
    let [a, b, c] = &mut tabs[..] else { unreachable!() };
    let (a, b, c) = tokio::join!(a.post(path, &form), b.post(path, &form), c.post(path, &form));
    for answer in [&a, &b, &c] {
        assert_eq!(answer.status, 303, "{}", answer.body);
    }
    let run = a.location.clone().unwrap();
    assert!(run.starts_with("/projects/bot/executions/"), "{run}");
    assert_eq!((b.location.as_ref(), c.location.as_ref()), (Some(&run), Some(&run)));
    // Sent again later (a reload of the POST): still the same run.
    let later = alice.post(path, &form).await;
    assert_eq!(later.location.as_ref(), Some(&run));
    let runs = |limit| Page { before_id: None, limit };
    assert_eq!(
        server.env.paige.list_executions("bot", runs(10)).await.unwrap().len(),
        1
    );
    let shown = alice.get(&run).await;
    assert!(shown.body.contains("once"), "{}", shown.body);

    // A new render's key starts a new run.
    let fresh = run_key_of(&alice.get(path).await.body);
    let second = alice
        .post(path, &[("csrf", &csrf), ("run_key", &fresh), ("event", "{}")])
        .await;
    assert_eq!(second.status, 303);
    assert_ne!(second.location.as_ref(), Some(&run));
    assert_eq!(
        server.env.paige.list_executions("bot", runs(10)).await.unwrap().len(),
        2
    );
    server.stop().await;
}

both_backends!(viewers_are_told_they_are_read_only);

async fn viewers_are_told_they_are_read_only(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    server.user("viewer@example.com").await;
    server
        .env
        .paige
        .add_member("bot", "viewer@example.com", Role::Viewer, &actor())
        .await
        .unwrap();
    let mut viewer = Browser::new(&server);
    viewer.sign_in("viewer@example.com").await;
    let note = "You can view this project; only owners, admins and developers can change secrets.";

    let page = viewer.get("/projects/bot/settings/secrets").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(note), "{}", page.body);
    assert!(!page.body.contains("replaced or deleted"), "{}", page.body);
    let runs = viewer.get("/projects/bot/executions").await;
    assert!(
        runs.body
            .contains("only owners, admins and developers can send a test event")
    );
    assert!(!runs.body.contains("id=\"send-test\""));

    // An owner (and a developer) sees the intro that offers the changes.
    let owner = alice.get("/projects/bot/settings/secrets").await;
    assert!(!owner.body.contains(note) && !owner.body.contains("id=\"read-only\""));
    assert!(owner.body.contains("they can only be replaced or deleted"));
    assert!(
        !alice
            .get("/projects/bot/executions")
            .await
            .body
            .contains("id=\"read-only\"")
    );
    server.stop().await;
}

both_backends!(the_sign_in_rate_limit_keeps_the_form_with_the_wait);

async fn the_sign_in_rate_limit_keeps_the_form_with_the_wait(env: Env) {
    let server = crate::api::Server::start_on(env).await;
    server.user("alice@example.com").await;
    let mut browser = Browser::new(&server);
    let mut csrf = csrf_of(&browser.get("/login").await.body);
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..7 {
        let answer = browser
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("email", "alice@example.com"),
                    ("password", "guess-guess-guess"),
                    ("next", "/projects/bot/executions"),
                ],
            )
            .await;
        statuses.push(answer.status);
        csrf = csrf_of(&answer.body);
        last = Some(answer);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    let limited = last.unwrap();
    let wait: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // The form, not a dead end: the email and `next` kept, the wait shown.
    assert!(
        limited.body.contains("<form method=\"post\" action=\"/login\""),
        "{}",
        limited.body
    );
    assert!(limited.body.contains("id=\"password\""));
    assert!(limited.body.contains("value=\"alice@example.com\""));
    assert!(
        limited
            .body
            .contains("name=\"next\" value=\"/projects/bot/executions\"")
    );
    assert!(
        limited.body.contains(&format!(
            "data-wait=\"{wait}\">Too many failed sign-ins from here. \
             <span id=\"wait-text\">Wait <span id=\"wait-secs\">{wait}</span> s, then sign in again."
        )),
        "{}",
        limited.body
    );

    // Once the wait is over, the same form signs in.
    tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 300)).await;
    let signed = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "alice@example.com"),
                ("password", crate::api::PASSWORD),
                ("next", "/projects"),
            ],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    server.stop().await;
}

/// In Chromium: the rate-limited sign-in page counts the wait down, holds
/// the button until it is over, and then signs in from the same form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_wait_is_counted_down_in_a_browser() {
    use fantoccini::Locator;

    let driver = super::browser::Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let server = crate::api::Server::start().await;
    server.user("alice@example.com").await;
    // The browser first, and its page loaded: on a loaded machine Chromium
    // takes seconds to start, long enough for the test server's limiter
    // (one attempt back every 2 s) to let the next sign-in through.
    let client = super::browser::browser(&driver, profile.path()).await;
    client.goto(&format!("{}/login", server.base)).await.unwrap();
    // Five wrong passwords from this address fill the limiter's burst.
    let mut http = Browser::new(&server);
    for _ in 0..5 {
        let csrf = csrf_of(&http.get("/login").await.body);
        let answer = http
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("email", "alice@example.com"),
                    ("password", "guess-guess"),
                ],
            )
            .await;
        assert_eq!(answer.status, 401);
    }
    let result: Result<(), Box<dyn std::error::Error>> = async {
        super::browser::fill_sign_in(&client, "alice@example.com", crate::api::PASSWORD).await?;
        client.find(Locator::Css("#sign-in")).await?.click().await?;
        let text = super::browser::wait_for_text(&client, "#login-wait", "Too many failed sign-ins").await?;
        assert!(text.contains("Wait"), "{text}");
        let button = client.find(Locator::Css("#sign-in")).await?;
        assert_eq!(button.attr("disabled").await?.as_deref(), Some("true"));
        super::browser::wait_for_text(&client, "#wait-text", "You can sign in again now.").await?;
        assert_eq!(button.attr("disabled").await?, None);
        // The email was kept; the password is typed again.
        client
            .find(Locator::Css("#password"))
            .await?
            .send_keys(crate::api::PASSWORD)
            .await?;
        button.click().await?;
        super::browser::wait_for_text(&client, "#signed-in-as", "alice@example.com").await?;
        Ok(())
    }
    .await;
    let _ = client.close().await;
    server.stop().await;
    result.unwrap();
}

/// In Chromium: a viewer reads the read-only note, and a page they may not
/// open keeps their header and navigation, which lead back to the project.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_in_a_browser_is_told_and_never_stranded() {
    use fantoccini::Locator;

    let driver = super::browser::Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let server = crate::api::Server::start().await;
    server.user("alice@example.com").await;
    server.user("viewer@example.com").await;
    let paige = &server.env.paige;
    paige
        .create_project("bot", Some("alice@example.com"), &actor())
        .await
        .unwrap();
    paige
        .add_member("bot", "viewer@example.com", Role::Viewer, &actor())
        .await
        .unwrap();
    let client = super::browser::browser(&driver, profile.path()).await;
    let base = server.base.clone();
    let result: Result<(), Box<dyn std::error::Error>> = async {
        client.goto(&format!("{base}/projects/bot/settings/secrets")).await?;
        client
            .find(Locator::Css("#email"))
            .await?
            .send_keys("viewer@example.com")
            .await?;
        client
            .find(Locator::Css("#password"))
            .await?
            .send_keys(crate::api::PASSWORD)
            .await?;
        client.find(Locator::Css("#sign-in")).await?.click().await?;
        let note = super::browser::wait_for_text(&client, "#read-only", "You can view this project").await?;
        assert!(
            note.contains("only owners, admins and developers can change secrets"),
            "{note}"
        );

        client.goto(&format!("{base}/projects/bot/members")).await?;
        super::browser::wait_for_text(&client, "h1", "Not allowed").await?;
        let who = client.find(Locator::Css("#signed-in-as")).await?.text().await?;
        assert_eq!(who, "viewer@example.com");
        client
            .find(Locator::Css("nav.sections a[href='/projects/bot/executions']"))
            .await?
            .click()
            .await?;
        super::browser::wait_for_text(&client, "#read-only", "send a test event").await?;
        assert_eq!(client.current_url().await?.path(), "/projects/bot/executions");
        Ok(())
    }
    .await;
    let _ = client.close().await;
    server.stop().await;
    result.unwrap();
}
