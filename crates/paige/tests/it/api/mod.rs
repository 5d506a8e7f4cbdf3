//! The HTTP API, served for real on a loopback port and called over TCP.

mod auth;
mod concurrency;
mod executions;
mod input;
mod invites;
mod leaks;
mod matrix;
mod next_request;
mod openapi;
mod shared_code;

use std::time::Duration;

use paige::auth::ratelimit::LimitPolicy;
use paige::http::ServeOptions;
use reqwest::{Method, RequestBuilder, Response};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::common::{Env, actor, secret};

pub const PASSWORD: &str = "correct horse battery";

/// A real server on 127.0.0.1:<free port>, over the library's data dir.
pub struct Server {
    pub env: Env,
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_on(Env::sqlite().await).await
    }

    /// Like [`Server::start`], over a given environment (either backend).
    pub async fn start_on(env: Env) -> Self {
        Self::serve(
            env,
            ServeOptions {
                // A short drain so the rate-limit test can wait it out.
                login_limits: LimitPolicy {
                    burst: 5,
                    drain_every: Duration::from_secs(2),
                },
                ..ServeOptions::default()
            },
        )
        .await
    }

    pub async fn start_with(env: Env, options: ServeOptions) -> Self {
        Self::serve(env, options).await
    }

    async fn serve(env: Env, options: ServeOptions) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let paige = env.paige.clone();
        let task = tokio::spawn(paige::http::serve(listener, paige, options, async {
            let _ = rx.await;
        }));
        Self {
            env,
            base: format!("http://{addr}"),
            addr,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Creates a user (if new) and returns a fresh API token for them.
    pub async fn user(&self, email: &str) -> String {
        if self.env.paige.user(email).await.is_err() {
            self.env
                .paige
                .create_user(email, &secret(PASSWORD), &actor())
                .await
                .unwrap();
        }
        let (_, token) = self.env.paige.create_token(email, &actor()).await.unwrap();
        token.expose().to_owned()
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// The status of a request with no body.
    pub async fn status(&self, method: Method, path: &str, token: Option<&str>) -> u16 {
        self.request(method, path, token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn put_value(&self, token: &str, slug: &str, key: &str, value: &str) -> Response {
        self.request(
            Method::PUT,
            &format!("/api/v1/projects/{slug}/secrets/{key}"),
            Some(token),
        )
        .json(&serde_json::json!({ "value": value }))
        .send()
        .await
        .unwrap()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// Status and parsed JSON body (Null for an empty body).
pub async fn answer(response: Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

/// The `name=value` of the session cookie a sign-in set.
pub fn session_cookie(response: &Response) -> String {
    let set = response.headers()[reqwest::header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// Sends raw bytes as one HTTP/1.1 request and returns the status and body,
/// for requests a client library would normalise (`..`, bad encodings).
pub async fn raw_request(addr: std::net::SocketAddr, head_and_body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it has read everything (413).
    let _ = stream.write_all(head_and_body.as_bytes()).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
