//! A revocation, a removal and a demotion apply to the very next request
//! on another node: whatever the API reads a token, a membership or a role
//! through (one statement, a cache), a change committed elsewhere must be
//! seen at once. On PostgreSQL the nodes are two `paige serve` processes on
//! one database; on SQLite they serve one data dir. Changes are made
//! through the first node's API, by the local CLI (another process) and by
//! the library in this test's process; every check is on the second node,
//! right after a request that succeeded there (so a cache would be warm).

use reqwest::header::{AUTHORIZATION, COOKIE};
use reqwest::{Client, Method};
use serde_json::Value;

use super::{answer, session_cookie};
use crate::common::{Env, actor, both_backends, secret};
use paige::model::Role;

both_backends!(changes_apply_to_the_next_request_on_another_node, multi_thread);
both_backends!(
    a_listing_shows_every_change_made_elsewhere_on_the_next_request,
    multi_thread
);

struct Caller<'a> {
    client: &'a Client,
    base: &'a str,
    token: &'a str,
}

impl Caller<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.unwrap()).await
    }

    async fn list(&self, slug: &str) -> (u16, Value) {
        self.send(Method::GET, &format!("/api/v1/projects/{slug}/secrets"), None)
            .await
    }

    async fn put(&self, key: &str, value: &str) -> (u16, Value) {
        let body = serde_json::json!({ "value": value });
        self.send(Method::PUT, &format!("/api/v1/projects/proj/secrets/{key}"), Some(body))
            .await
    }
}

fn caller<'a>(client: &'a Client, base: &'a str, token: &'a str) -> Caller<'a> {
    Caller { client, base, token }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// A user with a role in `proj` and a fresh token; the token's id too.
async fn member(env: &Env, email: &str, role: Role) -> (String, i64) {
    env.paige
        .create_user(email, &secret(super::PASSWORD), &actor())
        .await
        .unwrap();
    env.paige.add_member("proj", email, role, &actor()).await.unwrap();
    let (id, token) = env.paige.create_token(email, &actor()).await.unwrap();
    (token.expose().to_owned(), id)
}

