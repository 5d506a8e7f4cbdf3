//! Accounts in a real Chromium, at desktop width and at 390 px (issue 16):
//! the first run and the "New project" form (item 17), an invitation sent,
//! cancelled and accepted (item 8), and the real user signing in through
//! an attack from rotating addresses (item 7). Screenshots of each width
//! are saved beside the other browser tests'.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fantoccini::{Client, Locator};
use paige::auth::setup::SetupCode;
use paige::http::ServeOptions;
use paige::model::Role;

use super::browser::{Driver, browser, fill_sign_in, target_dir, wait_for_text};
use super::devices::{attack, login_from, slow_draining};
use crate::api::{PASSWORD, Server};
use crate::common::{Env, actor};

type Step = Result<(), Box<dyn std::error::Error>>;

/// Desktop, and a 390×844 phone.
const WIDTHS: [(&str, u32, u32); 2] = [("desktop", 1280, 1000), ("phone", 390, 844)];

async fn resize(client: &Client, width: u32, height: u32) -> Step {
    client.set_window_size(width, height).await?;
    let inner = client.execute("return window.innerWidth", vec![]).await?;
    assert_eq!(
        inner.as_u64(),
        Some(u64::from(width)),
        "the viewport is {width} px wide"
    );
    Ok(())
}

/// The page has no horizontal scroll.
async fn fits(client: &Client) -> Step {
    let sizes = client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            vec![],
        )
        .await?;
    let (page, view) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
    let path = client.current_url().await?.path().to_owned();
    assert!(page <= view, "{path} is {page} px wide in a {view} px viewport");
    Ok(())
}

/// The element `css` lies wholly inside the viewport's width.
async fn inside(client: &Client, css: &str) -> Step {
    let script = format!(
        "var r = document.querySelector({css:?}).getBoundingClientRect(); \
         return [r.left, r.right, window.innerWidth];"
    );
    let rect = client.execute(&script, vec![]).await?;
    let (left, right, view) = (
        rect[0].as_f64().unwrap(),
        rect[1].as_f64().unwrap(),
        rect[2].as_f64().unwrap(),
    );
    assert!(left >= 0.0 && right <= view, "{css} spans {left}..{right} of {view} px");
    Ok(())
}

async fn shot(client: &Client, name: &str) -> Step {
    let path = target_dir().join(name);
    std::fs::write(&path, client.screenshot().await?)?;
    eprintln!("screenshot: {}", path.display());
    Ok(())
}

