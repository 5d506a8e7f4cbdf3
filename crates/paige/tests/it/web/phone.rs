//! The dashboard in Chromium at desktop size and on a 390×844 phone
//! (issue 16, items 2, 10, 11, 15, 16): no page scrolls sideways on the
//! phone, table rows become labelled cards with every action on screen,
//! and the Secrets page's forms, suggestions, sorting, filtering, copy
//! buttons, empty state and `.env` import work at both sizes.
//!
//! Screenshots of every page at both sizes go to
//! `<target>/dashboard-screens/` (the path is printed); they are not committed.

use std::path::PathBuf;

use fantoccini::{Client, Locator};
use serde_json::Value;

use super::LEAKY_BOT;
use super::browser::{Driver, Step, browser, fill_sign_in, target_dir, wait_for_text};
use crate::api::Server;
use crate::common::{actor, secret};
use paige::model::Role;
use paige::runtime::{ExecutionRequest, Trigger};

pub(super) const SIZES: [(&str, u32, u32); 2] = [("desktop", 1280, 1000), ("phone", 390, 844)];
const LONG_KEY: &str = "PAYMENTS_PROVIDER_WEBHOOK_SIGNING_SECRET_FOR_THE_EU_REGION";
const LONG_EMAIL: &str = "someone.with.a.rather.long.address@example-company.com";

