//! Sign-in, sessions, rate limits, tokens and membership changes.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{COOKIE, SET_COOKIE};

use super::{PASSWORD, Server, answer};
use crate::common::{Env, actor, both_backends};

async fn login(server: &Server, email: &str, password: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = server
        .request(Method::POST, "/api/v1/auth/login", None)
        .json(&serde_json::json!({"email": email, "password": password}));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.unwrap()
}

fn session_of(response: &reqwest::Response) -> String {
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "not over TLS here: {set}");
    set.split(';').next().unwrap().to_owned()
}

async fn projects_with_cookie(server: &Server, cookie: &str) -> u16 {
    let response = server
        .request(Method::GET, "/api/v1/projects", None)
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

both_backends!(sign_in_makes_a_new_session_each_time_and_sign_out_ends_it);

async fn sign_in_makes_a_new_session_each_time_and_sign_out_ends_it(env: Env) {
    let server = Server::start_on(env).await;
    server.user("alice@example.com").await;

    let first = login(&server, "Alice@Example.com", PASSWORD, None).await;
    assert_eq!(first.status(), 200);
    let first_cookie = session_of(&first);
    assert_eq!(answer(first).await.1["email"], "alice@example.com");
    assert_eq!(projects_with_cookie(&server, &first_cookie).await, 200);

    // Signing in again from the same browser rotates the session id.
    let second = login(&server, "alice@example.com", PASSWORD, Some(&first_cookie)).await;
    let second_cookie = session_of(&second);
    assert_ne!(first_cookie, second_cookie);
    assert_eq!(projects_with_cookie(&server, &first_cookie).await, 401);
    assert_eq!(projects_with_cookie(&server, &second_cookie).await, 200);

    let out = server
        .request(Method::POST, "/api/v1/auth/logout", None)
        .header(COOKIE, &second_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert!(out.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(projects_with_cookie(&server, &second_cookie).await, 401);

    // Only the hash of a session id is stored.
    let raw_id = second_cookie.split_once('=').unwrap().1.to_owned();
    for (path, bytes) in server.env.stored() {
        assert!(
            !crate::common::contains(&bytes, raw_id.as_bytes()),
            "{}",
            path.display()
        );
    }
    server.stop().await;
}

both_backends!(wrong_credentials_do_not_say_which_part_was_wrong_and_are_audited);

async fn wrong_credentials_do_not_say_which_part_was_wrong_and_are_audited(env: Env) {
    let server = Server::start_on(env).await;
    server.user("alice@example.com").await;
    let wrong_password = answer(login(&server, "alice@example.com", "not the password!", None).await).await;
    let unknown_user = answer(login(&server, "nobody@example.com", PASSWORD, None).await).await;
    assert_eq!(wrong_password.0, 401);
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password.1["error"]["code"], "invalid_credentials");

    let db = server.env.db().await;
    let rows: Vec<(String, Option<String>)> = db
        .rows(
            "SELECT action, detail FROM audit_events WHERE action = 'auth.login_failed' ORDER BY id",
            &[],
        )
        .await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].1.as_deref(), Some("email alice@example.com"));
    let all: Vec<String> = db
        .column("SELECT COALESCE(detail, '') || actor FROM audit_events", &[])
        .await;
    assert!(!all.join("\n").contains("not the password!") && !all.join("\n").contains(PASSWORD));
    server.stop().await;
}

both_backends!(a_burst_of_wrong_passwords_is_refused_and_the_owner_is_only_slowed);

async fn a_burst_of_wrong_passwords_is_refused_and_the_owner_is_only_slowed(env: Env) {
    let server = Server::start_on(env).await;
    server.user("alice@example.com").await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(
            login(&server, "alice@example.com", "guess-guess-guess", None)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);

    // The right password right now is still refused, with a retry delay...
    let blocked = login(&server, "alice@example.com", PASSWORD, None).await;
    assert_eq!(blocked.status(), 429);
    assert!(blocked.headers().contains_key("retry-after"));
    assert_eq!(answer(blocked).await.1["error"]["code"], "rate_limited");
    // ...another account from the same address is limited too (per address)...
    server.user("bob@example.com").await;
    assert_eq!(login(&server, "bob@example.com", PASSWORD, None).await.status(), 429);

    // ...and once the bucket drains (one failure per 2 s here), it works.
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert_eq!(login(&server, "alice@example.com", PASSWORD, None).await.status(), 200);
    server.stop().await;
}

both_backends!(revoked_tokens_and_removed_members_lose_access_on_their_next_request);

async fn revoked_tokens_and_removed_members_lose_access_on_their_next_request(env: Env) {
    let server = Server::start_on(env).await;
    let owner = server.user("owner@example.com").await;
    let dev = server.user("dev@example.com").await;
    server
        .env
        .paige
        .create_project("proj", Some("owner@example.com"), &actor())
        .await
        .unwrap();
    server
        .env
        .paige
        .add_member("proj", "dev@example.com", paige::model::Role::Developer, &actor())
        .await
        .unwrap();
    let secrets = "/api/v1/projects/proj/secrets";
    assert_eq!(server.status(Method::GET, secrets, Some(&dev)).await, 200);

    let removed = server
        .request(
            Method::DELETE,
            "/api/v1/projects/proj/members/dev@example.com",
            Some(&owner),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(server.status(Method::GET, secrets, Some(&dev)).await, 404);

    // The last owner can be neither removed nor demoted.
    let (status, body) = answer(
        server
            .request(
                Method::DELETE,
                "/api/v1/projects/proj/members/owner@example.com",
                Some(&owner),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")));
    let demote = server
        .request(Method::POST, "/api/v1/projects/proj/members", Some(&owner))
        .json(&serde_json::json!({"email": "owner@example.com", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(demote.status(), 409);

    // A token made through the API works until it is revoked.
    let (status, made) = answer(
        server
            .request(Method::POST, "/api/v1/tokens", Some(&owner))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let new_token = made["token"].as_str().unwrap().to_owned();
    assert_eq!(server.status(Method::GET, secrets, Some(&new_token)).await, 200);
    let revoke = format!("/api/v1/tokens/{}", made["id"]);
    assert_eq!(server.status(Method::DELETE, &revoke, Some(&owner)).await, 204);
    assert_eq!(server.status(Method::GET, secrets, Some(&new_token)).await, 401);
    // Another user cannot revoke someone else's token.
    let (_, other) = answer(
        server
            .request(Method::POST, "/api/v1/tokens", Some(&owner))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let revoke_other = format!("/api/v1/tokens/{}", other["id"]);
    assert_eq!(server.status(Method::DELETE, &revoke_other, Some(&dev)).await, 404);
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
    let response = login(&server, "alice@example.com", PASSWORD, None).await;
    assert!(response.headers()[SET_COOKIE].to_str().unwrap().contains("; Secure"));
    server.stop().await;
}
