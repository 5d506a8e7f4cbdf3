//! The secrets form and the CSRF check, as a browser without JavaScript
//! would use them.

use super::{Browser, csrf_of, keys, signed_in};
use crate::common::{Env, actor, both_backends};

const PAGE: &str = "/projects/bot/settings/secrets";
const VALUE: &str = "sk-live-Zq9fT3vK1xW8mB2nR5pL";
const VALUE2: &str = "sk-live-second-Hc4Jd7Ns0Qa6Ue";

both_backends!(add_overwrite_and_delete_a_secret_never_showing_the_value);

async fn add_overwrite_and_delete_a_secret_never_showing_the_value(env: Env) {
    let (server, mut browser) = signed_in(env).await;
    let csrf = browser.csrf(PAGE).await;

    let added = browser
        .post(PAGE, &[("csrf", &csrf), ("key", "OPENAI_API_KEY"), ("value", VALUE)])
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let location = added.location.unwrap();
    assert_eq!(location, "/projects/bot/settings/secrets?created=OPENAI_API_KEY");
    assert_eq!(keys(&server, "bot").await, [("OPENAI_API_KEY".to_owned(), 1)]);

    let page = browser.get(&location).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Added OPENAI_API_KEY."), "{}", page.body);
    assert!(page.body.contains("<code>OPENAI_API_KEY</code>"));
    assert!(page.body.contains("just now") && page.body.contains(" UTC\">"));
    assert!(page.body.contains("alice@example.com"));
    assert!(page.body.contains("••••••••"));
    assert!(!page.body.contains(VALUE));

    // Saving the key again without ticking "replace" changes nothing and
    // asks to confirm, with the key kept and the value emptied.
    let again = browser
        .post(PAGE, &[("csrf", &csrf), ("key", "OPENAI_API_KEY"), ("value", VALUE2)])
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("already has a value"), "{}", again.body);
    assert!(again.body.contains("value=\"OPENAI_API_KEY\""));
    assert!(
        again
            .body
            .contains("name=\"replace\" id=\"replace\" value=\"1\" required")
    );
    assert!(!again.body.contains(VALUE2) && !again.body.contains(VALUE));
    assert_eq!(keys(&server, "bot").await, [("OPENAI_API_KEY".to_owned(), 1)]);

    let replaced = browser
        .post(
            PAGE,
            &[
                ("csrf", &csrf),
                ("key", "OPENAI_API_KEY"),
                ("value", VALUE2),
                ("replace", "1"),
            ],
        )
        .await;
    assert_eq!(replaced.status, 303, "{}", replaced.body);
    let location = replaced.location.unwrap();
    assert!(location.ends_with("?replaced=OPENAI_API_KEY"), "{location}");
    assert!(!location.contains(VALUE2));
    assert_eq!(keys(&server, "bot").await, [("OPENAI_API_KEY".to_owned(), 2)]);
    let resolved = server.env.paige.resolve("bot").await.unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&resolved.secrets[0].1), VALUE2);

    // Delete: a confirm step, then the POST.
    let confirm = browser.get(&format!("{PAGE}/OPENAI_API_KEY/delete")).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("Delete <code>OPENAI_API_KEY</code>?"));
    assert_eq!(
        keys(&server, "bot").await.len(),
        1,
        "showing the confirm step deletes nothing"
    );
    let csrf = csrf_of(&confirm.body);
    let deleted = browser
        .post(&format!("{PAGE}/OPENAI_API_KEY/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    assert!(keys(&server, "bot").await.is_empty());
    let page = browser.get(&deleted.location.unwrap()).await;
    assert!(page.body.contains("Deleted OPENAI_API_KEY."));
    server.stop().await;
}

both_backends!(a_refused_form_shows_the_error_by_the_field_keeps_the_key_and_empties_the_value);

async fn a_refused_form_shows_the_error_by_the_field_keeps_the_key_and_empties_the_value(env: Env) {
    let (server, mut browser) = signed_in(env).await;
    let csrf = browser.csrf(PAGE).await;

    let lower = browser
        .post(PAGE, &[("csrf", &csrf), ("key", "openai_key"), ("value", VALUE)])
        .await;
    assert_eq!(lower.status, 400);
    assert!(lower.body.contains("did you mean OPENAI_KEY?"), "{}", lower.body);
    assert!(lower.body.contains("value=\"openai_key\""));
    assert!(!lower.body.contains(VALUE));

    let reserved = browser
        .post(PAGE, &[("csrf", &csrf), ("key", "NODE_OPTIONS"), ("value", VALUE)])
        .await;
    assert_eq!(reserved.status, 400);
    assert!(
        reserved
            .body
            .contains("NODE_OPTIONS is reserved because Node.js reads start-up flags from it")
    );
    assert!(!reserved.body.contains(VALUE));

    let short = browser
        .post(PAGE, &[("csrf", &csrf), ("key", "PIN"), ("value", "123")])
        .await;
    assert_eq!(short.status, 400);
    assert!(short.body.contains("id=\"value-error\""), "{}", short.body);
    assert!(short.body.contains("at least 4 bytes"));
    assert!(!short.body.contains("value=\"123\""));

    let empty = browser.post(PAGE, &[("csrf", &csrf), ("key", "PIN")]).await;
    assert_eq!(empty.status, 400);
    assert!(empty.body.contains("Enter a value."));
    assert!(keys(&server, "bot").await.is_empty());

    // A PEM key from the multi-line field keeps its lines, with LF.
    let pem = "-----BEGIN PRIVATE KEY-----\r\nMIIEvQIBADANBgkqhkiG9w0BAQEF\r\n-----END PRIVATE KEY-----";
    let saved = browser
        .post(PAGE, &[("csrf", &csrf), ("key", "SIGNING_KEY"), ("pem", pem)])
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let resolved = server.env.paige.resolve("bot").await.unwrap();
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&resolved.secrets[0].1),
        pem.replace("\r\n", "\n")
    );
    let page = browser.get(PAGE).await;
    assert!(!page.body.contains("MIIEvQIBADANBgkqhkiG9w0BAQEF"));
    server.stop().await;
}