async fn changes_apply_to_the_next_request_on_another_node(env: Env) {
    env.project("proj").await;
    env.set("proj", "OPENAI_API_KEY", "sk-next-request-value").await;
    let (_, alice) = env.paige.create_token("alice@example.com", &actor()).await.unwrap();
    let alice = alice.expose().to_owned();
    let (bob, _) = member(&env, "bob@example.com", Role::Admin).await;
    let (carol, _) = member(&env, "carol@example.com", Role::Developer).await;
    let (dave, dave_id) = member(&env, "dave@example.com", Role::Viewer).await;
    let (erin, _) = member(&env, "erin@example.com", Role::Viewer).await;
    let (frank, _) = member(&env, "frank@example.com", Role::Admin).await;

    let other = env.another_node().await;
    let nodes = [env.serve("node-a.log", &[]), other.serve("node-b.log", &[])];
    let client = Client::new();
    let a = |token| caller(&client, &nodes[0].base, token);
    let b = |token| caller(&client, &nodes[1].base, token);
    // The 404 of a project that does not exist, for comparison.
    let (status, missing) = b(&bob).list("no-such-project").await;
    assert_eq!(status, 404, "{missing}");

    // Neither a token nor a session, or a header that is not a bearer
    // token: 401 before anything is read.
    let list_url = format!("{}/api/v1/projects/proj/secrets", nodes[1].base);
    for request in [
        client.get(&list_url),
        client.get(&list_url).header(AUTHORIZATION, "Basic Ym9i"),
    ] {
        let (status, body) = answer(request.send().await.unwrap()).await;
        assert_eq!((status, code(&body)), (401, "unauthenticated"), "{body}");
    }

    // Demotion through node A: admin → viewer loses write on node B, for
    // a token and for a session signed in on node A alike.
    let login = serde_json::json!({ "email": "bob@example.com", "password": super::PASSWORD });
    let signed_in = client
        .post(format!("{}/api/v1/auth/login", nodes[0].base))
        .json(&login)
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&signed_in);
    let session_put = |value: &str| {
        client
            .put(format!("{list_url}/BY_BOB_SESSION"))
            .header(COOKIE, &cookie)
            .json(&serde_json::json!({ "value": value }))
            .send()
    };
    let (status, body) = answer(session_put("session-value-1").await.unwrap()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = b(&bob).put("WRITTEN_BY_BOB", "bob-value-1").await;
    assert_eq!(status, 201, "{body}");
    let change = serde_json::json!({ "email": "bob@example.com", "role": "viewer" });
    let (status, body) = a(&alice)
        .send(Method::POST, "/api/v1/projects/proj/members", Some(change))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = b(&bob).put("WRITTEN_BY_BOB", "bob-value-2").await;
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");
    let (status, body) = answer(session_put("session-value-2").await.unwrap()).await;
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");
    let listed = client.get(&list_url).header(COOKIE, &cookie).send().await.unwrap();
    let (status, by_session) = answer(listed).await;
    assert_eq!(status, 200, "a viewer's session still lists: {by_session}");
    let (status, body) = b(&bob).list("proj").await;
    assert_eq!(status, 200, "a viewer still lists: {body}");
    assert_eq!(
        body, by_session,
        "a token's one statement lists what a session's reads list"
    );
    assert_eq!(body["secrets"][2]["key"], "WRITTEN_BY_BOB", "{body}");
    assert_eq!(
        body["secrets"][2]["version"], 1,
        "the refused write changed nothing: {body}"
    );

    // Removal through node A: the next list on node B is the 404 of a
    // project that does not exist, and so is a write.
    let (status, body) = b(&carol).list("proj").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = a(&alice)
        .send(Method::DELETE, "/api/v1/projects/proj/members/carol@example.com", None)
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = b(&carol).list("proj").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body["error"]["code"], missing["error"]["code"],
        "a removed member learns nothing: {body}"
    );
    assert_eq!(
        body["error"]["message"],
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .replace("no-such-project", "proj")
    );
    let (status, body) = b(&carol).put("WRITTEN_BY_CAROL", "carol-value").await;
    assert_eq!((status, code(&body)), (404, "not_found"), "{body}");

    // Revocation through node A (the token revokes itself).
    let (status, body) = b(&frank).list("proj").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = a(&frank).send(Method::DELETE, "/api/v1/tokens/current", None).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = b(&frank).list("proj").await;
    assert_eq!((status, code(&body)), (401, "unauthenticated"), "{body}");
    let (status, body) = b(&frank).put("WRITTEN_BY_FRANK", "frank-value").await;
    assert_eq!((status, code(&body)), (401, "unauthenticated"), "{body}");

    // Revocation by the local CLI, another process on the same store.
    let (status, body) = b(&dave).list("proj").await;
    assert_eq!(status, 200, "{body}");
    let out = env.cli(&["tokens", "revoke", &dave_id.to_string()], b"");
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let (status, body) = b(&dave).list("proj").await;
    assert_eq!((status, code(&body)), (401, "unauthenticated"), "{body}");

    // Removal by the local CLI.
    let (status, body) = b(&erin).list("proj").await;
    assert_eq!(status, 200, "{body}");
    let out = env.cli(&["members", "rm", "proj", "erin@example.com"], b"");
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let (status, body) = b(&erin).list("proj").await;
    assert_eq!((status, code(&body)), (404, "not_found"), "{body}");

    // Demotion by the library in this process (the CLI invites; it does
    // not re-role): developer → viewer loses write on node B.
    let (status, body) = b(&carol).list("proj").await;
    assert_eq!(status, 404, "still removed: {body}");
    env.paige
        .add_member("proj", "carol@example.com", Role::Developer, &actor())
        .await
        .unwrap();
    let (status, body) = b(&carol).put("WRITTEN_BY_CAROL", "carol-value-1").await;
    assert_eq!(status, 201, "{body}");
    env.paige
        .add_member("proj", "carol@example.com", Role::Viewer, &actor())
        .await
        .unwrap();
    let (status, body) = b(&carol).put("WRITTEN_BY_CAROL", "carol-value-2").await;
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");

    // The owner was never affected, on either node.
    for caller in [a(&alice), b(&alice)] {
        let (status, body) = caller.list("proj").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["secrets"].as_array().unwrap().len(), 4, "{body}");
    }
    for (i, mut node) in nodes.into_iter().enumerate() {
        assert!(node.still_running(), "node {i} stopped");
    }
}

