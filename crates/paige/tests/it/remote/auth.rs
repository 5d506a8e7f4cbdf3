//! Tokens and the config file: a revoked token is the auth error and
//! status, `logout` revokes on the server, the file's mode is checked, an
//! unreachable server fails fast and clearly.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use super::{EMAIL, Remote, ok};
use crate::common::{contains, stderr, stdout};

/// The exit status of the auth class.
const AUTH: i32 = 3;

#[tokio::test]
async fn a_revoked_token_is_the_auth_error_and_logout_revokes_it_on_the_server() {
    let remote = Remote::start().await;
    remote.login();
    ok(&remote.cli(&["secrets", "list", "bot"], b""));

    // Revoked on the server's machine (it is the first token made): the
    // next command says so.
    ok(&remote.local(&["tokens", "revoke", "1"], b""));
    let out = remote.cli(&["secrets", "list", "bot"], b"");
    assert_eq!(out.status.code(), Some(AUTH), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("revoked") && err.contains("paige login"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line, no trace: {err}");
    assert!(!contains(&out.stderr, remote.token.as_bytes()));

    // A new token, then logout: it is revoked on the server and forgotten.
    let fresh = ok(&remote.local(&["tokens", "create", EMAIL], b"")).trim().to_owned();
    ok(&remote.cli(&["login", "--server", &remote.server.base], fresh.as_bytes()));
    ok(&remote.cli(&["secrets", "list", "bot"], b""));
    let said = ok(&remote.cli(&["logout"], b""));
    assert!(said.contains("token revoked and removed"), "{said}");
    let text = std::fs::read_to_string(remote.config_file()).unwrap();
    assert!(!text.contains(&fresh), "the token left the file: {text}");
    let out = remote.env.cli_with_env(
        &["secrets", "list", "bot"],
        b"",
        &[("PAIGE_SERVER", &remote.server.base), ("PAIGE_TOKEN", &fresh)],
    );
    assert_eq!(
        out.status.code(),
        Some(AUTH),
        "the token no longer works: {}",
        stderr(&out)
    );
    // With nothing logged in, commands are local again.
    let help = ok(&remote.cli(&["--help"], b""));
    assert!(help.contains("Back end: this machine's data dir"), "{help}");

    // A wrong token is refused at login, and nothing is stored.
    let out = remote.cli(&["login", "--server", &remote.server.base], b"paige_not-a-token");
    assert_eq!(out.status.code(), Some(AUTH), "{}", stderr(&out));
    let text = std::fs::read_to_string(remote.config_file()).unwrap();
    assert!(!text.contains("paige_not-a-token"));
}

#[tokio::test]
async fn a_config_file_others_may_read_is_refused() {
    let remote = Remote::start().await;
    remote.login();
    let config = remote.config_file();
    let dir_mode = std::fs::metadata(config.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = remote.cli(&["secrets", "list", "bot"], b"");
        assert_eq!(out.status.code(), Some(2), "mode {mode:o}");
        let err = stderr(&out);
        assert!(
            err.contains("group or others may read it") && err.contains("chmod 600"),
            "{err}"
        );
        assert!(!contains(&out.stderr, remote.token.as_bytes()) && !contains(&out.stdout, remote.token.as_bytes()));
    }
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    ok(&remote.cli(&["secrets", "list", "bot"], b""));
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_within_a_bounded_time() {
    let remote = Remote::start().await;
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let out = remote.env.cli_with_env(
        &["secrets", "list", "bot"],
        b"",
        &[("PAIGE_SERVER", &url), ("PAIGE_TOKEN", &remote.token)],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(6), "the unavailable class: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("the server at {url} cannot be reached")), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(stdout(&out).is_empty());
    // Unknown projects and conflicts have their own classes through the API too.
    remote.login();
    assert_eq!(remote.cli(&["secrets", "list", "nope"], b"").status.code(), Some(4));
    assert_eq!(remote.cli(&["projects", "create", "bot"], b"").status.code(), Some(5));
    assert_eq!(
        remote
            .cli(&["secrets", "set", "bot", "lower"], b"some-value")
            .status
            .code(),
        Some(2)
    );
}