both_backends!(html_in_a_key_name_or_an_email_is_escaped);

async fn html_in_a_key_name_or_an_email_is_escaped(env: Env) {
    let (server, mut browser) = signed_in(env).await;
    let csrf = browser.csrf(PAGE).await;
    let refused = browser
        .post(
            PAGE,
            &[("csrf", &csrf), ("key", "<script>alert(1)</script>"), ("value", VALUE)],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(!refused.body.contains("<script>alert(1)"), "{}", refused.body);
    assert!(
        refused.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;") || refused.body.contains("&lt;script&gt;")
    );

    // An email with markup, as an updater and as a member.
    let evil = "<b>x</b>\"'@example.com";
    server.user(evil).await;
    server
        .env
        .paige
        .add_member("bot", evil, paige::model::Role::Developer, &actor())
        .await
        .unwrap();
    let evil_actor = paige::model::Actor {
        name: evil.to_owned(),
        user_id: None,
        request_id: None,
    };
    server
        .env
        .paige
        .set_secret("bot", "EVIL_SET", &crate::common::secret(VALUE), &evil_actor)
        .await
        .unwrap();
    for path in [PAGE, "/projects/bot/members", "/projects/bot/audit"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.body.contains("<b>x</b>"), "{path}: {}", page.body);
        assert!(!page.body.contains("\"'@example.com"), "{path}");
    }
    server.stop().await;
}

both_backends!(forged_posts_are_refused_and_change_nothing);

async fn forged_posts_are_refused_and_change_nothing(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    server.user("bob@example.com").await;
    server
        .env
        .paige
        .add_member("bot", "bob@example.com", paige::model::Role::Admin, &actor())
        .await
        .unwrap();
    crate::common::Env::set(&server.env, "bot", "KEEP_ME", VALUE).await;
    let mut bob = Browser::new(&server);
    bob.sign_in("bob@example.com").await;
    let bobs_token = bob.csrf(PAGE).await;
    let alices_token = alice.csrf(PAGE).await;
    assert_ne!(bobs_token, alices_token);

    let delete = format!("{PAGE}/KEEP_ME/delete");
    let forms: [(&str, Vec<(&str, &str)>); 6] = [
        (PAGE, vec![("key", "FORGED"), ("value", VALUE2)]),
        (PAGE, vec![("csrf", "wrong"), ("key", "FORGED"), ("value", VALUE2)]),
        (PAGE, vec![("csrf", &bobs_token), ("key", "FORGED"), ("value", VALUE2)]),
        (&delete, vec![]),
        (&delete, vec![("csrf", &bobs_token)]),
        (
            "/projects/bot/members",
            vec![("csrf", &bobs_token), ("email", "bob@example.com"), ("role", "viewer")],
        ),
    ];
    for (path, form) in &forms {
        let answer = alice.post(path, form).await;
        assert_eq!(answer.status, 403, "{path} {form:?}: {}", answer.body);
        assert!(answer.body.contains("security token"), "{}", answer.body);
    }
    // Another session's token does not sign anyone out either.
    let out = alice.post("/logout", &[("csrf", &bobs_token)]).await;
    assert_eq!(out.status, 403);
    assert_eq!(alice.get(PAGE).await.status, 200, "still signed in");
    // Without any session, a POST is refused too.
    let mut stranger = Browser::new(&server);
    let answer = stranger
        .post(PAGE, &[("csrf", &alices_token), ("key", "FORGED"), ("value", VALUE2)])
        .await;
    assert_eq!(answer.status, 403);
    // The sign-in form has its own token.
    let answer = stranger
        .post(
            "/login",
            &[("email", "alice@example.com"), ("password", crate::api::PASSWORD)],
        )
        .await;
    assert_eq!(answer.status, 403);
    assert!(stranger.session.is_none());

    assert_eq!(keys(&server, "bot").await, [("KEEP_ME".to_owned(), 1)]);
    let members = server.env.paige.list_members("bot").await.unwrap();
    assert!(
        members
            .iter()
            .any(|m| m.email == "bob@example.com" && m.role == paige::model::Role::Admin)
    );
    server.stop().await;
}
