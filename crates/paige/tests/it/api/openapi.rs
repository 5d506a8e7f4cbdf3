//! The OpenAPI document is generated from the routes: every documented
//! operation is served, and every served API route is documented.

use std::collections::BTreeSet;

use reqwest::Method;

use super::{Server, answer};
use crate::common::{Env, both_backends};

both_backends!(the_openapi_document_matches_the_routes);

async fn the_openapi_document_matches_the_routes(env: Env) {
    let server = Server::start_on(env).await;
    let (status, doc) = answer(
        server
            .request(Method::GET, "/api/v1/openapi.json", None)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let expected: BTreeSet<(String, String)> = [
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/logout"),
        ("POST", "/api/v1/tokens"),
        ("DELETE", "/api/v1/tokens/{id}"),
        ("GET", "/api/v1/projects"),
        ("POST", "/api/v1/projects"),
        ("GET", "/api/v1/projects/{slug}/secrets"),
        ("PUT", "/api/v1/projects/{slug}/secrets/{key}"),
        ("DELETE", "/api/v1/projects/{slug}/secrets/{key}"),
        ("GET", "/api/v1/projects/{slug}/secrets/{key}/versions"),
        ("POST", "/api/v1/projects/{slug}/secrets/{key}/rollback"),
        ("GET", "/api/v1/projects/{slug}/members"),
        ("POST", "/api/v1/projects/{slug}/members"),
        ("DELETE", "/api/v1/projects/{slug}/members/{email}"),
        ("GET", "/api/v1/projects/{slug}/invites"),
        ("POST", "/api/v1/projects/{slug}/invites"),
        ("DELETE", "/api/v1/projects/{slug}/invites/{id}"),
        ("GET", "/api/v1/invites"),
        ("POST", "/api/v1/invites/{id}/accept"),
        ("POST", "/api/v1/invites/{id}/decline"),
        ("GET", "/api/v1/projects/{slug}/audit"),
        ("PUT", "/api/v1/projects/{slug}/code/{path}"),
        ("GET", "/api/v1/projects/{slug}/code/findings"),
        ("POST", "/api/v1/projects/{slug}/code/findings/{id}/fix"),
        ("GET", "/api/v1/projects/{slug}/executions"),
        ("POST", "/api/v1/projects/{slug}/executions"),
        ("GET", "/api/v1/projects/{slug}/executions/{id}"),
        ("GET", "/api/v1/me"),
        ("DELETE", "/api/v1/tokens/current"),
        ("POST", "/api/v1/projects/{slug}/secrets"),
        ("GET", "/api/v1/projects/{slug}/executions/{id}/log"),
        ("POST", "/api/v1/projects/{slug}/executions/stream"),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
    .collect();
    let missing: Vec<_> = expected.difference(&documented).collect();
    assert!(missing.is_empty(), "not documented: {missing:?}");

    // Every documented operation is routed: without credentials it is
    // refused by authentication (401) or input checks (4xx) — or, for
    // sign-out, simply done — but never answered "no route".
    for (method, path) in &documented {
        let concrete = path
            .replace("{slug}", "some-project")
            .replace("{key}", "SOME_KEY")
            .replace("{email}", "someone@example.com")
            .replace("{path}", "lib/app.js")
            .replace("{id}", "1");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = answer(server.request(method.clone(), &concrete, None).send().await.unwrap()).await;
        assert!(
            (200..500).contains(&status) && status != 405,
            "{method} {concrete}: {status}"
        );
        assert_ne!(
            body["error"]["message"], "no such route",
            "{method} {concrete} is documented but not routed"
        );
    }
    // The document is complete where schemathesis found it was not:
    // paging parameters are in the query, every authenticated route may
    // answer 401, sign-in may answer 400, and path parameters carry the
    // patterns the API enforces.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured {
                assert!(operation["responses"]["401"].is_object(), "{method} {path}: no 401");
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                let place = parameter["in"].as_str().unwrap();
                match name {
                    "before" | "limit" | "after" | "follow" => {
                        assert_eq!(place, "query", "{method} {path} {name}");
                        assert_ne!(parameter["required"], true, "{method} {path} {name}");
                    }
                    "slug" | "key" => assert!(parameter["schema"]["pattern"].is_string(), "{method} {path} {name}"),
                    _ => {}
                }
            }
        }
    }
    assert!(doc["paths"]["/api/v1/auth/login"]["post"]["responses"]["400"].is_object());
    assert!(
        doc["paths"]["/api/v1/projects/{slug}/audit"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .len()
            == 3
    );

    // And an undocumented path is not routed.
    let (status, body) = answer(
        server
            .request(Method::GET, "/api/v1/secrets", None)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (404, Some("no such route"))
    );

    let (status, health) = answer(server.request(Method::GET, "/healthz", None).send().await.unwrap()).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    server.stop().await;
}