pub(super) fn screens() -> PathBuf {
    let dir = target_dir().join("dashboard-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Sizes the window so that the page's viewport is `width` wide.
pub(super) async fn resize(client: &Client, width: u32, height: u32) -> Step {
    client.set_window_size(width, height).await?;
    let inner = client.execute("return window.innerWidth", vec![]).await?;
    let inner = u32::try_from(inner.as_u64().unwrap_or(0))?;
    if inner != width {
        // The window's frame is not the page's: make up the difference.
        client
            .set_window_size(width + width.saturating_sub(inner), height)
            .await?;
    }
    let inner = client.execute("return window.innerWidth", vec![]).await?;
    assert_eq!(
        inner.as_u64(),
        Some(u64::from(width)),
        "the viewport is {width} px wide"
    );
    Ok(())
}

/// What the page's layout looks like: the viewport's and the document's
/// widths, every visible control that sticks out of the viewport, and how
/// the first table row and its first labelled cell are displayed.
pub(super) const LAYOUT: &str = "\
var w = window.innerWidth, out = [];\
document.querySelectorAll('a, button, select, input, textarea, summary').forEach(function (e) {\
  var r = e.getBoundingClientRect();\
  if (r.width === 0 && r.height === 0) return;\
  if (r.left < -0.5 || r.right > w + 0.5) {\
    out.push((e.id || e.getAttribute('aria-label') || e.textContent.trim()).slice(0, 60) + ' [' + Math.round(r.left) + ', ' + Math.round(r.right) + ']');\
  }\
});\
var row = document.querySelector('table.list tbody tr');\
var cell = document.querySelector('table.list td[data-label]');\
return {\
  width: w,\
  scroll: document.scrollingElement.scrollWidth,\
  outside: out,\
  row: row ? getComputedStyle(row).display : null,\
  label: cell ? getComputedStyle(cell, '::before').content : null\
};";

/// Opens `url` at the current size and checks its layout; saves a screenshot.
async fn check_page(client: &Client, url: &str, name: &str, size: &str) -> Result<Value, Box<dyn std::error::Error>> {
    client.goto(url).await?;
    let layout = client.execute(LAYOUT, vec![]).await?;
    let path = screens().join(format!("{name}-{size}.png"));
    std::fs::write(&path, client.screenshot().await?)?;
    eprintln!("screenshot: {}", path.display());
    let (width, scroll) = (layout["width"].as_u64().unwrap(), layout["scroll"].as_u64().unwrap());
    assert!(scroll <= width, "{name} at {size} scrolls sideways: {layout}");
    assert_eq!(
        layout["outside"],
        serde_json::json!([]),
        "{name} at {size}: controls off-screen"
    );
    if let Some(display) = layout["row"].as_str() {
        let expected = if size == "phone" { "block" } else { "table-row" };
        assert_eq!(display, expected, "{name} at {size}: rows as {display}");
        if size == "phone" && !layout["label"].is_null() {
            // The first labelled cell shows its column's name before it.
            let label = layout["label"].as_str().unwrap_or_default();
            assert!(
                label.len() > 2 && label.starts_with('"'),
                "{name}: the cells carry their labels: {label}"
            );
        }
    }
    Ok(layout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_scrolls_sideways_on_a_phone() {
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    server.user("alice@example.com").await;
    server.user(LONG_EMAIL).await;
    let paige = &server.env.paige;
    paige
        .create_project("support-bot", Some("alice@example.com"), &actor())
        .await
        .unwrap();
    paige
        .add_member("support-bot", LONG_EMAIL, Role::Developer, &actor())
        .await
        .unwrap();
    for key in [LONG_KEY, "API_TOKEN", "OPENAI_API_KEY", "STRIPE_SECRET_KEY"] {
        paige
            .set_secret("support-bot", key, &secret("value-for-the-phone-test"), &actor())
            .await
            .unwrap();
    }
    paige
        .put_code_file("support-bot", "app.js", LEAKY_BOT.as_bytes(), &actor())
        .await
        .unwrap();
    let event = serde_json::json!({ "text": "a rather long event text to see how the log wraps on a small screen" });
    let request = ExecutionRequest::entry_point(event, Trigger::Test, actor());
    let run = paige.execute("support-bot", request, None).await.unwrap();

    let client = browser(&driver, profile.path()).await;
    let result: Step = async {
        let base = &server.base;
        client.goto(&format!("{base}/login")).await?;
        fill_sign_in(&client, "alice@example.com", crate::api::PASSWORD).await?;
        client.find(Locator::Css("#sign-in")).await?.click().await?;
        wait_for_text(&client, "#signed-in-as", "alice@example.com").await?;
        let project = format!("{base}/projects/support-bot");
        let pages = [
            ("projects", format!("{base}/projects")),
            ("secrets", format!("{project}/settings/secrets")),
            ("executions", format!("{project}/executions")),
            ("execution", format!("{project}/executions/{}", run.id)),
            ("members", format!("{project}/members")),
            ("audit", format!("{project}/audit")),
            ("delete", format!("{project}/settings/secrets/{LONG_KEY}/delete")),
            ("remove", format!("{project}/members/remove?email={LONG_EMAIL}")),
        ];
        for (size, width, height) in SIZES {
            resize(&client, width, height).await?;
            for (name, url) in &pages {
                let layout = check_page(&client, url, name, size).await?;
                if size == "phone" && *name == "secrets" {
                    assert_eq!(layout["label"], "\"Key\"", "{layout}");
                }
                if *name == "secrets" {
                    // The list, below the form, in a screenshot of its own.
                    client
                        .execute("document.getElementById('list').scrollIntoView()", vec![])
                        .await?;
                    let path = screens().join(format!("secrets-list-{size}.png"));
                    std::fs::write(&path, client.screenshot().await?)?;
                    eprintln!("screenshot: {}", path.display());
                }
            }
            // The secrets page's row actions, by their accessible names.
            client.goto(&pages[1].1).await?;
            for name in [format!("Replace {LONG_KEY}"), format!("Delete {LONG_KEY}"), format!("Copy process.env.{LONG_KEY}")] {
                let action = client.find(Locator::Css(&format!("[aria-label='{name}']"))).await?;
                assert!(action.is_displayed().await?, "{name} at {size}");
                let inside = client
                    .execute(
                        "var r = arguments[0].getBoundingClientRect(); return r.left >= 0 && r.right <= window.innerWidth;",
                        vec![serde_json::to_value(&action)?],
                    )
                    .await?;
                assert_eq!(inside, Value::Bool(true), "{name} at {size} is on screen");
            }
        }
        Ok(())
    }
    .await;
    let _ = client.close().await;
    server.stop().await;
    result.unwrap();
}
