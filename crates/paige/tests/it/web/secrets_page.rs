//! The Secrets page as a browser without JavaScript uses it (issue 16,
//! items 10, 11, 15, 16): an overwrite in one refusal at most, focus on the
//! field in error, suggestions that are never reserved names, sorting and
//! filtering, the empty state, and a pasted `.env` file with its preview.

use super::{Browser, csrf_of, keys, signed_in};
use crate::common::{Env, actor, both_backends, secret};
use paige::model::Role;

const PAGE: &str = "/projects/bot/settings/secrets";
const IMPORT: &str = "/projects/bot/settings/secrets/import";
const APPLY: &str = "/projects/bot/settings/secrets/import/apply";
const VALUE: &str = "sk-live-Overwrite-Q7m2Xv9Lp4";
const VALUE2: &str = "sk-live-Overwrite-second-Zt6Hb1";

/// The id of the one element of `body` with `autofocus`.
fn focused(body: &str) -> String {
    let tags: Vec<&str> = body.split('<').filter(|tag| tag.contains(" autofocus")).collect();
    assert_eq!(tags.len(), 1, "one field has the focus: {tags:?}");
    let id = tags[0].split("id=\"").nth(1).expect("the focused field has an id");
    id.split('"').next().unwrap().to_owned()
}

both_backends!(an_overwrite_without_javascript_takes_one_refusal_and_keeps_the_tick);

async fn an_overwrite_without_javascript_takes_one_refusal_and_keeps_the_tick(env: Env) {
    let (server, mut browser) = signed_in(env).await;
    server
        .env
        .paige
        .set_secret("bot", "OPENAI_API_KEY", &secret(VALUE), &actor())
        .await
        .unwrap();
    let csrf = browser.csrf(PAGE).await;

    // The existing key, no tick and no value: both problems said at once,
    // the tick's explanation once, the focus on the first field in error.
    let first = browser
        .post(PAGE, &[("csrf", &csrf), ("key", "OPENAI_API_KEY"), ("value", "")])
        .await;
    assert_eq!(first.status, 400, "{}", first.body);
    assert_eq!(first.body.matches("already has a value").count(), 1, "{}", first.body);
    assert!(first.body.contains("id=\"replace-error\""), "{}", first.body);
    assert!(
        first
            .body
            .contains("<p class=\"field-error\" id=\"value-error\" role=\"alert\">Enter a value.</p>")
    );
    assert!(first.body.contains("<div class=\"confirm\" id=\"replace-box\">"));
    assert_eq!(focused(&first.body), "value");

    // Ticked, with a value too short: the tick is kept, the value is not.
    let second = browser
        .post(
            PAGE,
            &[
                ("csrf", &csrf),
                ("key", "OPENAI_API_KEY"),
                ("value", "abc"),
                ("replace", "1"),
            ],
        )
        .await;
    assert_eq!(second.status, 400, "{}", second.body);
    assert!(
        second
            .body
            .contains("name=\"replace\" id=\"replace\" value=\"1\" required checked"),
        "{}",
        second.body
    );
    assert!(
        !second.body.contains("already has a value"),
        "explained once, not again"
    );
    assert!(second.body.contains("value too short"));
    assert_eq!(focused(&second.body), "value");
    assert!(
        second
            .body
            .contains("<input id=\"value\" name=\"value\" type=\"password\" minlength=\"4\"")
    );

    // Ticked, no value: still one error, by the value.
    let third = browser
        .post(PAGE, &[("csrf", &csrf), ("key", "OPENAI_API_KEY"), ("replace", "1")])
        .await;
    assert_eq!(third.status, 400);
    assert!(third.body.contains("required checked"));

    // Only the tick missing: 409, the focus on the box.
    let unticked = browser
        .post(PAGE, &[("csrf", &csrf), ("key", "OPENAI_API_KEY"), ("value", VALUE2)])
        .await;
    assert_eq!(unticked.status, 409);
    assert_eq!(focused(&unticked.body), "replace");
    for page in [&first.body, &second.body, &third.body, &unticked.body] {
        assert!(!page.contains(VALUE) && !page.contains(VALUE2));
    }
    assert_eq!(keys(&server, "bot").await, [("OPENAI_API_KEY".to_owned(), 1)]);

    let done = browser
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
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(keys(&server, "bot").await, [("OPENAI_API_KEY".to_owned(), 2)]);
    server.stop().await;
}

