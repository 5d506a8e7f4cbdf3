//! Invitations through the dashboard over HTTP (issue 16, item 8): the
//! same answer for emails with and without an account, declined, cancelled
//! and accepted, by whom, and the audit trail.

use super::{Browser, borrowed, csrf_of, first_invite_id, invite_and_accept, signed_in};
use crate::common::{Env, both_backends};

both_backends!(invitations_are_answered_declined_and_cancelled);

async fn invitations_are_answered_declined_and_cancelled(env: Env) {
    let (server, mut alice) = signed_in(env).await;
    let members = "/projects/bot/members";
    let csrf = alice.csrf(members).await;
    let invite = |email: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("intent", "add".to_owned()),
            ("email", email.to_owned()),
            ("role", "developer".to_owned()),
        ]
    };
    // The same answer whether or not the email has an account.
    server.user("bob@example.com").await;
    let known = alice.post(members, &borrowed(&invite("bob@example.com"))).await;
    let unknown = alice.post(members, &borrowed(&invite("nobody@example.com"))).await;
    assert_eq!((known.status, unknown.status), (303, 303));
    assert_eq!(
        known.location.unwrap().replace("bob%40example.com", "X"),
        unknown.location.unwrap().replace("nobody%40example.com", "X")
    );
    let duplicate = alice.post(members, &borrowed(&invite("bob@example.com"))).await;
    assert_eq!(duplicate.status, 409);
    assert!(
        duplicate
            .body
            .contains("bob@example.com is already invited as developer")
    );

    // Bob declines; the invitation is gone for him and from the Members page.
    let mut bob = Browser::new(&server);
    bob.sign_in("bob@example.com").await;
    let projects = bob.get("/projects").await;
    assert!(
        projects.body.contains("Accept the invitation to bot"),
        "{}",
        projects.body
    );
    assert!(projects.body.contains("from alice@example.com"));
    let id = first_invite_id(&projects.body).unwrap();
    // Carol may not answer bob's invitation.
    server.user("carol@example.com").await;
    let mut carol = Browser::new(&server);
    carol.sign_in("carol@example.com").await;
    let carols = carol.csrf("/projects").await;
    let stolen = carol
        .post(&format!("/invites/{id}"), &[("csrf", &carols), ("answer", "accept")])
        .await;
    assert_eq!(stolen.status, 404);
    assert_eq!(carol.get("/projects/bot/settings/secrets").await.status, 404);
    let declined = bob
        .post(
            &format!("/invites/{id}"),
            &[("csrf", &csrf_of(&projects.body)), ("answer", "decline")],
        )
        .await;
    assert_eq!(declined.location.as_deref(), Some("/projects?declined=bot"));
    assert!(
        bob.get("/projects?declined=bot")
            .await
            .body
            .contains("You declined the invitation to bot.")
    );
    assert_eq!(bob.get("/projects/bot/settings/secrets").await.status, 404);
    let again = bob
        .post(
            &format!("/invites/{id}"),
            &[("csrf", &csrf_of(&projects.body)), ("answer", "accept")],
        )
        .await;
    assert_eq!(again.status, 404);
    assert!(again.body.contains("no longer open"));

    // Alice cancels nobody's; the page says so and lists it no more.
    let page = alice.get(members).await;
    assert!(!page.body.contains("Cancel the invitation to bob@example.com"));
    let marker = "action=\"/projects/bot/invites/";
    let start = page.body.find(marker).unwrap() + marker.len();
    let nobody: i64 = page.body[start..].split('/').next().unwrap().parse().unwrap();
    let cancelled = alice
        .post(&format!("/projects/bot/invites/{nobody}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(cancelled.status, 303);
    let after = alice.get(&cancelled.location.unwrap()).await;
    assert!(after.body.contains("Cancelled the invitation to nobody@example.com."));
    assert!(!after.body.contains("Pending invitations"));
    // A developer may not cancel (nor see) invitations.
    let mut dave = invite_and_accept(&server, &mut alice, "bot", "dave@example.com", "developer").await;
    let daves = dave.csrf("/projects").await;
    let refused = dave
        .post(&format!("/projects/bot/invites/{nobody}/cancel"), &[("csrf", &daves)])
        .await;
    assert_eq!(refused.status, 403);

    let actions: Vec<String> = server
        .env
        .db()
        .await
        .column(
            "SELECT action FROM audit_events WHERE action LIKE 'member.%' ORDER BY id",
            &[],
        )
        .await;
    assert_eq!(
        actions,
        [
            "member.invite",
            "member.invite",
            "member.invite_decline",
            "member.invite_cancel",
            "member.invite",
            "member.invite_accept"
        ]
    );
    server.stop().await;
}
