//! Invitations through the API (issue 16, item 8): the same answer for
//! emails with and without an account, accept, decline, cancel, who may
//! do what, and the audit trail.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Server, answer};
use crate::common::{Env, actor, both_backends};

async fn call(server: &Server, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = server.request(method, path, Some(token));
    if let Some(body) = body {
        request = request.json(&body);
    }
    answer(request.send().await.unwrap()).await
}

async fn invite(server: &Server, token: &str, email: &str, role: &str) -> (u16, Value) {
    call(
        server,
        Method::POST,
        "/api/v1/projects/proj/invites",
        token,
        Some(json!({"email": email, "role": role})),
    )
    .await
}

/// The answer with the parts that must differ (email, id, times) taken out.
fn shape(mut body: Value) -> Value {
    for field in ["email", "id", "created_at", "expires_at"] {
        body[field] = Value::Null;
    }
    body
}

both_backends!(an_invitation_tells_nobody_which_emails_have_accounts);

async fn an_invitation_tells_nobody_which_emails_have_accounts(env: Env) {
    let server = Server::start_on(env).await;
    let owner = server.user("owner@example.com").await;
    server
        .env
        .paige
        .create_project("proj", Some("owner@example.com"), &actor())
        .await
        .unwrap();
    server.user("known@example.com").await;
    let (known_status, known) = invite(&server, &owner, "Known@Example.com", "developer").await;
    let (unknown_status, unknown) = invite(&server, &owner, "unknown@example.com", "developer").await;
    assert_eq!((known_status, unknown_status), (201, 201), "{known} {unknown}");
    assert_eq!(shape(known.clone()), shape(unknown));
    assert_eq!(known["email"], "known@example.com");
    assert_eq!(known["state"], "pending");
    assert_eq!(known["inviter"], "owner@example.com");
    assert!(known.get("token").is_none() && !known.to_string().contains("paige_"));
    // Re-roling through the members route says "not a member" alike too.
    for email in ["known@example.com", "unknown@example.com"] {
        let (status, body) = call(
            &server,
            Method::POST,
            "/api/v1/projects/proj/members",
            &owner,
            Some(json!({"email": email, "role": "viewer"})),
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(
            body["error"]["message"],
            format!("member {email} of project proj not found")
        );
        let (status, body) = call(
            &server,
            Method::DELETE,
            &format!("/api/v1/projects/proj/members/{email}"),
            &owner,
            None,
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(
            body["error"]["message"],
            format!("member {email} of project proj not found")
        );
    }
    // Nobody joined without consent.
    let members = server.env.paige.list_members("proj").await.unwrap();
    assert_eq!(members.len(), 1);
    server.stop().await;
}

both_backends!(the_invitee_accepts_or_declines_and_owners_cancel);

async fn the_invitee_accepts_or_declines_and_owners_cancel(env: Env) {
    let server = Server::start_on(env).await;
    let owner = server.user("owner@example.com").await;
    server
        .env
        .paige
        .create_project("proj", Some("owner@example.com"), &actor())
        .await
        .unwrap();
    let dev = server.user("dev@example.com").await;
    let other = server.user("other@example.com").await;
    let (_, made) = invite(&server, &owner, "dev@example.com", "admin").await;
    let id = made["id"].as_i64().unwrap();
    let (status, _) = invite(&server, &owner, "dev@example.com", "viewer").await;
    assert_eq!(status, 409, "one pending invitation per email");

    let (_, listed) = call(&server, Method::GET, "/api/v1/projects/proj/invites", &owner, None).await;
    assert_eq!(listed["invites"].as_array().unwrap().len(), 1);
    let (_, mine) = call(&server, Method::GET, "/api/v1/invites", &dev, None).await;
    assert_eq!(mine["invites"][0]["project"], "proj");
    assert_eq!(mine["invites"][0]["role"], "admin");
    let (_, theirs) = call(&server, Method::GET, "/api/v1/invites", &other, None).await;
    assert_eq!(theirs["invites"].as_array().unwrap().len(), 0);
    // Another user cannot answer it; before accepting, dev is not a member.
    let accept = format!("/api/v1/invites/{id}/accept");
    assert_eq!(call(&server, Method::POST, &accept, &other, None).await.0, 404);
    assert_eq!(
        server
            .status(Method::GET, "/api/v1/projects/proj/secrets", Some(&dev))
            .await,
        404
    );
    let (status, accepted) = call(&server, Method::POST, &accept, &dev, None).await;
    assert_eq!((status, accepted["state"].as_str()), (200, Some("accepted")));
    assert_eq!(
        server
            .status(Method::GET, "/api/v1/projects/proj/members", Some(&dev))
            .await,
        200
    );
    assert_eq!(
        call(&server, Method::POST, &accept, &dev, None).await.0,
        404,
        "used once"
    );
    // An existing member cannot be invited (nor re-roled by an invitation).
    let (status, body) = invite(&server, &owner, "dev@example.com", "viewer").await;
    assert_eq!(status, 409);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already a member as admin")
    );

    // An admin may invite, but not an owner.
    assert_eq!(invite(&server, &dev, "boss@example.com", "owner").await.0, 403);
    let (status, declined_invite) = invite(&server, &dev, "other@example.com", "viewer").await;
    assert_eq!(status, 201);
    let declined = declined_invite["id"].as_i64().unwrap();
    let (status, body) = call(
        &server,
        Method::POST,
        &format!("/api/v1/invites/{declined}/decline"),
        &other,
        None,
    )
    .await;
    assert_eq!((status, body["state"].as_str()), (200, Some("declined")));
    assert_eq!(
        server
            .status(Method::GET, "/api/v1/projects/proj/secrets", Some(&other))
            .await,
        404
    );

    // Cancel: the invitee can no longer accept.
    let (_, pending) = invite(&server, &owner, "late@example.com", "viewer").await;
    let late = server.user("late@example.com").await;
    let cancel = format!("/api/v1/projects/proj/invites/{}", pending["id"]);
    assert_eq!(call(&server, Method::DELETE, &cancel, &dev, None).await.0, 204);
    assert_eq!(call(&server, Method::DELETE, &cancel, &owner, None).await.0, 404);
    let accept_late = format!("/api/v1/invites/{}/accept", pending["id"]);
    assert_eq!(call(&server, Method::POST, &accept_late, &late, None).await.0, 404);
    let (_, listed) = call(&server, Method::GET, "/api/v1/projects/proj/invites", &owner, None).await;
    assert_eq!(listed["invites"].as_array().unwrap().len(), 0);

    let (_, audit) = call(&server, Method::GET, "/api/v1/projects/proj/audit", &owner, None).await;
    let trail: Vec<(String, String, String)> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("member."))
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
            )
        })
        .rev()
        .collect();
    let expected = [
        ("member.invite", "owner@example.com", "dev@example.com as admin"),
        ("member.invite_accept", "dev@example.com", "dev@example.com as admin"),
        ("member.invite", "dev@example.com", "other@example.com as viewer"),
        (
            "member.invite_decline",
            "other@example.com",
            "other@example.com as viewer",
        ),
        ("member.invite", "owner@example.com", "late@example.com as viewer"),
        ("member.invite_cancel", "dev@example.com", "late@example.com as viewer"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(trail, expected);
    server.stop().await;
}

both_backends!(an_expired_invitation_cannot_be_accepted);

async fn an_expired_invitation_cannot_be_accepted(env: Env) {
    let server = Server::start_on(env).await;
    let owner = server.user("owner@example.com").await;
    server
        .env
        .paige
        .create_project("proj", Some("owner@example.com"), &actor())
        .await
        .unwrap();
    let dev = server.user("dev@example.com").await;
    let (_, made) = invite(&server, &owner, "dev@example.com", "developer").await;
    server
        .env
        .db()
        .await
        .execute("UPDATE invitations SET expires_at = 1", &[])
        .await;
    let (_, mine) = call(&server, Method::GET, "/api/v1/invites", &dev, None).await;
    assert_eq!(mine["invites"].as_array().unwrap().len(), 0);
    let accept = format!("/api/v1/invites/{}/accept", made["id"]);
    assert_eq!(call(&server, Method::POST, &accept, &dev, None).await.0, 404);
    // An expired invitation does not block a new one.
    assert_eq!(invite(&server, &owner, "dev@example.com", "developer").await.0, 201);
    server.stop().await;
}