both_backends!(key_errors_take_the_focus_and_suggest_only_allowed_names);

async fn key_errors_take_the_focus_and_suggest_only_allowed_names(env: Env) {
    let (server, mut browser) = signed_in(env).await;
    let csrf = browser.csrf(PAGE).await;
    let lower = browser
        .post(PAGE, &[("csrf", &csrf), ("key", "openai_api_key"), ("value", VALUE)])
        .await;
    assert_eq!(lower.status, 400);
    assert_eq!(focused(&lower.body), "key");
    assert!(
        lower.body.contains(
            "<a href=\"?key=OPENAI_API_KEY#add\" id=\"key-suggest\" data-suggest=\"OPENAI_API_KEY\">did you mean OPENAI_API_KEY?</a>"
        ),
        "{}",
        lower.body
    );
    // The link, followed without JavaScript, fills the key in.
    let followed = browser.get(&format!("{PAGE}?key=OPENAI_API_KEY")).await;
    assert!(
        followed
            .body
            .contains("<input id=\"key\" name=\"key\" class=\"mono\" value=\"OPENAI_API_KEY\"")
    );

    // `path` is not "did you mean PATH?": PATH is reserved, and says why.
    for (typed, reserved) in [
        ("path", "PATH"),
        ("node_options", "NODE_OPTIONS"),
        ("paige_x", "PAIGE_"),
    ] {
        let refused = browser
            .post(PAGE, &[("csrf", &csrf), ("key", typed), ("value", VALUE)])
            .await;
        assert_eq!(refused.status, 400, "{typed}");
        assert!(!refused.body.contains("did you mean"), "{typed}: {}", refused.body);
        assert!(!refused.body.contains("id=\"key-suggest\""), "{typed}");
        assert!(
            refused.body.contains("reserved key:") && refused.body.contains(reserved),
            "{typed}"
        );
    }
    assert!(keys(&server, "bot").await.is_empty());
    server.stop().await;
}

both_backends!(rows_have_named_actions_sort_and_filter_without_javascript);

