//! The dashboard, served for real on a loopback port: its forms over plain
//! HTTP (as a browser without JavaScript sends them) and, in `browser.rs`,
//! in a real headless Chromium.

mod accounts_browser;
mod attacks;
mod browser;
mod devices;
mod first_run;
mod forms;
mod invitations;
mod pages;
mod phone;
mod secrets_chromium;
mod secrets_page;
mod shown;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::api::{PASSWORD, Server};
use crate::common::{Env, actor};

/// A bot that prints its `API_TOKEN` on stdout and stderr and the event it got.
pub const LEAKY_BOT: &str = "'use strict';\n\
let input = '';\n\
process.stdin.on('data', (c) => { input += c; });\n\
process.stdin.on('end', () => {\n\
  console.log(`token is ${process.env.API_TOKEN}`);\n\
  console.error(`stderr token ${process.env.API_TOKEN}`);\n\
  console.log(`event ${input.trim()}`);\n\
});\n";

/// One browser's cookies, kept by hand: a client that follows no redirects,
/// so each answer can be looked at.
pub struct Browser {
    pub base: String,
    client: reqwest::Client,
    pub session: Option<String>,
    login: Option<String>,
    /// The device cookie (`paige_device`) a sign-in gave this browser.
    pub device: Option<String>,
}

/// Status, `Location` and body of one answer.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

fn cookie_value(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_of(body: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).unwrap_or_else(|| panic!("no CSRF field in:\n{body}")) + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

impl Browser {
    pub fn new(server: &Server) -> Self {
        Self {
            base: server.base.clone(),
            client: reqwest::Client::builder().redirect(Policy::none()).build().unwrap(),
            session: None,
            login: None,
            device: None,
        }
    }

    fn cookies(&self) -> String {
        let mut cookies = Vec::new();
        if let Some(s) = &self.session {
            cookies.push(format!("paige_session={s}"));
        }
        if let Some(l) = &self.login {
            cookies.push(format!("paige_login={l}"));
        }
        if let Some(d) = &self.device {
            cookies.push(format!("paige_device={d}"));
        }
        cookies.join("; ")
    }

    async fn answer(&mut self, response: reqwest::Response) -> Answer {
        let headers = response.headers().clone();
        if let Some(session) = cookie_value(&headers, "paige_session") {
            self.session = Some(session).filter(|s| !s.is_empty());
        }
        if let Some(login) = cookie_value(&headers, "paige_login") {
            self.login = Some(login).filter(|s| !s.is_empty());
        }
        if let Some(device) = cookie_value(&headers, "paige_device") {
            self.device = Some(device).filter(|s| !s.is_empty());
        }
        Answer {
            status: response.status().as_u16(),
            location: headers.get(LOCATION).map(|v| v.to_str().unwrap().to_owned()),
            headers,
            body: response.text().await.unwrap(),
        }
    }

    /// Another client with the same cookies (two tabs of one browser).
    pub fn clone_of(other: &Self) -> Self {
        Self {
            base: other.base.clone(),
            client: other.client.clone(),
            session: other.session.clone(),
            login: other.login.clone(),
            device: other.device.clone(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookies())
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookies())
            .form(form)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    /// Posts `body` as a urlencoded form exactly as given (bytes a browser
    /// could send that `post` cannot express, such as `%FF`).
    pub async fn post_raw(&mut self, path: &str, body: &str) -> Answer {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookies())
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    /// Signs in through the form.
    pub async fn sign_in(&mut self, email: &str) -> Answer {
        let page = self.get("/login").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = csrf_of(&page.body);
        let answer = self
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("email", email),
                    ("password", PASSWORD),
                    ("next", "/projects"),
                ],
            )
            .await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        assert!(self.session.is_some());
        answer
    }

    /// The CSRF token shown on `path`.
    pub async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        csrf_of(&page.body)
    }
}

/// A server with alice (owner of `bot`), and a browser signed in as alice.
pub async fn signed_in(env: Env) -> (Server, Browser) {
    let server = Server::start_on(env).await;
    server.user("alice@example.com").await;
    server
        .env
        .paige
        .create_project("bot", Some("alice@example.com"), &actor())
        .await
        .unwrap();
    let mut browser = Browser::new(&server);
    browser.sign_in("alice@example.com").await;
    (server, browser)
}

/// The keys of a project, from the store.
pub async fn keys(server: &Server, slug: &str) -> Vec<(String, i64)> {
    server
        .env
        .paige
        .list_secrets(slug)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.key, s.version))
        .collect()
}

/// The id of the first invitation a Projects page offers (its form's action).
pub fn first_invite_id(body: &str) -> Option<i64> {
    let marker = "action=\"/invites/";
    let start = body.find(marker)? + marker.len();
    body[start..].split('"').next()?.parse().ok()
}

/// Invites `email` to `slug` as `role` through the Members page of
/// `inviter`, then accepts as `email` (a user made here if new) in a browser
/// of their own, which is returned signed in: the dashboard's way in.
pub async fn invite_and_accept(server: &Server, inviter: &mut Browser, slug: &str, email: &str, role: &str) -> Browser {
    let members = format!("/projects/{slug}/members");
    let csrf = inviter.csrf(&members).await;
    let invited = inviter
        .post(
            &members,
            &[("csrf", &csrf), ("intent", "add"), ("email", email), ("role", role)],
        )
        .await;
    assert_eq!(invited.status, 303, "{}", invited.body);
    server.user(email).await;
    let mut invitee = Browser::new(server);
    invitee.sign_in(email).await;
    let projects = invitee.get("/projects").await;
    let id = first_invite_id(&projects.body).unwrap_or_else(|| panic!("no invitation in:\n{}", projects.body));
    let csrf = csrf_of(&projects.body);
    let accepted = invitee
        .post(&format!("/invites/{id}"), &[("csrf", &csrf), ("answer", "accept")])
        .await;
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    assert_eq!(
        accepted.location.as_deref(),
        Some(format!("/projects/{slug}/settings/secrets").as_str())
    );
    invitee
}

/// A form of owned values as `post` takes it.
pub fn borrowed<'f>(form: &'f [(&'static str, String)]) -> Vec<(&'static str, &'f str)> {
    form.iter().map(|(n, v)| (*n, v.as_str())).collect()
}
