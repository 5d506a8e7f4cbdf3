//! The dashboard attacked (issue 16): redirects after sign-in, CR/LF in
//! `next`, bytes that are not UTF-8 in a secret, and the add-member form
//! aimed at someone who is already a member.

use super::{Browser, borrowed, csrf_of, invite_and_accept, keys, signed_in};
use crate::api::{PASSWORD, Server};
use crate::common::{Env, both_backends};

const SECRETS: &str = "/projects/bot/settings/secrets";
const MEMBERS: &str = "/projects/bot/members";

/// `next` values that lead, or could lead, off this server.
const OFF_SITE: [&str; 9] = [
    "/\t/evil.example/phish",
    "/\n/evil.example/phish",
    "//evil.example/phish",
    "/\\evil.example/phish",
    "\\/evil.example/phish",
    "https://evil.example/phish",
    "javascript:alert(1)",
    "evil.example",
    "",
];

async fn sessions(server: &Server) -> i64 {
    server.env.db().await.scalar("SELECT COUNT(*) FROM sessions", &[]).await
}

/// Signs in through the form with `next`, as a fresh browser.
async fn sign_in_with_next(server: &Server, next: &str) -> (Browser, super::Answer) {
    let mut browser = Browser::new(server);
    let page = browser.get("/login").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = csrf_of(&page.body);
    let answer = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "alice@example.com"),
                ("password", PASSWORD),
                ("next", next),
            ],
        )
        .await;
    (browser, answer)
}

both_backends!(after_sign_in_only_paths_on_this_server_are_followed);

async fn after_sign_in_only_paths_on_this_server_are_followed(env: Env) {
    let (server, mut alice) = signed_in(env).await;

    // A path of this server is followed, through the form and when signed in.
    let (_, answer) = sign_in_with_next(&server, "/projects/bot/audit?key=A_KEY").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location.as_deref(), Some("/projects/bot/audit?key=A_KEY"));

    for next in OFF_SITE {
        let (browser, answer) = sign_in_with_next(&server, next).await;
        assert_eq!(answer.status, 303, "next={next:?}: {}", answer.body);
        assert_eq!(answer.location.as_deref(), Some("/projects"), "next={next:?}");
        assert!(
            browser.session.is_some(),
            "next={next:?}: the sign-in itself went through"
        );

        // Signed in, `/login?next=…` redirects at once: the same rule.
        let query = encoded(next);
        let again = alice.get(&format!("/login?next={query}")).await;
        assert_eq!(again.status, 303, "next={next:?}: {}", again.body);
        assert_eq!(again.location.as_deref(), Some("/projects"), "next={next:?}");

        // Signed out, the form does not carry the refused value on.
        let mut stranger = Browser::new(&server);
        let form = stranger.get(&format!("/login?next={query}")).await;
        assert_eq!(form.status, 200);
        assert!(form.body.contains("name=\"next\" value=\"/projects\""), "{}", form.body);
    }
    // The issue's own forms of the tab: raw in the query, and `%09`.
    for query in ["/%09/evil.example/phish", "%2F%09%2Fevil.example%2Fphish"] {
        let again = alice.get(&format!("/login?next={query}")).await;
        assert_eq!(again.status, 303);
        assert_eq!(again.location.as_deref(), Some("/projects"), "{query}");
    }
    server.stop().await;
}

both_backends!(a_line_break_in_next_is_dropped_not_a_500);

async fn a_line_break_in_next_is_dropped_not_a_500(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    let evil = "/login?next=%2F%0d%0aSet-Cookie:x=1";

    let signed_in_get = alice.get(evil).await;
    assert_eq!(signed_in_get.status, 303, "{}", signed_in_get.body);
    assert_eq!(signed_in_get.location.as_deref(), Some("/projects"));

    let mut stranger = Browser::new(&server);
    let form = stranger.get(evil).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("name=\"next\" value=\"/projects\""), "{}", form.body);

    // The POST: one session for one sign-in, a redirect home, no header
    // smuggled in.
    for next in ["/\r\nSet-Cookie:x=1", "/projects\r\nSet-Cookie:x=1", "/\rx", "/\0"] {
        let before = sessions(&server).await;
        let (browser, answer) = sign_in_with_next(&server, next).await;
        assert_eq!(answer.status, 303, "next={next:?}: {}", answer.body);
        assert_eq!(answer.location.as_deref(), Some("/projects"));
        assert!(
            answer
                .headers
                .get_all(reqwest::header::SET_COOKIE)
                .iter()
                .all(|c| !c.to_str().unwrap().starts_with("x=")),
            "no cookie of the attacker's"
        );
        assert!(browser.session.is_some());
        assert_eq!(
            sessions(&server).await,
            before + 1,
            "next={next:?}: exactly the one new session"
        );
    }
    server.stop().await;
}

both_backends!(a_value_that_is_not_utf8_is_refused_and_nothing_is_stored);

