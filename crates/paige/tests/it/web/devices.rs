//! Device cookies over HTTP (issue 16, item 7): the real user, whose
//! browser has signed in before, signs in through an attack of wrong
//! passwords from rotating addresses, while an unknown browser is held
//! back; a known device's own failures hold back only that device.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use paige::http::ServeOptions;
use reqwest::header::SET_COOKIE;

use super::{Answer, Browser, csrf_of};
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
    // One character in the middle changed: the last one of a base64 text
    // may carry only padding bits, so changing it can leave the bytes as
    // they were (this test once "forged" the very same cookie that way).
    let middle = cookie.len() / 2;
    let other = if &cookie[middle..=middle] == "A" { "B" } else { "A" };
    forged.device = Some(format!("{}{other}{}", &cookie[..middle], &cookie[middle + 1..]));
    assert_ne!(forged.device.as_deref(), Some(cookie.as_str()));
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
