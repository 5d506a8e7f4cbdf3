//! The dashboard end to end in a real headless Chromium, driven over
//! WebDriver (Debian's `chromium` and `chromium-driver`; `.ci/run` installs
//! them). Without them this test fails, saying what to install.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use secrecy::ExposeSecret;

use super::LEAKY_BOT;
use crate::api::Server;
use crate::common::{actor, secret};

const VALUE: &str = "tok-first-Wd3Kq8Zn1Rv6Lp0Sx4";
const VALUE2: &str = "tok-second-Hm7Fz2Cb9Tg5Jy1Ne";

/// chromedriver on a free port, in its own process group (which is
/// killed, with the browser it started, when the test ends).
pub(super) struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    pub(super) fn start() -> Self {
        let found = |name: &str| {
            std::env::var_os("PATH")
                .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        };
        assert!(
            found("chromedriver") && found("chromium"),
            "the browser test needs Chromium and its WebDriver: \
             `apt-get update && apt-get install -y chromium chromium-driver` (CI's .ci/run does this)"
        );
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("cannot start chromedriver")
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and any browser it left behind.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

pub(super) async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
    ]
    .map(str::to_owned)
    .into_iter()
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), "chrome".into());
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("cannot open a Chromium session")
}

pub(super) fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    server.user("alice@example.com").await;
    let paige = &server.env.paige;
    paige
        .create_project("support-bot", Some("alice@example.com"), &actor())
        .await
        .unwrap();
    paige
        .create_project("sales-bot", Some("alice@example.com"), &actor())
        .await
        .unwrap();
    for (key, value) in [
        ("OPENAI_API_KEY", "sk-proj-aaaaaaaaaaaaaaaa"),
        ("STRIPE_SECRET_KEY", "sk_live_bbbbbbbbbbbbbbbb"),
        ("HUBSPOT_TOKEN", "pat-na1-cccccccccccccccc"),
    ] {
        paige
            .set_secret("support-bot", key, &secret(value), &actor())
            .await
            .unwrap();
    }
    paige
        .put_code_file("support-bot", "app.js", LEAKY_BOT.as_bytes(), &actor())
        .await
        .unwrap();
    // A one-shot bot (the event on its stdin): `event` mode.
    paige
        .set_runtime_mode("support-bot", paige::model::RuntimeMode::Event, &actor())
        .await
        .unwrap();

    let client = browser(&driver, profile.path()).await;
    let result = drive(&client, &server).await;
    let _ = client.close().await;
    server.stop().await;
    result.unwrap();
}

pub(super) type Step = Result<(), Box<dyn std::error::Error>>;

/// Waits until the element's text contains `needle`, and returns the text.
/// After a click that submits a form, the old page may still be showing
/// (with an element of the same id, e.g. the previous notice): its element
/// goes stale or has the old text, so keep looking until the new page is in.
/// Types `email` and `password` into the sign-in form on the page.
pub(super) async fn fill_sign_in(
    client: &Client,
    email: &str,
    password: &str,
) -> Result<(), fantoccini::error::CmdError> {
    client.find(Locator::Css("#email")).await?.send_keys(email).await?;
    client
        .find(Locator::Css("#password"))
        .await?
        .send_keys(password)
        .await?;
    Ok(())
}