/// Node B reuses the keys it listed last while the project's secrets
/// generation is unchanged: every change made elsewhere (node A's API, the
/// CLI, the library, raw SQL, the project made again under its slug) must
/// show in its very next listing.
async fn a_listing_shows_every_change_made_elsewhere_on_the_next_request(env: Env) {
    env.project("proj").await;
    env.set("proj", "FIRST_KEY", "first-value-0001").await;
    env.set("proj", "SECOND_KEY", "second-value-0001").await;
    let (_, alice) = env.paige.create_token("alice@example.com", &actor()).await.unwrap();
    let alice = alice.expose().to_owned();
    let other = env.another_node().await;
    let nodes = [env.serve("node-a.log", &[]), other.serve("node-b.log", &[])];
    let client = Client::new();
    let a = caller(&client, &nodes[0].base, &alice);
    let b = caller(&client, &nodes[1].base, &alice);
    let keys = |body: &Value| -> Vec<(String, i64, String)> {
        body["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let text = |f: &str| s[f].as_str().unwrap().to_owned();
                (text("key"), s["version"].as_i64().unwrap(), text("updated_by"))
            })
            .collect()
    };
    let (status, body) = b.list("proj").await;
    assert_eq!(status, 200, "{body}");
    let body = listed_again(&b, body).await;
    assert_eq!(keys(&body).len(), 2, "{body}");

    // A new key through node A.
    let (status, body) = a.put("THIRD_KEY", "third-value-0001").await;
    assert_eq!(status, 201, "{body}");
    let (_, body) = b.list("proj").await;
    let body = listed_again(&b, body).await;
    assert_eq!(
        keys(&body).iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
        ["FIRST_KEY", "SECOND_KEY", "THIRD_KEY"]
    );

    // An overwrite by the CLI, another process.
    let out = env.cli(&["secrets", "set", "proj", "FIRST_KEY"], b"first-value-0002");
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let (_, body) = b.list("proj").await;
    let body = listed_again(&b, body).await;
    let first = &keys(&body)[0];
    assert_eq!((first.0.as_str(), first.1), ("FIRST_KEY", 2), "{body}");
    assert!(first.2.starts_with("cli:"), "{body}");

    // A delete by the library in this process.
    env.paige.delete_secret("proj", "SECOND_KEY", &actor()).await.unwrap();
    let (_, body) = b.list("proj").await;
    let body = listed_again(&b, body).await;
    assert_eq!(
        keys(&body).iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
        ["FIRST_KEY", "THIRD_KEY"]
    );

    // A change underneath, by raw SQL (no paige code path).
    let changed = env
        .db()
        .await
        .execute(
            "UPDATE secrets SET updated_by = 'raw-sql' WHERE key = 'THIRD_KEY' \
             AND project_id = (SELECT id FROM projects WHERE slug = 'proj')",
            &[],
        )
        .await;
    assert_eq!(changed, 1);
    let (_, body) = b.list("proj").await;
    let body = listed_again(&b, body).await;
    assert_eq!(keys(&body)[1].2, "raw-sql", "{body}");

    // Another project under the slug (the old one renamed away by raw
    // SQL; paige deletes no project), at the very generation node B holds:
    // the listing is the new project's all the same.
    let db = env.db().await;
    let renamed = db
        .execute("UPDATE projects SET slug = 'proj-before' WHERE slug = 'proj'", &[])
        .await;
    assert_eq!(renamed, 1);
    env.project("proj").await;
    for (key, value) in [
        ("NEW_ONE", "new-value-00001"),
        ("NEW_TWO", "new-value-00002"),
        ("NEW_TRI", "new-value-00003"),
    ] {
        env.set("proj", key, value).await;
    }
    let same = db
        .execute(
            "UPDATE projects SET secrets_generation = \
             (SELECT secrets_generation FROM projects WHERE slug = 'proj-before') WHERE slug = 'proj'",
            &[],
        )
        .await;
    assert_eq!(same, 1);
    let (status, body) = b.list("proj").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        keys(&body).iter().map(|k| (k.0.as_str(), k.1)).collect::<Vec<_>>(),
        [("NEW_ONE", 1), ("NEW_TRI", 1), ("NEW_TWO", 1)]
    );
    for (i, mut node) in nodes.into_iter().enumerate() {
        assert!(node.still_running(), "node {i} stopped");
    }
}

/// `body`, after checking that node B answers the same again, nothing
/// having changed since (the second answer comes from the reused keys).
async fn listed_again(b: &Caller<'_>, body: Value) -> Value {
    let (status, again) = b.list("proj").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, body);
    body
}
