//! The Secrets page in Chromium, at desktop size and on a 390 px phone
//! (issue 16, items 10, 11, 15, 16): the empty state, a pasted `.env` file
//! previewed and imported, filtering as you type with its count, copying
//! a `process.env` snippet, the suggestion link (never a reserved name),
//! the focus on the field in error with the Replace tick kept, sorting,
//! and the rows' named actions.

use fantoccini::{Client, Locator};
use serde_json::Value;

use super::browser::{Driver, Step, browser, fill_sign_in, wait_for_text};
use super::phone::{LAYOUT, SIZES, resize, screens};
use crate::api::Server;
use crate::common::actor;

const ENV: &str = "A_KEY=value-a-Kd81Lq\nB_KEY=value-b-Pw27Zx\nexport C_KEY='value-c-Rt64Mn'\n";
const VALUES: [&str; 4] = [
    "value-a-Kd81Lq",
    "value-b-Pw27Zx",
    "value-c-Rt64Mn",
    "value-b-new-Hs39Vb",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secrets_page_in_chromium_at_desktop_and_phone_size() {
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    server.user("alice@example.com").await;
    for (size, _, _) in SIZES {
        server
            .env
            .paige
            .create_project(&format!("{size}-bot"), Some("alice@example.com"), &actor())
            .await
            .unwrap();
    }
    let client = browser(&driver, profile.path()).await;
    let result: Step = async {
        client.goto(&format!("{}/login", server.base)).await?;
        fill_sign_in(&client, "alice@example.com", crate::api::PASSWORD).await?;
        client.find(Locator::Css("#sign-in")).await?.click().await?;
        wait_for_text(&client, "#signed-in-as", "alice@example.com").await?;
        for (size, width, height) in SIZES {
            resize(&client, width, height).await?;
            drive(&client, &server, size).await?;
        }
        Ok(())
    }
    .await;
    let _ = client.close().await;
    server.stop().await;
    result.unwrap();
}

async fn js(client: &Client, script: &str) -> Result<Value, Box<dyn std::error::Error>> {
    Ok(client.execute(script, vec![]).await?)
}

/// Checks the page has no sideways scroll and saves a screenshot.
async fn snap(client: &Client, name: &str, size: &str) -> Step {
    let layout = js(client, LAYOUT).await?;
    assert!(
        layout["scroll"].as_u64() <= layout["width"].as_u64(),
        "{name} at {size} scrolls sideways: {layout}"
    );
    assert_eq!(layout["outside"], serde_json::json!([]), "{name} at {size}");
    let path = screens().join(format!("{name}-{size}.png"));
    std::fs::write(&path, client.screenshot().await?)?;
    eprintln!("screenshot: {}", path.display());
    Ok(())
}

/// The keys of the rows shown, in order.
async fn shown_rows(client: &Client) -> Result<Value, Box<dyn std::error::Error>> {
    js(
        client,
        "return Array.from(document.querySelectorAll('#secrets tbody tr'))\
           .filter(function (r) { return !r.hidden; })\
           .map(function (r) { return r.querySelector('code').textContent; });",
    )
    .await
}

async fn no_value_shown(client: &Client) -> Step {
    let source = client.source().await?;
    for value in VALUES {
        assert!(!source.contains(value), "the page shows {value}");
    }
    Ok(())
}

async fn drive(client: &Client, server: &Server, size: &str) -> Step {
    let page = format!("{}/projects/{size}-bot/settings/secrets", server.base);
    client.goto(&page).await?;

    // A new project: the empty state, and the paste form open.
    let empty = wait_for_text(client, "#empty-state", "No secrets yet").await?;
    assert!(empty.contains("paste your whole .env file"), "{empty}");
    assert!(
        empty.contains(&format!("paige secrets import {size}-bot .env")),
        "{empty}"
    );
    snap(client, "empty-state", size).await?;

    // Paste a .env file: the preview lists keys and lines, never values.
    let env = client.find(Locator::Css("#env")).await?;
    assert!(env.is_displayed().await?);
    env.send_keys(ENV).await?;
    client.find(Locator::Css("#preview-import")).await?.click().await?;
    let add = wait_for_text(client, "#to-add", "C_KEY").await?;
    for line in ["A_KEY line 1", "B_KEY line 2", "C_KEY line 3"] {
        assert!(add.contains(line), "{add}");
    }
    assert!(
        client
            .find(Locator::Css("#to-replace"))
            .await?
            .text()
            .await?
            .contains("None.")
    );
    no_value_shown(client).await?;
    snap(client, "import-preview", size).await?;
    let apply = client.find(Locator::Css("#apply-import")).await?;
    assert_eq!(apply.text().await?, "Import 3 secrets");
    apply.click().await?;
    wait_for_text(client, "#notice", "Imported the .env file: 3 added, 0 replaced.").await?;
    no_value_shown(client).await?;

    // Filtering as you type: the count follows, and "No key matches".
    let filter = client.find(Locator::Css("#filter")).await?;
    filter.send_keys("b_").await?;
    wait_for_text(client, "#key-count", "1 of 3").await?;
    assert_eq!(shown_rows(client).await?, serde_json::json!(["B_KEY"]));
    filter.send_keys("zzz").await?;
    wait_for_text(client, "#key-count", "0 of 3").await?;
    let no_match = client.find(Locator::Css("#no-match")).await?;
    assert!(no_match.is_displayed().await?);
    assert_eq!(no_match.text().await?, "No key matches the filter.");
    assert!(!client.find(Locator::Css("#secrets")).await?.is_displayed().await?);
    snap(client, "no-match", size).await?;
    client.goto(&page).await?;

    // Copy the process.env snippet with one click; paste it back.
    let copy = client
        .find(Locator::Css("button[aria-label='Copy process.env.B_KEY']"))
        .await?;
    assert!(copy.is_displayed().await?);
    copy.click().await?;
    wait_for_text(client, "#copied", "Copied process.env.B_KEY to the clipboard.").await?;
    assert_eq!(copy.text().await?, "Copied");
    let key = client.find(Locator::Css("#key")).await?;
    key.click().await?;
    key.send_keys("\u{E009}v\u{E000}").await?;
    assert_eq!(key.prop("value").await?.as_deref(), Some("process.env.B_KEY"));
    key.clear().await?;

    // A reserved name is never suggested; an allowed one is, as a link.
    key.send_keys("path").await?;
    let error = wait_for_text(client, "#key-error", "PATH").await?;
    assert!(error.contains("Reserved"), "{error}");
    assert!(!error.contains("did you mean"), "{error}");
    assert!(!client.find(Locator::Css("#key-suggest")).await?.is_displayed().await?);
    key.clear().await?;
    key.send_keys("openai_api_key").await?;
    wait_for_text(client, "#key-suggest", "did you mean OPENAI_API_KEY?").await?;
    client.find(Locator::Css("#key-suggest")).await?.click().await?;
    assert_eq!(key.prop("value").await?.as_deref(), Some("OPENAI_API_KEY"));
    assert_eq!(js(client, "return document.activeElement.id").await?, "value");
    assert!(!client.find(Locator::Css("#key-error")).await?.is_displayed().await?);

    // `minlength`: a value under 4 bytes is held back by the browser.
    let value = client.find(Locator::Css("#value")).await?;
    value.send_keys("abc").await?;
    client.find(Locator::Css("#save")).await?.click().await?;
    assert_eq!(
        js(client, "return document.getElementById('value').validity.tooShort").await?,
        Value::Bool(true)
    );
    let listed = server.env.paige.list_secrets(&format!("{size}-bot")).await?;
    assert!(listed.iter().all(|s| s.key != "OPENAI_API_KEY"), "nothing was sent");
    value.clear().await?;

    // Replace B_KEY through its row's named action; the tick is kept
    // across the server's refusal (no value), the focus is on the value.
    client
        .find(Locator::Css("a[aria-label='Replace B_KEY']"))
        .await?
        .click()
        .await?;
    let key = client.find(Locator::Css("#key")).await?;
    assert_eq!(key.prop("value").await?.as_deref(), Some("B_KEY"));
    let replace = client.find(Locator::Css("#replace")).await?;
    assert!(replace.is_displayed().await?);
    replace.click().await?;
    client.find(Locator::Css("#save")).await?.click().await?;
    wait_for_text(client, "#value-error", "Enter a value.").await?;
    assert!(client.find(Locator::Css("#replace")).await?.is_selected().await?);
    assert_eq!(js(client, "return document.activeElement.id").await?, "value");
    assert_eq!(
        client.find(Locator::Css("#key")).await?.prop("value").await?.as_deref(),
        Some("B_KEY")
    );
    snap(client, "value-error", size).await?;
    client.find(Locator::Css("#value")).await?.send_keys(VALUES[3]).await?;
    client.find(Locator::Css("#save")).await?.click().await?;
    wait_for_text(client, "#notice", "Replaced the value of B_KEY.").await?;
    no_value_shown(client).await?;

    // Sorted by name, then by last update (B_KEY was replaced last).
    assert_eq!(
        shown_rows(client).await?,
        serde_json::json!(["A_KEY", "B_KEY", "C_KEY"])
    );
    client.find(Locator::Css("#sort-updated")).await?.click().await?;
    wait_for_text(client, "#sort", "last updated").await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while shown_rows(client).await? != serde_json::json!(["B_KEY", "A_KEY", "C_KEY"]) {
        assert!(std::time::Instant::now() < deadline, "{}", shown_rows(client).await?);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        client
            .find(Locator::Css("#sort-updated"))
            .await?
            .attr("aria-current")
            .await?
            .as_deref(),
        Some("true")
    );
    snap(client, "sorted", size).await?;
    let delete = client.find(Locator::Css("a[aria-label='Delete C_KEY']")).await?;
    assert!(delete.is_displayed().await?);
    Ok(())
}