pub(super) async fn wait_for_text(
    client: &Client,
    css: &str,
    needle: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if text.contains(needle) {
                return Ok(text);
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{css} never contained {needle:?}; last text: {last:?}").into())
}

async fn drive(client: &Client, server: &Server) -> Step {
    let base = &server.base;
    let secrets = format!("{base}/projects/support-bot/settings/secrets");

    // Sign in; the secrets page first sends us to the sign-in form and back.
    client.goto(&secrets).await?;
    assert!(client.current_url().await?.path() == "/login");
    fill_sign_in(client, "alice@example.com", crate::api::PASSWORD).await?;
    client
        .find(Locator::Css("form button[type=submit].primary"))
        .await?
        .click()
        .await?;
    wait_for_text(client, "#signed-in-as", "alice@example.com").await?;
    assert_eq!(
        client.current_url().await?.path(),
        "/projects/support-bot/settings/secrets"
    );

    // Add a secret; it is listed with its date, and its value is nowhere.
    client.find(Locator::Css("#key")).await?.send_keys("API_TOKEN").await?;
    client.find(Locator::Css("#value")).await?.send_keys(VALUE).await?;
    client.find(Locator::Css("#save")).await?.click().await?;
    wait_for_text(client, "#notice", "Added API_TOKEN.").await?;
    let row = client
        .find(Locator::XPath("//table[@id='secrets']//tr[td/code='API_TOKEN']"))
        .await?;
    let row_text = row.text().await?;
    assert!(
        row_text.contains("just now") && row_text.contains("••••••••"),
        "{row_text}"
    );
    let title = row
        .find(Locator::Css("time"))
        .await?
        .attr("title")
        .await?
        .unwrap_or_default();
    assert!(title.ends_with(" UTC") && title.starts_with("20"), "{title}");
    assert!(!client.source().await?.contains(VALUE));

    // As-you-type check of the naming rules.
    let key = client.find(Locator::Css("#key")).await?;
    key.send_keys("openai_key").await?;
    wait_for_text(client, "#key-error", "did you mean OPENAI_KEY?").await?;
    key.clear().await?;

    // Overwrite: typing an existing key asks to confirm the replacement.
    key.send_keys("API_TOKEN").await?;
    let replace = client.find(Locator::Css("#replace")).await?;
    assert!(
        replace.is_displayed().await?,
        "the confirm box shows for an existing key"
    );
    client.find(Locator::Css("#value")).await?.send_keys(VALUE2).await?;
    replace.click().await?;
    client.find(Locator::Css("#save")).await?.click().await?;
    wait_for_text(client, "#notice", "Replaced the value of API_TOKEN.").await?;
    let source = client.source().await?;
    assert!(!source.contains(VALUE) && !source.contains(VALUE2));
    let listed = server.env.paige.list_secrets("support-bot").await?;
    assert!(listed.iter().any(|s| s.key == "API_TOKEN" && s.version == 2));

    let shot = client.screenshot().await?;
    let path = target_dir().join("dashboard-secrets.png");
    std::fs::write(&path, shot)?;
    eprintln!("screenshot of the secrets page: {}", path.display());

    // A test event: the bot prints the secret; the log shows it masked.
    client.goto(&format!("{base}/projects/support-bot/executions")).await?;
    let event = client.find(Locator::Css("#event")).await?;
    event.clear().await?;
    event.send_keys("{\"text\": \"hello from the browser\"}").await?;
    // The button's running state (paige.js), seen with the submission held
    // back by a listener of the test, so the page stays to be looked at.
    let held = client
        .execute(
            "var form = document.getElementById('send-test').form;\
             var hold = function (e) { e.preventDefault(); };\
             form.addEventListener('submit', hold);\
             document.getElementById('send-test').click();\
             return new Promise(function (done) { setTimeout(function () {\
               var b = document.getElementById('send-test');\
               form.removeEventListener('submit', hold);\
               var state = [b.disabled, b.textContent, b.getAttribute('aria-busy')];\
               b.disabled = false; b.textContent = 'Send test event'; b.removeAttribute('aria-busy');\
               done(state); }, 50); });",
            vec![],
        )
        .await?;
    assert_eq!(held, serde_json::json!([true, "Running…", "true"]));
    client.find(Locator::Css("#send-test")).await?.click().await?;
    let log = wait_for_text(client, "#log", "token is [REDACTED:API_TOKEN]").await?;
    assert!(log.contains("stderr token [REDACTED:API_TOKEN]"), "{log}");
    assert!(log.contains("hello from the browser"), "{log}");
    assert_eq!(wait_for_text(client, "#status", "succeeded").await?, "succeeded");
    let source = client.source().await?;
    assert!(!source.contains(VALUE2));
    let shot = client.screenshot().await?;
    std::fs::write(target_dir().join("dashboard-execution.png"), shot)?;

    // Delete, confirming on the confirm step.
    client.goto(&secrets).await?;
    client
        .find(Locator::XPath(
            "//table[@id='secrets']//tr[td/code='API_TOKEN']//a[text()='Delete']",
        ))
        .await?
        .click()
        .await?;
    client.find(Locator::Css("#confirm-delete")).await?.click().await?;
    wait_for_text(client, "#notice", "Deleted API_TOKEN.").await?;
    assert!(
        server
            .env
            .paige
            .list_secrets("support-bot")
            .await?
            .iter()
            .all(|s| s.key != "API_TOKEN")
    );
    let resolved = server.env.paige.resolve("support-bot").await?;
    assert!(resolved.secrets.iter().all(|(_, v)| v.expose_secret() != VALUE2));

    // Sign out.
    client.find(Locator::Css("#sign-out")).await?.click().await?;
    wait_for_text(client, "main", "You have signed out.").await?;
    client.goto(&secrets).await?;
    assert_eq!(client.current_url().await?.path(), "/login");
    Ok(())
}
