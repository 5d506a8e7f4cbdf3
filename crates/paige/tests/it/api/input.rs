//! Bad input: each malformed request gets its own 4xx with a JSON error,
//! and the store is exactly as it was afterwards.

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use secrecy::ExposeSecret;

use super::{Server, answer, raw_request};
use crate::common::{Env, both_backends};

async fn snapshot(server: &Server) -> (Vec<paige::model::SecretMeta>, Vec<(String, String)>, i64, Vec<String>) {
    let listed = server.env.paige.list_secrets("proj").await.unwrap();
    let values = server
        .env
        .paige
        .resolve("proj")
        .await
        .unwrap()
        .secrets
        .iter()
        .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
        .collect();
    let audit: i64 = server
        .env
        .db()
        .await
        .scalar(
            "SELECT COUNT(*) FROM audit_events WHERE action <> 'auth.login_failed'",
            &[],
        )
        .await;
    let projects = server
        .env
        .paige
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.slug)
        .collect();
    (listed, values, audit, projects)
}

struct Bad {
    what: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn json_put(what: &'static str, key: &str, body: String, status: u16, code: &'static str) -> Bad {
    Bad {
        what,
        method: Method::PUT,
        path: format!("/api/v1/projects/proj/secrets/{key}"),
        content_type: Some("application/json"),
        body: body.into_bytes(),
        status,
        code,
    }
}

fn table() -> Vec<Bad> {
    let ok = r#"{"value":"a-good-value-123"}"#.to_owned();
    let mut bad = vec![
        json_put("lower-case key", "api_key", ok.clone(), 400, "lowercase_key"),
        json_put("reserved name", "PATH", ok.clone(), 400, "reserved_key"),
        json_put("reserved prefix", "PAIGE_TOKEN", ok.clone(), 400, "reserved_key"),
        json_put("loader variable", "LD_PRELOAD", ok.clone(), 400, "reserved_key"),
        json_put("leading digit", "1KEY", ok.clone(), 400, "invalid_key"),
        json_put("key too long", &"K".repeat(129), ok.clone(), 400, "invalid_key"),
        json_put("encoded slash in key", "A%2FB", ok.clone(), 400, "invalid_key"),
        json_put("dash in key", "MY-KEY", ok.clone(), 400, "invalid_key"),
        json_put(
            "value too short",
            "API_KEY",
            r#"{"value":"abc"}"#.into(),
            400,
            "value_too_short",
        ),
        json_put(
            "empty value",
            "API_KEY",
            r#"{"value":""}"#.into(),
            400,
            "value_too_short",
        ),
        json_put(
            "value too large",
            "API_KEY",
            format!(r#"{{"value":"{}"}}"#, "v".repeat(64 * 1024 + 1)),
            400,
            "value_too_large",
        ),
        json_put(
            "NUL in value",
            "API_KEY",
            r#"{"value":"abc\u0000defgh"}"#.into(),
            400,
            "value_contains_nul",
        ),
        json_put(
            "broken JSON",
            "API_KEY",
            r#"{"value": "abc"#.into(),
            400,
            "invalid_json",
        ),
        json_put(
            "value of the wrong type",
            "API_KEY",
            r#"{"value": 12345678}"#.into(),
            400,
            "invalid_json",
        ),
        json_put(
            "unknown field",
            "API_KEY",
            r#"{"value":"a-good-value","ttl":5}"#.into(),
            400,
            "invalid_json",
        ),
        json_put("missing field", "API_KEY", "{}".into(), 400, "invalid_json"),
        json_put(
            "not an object",
            "API_KEY",
            r#""a-good-value""#.into(),
            400,
            "invalid_json",
        ),
        json_put("empty body", "API_KEY", String::new(), 400, "invalid_json"),
        json_put(
            "oversized body",
            "API_KEY",
            format!(r#"{{"value":"{}"}}"#, "v".repeat(200 * 1024)),
            413,
            "body_too_large",
        ),
        json_put("unknown project", "API_KEY", ok.clone(), 404, "not_found"),
        json_put("invalid UTF-8 in path", "%FF%FE", ok.clone(), 400, "invalid_path"),
    ];
    bad[19].path = "/api/v1/projects/no-such-proj/secrets/API_KEY".into();
    bad.push(Bad {
        content_type: Some("text/plain"),
        ..json_put(
            "wrong content type",
            "API_KEY",
            ok.clone(),
            415,
            "unsupported_media_type",
        )
    });
    bad.push(Bad {
        content_type: Some("application/x-www-form-urlencoded"),
        ..json_put(
            "form body",
            "API_KEY",
            "value=a-good-value".into(),
            415,
            "unsupported_media_type",
        )
    });
    bad.push(Bad {
        content_type: None,
        ..json_put("no content type", "API_KEY", ok.clone(), 415, "unsupported_media_type")
    });
    bad.push(Bad {
        what: "delete a missing key",
        method: Method::DELETE,
        path: "/api/v1/projects/proj/secrets/NOT_THERE".into(),
        content_type: None,
        body: Vec::new(),
        status: 404,
        code: "not_found",
    });
    bad.push(Bad {
        what: "invalid role",
        method: Method::POST,
        path: "/api/v1/projects/proj/members".into(),
        content_type: Some("application/json"),
        body: br#"{"email":"owner@example.com","role":"superuser"}"#.to_vec(),
        status: 400,
        code: "invalid_role",
    });
    bad.push(Bad {
        what: "member who is not a user",
        method: Method::POST,
        path: "/api/v1/projects/proj/members".into(),
        content_type: Some("application/json"),
        body: br#"{"email":"ghost@example.com","role":"viewer"}"#.to_vec(),
        status: 404,
        code: "not_found",
    });
    bad.push(Bad {
        what: "invalid slug",
        method: Method::POST,
        path: "/api/v1/projects".into(),
        content_type: Some("application/json"),
        body: br#"{"slug":"Has Spaces"}"#.to_vec(),
        status: 400,
        code: "invalid_slug",
    });
    bad.push(Bad {
        what: "existing slug",
        method: Method::POST,
        path: "/api/v1/projects".into(),
        content_type: Some("application/json"),
        body: br#"{"slug":"proj"}"#.to_vec(),
        status: 409,
        code: "already_exists",
    });
    // The whole-tree code push: nothing of a refused tree is stored.
    for (what, body, status, code) in [
        (
            "tree content not base64",
            r#"{"entries":[{"path":"app.js","kind":"file","content":"not base64!"}]}"#,
            400,
            "invalid_content",
        ),
        (
            "tree path with ..",
            r#"{"entries":[{"path":"../app.js","kind":"file","content":"MQ=="}]}"#,
            400,
            "invalid_code_path",
        ),
        (
            "tree symlink outside",
            r#"{"entries":[{"path":"l","kind":"symlink","content":"Li4vZXRj"}]}"#,
            400,
            "invalid_code_path",
        ),
        (
            "tree entry of an unknown kind",
            r#"{"entries":[{"path":"d","kind":"device","content":""}]}"#,
            400,
            "invalid_json",
        ),
    ] {
        bad.push(Bad {
            what,
            method: Method::PUT,
            path: "/api/v1/projects/proj/code".into(),
            content_type: Some("application/json"),
            body: body.as_bytes().to_vec(),
            status,
            code,
        });
    }
    bad.push(Bad {
        what: "tree not sent as JSON",
        method: Method::PUT,
        path: "/api/v1/projects/proj/code".into(),
        content_type: Some("application/x-tar"),
        body: b"app.js".to_vec(),
        status: 415,
        code: "unsupported_media_type",
    });
    bad.push(Bad {
        what: "audit page size that is not a number",
        method: Method::GET,
        path: "/api/v1/projects/proj/audit?limit=lots".into(),
        content_type: None,
        body: Vec::new(),
        status: 400,
        code: "invalid_query",
    });
    bad
}

both_backends!(malformed_requests_get_their_4xx_and_change_nothing);

async fn malformed_requests_get_their_4xx_and_change_nothing(env: Env) {
    let server = Server::start_on(env).await;
    let token = server.user("owner@example.com").await;
    server
        .env
        .paige
        .create_project("proj", Some("owner@example.com"), &crate::common::actor())
        .await
        .unwrap();
    assert_eq!(
        server
            .put_value(&token, "proj", "API_KEY", "the-original-value")
            .await
            .status(),
        201
    );
    let before = snapshot(&server).await;

    let table = table();
    assert!(table.len() >= 20);
    for bad in table {
        let mut request = server
            .request(bad.method.clone(), &bad.path, Some(&token))
            .body(bad.body.clone());
        if let Some(content_type) = bad.content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let (status, body) = answer(request.send().await.unwrap()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (bad.status, Some(bad.code)),
            "{}: {body}",
            bad.what
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains("a-good-value") && !message.contains("12345678"),
            "{}: {message}",
            bad.what
        );
        assert_eq!(snapshot(&server).await, before, "{} changed the store", bad.what);
    }

    // Requests a client library would normalise, sent raw.
    let raw = [
        (
            "dot-dot key",
            "PUT /api/v1/projects/proj/secrets/.. HTTP/1.1",
            400,
            "invalid_key",
        ),
        (
            "dot key",
            "PUT /api/v1/projects/proj/secrets/. HTTP/1.1",
            400,
            "invalid_key",
        ),
        (
            "encoded dot-dot",
            "PUT /api/v1/projects/proj/secrets/%2E%2E HTTP/1.1",
            400,
            "invalid_key",
        ),
        (
            "slash in slug",
            "PUT /api/v1/projects/proj%2F..%2Fother/secrets/API_KEY HTTP/1.1",
            404,
            "not_found",
        ),
    ];
    let body = r#"{"value":"a-good-value-123"}"#;
    for (what, line, status, code) in raw {
        let request = format!(
            "{line}\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (got, text) = raw_request(server.addr, &request).await;
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(
            (got, json["error"]["code"].as_str()),
            (status, Some(code)),
            "{what}: {text}"
        );
        assert_eq!(snapshot(&server).await, before, "{what} changed the store");
    }

    // A chunked body with no declared length is cut off at the limit as it streams.
    let chunk = "v".repeat(64 * 1024);
    let mut request = format!(
        "PUT /api/v1/projects/proj/secrets/API_KEY HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let opening = format!(r#"{{"value":"{chunk}"#);
    for part in [opening.as_str(), &chunk, &chunk, "\"}"] {
        request.push_str(&format!("{:x}\r\n{part}\r\n", part.len()));
    }
    request.push_str("0\r\n\r\n");
    let (status, text) = raw_request(server.addr, &request).await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(snapshot(&server).await, before);
    server.stop().await;
}
