//! The authorization matrix: every route × {owner, admin, developer,
//! viewer, non-member, no credentials, revoked token} gets exactly the
//! status the role table of SPEC §3 gives, and a non-member cannot tell a
//! project from one that does not exist.

use paige::model::Role;
use reqwest::Method;

use super::{Server, answer};
use crate::common::{Env, actor, both_backends};

const CALLERS: [&str; 7] = ["owner", "admin", "developer", "viewer", "non-member", "none", "revoked"];

struct Callers {
    tokens: Vec<(&'static str, Option<String>)>,
}

impl Callers {
    async fn new(server: &Server) -> Self {
        let owner = server.user("owner@example.com").await;
        let created = server
            .request(Method::POST, "/api/v1/projects", Some(&owner))
            .json(&serde_json::json!({"slug": "proj"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let mut tokens = vec![("owner", Some(owner))];
        for (name, role) in [
            ("admin", Role::Admin),
            ("developer", Role::Developer),
            ("viewer", Role::Viewer),
        ] {
            let email = format!("{name}@example.com");
            let token = server.user(&email).await;
            server
                .env
                .paige
                .add_member("proj", &email, role, &actor())
                .await
                .unwrap();
            tokens.push((name, Some(token)));
        }
        tokens.push(("non-member", Some(server.user("stranger@example.com").await)));
        tokens.push(("none", None));
        // A token of the owner, revoked: it must count for nothing.
        let revoked = server.user("owner@example.com").await;
        let user = server.env.paige.user_for_token(&revoked).await.unwrap().unwrap();
        let id: i64 = server
            .env
            .db()
            .await
            .scalar("SELECT MAX(id) FROM api_tokens WHERE user_id = ?", &[user.id.into()])
            .await;
        server.env.paige.revoke_token(id, None, &actor()).await.unwrap();
        tokens.push(("revoked", Some(revoked)));
        Self { tokens }
    }

    fn token(&self, caller: &str) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(n, _)| *n == caller)
            .and_then(|(_, t)| t.as_deref())
    }
}

/// One route and the status each caller must get, in `CALLERS` order.
struct Case {
    method: Method,
    /// `{c}` is replaced by the caller's name, so each caller touches its own key or user.
    path: &'static str,
    body: Option<serde_json::Value>,
    expect: [u16; 7],
}

fn cases() -> Vec<Case> {
    use serde_json::json;
    let value = json!({"value": "matrix-value-1234"});
    vec![
        Case {
            method: Method::GET,
            path: "/api/v1/projects",
            body: None,
            expect: [200, 200, 200, 200, 200, 401, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/projects",
            body: Some(json!({"slug": "new-{c}"})),
            expect: [201, 201, 201, 201, 201, 401, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/tokens",
            body: None,
            expect: [201, 201, 201, 201, 201, 401, 401],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/projects/proj/secrets",
            body: None,
            expect: [200, 200, 200, 200, 404, 401, 401],
        },
        Case {
            method: Method::PUT,
            path: "/api/v1/projects/proj/secrets/NEW_{C}",
            body: Some(value.clone()),
            expect: [201, 201, 201, 403, 404, 401, 401],
        },
        Case {
            method: Method::PUT,
            path: "/api/v1/projects/proj/secrets/EXISTING_{C}",
            body: Some(value),
            expect: [200, 200, 200, 403, 404, 401, 401],
        },
        Case {
            method: Method::DELETE,
            path: "/api/v1/projects/proj/secrets/DOOMED_{C}",
            body: None,
            expect: [204, 204, 204, 403, 404, 401, 401],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/projects/proj/members",
            body: None,
            expect: [200, 200, 403, 403, 404, 401, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/projects/proj/members",
            body: Some(json!({"email": "changer-{c}@example.com", "role": "developer"})),
            expect: [200, 200, 403, 403, 404, 401, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/projects/proj/invites",
            body: Some(json!({"email": "joiner-{c}@example.com", "role": "viewer"})),
            expect: [201, 201, 403, 403, 404, 401, 401],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/projects/proj/invites",
            body: None,
            expect: [200, 200, 403, 403, 404, 401, 401],
        },
        Case {
            method: Method::DELETE,
            path: "/api/v1/projects/proj/members/leaver-{c}@example.com",
            body: None,
            expect: [204, 204, 403, 403, 404, 401, 401],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/projects/proj/audit",
            body: None,
            expect: [200, 200, 403, 403, 404, 401, 401],
        },
    ]
}

fn fill(template: &str, caller: &str) -> String {
    let upper = caller.to_ascii_uppercase().replace('-', "_");
    template.replace("{c}", caller).replace("{C}", &upper)
}

both_backends!(every_route_and_caller_gets_the_status_of_the_role_table);

async fn every_route_and_caller_gets_the_status_of_the_role_table(env: Env) {
    let server = Server::start_on(env).await;
    let callers = Callers::new(&server).await;
    // Fixtures each caller's case acts on.
    let owner = callers.token("owner").unwrap().to_owned();
    for caller in CALLERS {
        let upper = fill("{C}", caller);
        for key in [format!("EXISTING_{upper}"), format!("DOOMED_{upper}")] {
            assert!(
                server
                    .put_value(&owner, "proj", &key, "fixture-value-1")
                    .await
                    .status()
                    .is_success()
            );
        }
        for email in [
            fill("joiner-{c}@example.com", caller),
            fill("leaver-{c}@example.com", caller),
            fill("changer-{c}@example.com", caller),
        ] {
            server.user(&email).await;
        }
        for member in ["leaver-{c}@example.com", "changer-{c}@example.com"] {
            server
                .env
                .paige
                .add_member("proj", &fill(member, caller), Role::Viewer, &actor())
                .await
                .unwrap();
        }
    }

    // Execution 1 exists (a bot with no code fails, but is recorded).
    let first = server
        .request(Method::POST, "/api/v1/projects/proj/executions", Some(&owner))
        .json(&serde_json::json!({"event": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer(first).await.1["id"], 1);

    let mut failures = Vec::new();
    for case in cases() {
        for (i, caller) in CALLERS.iter().enumerate() {
            let path = fill(case.path, caller);
            let mut request = server.request(case.method.clone(), &path, callers.token(caller));
            if let Some(body) = &case.body {
                request =
                    request.json(&serde_json::from_str::<serde_json::Value>(&fill(&body.to_string(), caller)).unwrap());
            }
            let (status, body) = answer(request.send().await.unwrap()).await;
            if status != case.expect[i] {
                failures.push(format!(
                    "{} {path} as {caller}: {status}, expected {} ({body})",
                    case.method, case.expect[i]
                ));
            }
            if status >= 400 {
                assert!(
                    body["error"]["code"].is_string() && body["error"]["message"].is_string(),
                    "{body}"
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The non-member's view of projects does not include the project.
    let (_, listed) = answer(
        server
            .request(Method::GET, "/api/v1/projects", callers.token("non-member"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let slugs: Vec<&str> = listed["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["new-non-member"]);
    server.stop().await;
}

both_backends!(a_non_member_gets_the_same_answer_for_a_real_and_a_missing_project);

async fn a_non_member_gets_the_same_answer_for_a_real_and_a_missing_project(env: Env) {
    let server = Server::start_on(env).await;
    let callers = Callers::new(&server).await;
    let stranger = callers.token("non-member");
    let owner = callers.token("owner").unwrap();
    assert!(
        server
            .put_value(owner, "proj", "API_KEY", "exists-value-1")
            .await
            .status()
            .is_success()
    );
    let routes = [
        (Method::GET, "/api/v1/projects/{p}/secrets", None),
        (
            Method::PUT,
            "/api/v1/projects/{p}/secrets/API_KEY",
            Some(serde_json::json!({"value": "probe-value-1"})),
        ),
        (Method::DELETE, "/api/v1/projects/{p}/secrets/API_KEY", None),
        (Method::GET, "/api/v1/projects/{p}/members", None),
        (
            Method::POST,
            "/api/v1/projects/{p}/members",
            Some(serde_json::json!({"email": "owner@example.com", "role": "viewer"})),
        ),
        (
            Method::POST,
            "/api/v1/projects/{p}/invites",
            Some(serde_json::json!({"email": "probe@example.com", "role": "viewer"})),
        ),
        (Method::GET, "/api/v1/projects/{p}/invites", None),
        (Method::DELETE, "/api/v1/projects/{p}/invites/1", None),
        (Method::GET, "/api/v1/projects/{p}/audit", None),
        (Method::GET, "/api/v1/projects/{p}/executions", None),
        (Method::GET, "/api/v1/projects/{p}/executions/1", None),
        (
            Method::POST,
            "/api/v1/projects/{p}/executions",
            Some(serde_json::json!({"event": {}})),
        ),
    ];
    for (method, template, body) in routes {
        let mut answers = Vec::new();
        for project in ["proj", "no-such-proj"] {
            let path = template.replace("{p}", project);
            let mut request = server.request(method.clone(), &path, stranger);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let (status, body) = answer(request.send().await.unwrap()).await;
            let message = body["error"]["message"]
                .as_str()
                .unwrap()
                .replace(&format!("project {project} "), "project <slug> ");
            answers.push((status, body["error"]["code"].clone(), message));
        }
        assert_eq!(answers[0], answers[1], "{method} {template}");
        assert_eq!(answers[0].0, 404);
    }
    // And nothing the stranger tried changed the project.
    let listed = server.env.paige.list_secrets("proj").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].version, 1);
    server.stop().await;
}