async fn rows_have_named_actions_sort_and_filter_without_javascript(env: Env) {
    let (server, mut browser) = signed_in(env).await;
    let paige = &server.env.paige;
    // Set in this order, so the most recently updated is ALPHA_KEY.
    for key in ["BETA_KEY", "GAMMA_KEY", "ALPHA_KEY"] {
        paige.set_secret("bot", key, &secret(VALUE), &actor()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let order = |body: &str| -> Vec<String> {
        body.split("<td data-label=\"Key\"><code>")
            .skip(1)
            .map(|s| s.split('<').next().unwrap().to_owned())
            .collect()
    };
    let by_name = browser.get(PAGE).await;
    assert_eq!(order(&by_name.body), ["ALPHA_KEY", "BETA_KEY", "GAMMA_KEY"]);
    assert!(by_name.body.contains("id=\"sort-name\" aria-current=\"true\""));
    assert!(
        by_name
            .body
            .contains("<a href=\"?key=BETA_KEY#add\" aria-label=\"Replace BETA_KEY\">Replace</a>")
    );
    assert!(
        by_name
            .body
            .contains("<a href=\"secrets/BETA_KEY/delete\" aria-label=\"Delete BETA_KEY\">Delete</a>")
    );
    // The copy buttons are made by the script: none without JavaScript.
    assert!(!by_name.body.contains("data-copy"));
    assert!(by_name.body.contains("<span class=\"count\" id=\"key-count\">3</span>"));

    let by_update = browser.get(&format!("{PAGE}?sort=updated")).await;
    assert_eq!(order(&by_update.body), ["ALPHA_KEY", "GAMMA_KEY", "BETA_KEY"]);
    assert!(by_update.body.contains("id=\"sort-updated\" aria-current=\"true\""));
    // The filter keeps the order, and the order links keep the filter.
    let filtered = browser.get(&format!("{PAGE}?sort=updated&q=a_k")).await;
    assert_eq!(order(&filtered.body), ["ALPHA_KEY", "GAMMA_KEY", "BETA_KEY"]);
    let filtered = browser.get(&format!("{PAGE}?sort=updated&q=alpha")).await;
    assert_eq!(order(&filtered.body), ["ALPHA_KEY"]);
    assert!(
        filtered
            .body
            .contains("<span class=\"count\" id=\"key-count\">1 of 3</span>")
    );
    assert!(
        filtered
            .body
            .contains("<input type=\"hidden\" name=\"sort\" value=\"updated\">")
    );
    assert!(
        filtered.body.contains("href=\"?sort=name&#38;q=alpha#list\""),
        "{}",
        filtered.body
    );
    assert!(
        filtered
            .body
            .contains("<p class=\"empty\" id=\"no-match\" role=\"status\" hidden>")
    );

    let none = browser.get(&format!("{PAGE}?q=NOTHING_LIKE_IT")).await;
    assert!(order(&none.body).is_empty());
    assert!(
        none.body
            .contains("<p class=\"empty\" id=\"no-match\" role=\"status\">No key matches the filter.</p>")
    );
    assert!(none.body.contains("0 of 3"));

    // The page sends a CSP that allows no inline code: the copy buttons'
    // script is the one served from /static, and no page holds inline code.
    let csp = by_name.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    for body in [&by_name.body, &none.body] {
        assert!(!body.contains("<script>") && !body.contains(" onclick=") && !body.contains(" style="));
    }
    let script = browser.get("/static/paige.js").await;
    assert!(script.body.contains("'Copy process.env.' + key"));
    server.stop().await;
}

both_backends!(a_new_project_shows_a_helpful_empty_state);

async fn a_new_project_shows_a_helpful_empty_state(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    let page = alice.get(PAGE).await;
    assert!(page.body.contains("id=\"empty-state\""), "{}", page.body);
    assert!(page.body.contains("No secrets yet"));
    assert!(page.body.contains("paige secrets import bot .env"));
    assert!(page.body.contains("<details class=\"import\" id=\"import\" open>"));
    assert!(!page.body.contains("id=\"secrets\"") && !page.body.contains("id=\"filter\""));

    server.user("viewer@example.com").await;
    server
        .env
        .paige
        .add_member("bot", "viewer@example.com", Role::Viewer, &actor())
        .await
        .unwrap();
    let mut viewer = Browser::new(&server);
    viewer.sign_in("viewer@example.com").await;
    let seen = viewer.get(PAGE).await;
    assert!(seen.body.contains("Nobody has set a secret in this project yet."));
    assert!(!seen.body.contains("paige secrets import") && !seen.body.contains("id=\"import\""));

    // Once a key exists the empty state goes and the paste form is folded.
    server
        .env
        .paige
        .set_secret("bot", "FIRST_KEY", &secret(VALUE), &actor())
        .await
        .unwrap();
    let page = alice.get(PAGE).await;
    assert!(!page.body.contains("id=\"empty-state\""));
    assert!(page.body.contains("<details class=\"import\" id=\"import\">"));
    server.stop().await;
}

/// A `.env` file whose values must never appear in any answer.
const ENV_FILE: &str = "# the bot's keys\n\
OPENAI_API_KEY=sk-paste-Openai-Rq4Zt8Kw2\n\
export STRIPE_KEY=\"sk-paste-Stripe-Mv7Yc3Ld9\"\n\
SLACK_TOKEN='xoxb-paste-Slack-Hn5Ub1Fe6'\n";
const ENV_VALUES: [&str; 3] = [
    "sk-paste-Openai-Rq4Zt8Kw2",
    "sk-paste-Stripe-Mv7Yc3Ld9",
    "xoxb-paste-Slack-Hn5Ub1Fe6",
];

fn token_of(body: &str) -> String {
    let marker = "name=\"token\" value=\"";
    let start = body.find(marker).unwrap_or_else(|| panic!("no token in {body}")) + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

both_backends!(a_pasted_env_file_is_previewed_then_imported_all_or_nothing_once);

async fn a_pasted_env_file_is_previewed_then_imported_all_or_nothing_once(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    server
        .env
        .paige
        .set_secret("bot", "OPENAI_API_KEY", &secret(VALUE), &actor())
        .await
        .unwrap();
    let csrf = alice.csrf(PAGE).await;
    let preview = alice.post(IMPORT, &[("csrf", &csrf), ("env", ENV_FILE)]).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    let section = |id: &str| {
        let start = preview.body.find(&format!("id=\"{id}\"")).unwrap();
        preview.body[start..].split("</section>").next().unwrap().to_owned()
    };
    let add = section("to-add");
    assert!(
        add.contains("<code>STRIPE_KEY</code> <span class=\"muted\">line 3</span>"),
        "{add}"
    );
    assert!(
        add.contains("<code>SLACK_TOKEN</code> <span class=\"muted\">line 4</span>"),
        "{add}"
    );
    assert!(!add.contains("OPENAI_API_KEY"));
    let replace = section("to-replace");
    assert!(
        replace.contains("<code>OPENAI_API_KEY</code> <span class=\"muted\">line 2</span>"),
        "{replace}"
    );
    assert!(preview.body.contains(">Import 3 secrets</button>"));
    assert!(!preview.body.contains("id=\"refused\""));
    // The preview changed nothing, and shows no value.
    assert_eq!(keys(&server, "bot").await, [("OPENAI_API_KEY".to_owned(), 1)]);
    for value in ENV_VALUES {
        assert!(!preview.body.contains(value), "the preview shows {value}");
    }

    // Import, twice (a double click): one import, the same notice.
    let token = token_of(&preview.body);
    let csrf = csrf_of(&preview.body);
    let form = [("csrf", csrf.as_str()), ("token", token.as_str())];
    let (a, b) = tokio::join!(async { Browser::clone_of(&alice).post(APPLY, &form).await }, async {
        Browser::clone_of(&alice).post(APPLY, &form).await
    });
    let target = "/projects/bot/settings/secrets?added=2&overwritten=1";
    assert_eq!((a.status, b.status), (303, 303), "{} {}", a.body, b.body);
    assert_eq!(
        (a.location.as_deref(), b.location.as_deref()),
        (Some(target), Some(target))
    );
    let later = alice.post(APPLY, &form).await;
    assert_eq!(later.location.as_deref(), Some(target));
    let mut got = keys(&server, "bot").await;
    got.sort();
    assert_eq!(
        got,
        [
            ("OPENAI_API_KEY".to_owned(), 2),
            ("SLACK_TOKEN".to_owned(), 1),
            ("STRIPE_KEY".to_owned(), 1)
        ]
    );
    let resolved = server.env.paige.resolve("bot").await.unwrap();
    let stripe = resolved.secrets.iter().find(|(k, _)| k == "STRIPE_KEY").unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&stripe.1), ENV_VALUES[1]);
    let notice = alice.get(target).await;
    assert!(
        notice
            .body
            .contains("Imported the .env file: 2 added, 1 replaced. Executions started from now on get them."),
        "{}",
        notice.body
    );
    // The audit log records each key as the CLI's import does, by alice.
    let audit = alice.get("/projects/bot/audit?key=STRIPE_KEY").await;
    assert!(audit.body.contains("alice@example.com"), "{}", audit.body);

    // A token that is unknown, or another user's, imports nothing.
    let bogus = alice.post(APPLY, &[("csrf", &csrf), ("token", "not-a-token")]).await;
    assert_eq!(bogus.status, 409, "{}", bogus.body);
    assert!(bogus.body.contains("Paste the file again"));
    server.user("bob@example.com").await;
    server
        .env
        .paige
        .add_member("bot", "bob@example.com", Role::Developer, &actor())
        .await
        .unwrap();
    let fresh = alice
        .post(IMPORT, &[("csrf", &csrf), ("env", "NEW_ONE=value-for-bob-test\n")])
        .await;
    let mut bob = Browser::new(&server);
    bob.sign_in("bob@example.com").await;
    let bob_csrf = bob.csrf(PAGE).await;
    let stolen = bob
        .post(APPLY, &[("csrf", &bob_csrf), ("token", &token_of(&fresh.body))])
        .await;
    assert_eq!(stolen.status, 409);
    assert!(keys(&server, "bot").await.iter().all(|(k, _)| k != "NEW_ONE"));
    server.stop().await;
}

both_backends!(a_pasted_file_with_a_bad_line_lists_every_refusal_and_imports_nothing);

async fn a_pasted_file_with_a_bad_line_lists_every_refusal_and_imports_nothing(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    let csrf = alice.csrf(PAGE).await;
    let file = "GOOD_KEY=good-value-Wq1Er5\n\
                path=/usr/bin/evil-path-value\n\
                sk-live-no-equals-Tn3Bv8\n\
                SHORT=abc\n\
                GOOD_KEY=second-good-Yu8Io2\n";
    let preview = alice.post(IMPORT, &[("csrf", &csrf), ("env", file)]).await;
    assert_eq!(preview.status, 400, "{}", preview.body);
    assert!(
        preview.body.contains("Nothing can be imported: 4 lines are refused."),
        "{}",
        preview.body
    );
    for line in [
        "<strong>Line 2</strong>: reserved key: PATH is reserved because the runtime sets the executable search path <code class=\"muted\">reserved_key</code>",
        "<strong>Line 3</strong>: expected KEY=VALUE (no = found) <code class=\"muted\">invalid_env_file</code>",
        "<strong>Line 4</strong>: SHORT: value too short",
        "<strong>Line 5</strong>: GOOD_KEY is already set on line 1",
    ] {
        assert!(preview.body.contains(line), "{line}\n{}", preview.body);
    }
    assert!(
        preview
            .body
            .contains("<code>GOOD_KEY</code> <span class=\"muted\">line 1</span>")
    );
    assert!(!preview.body.contains("name=\"token\"") && !preview.body.contains("id=\"apply-import\""));
    for value in [
        "good-value-Wq1Er5",
        "evil-path-value",
        "sk-live-no-equals",
        "abc<",
        "second-good",
    ] {
        assert!(!preview.body.contains(value), "the preview shows {value}");
    }
    assert!(keys(&server, "bot").await.is_empty());

    // Not UTF-8, and no KEY=VALUE line: the whole file is refused.
    let raw = format!("csrf={csrf}&env=KEY%3D%FF%FEvalue");
    let binary = alice.post_raw(IMPORT, &raw).await;
    assert_eq!(binary.status, 400);
    assert!(
        binary.body.contains(
            "<strong>The file</strong>: the file must be UTF-8 text <code class=\"muted\">value_not_utf8</code>"
        ),
        "{}",
        binary.body
    );
    let empty = alice.post(IMPORT, &[("csrf", &csrf), ("env", "# nothing\n\n")]).await;
    assert!(empty.body.contains("the file has no KEY=VALUE lines"));

    // A viewer may not even preview.
    server.user("viewer@example.com").await;
    server
        .env
        .paige
        .add_member("bot", "viewer@example.com", Role::Viewer, &actor())
        .await
        .unwrap();
    let mut viewer = Browser::new(&server);
    viewer.sign_in("viewer@example.com").await;
    let viewer_csrf = viewer.csrf(PAGE).await;
    let refused = viewer.post(IMPORT, &[("csrf", &viewer_csrf), ("env", ENV_FILE)]).await;
    assert_eq!(refused.status, 403);
    assert!(keys(&server, "bot").await.is_empty());
    server.stop().await;
}