async fn wait_for_path(client: &Client, path: &str) -> Step {
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let now = client.current_url().await?.path().to_owned();
        if now == path {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("never reached {path}; at {now}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(client: &Client, locator: Locator<'_>) -> Step {
    client.find(locator).await?.click().await?;
    Ok(())
}

async fn sign_in(client: &Client, base: &str, email: &str) -> Step {
    client.goto(&format!("{base}/login")).await?;
    fill_sign_in(client, email, PASSWORD).await?;
    click(client, Locator::Css("#sign-in")).await?;
    wait_for_text(client, "#signed-in-as", email).await?;
    Ok(())
}

/// Runs `flow` at each width in one Chromium, a fresh server each time.
async fn at_each_width<F, Fut>(flow: F)
where
    F: Fn(Client, &'static str) -> Fut,
    Fut: std::future::Future<Output = Step>,
{
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    let mut result = Ok(());
    for (name, width, height) in WIDTHS {
        result = resize(&client, width, height).await;
        if result.is_ok() {
            result = flow(client.clone(), name).await;
        }
        if result.is_err() {
            break;
        }
    }
    let _ = client.close().await;
    result.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_install_is_set_up_and_gets_its_first_project_in_a_browser() {
    at_each_width(|client, name| async move {
        let code = SetupCode::generate();
        let options = ServeOptions {
            setup_code: Some(code.clone()),
            ..ServeOptions::default()
        };
        let server = Server::start_with(Env::sqlite().await, options).await;
        let base = server.base.clone();
        client.goto(&format!("{base}/")).await?;
        wait_for_path(&client, "/login").await?;
        wait_for_text(&client, "#first-run", "No account exists yet.").await?;
        fits(&client).await?;
        click(&client, Locator::LinkText("Set up the first one")).await?;
        wait_for_path(&client, "/setup").await?;
        fits(&client).await?;
        client
            .find(Locator::Css("#code"))
            .await?
            .send_keys(code.expose())
            .await?;
        fill_sign_in(&client, "root@example.com", PASSWORD).await?;
        shot(&client, &format!("first-run-{name}.png")).await?;
        click(&client, Locator::Css("#create-owner")).await?;
        wait_for_text(&client, "#signed-in-as", "root@example.com").await?;
        wait_for_path(&client, "/projects").await?;
        wait_for_text(&client, "#no-projects", "Create one below").await?;
        fits(&client).await?;
        inside(&client, "#create-project").await?;
        shot(&client, &format!("new-project-{name}.png")).await?;

        client
            .find(Locator::Css("#project-slug"))
            .await?
            .send_keys("my-bot")
            .await?;
        click(&client, Locator::Css("#create-project")).await?;
        wait_for_path(&client, "/projects/my-bot/settings/secrets").await?;
        let members = server.env.paige.list_members("my-bot").await?;
        assert_eq!(
            (members[0].email.as_str(), members[0].role),
            ("root@example.com", Role::Owner)
        );
        // The first-run page is gone.
        client.goto(&format!("{base}/setup")).await?;
        wait_for_path(&client, "/projects").await?;
        assert_eq!(server.env.paige.user_count().await?, 1);
        server.stop().await;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_is_sent_cancelled_and_accepted_in_a_browser() {
    at_each_width(|client, name| async move {
        let server = Server::start().await;
        for email in ["alice@example.com", "bob@example.com"] {
            server.user(email).await;
        }
        server
            .env
            .paige
            .create_project("bot", Some("alice@example.com"), &actor())
            .await?;
        let base = server.base.clone();
        sign_in(&client, &base, "alice@example.com").await?;
        client.goto(&format!("{base}/projects/bot/members")).await?;
        for (email, role) in [("bob@example.com", "viewer"), ("carol@example.com", "admin")] {
            client
                .find(Locator::Css("#member-email"))
                .await?
                .send_keys(email)
                .await?;
            let option = format!("#member-role option[value={role}]");
            click(&client, Locator::Css(&option)).await?;
            click(&client, Locator::XPath("//button[text()='Invite']")).await?;
            wait_for_text(&client, ".notice", &format!("Invited {email}.")).await?;
        }
        let pending = wait_for_text(&client, "#pending-invitations", "carol@example.com as admin").await?;
        assert!(pending.contains("bob@example.com as viewer"), "{pending}");
        inside(&client, "#pending-invitations button").await?;
        shot(&client, &format!("pending-invitations-{name}.png")).await?;
        click(
            &client,
            Locator::Css("button[aria-label='Cancel the invitation to carol@example.com']"),
        )
        .await?;
        wait_for_text(&client, ".notice", "Cancelled the invitation to carol@example.com.").await?;
        let pending = client.find(Locator::Css("#pending-invitations")).await?.text().await?;
        assert!(!pending.contains("carol@example.com"), "{pending}");
        click(&client, Locator::Css("#sign-out")).await?;
        wait_for_text(&client, "main", "You have signed out.").await?;

        // Bob finds it on his Projects page and accepts.
        sign_in(&client, &base, "bob@example.com").await?;
        wait_for_path(&client, "/projects").await?;
        let offered = wait_for_text(&client, "#invitations", "bot as viewer").await?;
        assert!(offered.contains("from alice@example.com"), "{offered}");
        fits(&client).await?;
        inside(&client, "button[aria-label='Accept the invitation to bot']").await?;
        inside(&client, "button[aria-label='Decline the invitation to bot']").await?;
        shot(&client, &format!("invitation-{name}.png")).await?;
        click(
            &client,
            Locator::Css("button[aria-label='Accept the invitation to bot']"),
        )
        .await?;
        wait_for_path(&client, "/projects/bot/settings/secrets").await?;
        let members = server.env.paige.list_members("bot").await?;
        assert!(
            members
                .iter()
                .any(|m| m.email == "bob@example.com" && m.role == Role::Viewer)
        );
        click(&client, Locator::Css("#sign-out")).await?;
        wait_for_text(&client, "main", "You have signed out.").await?;
        server.stop().await;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_user_signs_in_through_an_attack_in_a_browser() {
    at_each_width(|client, name| async move {
        let server = slow_draining(Env::sqlite().await).await;
        server.user("alice@example.com").await;
        let base = server.base.clone();
        // Alice has signed in with this browser before.
        sign_in(&client, &base, "alice@example.com").await?;
        click(&client, Locator::Css("#sign-out")).await?;
        wait_for_text(&client, "main", "You have signed out.").await?;

        let done = Arc::new(AtomicUsize::new(0));
        let attack = attack(server.addr, 60, Arc::clone(&done));
        while done.load(Ordering::SeqCst) < 8 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Another client with the right password is held back …
        let stranger = login_from(server.addr, IpAddr::V4(Ipv4Addr::new(127, 0, 9, 9)), PASSWORD).await;
        assert_eq!(stranger, 429);
        // … while alice's browser signs in, during the attack.
        sign_in(&client, &base, "alice@example.com").await?;
        wait_for_path(&client, "/projects").await?;
        shot(&client, &format!("signed-in-during-attack-{name}.png")).await?;
        assert!(done.load(Ordering::SeqCst) < 60, "the attack was still going on");
        let statuses = attack.await?;
        assert!(statuses.iter().filter(|s| **s == 429).count() >= 50, "{statuses:?}");
        click(&client, Locator::Css("#sign-out")).await?;
        wait_for_text(&client, "main", "You have signed out.").await?;
        server.stop().await;
        Ok(())
    })
    .await;
}
