//! Sign-in, headers, roles, members, audit and executions pages.

use super::{Browser, LEAKY_BOT, csrf_of, invite_and_accept, signed_in};
use crate::api::Server;
use crate::common::{Env, actor, both_backends};
use paige::model::Role;

const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

both_backends!(sign_in_sign_out_cookies_and_security_headers);

async fn sign_in_sign_out_cookies_and_security_headers(env: Env) {
    let server = Server::start_on(env).await;
    server.user("alice@example.com").await;
    let mut browser = Browser::new(&server);

    let away = browser.get("/projects/bot/settings/secrets").await;
    assert_eq!(away.status, 303);
    assert_eq!(
        away.location.as_deref(),
        Some("/login?next=/projects/bot/settings/secrets")
    );

    let login = browser.get("/login?next=/projects").await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("Not signed in"));
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(login.headers.get(name).unwrap().to_str().unwrap(), value, "{name}");
    }
    let csrf = csrf_of(&login.body);

    // Wrong password and unknown email get the same answer.
    for (email, password) in [("alice@example.com", "wrong password!"), ("nobody@example.com", "x")] {
        let answer = browser
            .post("/login", &[("csrf", &csrf), ("email", email), ("password", password)])
            .await;
        assert_eq!(answer.status, 401);
        assert!(answer.body.contains("Wrong email or password."));
        assert!(answer.body.contains(&format!("value=\"{email}\"")));
        assert!(!answer.body.contains(password) || password == "x");
    }

    let signed_in = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "alice@example.com"),
                ("password", crate::api::PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.location.as_deref(), Some("/projects"), "no open redirect");
    let cookie = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("paige_session="))
        .unwrap();
    assert!(
        cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"));

    let projects = browser.get("/projects").await;
    assert_eq!(projects.status, 200);
    assert!(
        projects
            .body
            .contains("Signed in as <strong id=\"signed-in-as\">alice@example.com</strong>")
    );
    assert_eq!(projects.headers.get("cache-control").unwrap(), "no-store");
    assert!(projects.body.contains("<title>Projects — Paige Secrets</title>"));

    // Pages are gzipped when asked, and each carries a freshly masked token.
    let gzipped = server
        .client
        .get(format!("{}/projects", server.base))
        .header(
            "cookie",
            format!("paige_session={}", browser.session.as_deref().unwrap()),
        )
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers().get("content-encoding").unwrap(), "gzip");
    assert_ne!(csrf_of(&projects.body), csrf_of(&browser.get("/projects").await.body));

    let style = browser.get("/static/paige.css").await;
    assert_eq!(style.status, 200);
    assert!(
        style
            .headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );

    let csrf = csrf_of(&projects.body);
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/login?signed_out=1"));
    assert!(browser.session.is_none());
    assert_eq!(browser.get("/projects").await.status, 303);
    server.stop().await;
}

both_backends!(secure_cookies_when_asked);

async fn secure_cookies_when_asked(env: Env) {
    let server = Server::start_with(
        env,
        paige::http::ServeOptions {
            secure_cookies: true,
            ..Default::default()
        },
    )
    .await;
    server.user("alice@example.com").await;
    let mut browser = Browser::new(&server);
    let answer = browser.sign_in("alice@example.com").await;
    let cookie = answer.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    server.stop().await;
}

both_backends!(roles_decide_what_a_page_offers);

