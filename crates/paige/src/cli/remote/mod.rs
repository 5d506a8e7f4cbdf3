//! The remote back end: an HTTP client for the API of a `paige serve`,
//! with a bearer token, bounded connect time, and the API's error codes
//! mapped to the CLI's classes. `api.rs` has one method per command,
//! `login.rs` the login and logout commands.

mod api;
pub mod login;

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::failure::{Class, CliError, CliResult};

/// How long to wait for a TCP (and TLS) connection before saying the
/// server is unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an ordinary (not streamed) request may take in all.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A server and the token to call it with.
pub struct Client {
    /// What to call it in messages: its name in the config file, or its URL.
    pub name: String,
    base: String,
    token: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// Checks a server URL: http or https, a host, nothing after the path.
pub fn normalize_url(url: &str) -> CliResult<String> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|_| {
        CliError::usage(format!(
            "invalid server URL {url:?}: expected http(s)://host[:port], e.g. https://paige.example.com"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(CliError::usage(format!(
            "invalid server URL {url:?}: expected http(s)://host[:port]"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(CliError::usage(format!(
            "invalid server URL {url:?}: no user, query or fragment"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// Percent-encodes one path segment (slugs and keys need none; emails and
/// code paths may).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'@') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Client {
    pub fn new(name: String, url: &str, token: SecretString) -> CliResult<Self> {
        let base = normalize_url(url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("paige-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::new(Class::Failure, format!("cannot start the HTTP client: {e}")))?;
        Ok(Self {
            name,
            base,
            token,
            http,
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// A request to `path` (below the server's URL) with the token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token.expose_secret())
    }

    /// Sends an ordinary request (bounded in time); a non-2xx answer
    /// becomes the error its code says.
    pub async fn send(&self, request: RequestBuilder) -> CliResult<Response> {
        self.send_streaming(request.timeout(REQUEST_TIMEOUT)).await
    }

    /// Sends a request whose answer may stay open (a followed log): only
    /// the connection is bounded in time.
    pub async fn send_streaming(&self, request: RequestBuilder) -> CliResult<Response> {
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.api_error(response).await)
    }

    pub async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> CliResult<T> {
        let response = self.send(request).await?;
        self.decode(response).await
    }

    pub async fn decode<T: DeserializeOwned>(&self, response: Response) -> CliResult<T> {
        let bytes = response.bytes().await.map_err(|e| self.transport(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::new(
                Class::Failure,
                format!(
                    "the server at {} gave an answer this paige does not understand: {e}",
                    self.base
                ),
            )
        })
    }

    /// The error of a non-2xx answer: the API's message, with a hint for
    /// the classes a user can act on.
    async fn api_error(&self, response: Response) -> CliError {
        let status = response.status().as_u16();
        let class = Class::of_status(status);
        let body = response.bytes().await.unwrap_or_default();
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(body) => (body.error.code, body.error.message),
            Err(_) => (String::new(), format!("the server at {} answered {status}", self.base)),
        };
        let message = match class {
            Class::Auth => format!(
                "{message} (server {}); log in again with `paige login --server {}`",
                self.name, self.base
            ),
            Class::Unavailable if code == "rate_limited" => message,
            Class::Unavailable => format!("the server at {} is unavailable: {message}", self.base),
            _ => message,
        };
        CliError::new(class, message)
    }

    /// A request that got no answer: unreachable, timed out, cut off.
    fn transport(&self, e: &reqwest::Error) -> CliError {
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(inner) = source {
            cause = inner.to_string();
            source = inner.source();
        }
        let what = if e.is_timeout() {
            "did not answer in time"
        } else if e.is_connect() {
            "cannot be reached"
        } else {
            "failed to answer"
        };
        CliError::new(
            Class::Unavailable,
            format!(
                "the server at {} {what} ({cause}); is `paige serve` running there?",
                self.base
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_segments_encoded() {
        assert_eq!(
            normalize_url("http://127.0.0.1:8080/").ok().as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            normalize_url("https://p.example/base/").ok().as_deref(),
            Some("https://p.example/base")
        );
        assert!(normalize_url("ftp://p.example").is_err());
        assert!(normalize_url("p.example").is_err());
        assert!(normalize_url("https://u:pw@p.example").is_err());
        assert_eq!(segment("a@b.example"), "a@b.example");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
