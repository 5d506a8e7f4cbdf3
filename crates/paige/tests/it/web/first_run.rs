//! The first run and the "New project" form over HTTP (issue 16, item
//! 17): a one-time setup code makes the first owner, once; `paige serve`
//! prints it on one line and logs it nowhere; a user with no project makes
//! one from the Projects page.

use paige::auth::setup::SetupCode;
use paige::http::ServeOptions;

use super::{Browser, borrowed, csrf_of};
use crate::api::{PASSWORD, Server};
use crate::common::{Env, both_backends};

fn options_with(code: Option<SetupCode>) -> ServeOptions {
    ServeOptions {
        setup_code: code,
        ..ServeOptions::default()
    }
}

async fn user_count(server: &Server) -> i64 {
    server.env.paige.user_count().await.unwrap()
}

both_backends!(the_first_run_page_makes_one_owner_once);

async fn the_first_run_page_makes_one_owner_once(env: Env) {
    let code = SetupCode::generate();
    let server = Server::start_with(env, options_with(Some(code.clone()))).await;
    let mut browser = Browser::new(&server);
    let login = browser.get("/login").await;
    assert!(login.body.contains("id=\"first-run\"") && login.body.contains("href=\"/setup\""));
    let page = browser.get("/setup").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Setup code") && !page.body.contains(code.expose()));

    let form = |code: &str, email: &str, password: &str| {
        [
            ("code", code.to_owned()),
            ("email", email.to_owned()),
            ("password", password.to_owned()),
        ]
    };
    let post = |f: [(&'static str, String); 3]| f;
    let wrong = browser
        .post(
            "/setup",
            &borrowed(&post(form("AAAAA-BBBBB-CCCCC", "root@example.com", PASSWORD))),
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.body.contains("That is not the setup code."));
    assert_eq!(user_count(&server).await, 0);
    // A refused email does not use the code up.
    let bad = browser
        .post("/setup", &borrowed(&form(code.expose(), "not-an-email", PASSWORD)))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("invalid email"));
    // The code as typed by a person: lower case, spaces for dashes.
    let typed = code.expose().to_lowercase().replace('-', " ");
    let made = browser
        .post("/setup", &borrowed(&form(&typed, "Root@Example.com", PASSWORD)))
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    assert_eq!(made.location.as_deref(), Some("/projects"));
    assert!(browser.session.is_some() && browser.device.is_some());
    let projects = browser.get("/projects").await;
    assert_eq!(projects.status, 200);
    assert!(projects.body.contains("root@example.com") && projects.body.contains("New project"));
    assert_eq!(user_count(&server).await, 1);
    let details: Vec<String> = server
        .env
        .db()
        .await
        .column("SELECT detail FROM audit_events WHERE action = 'user.create'", &[])
        .await;
    assert_eq!(details, ["user root@example.com (first run)"]);

    // Gone: the page, the notice, and the code.
    let mut other = Browser::new(&server);
    let gone = other.get("/setup").await;
    assert_eq!((gone.status, gone.location.as_deref()), (303, Some("/login")));
    let again = other
        .post(
            "/setup",
            &borrowed(&form(code.expose(), "second@example.com", PASSWORD)),
        )
        .await;
    assert_eq!((again.status, again.location.as_deref()), (303, Some("/login")));
    assert!(other.session.is_none());
    assert_eq!(user_count(&server).await, 1);
    assert!(!other.get("/login").await.body.contains("first-run"));
    server.stop().await;
}

both_backends!(the_first_run_page_is_closed_without_a_code_or_once_a_user_exists);

async fn the_first_run_page_is_closed_without_a_code_or_once_a_user_exists(env: Env) {
    // No code (a server that started with users, or a test server): closed.
    let server = Server::start_on(env).await;
    let mut browser = Browser::new(&server);
    let closed = browser.get("/setup").await;
    assert_eq!((closed.status, closed.location.as_deref()), (303, Some("/login")));
    server.stop().await;

    // A code, but a user made meanwhile with the CLI: closed, and the code is spent.
    let code = SetupCode::generate();
    let server = Server::start_with(Env::sqlite().await, options_with(Some(code.clone()))).await;
    assert_eq!(Browser::new(&server).get("/setup").await.status, 200);
    server.user("cli-made@example.com").await;
    let mut browser = Browser::new(&server);
    assert_eq!(browser.get("/setup").await.status, 303);
    let refused = browser
        .post(
            "/setup",
            &[
                ("code", code.expose()),
                ("email", "late@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.location.as_deref(), Some("/login"));
    assert_eq!(user_count(&server).await, 1);
    server.stop().await;
}

#[tokio::test]
async fn paige_serve_prints_the_setup_code_once_and_logs_it_nowhere() {
    let env = Env::sqlite().await;
    let mut server = env.serve("first-run.log", &[]);
    let banner = server.wait_for_stdout("Stop with Ctrl-C");
    let line = banner
        .lines()
        .find(|l| l.contains("First run"))
        .unwrap_or_else(|| panic!("no first-run line:\n{banner}"));
    assert!(line.contains(&format!("{}/setup", server.base)), "{line}");
    let code = line
        .split_whitespace()
        .find(|w| w.len() == 17 && w.matches('-').count() == 2)
        .unwrap_or_else(|| panic!("no code in {line:?}"))
        .to_owned();
    assert_eq!(banner.matches(&code).count(), 1, "printed once:\n{banner}");

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let made = client
        .post(format!("{}/setup", server.base))
        .form(&[
            ("code", code.as_str()),
            ("email", "root@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 303);
    server.terminate();
    assert!(server.child.wait().unwrap().success());
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("request"), "the log has its request lines:\n{log}");
    assert!(!log.contains(&code), "the code is in the log:\n{log}");
    let audit: Vec<String> = env
        .db()
        .await
        .column("SELECT COALESCE(detail, '') || actor FROM audit_events", &[])
        .await;
    assert!(audit.iter().all(|a| !a.contains(&code)), "{audit:?}");

    // With a user, the next start prints no code.
    let next = env.serve("second.log", &[]);
    let banner = next.wait_for_stdout("Stop with Ctrl-C");
    assert!(!banner.contains("First run") && !banner.contains("/setup"), "{banner}");
}

both_backends!(the_new_project_form_makes_the_user_its_owner);

async fn the_new_project_form_makes_the_user_its_owner(env: Env) {
    let server = Server::start_on(env).await;
    server.user("newbie@example.com").await;
    let mut newbie = Browser::new(&server);
    newbie.sign_in("newbie@example.com").await;
    let empty = newbie.get("/projects").await;
    assert!(
        empty
            .body
            .contains("You are not a member of any project yet. Create one below")
    );
    let csrf = csrf_of(&empty.body);
    let made = newbie
        .post("/projects", &[("csrf", &csrf), ("slug", "first-bot")])
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    assert_eq!(made.location.as_deref(), Some("/projects/first-bot/settings/secrets"));
    assert_eq!(newbie.get("/projects/first-bot/settings/secrets").await.status, 200);
    let members = server.env.paige.list_members("first-bot").await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(
        (members[0].email.as_str(), members[0].role),
        ("newbie@example.com", paige::model::Role::Owner)
    );

    let bad = newbie.post("/projects", &[("csrf", &csrf), ("slug", "Bad Slug")]).await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("a project slug is 1 to 63 characters"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("value=\"Bad Slug\""), "what was typed is kept");
    let taken = newbie
        .post("/projects", &[("csrf", &csrf), ("slug", "first-bot")])
        .await;
    assert_eq!(taken.status, 409);
    assert!(taken.body.contains("The name first-bot is taken"));
    let forged = newbie
        .post("/projects", &[("csrf", "forged"), ("slug", "csrf-bot")])
        .await;
    assert_eq!(forged.status, 403);
    assert!(server.env.paige.project("csrf-bot").await.is_err());
    server.stop().await;
}
