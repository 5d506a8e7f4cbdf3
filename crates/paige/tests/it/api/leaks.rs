//! Plant-a-value: a value (and the token and password) sent to the real
//! `paige serve` binary never comes back in a response, never reaches its
//! log, never reaches the audit records; SIGTERM shuts it down cleanly.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, COOKIE};

use super::session_cookie;
use crate::common::{Env, both_backends, contains};

const PLANTED: &str = "planted-api-value-6c1f0e9d2b";
const PLANTED_2: &str = "planted-overwrite-93ad71e5c0";
const PASSWORD: &str = "planted-password-44e1b2c9";

both_backends!(no_value_token_or_password_leaks_through_responses_logs_or_audit);

async fn no_value_token_or_password_leaks_through_responses_logs_or_audit(env: Env) {
    assert!(
        env.cli(&["users", "create", "alice@example.com"], PASSWORD.as_bytes())
            .status
            .success()
    );
    let made = env.cli(&["tokens", "create", "alice@example.com"], b"");
    let token = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    assert!(
        env.cli(&["projects", "create", "proj", "--owner", "alice@example.com"], b"")
            .status
            .success()
    );

    let mut server = env.serve("serve.log", &[("PAIGE_LOG", "debug")]);
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);
    let mut seen = Vec::new(); // every status line, header and body we got back
    let record = |response: reqwest::Response| async move {
        let mut text = format!("{}\n", response.status());
        for (name, value) in response.headers() {
            text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
        }
        text.push_str(&response.text().await.unwrap());
        text
    };

    let login = client
        .post(url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "alice@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = session_cookie(&login);
    let session_id = cookie.split_once('=').unwrap().1.to_owned();
    seen.push(record(login).await);

    let secret_url = url("/api/v1/projects/proj/secrets/API_KEY");
    let requests = vec![
        client
            .put(&secret_url)
            .bearer_auth(&token)
            .json(&serde_json::json!({"value": PLANTED})),
        client
            .put(&secret_url)
            .header(COOKIE, &cookie)
            .json(&serde_json::json!({"value": PLANTED_2})),
        client.get(url("/api/v1/projects/proj/secrets")).bearer_auth(&token),
        client.get(url("/api/v1/projects/proj/audit")).bearer_auth(&token),
        client.get(url("/api/v1/projects")).header(COOKIE, &cookie),
        // Refused writes that carry a planted value in different places.
        client
            .put(url("/api/v1/projects/proj/secrets/bad_key"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"value": PLANTED})),
        client
            .put(&secret_url)
            .bearer_auth(&token)
            .header(CONTENT_TYPE, "application/json")
            .body(format!(r#"{{"value": "{PLANTED}", "extra": "{PLANTED}"}}"#)),
        client
            .put(&secret_url)
            .bearer_auth(&token)
            .header(CONTENT_TYPE, "application/json")
            .body(format!(r#"{{"value": ["{PLANTED}"]}}"#)),
        client
            .put(&secret_url)
            .bearer_auth(&token)
            .header(CONTENT_TYPE, "text/plain")
            .body(PLANTED),
        client
            .put(url(&format!("/api/v1/projects/proj/secrets/{PLANTED}")))
            .bearer_auth(&token)
            .json(&serde_json::json!({"value": PLANTED})),
        client
            .post(url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "alice@example.com", "password": PLANTED})),
        client.request(Method::DELETE, &secret_url).bearer_auth(&token),
    ];
    for request in requests {
        seen.push(record(request.send().await.unwrap()).await);
    }
    assert!(seen[1].starts_with("201") && seen[2].starts_with("200"), "{seen:?}");

    server.terminate();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "paige serve exited with {status}");
    let log = std::fs::read_to_string(&server.log).unwrap();

    // The log is really there: one line per request, with id, route and status.
    let request_lines: Vec<&str> = log.lines().filter(|l| l.contains("request_id=")).collect();
    assert!(request_lines.len() >= seen.len(), "{log}");
    assert!(log.contains("route=/api/v1/projects/{slug}/secrets/{key}"), "{log}");
    assert!(log.contains("status=201") && log.contains("latency_us="), "{log}");

    let audit: Vec<String> = {
        let rows: Vec<(String, String, Option<String>, Option<String>)> = env
            .db()
            .await
            .rows("SELECT actor, action, key, detail FROM audit_events", &[])
            .await;
        rows.into_iter().map(|r| format!("{r:?}")).collect()
    };
    let stored = env.stored();
    assert!(audit.iter().any(|a| a.contains("secret.overwrite")), "{audit:?}");

    let responses = seen.join("\n");
    for (secret, name) in [
        (PLANTED, "value"),
        (PLANTED_2, "overwritten value"),
        (token.as_str(), "token"),
        (PASSWORD, "password"),
        (session_id.as_str(), "session id"),
    ] {
        assert!(!log.contains(secret), "the server log contains the {name}");
        assert!(!audit.join("\n").contains(secret), "the audit log contains the {name}");
        if name != "session id" {
            assert!(!responses.contains(secret), "a response contains the {name}");
        }
        for (path, bytes) in &stored {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "{} contains the {name}",
                path.display()
            );
        }
    }
    // The session id is only ever in the Set-Cookie of the sign-in answer.
    assert_eq!(responses.matches(&session_id).count(), 1);
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    let env = Env::sqlite().await;
    assert!(
        env.cli(&["users", "create", "alice@example.com"], PASSWORD.as_bytes())
            .status
            .success()
    );
    let mut server = env.serve("serve.log", &[]);
    // Sign-in runs Argon2id, so it is still in flight when the signal
    // lands, once the server has read the whole request (a request not yet
    // read when the signal lands is not in flight: its connection closes).
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let body = serde_json::json!({"email": "alice@example.com", "password": PASSWORD}).to_string();
    let request = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let client_port = stream.local_addr().unwrap().port();
    let server_port = stream.peer_addr().unwrap().port();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !read_by_server(server_port, client_port) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never read the request"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.terminate();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    assert!(server.child.wait().unwrap().success());
    let pool = env.raw().await;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
}

/// True once the server's end of the connection from `client_port` to
/// `server_port` (127.0.0.1) has nothing left in its receive queue: the
/// server has read everything sent (`/proc/net/tcp`).
fn read_by_server(server_port: u16, client_port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!("0100007F:{server_port:04X}");
    let remote = format!("0100007F:{client_port:04X}");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(1) == Some(&local.as_str())
            && fields.get(2) == Some(&remote.as_str())
            && fields
                .get(4)
                .and_then(|queues| queues.split_once(':'))
                .is_some_and(|(_, rx)| u64::from_str_radix(rx, 16) == Ok(0))
    })
}