async fn a_value_that_is_not_utf8_is_refused_and_nothing_is_stored(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    let csrf = alice.csrf(SECRETS).await;

    for field in ["value", "pem"] {
        let body = format!("csrf={csrf}&key=BAD_BYTES&{field}=abcd%FF%FEsecret-tail");
        let refused = alice.post_raw(SECRETS, &body).await;
        assert_eq!(refused.status, 400, "{field}: {}", refused.body);
        assert!(
            refused
                .body
                .contains("invalid value: a value must be UTF-8 text; byte 4 is not"),
            "{field}: {}",
            refused.body
        );
        assert!(refused.body.contains("value=\"BAD_BYTES\""), "the key is kept");
        assert!(!refused.body.contains("secret-tail") && !refused.body.contains('\u{fffd}'));
        assert!(keys(&server, "bot").await.is_empty(), "{field}: nothing stored");
    }

    // An existing secret is not overwritten by such bytes either.
    let good = alice
        .post_raw(
            SECRETS,
            &format!("csrf={csrf}&key=KEPT&value=p%C3%A4ss+word%2B%25-long"),
        )
        .await;
    assert_eq!(good.status, 303, "{}", good.body);
    let replace = format!("csrf={csrf}&key=KEPT&value=%FF%FE%FD%FC-more&replace=1");
    let refused = alice.post_raw(SECRETS, &replace).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("byte 0 is not"), "{}", refused.body);
    assert_eq!(keys(&server, "bot").await, [("KEPT".to_owned(), 1)]);
    let resolved = server.env.paige.resolve("bot").await.unwrap();
    // Valid UTF-8 sent percent-encoded arrives exactly, `+` as a space.
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&resolved.secrets[0].1),
        "päss word+%-long"
    );
    server.stop().await;
}

both_backends!(adding_an_existing_member_changes_nothing);

async fn role_of(server: &Server, email: &str) -> Option<String> {
    server
        .env
        .paige
        .list_members("bot")
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.email == email)
        .map(|m| m.role.to_string())
}

async fn member_events(server: &Server) -> Vec<String> {
    let sql = "SELECT action FROM audit_events WHERE action LIKE 'member.%' ORDER BY id";
    server.env.db().await.column(sql, &[]).await
}

async fn adding_an_existing_member_changes_nothing(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    server.user("bob@example.com").await;
    let page = alice.get(MEMBERS).await;
    assert!(
        page.body
            .contains("<input type=\"hidden\" name=\"intent\" value=\"add\">"),
        "{}",
        page.body
    );
    let csrf = csrf_of(&page.body);
    let add = |email: &'static str, role: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("intent", "add".to_owned()),
            ("email", email.to_owned()),
            ("role", role.to_owned()),
        ]
    };

    invite_and_accept(&server, &mut alice, "bot", "bob@example.com", "viewer").await;
    assert_eq!(role_of(&server, "bob@example.com").await.as_deref(), Some("viewer"));
    let events = member_events(&server).await;
    assert_eq!(
        events,
        ["member.invite", "member.invite_accept"],
        "bob invited and joined"
    );

    // Again with the form's default role: refused, named, nothing changed.
    let form = add("Bob@Example.com", "developer");
    let again = alice.post(MEMBERS, &borrowed(&form)).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(
        again
            .body
            .contains("bob@example.com is already a member as viewer; nothing was changed."),
        "{}",
        again.body
    );
    assert!(again.body.contains("“Change role”"), "the way to change it is named");
    assert_eq!(role_of(&server, "bob@example.com").await.as_deref(), Some("viewer"));
    assert_eq!(member_events(&server).await, events, "no audit record of a change");

    // The owner too: adding alice as a viewer does not demote her.
    let form = add("alice@example.com", "viewer");
    let owner = alice.post(MEMBERS, &borrowed(&form)).await;
    assert_eq!(owner.status, 409, "{}", owner.body);
    assert!(owner.body.contains("already a member as owner"), "{}", owner.body);
    assert_eq!(role_of(&server, "alice@example.com").await.as_deref(), Some("owner"));
    assert_eq!(member_events(&server).await, events);

    // The row's role menu (no `intent`) still changes a role, on purpose.
    let changed = alice
        .post(
            MEMBERS,
            &[("csrf", &csrf), ("email", "bob@example.com"), ("role", "admin")],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(role_of(&server, "bob@example.com").await.as_deref(), Some("admin"));
    let after = member_events(&server).await;
    assert_eq!(after.len(), events.len() + 1);
    assert_eq!(after.last().map(String::as_str), Some("member.role"));
    server.stop().await;
}

/// Percent-encodes every byte but letters and digits, for a query value.
fn encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Chromium, told to come back to `/\t/evil.example/phish` after signing in,
/// stays on this server (it drops the tab and would read `//evil.example`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_stays_on_this_server_after_sign_in() {
    use fantoccini::Locator;

    let driver = super::browser::Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    server.user("alice@example.com").await;
    let client = super::browser::browser(&driver, profile.path()).await;
    let result: Result<(), Box<dyn std::error::Error>> = async {
        for next in [
            "%2F%09%2Fevil.example%2Fphish",
            "/%09/evil.example/phish",
            "%2F%5Cevil.example",
        ] {
            client.goto(&format!("{}/login?next={next}", server.base)).await?;
            if client.find(Locator::Css("#password")).await.is_ok() {
                super::browser::fill_sign_in(&client, "alice@example.com", PASSWORD).await?;
                client
                    .find(Locator::Css("form button[type=submit].primary"))
                    .await?
                    .click()
                    .await?;
            }
            super::browser::wait_for_text(&client, "#signed-in-as", "alice@example.com").await?;
            let url = client.current_url().await?;
            assert_eq!(url.host_str(), Some("127.0.0.1"), "next={next}: {url}");
            assert_eq!(url.path(), "/projects", "next={next}: {url}");
        }
        Ok(())
    }
    .await;
    let _ = client.close().await;
    server.stop().await;
    result.unwrap();
}
