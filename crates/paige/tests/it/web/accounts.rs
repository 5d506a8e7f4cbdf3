//! Accounts through the dashboard over HTTP (issue 16): device cookies
//! that keep the real user signing in through an attack (item 7),
//! invitations answered and cancelled (item 8), and the first run and
//! "New project" form that let a new user in (item 17).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use paige::auth::setup::SetupCode;
use paige::http::ServeOptions;
use reqwest::header::SET_COOKIE;

use super::{Answer, Browser, csrf_of, first_invite_id, invite_and_accept, signed_in};
use crate::api::{PASSWORD, Server};
use crate::common::{Env, both_backends};

/// Posts the sign-in form as `browser` (signed out first, its device
/// cookie kept), whatever the answer.
async fn try_sign_in(browser: &mut Browser, email: &str, password: &str) -> Answer {
    browser.session = None;
    let csrf = csrf_of(&browser.get("/login").await.body);
    browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("password", password),
                ("next", "/projects"),
            ],
        )
        .await
}

/// One sign-in through the API from source address `from`.
pub(super) async fn login_from(addr: std::net::SocketAddr, from: IpAddr, password: &str) -> u16 {
    let client = reqwest::Client::builder().local_address(from).build().unwrap();
    client
        .post(format!("http://{addr}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "alice@example.com", "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Wrong passwords at 10 a second from rotating loopback addresses
/// (127.0.x.y), as in issue 16; `done` counts the attempts made.
pub(super) fn attack(
    addr: std::net::SocketAddr,
    attempts: u16,
    done: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<Vec<u16>> {
    tokio::spawn(async move {
        let mut statuses = Vec::new();
        for i in 0..attempts {
            let [high, low] = i.to_be_bytes();
            let from = IpAddr::V4(Ipv4Addr::new(127, 0, 1 + high, 2 + low % 250));
            statuses.push(login_from(addr, from, &format!("wrong-guess-{i}")).await);
            done.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        statuses
    })
}

both_backends!(a_known_device_signs_in_through_an_attack_and_an_unknown_one_waits);

/// A server whose sign-in buckets drain slowly (one failure a minute), so
/// that a bucket the attack fills stays full for the whole test however
/// slowly a loaded machine runs it: a right password never slips through
/// a gap between two guesses by luck.
pub(super) async fn slow_draining(env: Env) -> Server {
    let options = ServeOptions {
        login_limits: paige::auth::ratelimit::LimitPolicy {
            burst: 5,
            drain_every: Duration::from_secs(60),
        },
        ..ServeOptions::default()
    };
    Server::start_with(env, options).await
}

async fn a_known_device_signs_in_through_an_attack_and_an_unknown_one_waits(env: Env) {
    let server = slow_draining(env).await;
    server.user("alice@example.com").await;
    // Two browsers where alice signed in before: each holds a device cookie.
    let mut known = Browser::new(&server);
    let first = known.sign_in("alice@example.com").await;
    let set: Vec<&str> = first
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let device = set.iter().find(|c| c.starts_with("paige_device=")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/;", "Max-Age=2592000"] {
        assert!(device.contains(attribute), "{device}");
    }
    assert!(
        !device.contains("alice@example.com"),
        "the account is encoded, not spelled out"
    );
    let mut laptop = Browser::new(&server);
    laptop.sign_in("alice@example.com").await;
    known.session = None;
    laptop.session = None;

    let done = Arc::new(AtomicUsize::new(0));
    let attack = attack(server.addr, 40, Arc::clone(&done));
    while done.load(Ordering::SeqCst) < 8 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Mid-attack: an unknown browser is held back, even with the right password …
    let mut stranger = Browser::new(&server);
    let held = try_sign_in(&mut stranger, "alice@example.com", PASSWORD).await;
    assert_eq!(held.status, 429, "{}", held.body);
    assert!(held.body.contains("Too many failed sign-ins"));
    assert!(stranger.session.is_none());
    // … and so is one whose device cookie was tampered with …
    let mut forged = Browser::new(&server);
    let cookie = known.device.clone().unwrap();
    forged.device = Some(format!("{}A", &cookie[..cookie.len() - 1]));
    assert_eq!(
        try_sign_in(&mut forged, "alice@example.com", PASSWORD).await.status,
        429
    );
    // … while alice's own browser signs in at once, with a fresh cookie.
    let signed = try_sign_in(&mut known, "alice@example.com", PASSWORD).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert!(known.session.is_some());
    assert_ne!(
        known.device.as_deref(),
        Some(cookie.as_str()),
        "a new cookie each sign-in"
    );
    assert_eq!(known.get("/projects").await.status, 200);
    // The API's sign-in honours the cookie too.
    let api = server
        .client
        .post(format!("{}/api/v1/auth/login", server.base))
        .header("cookie", format!("paige_device={}", laptop.device.clone().unwrap()))
        .json(&serde_json::json!({"email": "alice@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);

    let statuses = attack.await.unwrap();
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 30,
        "the attack itself was held back: {statuses:?}"
    );

    // A known device has a bucket of its own: its own failures hold it
    // back, and nobody else.
    for _ in 0..5 {
        assert_eq!(
            try_sign_in(&mut known, "alice@example.com", "not-the-password")
                .await
                .status,
            401
        );
    }
    assert_eq!(try_sign_in(&mut known, "alice@example.com", PASSWORD).await.status, 429);
    laptop.session = None;
    assert_eq!(
        try_sign_in(&mut laptop, "alice@example.com", PASSWORD).await.status,
        303
    );
    server.stop().await;
}

both_backends!(a_device_cookie_counts_only_for_its_own_account);

async fn a_device_cookie_counts_only_for_its_own_account(env: Env) {
    let server = Server::start_on(env).await;
    server.user("alice@example.com").await;
    server.user("bob@example.com").await;
    let mut bobs = Browser::new(&server);
    bobs.sign_in("bob@example.com").await;
    // Bob's browser guessing alice's password is an unknown device for her.
    for _ in 0..5 {
        assert_eq!(
            try_sign_in(&mut bobs, "alice@example.com", "guess-guess").await.status,
            401
        );
    }
    assert_eq!(try_sign_in(&mut bobs, "alice@example.com", PASSWORD).await.status, 429);
    server.stop().await;
}

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

fn borrowed<'f>(form: &'f [(&'static str, String)]) -> Vec<(&'static str, &'f str)> {
    form.iter().map(|(n, v)| (*n, v.as_str())).collect()
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

both_backends!(invitations_are_answered_declined_and_cancelled);

async fn invitations_are_answered_declined_and_cancelled(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    let members = "/projects/bot/members";
    let csrf = alice.csrf(members).await;
    let invite = |email: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("intent", "add".to_owned()),
            ("email", email.to_owned()),
            ("role", "developer".to_owned()),
        ]
    };
    // The same answer whether or not the email has an account.
    server.user("bob@example.com").await;
    let known = alice.post(members, &borrowed(&invite("bob@example.com"))).await;
    let unknown = alice.post(members, &borrowed(&invite("nobody@example.com"))).await;
    assert_eq!((known.status, unknown.status), (303, 303));
    assert_eq!(
        known.location.unwrap().replace("bob%40example.com", "X"),
        unknown.location.unwrap().replace("nobody%40example.com", "X")
    );
    let duplicate = alice.post(members, &borrowed(&invite("bob@example.com"))).await;
    assert_eq!(duplicate.status, 409);
    assert!(
        duplicate
            .body
            .contains("bob@example.com is already invited as developer")
    );

    // Bob declines; the invitation is gone for him and from the Members page.
    let mut bob = Browser::new(&server);
    bob.sign_in("bob@example.com").await;
    let projects = bob.get("/projects").await;
    assert!(
        projects.body.contains("Accept the invitation to bot"),
        "{}",
        projects.body
    );
    assert!(projects.body.contains("from alice@example.com"));
    let id = first_invite_id(&projects.body).unwrap();
    // Carol may not answer bob's invitation.
    server.user("carol@example.com").await;
    let mut carol = Browser::new(&server);
    carol.sign_in("carol@example.com").await;
    let carols = carol.csrf("/projects").await;
    let stolen = carol
        .post(&format!("/invites/{id}"), &[("csrf", &carols), ("answer", "accept")])
        .await;
    assert_eq!(stolen.status, 404);
    assert_eq!(carol.get("/projects/bot/settings/secrets").await.status, 404);
    let declined = bob
        .post(
            &format!("/invites/{id}"),
            &[("csrf", &csrf_of(&projects.body)), ("answer", "decline")],
        )
        .await;
    assert_eq!(declined.location.as_deref(), Some("/projects?declined=bot"));
    assert!(
        bob.get("/projects?declined=bot")
            .await
            .body
            .contains("You declined the invitation to bot.")
    );
    assert_eq!(bob.get("/projects/bot/settings/secrets").await.status, 404);
    let again = bob
        .post(
            &format!("/invites/{id}"),
            &[("csrf", &csrf_of(&projects.body)), ("answer", "accept")],
        )
        .await;
    assert_eq!(again.status, 404);
    assert!(again.body.contains("no longer open"));

    // Alice cancels nobody's; the page says so and lists it no more.
    let page = alice.get(members).await;
    assert!(!page.body.contains("Cancel the invitation to bob@example.com"));
    let marker = "action=\"/projects/bot/invites/";
    let start = page.body.find(marker).unwrap() + marker.len();
    let nobody: i64 = page.body[start..].split('/').next().unwrap().parse().unwrap();
    let cancelled = alice
        .post(&format!("/projects/bot/invites/{nobody}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(cancelled.status, 303);
    let after = alice.get(&cancelled.location.unwrap()).await;
    assert!(after.body.contains("Cancelled the invitation to nobody@example.com."));
    assert!(!after.body.contains("Pending invitations"));
    // A developer may not cancel (nor see) invitations.
    let mut dave = invite_and_accept(&server, &mut alice, "bot", "dave@example.com", "developer").await;
    let daves = dave.csrf("/projects").await;
    let refused = dave
        .post(&format!("/projects/bot/invites/{nobody}/cancel"), &[("csrf", &daves)])
        .await;
    assert_eq!(refused.status, 403);

    let actions: Vec<String> = server
        .env
        .db()
        .await
        .column(
            "SELECT action FROM audit_events WHERE action LIKE 'member.%' ORDER BY id",
            &[],
        )
        .await;
    assert_eq!(
        actions,
        [
            "member.invite",
            "member.invite",
            "member.invite_decline",
            "member.invite_cancel",
            "member.invite",
            "member.invite_accept"
        ]
    );
    server.stop().await;
}