async fn roles_decide_what_a_page_offers(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    let paige = &server.env.paige;
    server.user("viewer@example.com").await;
    server.user("stranger@example.com").await;
    paige
        .add_member("bot", "viewer@example.com", Role::Viewer, &actor())
        .await
        .unwrap();
    crate::common::Env::set(&server.env, "bot", "SOME_KEY", "some value").await;

    let owner_page = alice.get("/projects/bot/settings/secrets").await;
    assert!(owner_page.body.contains("id=\"secret-form\""));
    assert!(owner_page.body.contains(">Members</a>") && owner_page.body.contains(">Audit log</a>"));

    let mut viewer = Browser::new(&server);
    viewer.sign_in("viewer@example.com").await;
    let page = viewer.get("/projects/bot/settings/secrets").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<code>SOME_KEY</code>"));
    assert!(!page.body.contains("id=\"secret-form\"") && !page.body.contains("/delete"));
    assert!(!page.body.contains(">Members</a>"));
    let csrf = csrf_of(&page.body);
    let refused = viewer
        .post(
            "/projects/bot/settings/secrets",
            &[("csrf", &csrf), ("key", "NEW_KEY"), ("value", "a value!")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(viewer.get("/projects/bot/members").await.status, 403);
    assert_eq!(viewer.get("/projects/bot/audit").await.status, 403);
    assert_eq!(viewer.get("/projects/bot/executions").await.status, 200);

    let mut stranger = Browser::new(&server);
    stranger.sign_in("stranger@example.com").await;
    let missing = stranger.get("/projects/bot/settings/secrets").await;
    let nowhere = stranger.get("/projects/nowhere/settings/secrets").await;
    assert_eq!((missing.status, nowhere.status), (404, 404));
    assert!(missing.body.contains("<h1>Not found</h1>"));
    assert_eq!(paige.list_secrets("bot").await.unwrap().len(), 1);
    server.stop().await;
}

both_backends!(members_and_audit);

async fn members_and_audit(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    let page = "/projects/bot/members";
    let mut bob = invite_and_accept(&server, &mut alice, "bot", "bob@example.com", "developer").await;
    let csrf = alice.csrf(page).await;

    // Carol has no account: her invitation is answered exactly as bob's was.
    let invited = alice
        .post(
            page,
            &[
                ("csrf", &csrf),
                ("intent", "add"),
                ("email", "carol@example.com"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(invited.status, 303, "{}", invited.body);
    let shown = alice.get(&invited.location.unwrap()).await;
    assert!(shown.body.contains("Invited carol@example.com."), "{}", shown.body);
    assert!(shown.body.contains("Pending invitations"));
    assert!(shown.body.contains("Cancel the invitation to carol@example.com"));

    let changed = alice
        .post(
            page,
            &[("csrf", &csrf), ("email", "bob@example.com"), ("role", "admin")],
        )
        .await;
    assert_eq!(changed.status, 303);
    let unknown = alice
        .post(
            page,
            &[("csrf", &csrf), ("email", "carol@example.com"), ("role", "viewer")],
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("carol@example.com is not a member; invite them"));
    let last_owner = alice
        .post(
            page,
            &[("csrf", &csrf), ("email", "alice@example.com"), ("role", "viewer")],
        )
        .await;
    assert_eq!(last_owner.status, 409, "{}", last_owner.body);

    // An admin may not make owners (the shared owner rule).
    let bobs = bob.csrf(page).await;
    let refused = bob
        .post(
            page,
            &[("csrf", &bobs), ("email", "bob@example.com"), ("role", "owner")],
        )
        .await;
    assert_eq!(refused.status, 403);

    // Each row's actions say whose they are (screen readers list them alone).
    let listed = alice.get(page).await;
    assert!(
        listed.body.contains("aria-label=\"Remove bob@example.com\">Remove</a>"),
        "{}",
        listed.body
    );
    assert!(
        listed
            .body
            .contains("aria-label=\"Change the role of bob@example.com\"")
    );
    let confirm = alice.get("/projects/bot/members/remove?email=bob@example.com").await;
    assert!(confirm.body.contains("Remove bob@example.com?"));
    let removed = alice
        .post(
            "/projects/bot/members/remove",
            &[("csrf", &csrf_of(&confirm.body)), ("email", "bob@example.com")],
        )
        .await;
    assert_eq!(removed.status, 303);
    assert_eq!(bob.get(page).await.status, 404, "removal takes effect at once");

    crate::common::Env::set(&server.env, "bot", "ONE_KEY", "first value").await;
    crate::common::Env::set(&server.env, "bot", "TWO_KEY", "second value").await;
    let all = alice.get("/projects/bot/audit").await;
    assert!(all.body.contains("member.invite_accept") && all.body.contains("secret.create"));
    let by_key = alice.get("/projects/bot/audit?key=ONE_KEY&action=").await;
    assert!(by_key.body.contains("<code>ONE_KEY</code>"));
    assert!(!by_key.body.contains("TWO_KEY") && !by_key.body.contains("<code>member.invite</code>"));
    let by_action = alice.get("/projects/bot/audit?key=&action=member.remove").await;
    assert!(by_action.body.contains("<code>member.remove</code>"));
    assert!(!by_action.body.contains("<code>secret.create</code>"));
    server.stop().await;
}

both_backends!(a_test_event_runs_the_bot_and_shows_its_redacted_log);

async fn a_test_event_runs_the_bot_and_shows_its_redacted_log(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    let value = "tok-Hq8Zr2Lm5Vb7Nc1Xd4";
    crate::common::Env::set(&server.env, "bot", "API_TOKEN", value).await;
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
    let page = "/projects/bot/executions";
    let csrf = alice.csrf(page).await;

    let bad = alice.post(page, &[("csrf", &csrf), ("event", "{\"text\": ")]).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("not valid JSON"));
    let not_object = alice.post(page, &[("csrf", &csrf), ("event", "[1]")]).await;
    assert_eq!(not_object.status, 400);

    let sent = alice
        .post(page, &[("csrf", &csrf), ("event", "{\"text\": \"hi there\"}")])
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let log = alice.get(&sent.location.unwrap()).await;
    assert_eq!(log.status, 200);
    assert!(log.body.contains("succeeded"), "{}", log.body);
    assert!(log.body.contains("token is [REDACTED:API_TOKEN]"), "{}", log.body);
    assert!(
        log.body
            .contains("<span class=\"line stderr\"><span class=\"tag\">stderr</span>stderr token [REDACTED:API_TOKEN]")
    );
    assert!(log.body.contains("hi there"));
    assert!(!log.body.contains(value));
    let list = alice.get(page).await;
    assert!(list.body.contains("succeeded") && list.body.contains(">test<"));
    server.stop().await;
}
