//! One HTTP exchange with a warm bot over its Unix socket: the request as
//! the caller sent it (raw body untouched, so signatures verify; headers
//! minus the hop-by-hop ones, plus `X-Forwarded-For`/`-Proto` and
//! `X-Paige-Execution-Id`), the answer with its headers minus the
//! hop-by-hop ones. A fresh connection each time: Node closes idle
//! keep-alive connections after 5 s, and a Unix connect costs microseconds.

use std::net::IpAddr;
use std::path::Path;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// The largest answer paige takes from a bot.
pub const RESPONSE_LIMIT: usize = 10 * 1024 * 1024;

/// A request to forward, as `/hooks/{slug}/{*path}` received it.
#[derive(Debug, Clone)]
pub struct HookRequest {
    pub method: Method,
    /// The path below `/hooks/{slug}`, with its query: what the bot sees.
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The caller's address, for `X-Forwarded-For`.
    pub client: Option<IpAddr>,
    /// The caller reached paige over TLS (`paige serve --secure-cookies`:
    /// the operator says users come over HTTPS, directly or through a
    /// proxy), for `X-Forwarded-Proto`.
    pub https: bool,
}

/// The bot's answer, or paige's own when the bot could not give one.
#[derive(Debug, Clone)]
pub struct HookResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The execution that recorded the exchange, if one did.
    pub execution_id: Option<i64>,
}

impl HookResponse {
    /// paige's own short answer (no detail for the public: the execution
    /// has it).
    pub(super) fn plain(status: StatusCode, text: &str, retry_after: Option<u64>, execution_id: Option<i64>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Some(seconds) = retry_after {
            headers.insert(hyper::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        Self {
            status,
            headers,
            body: Bytes::from(format!("{text}\n")),
            execution_id,
        }
    }
}

/// Headers that concern one connection only (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// `headers` without the hop-by-hop ones (and those `Connection` names).
pub(super) fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let mut kept = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let lower = name.as_str();
        if HOP_BY_HOP.contains(&lower) || named.iter().any(|n| n == lower) {
            continue;
        }
        kept.append(name.clone(), value.clone());
    }
    kept
}

/// The request the bot receives.
pub(super) fn to_bot(request: &HookRequest, execution_id: i64) -> Result<Request<Full<Bytes>>, String> {
    let mut headers = end_to_end(&request.headers);
    headers.remove(hyper::header::CONTENT_LENGTH);
    let forwarded_for = HeaderName::from_static("x-forwarded-for");
    if let Some(client) = request.client {
        let value = match headers.get(&forwarded_for).and_then(|v| v.to_str().ok()) {
            Some(before) => format!("{before}, {client}"),
            None => client.to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(forwarded_for, value);
        }
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(if request.https { "https" } else { "http" }),
    );
    headers.insert(
        HeaderName::from_static("x-paige-execution-id"),
        HeaderValue::from(execution_id),
    );
    if !headers.contains_key(hyper::header::HOST) {
        headers.insert(hyper::header::HOST, HeaderValue::from_static("localhost"));
    }
    let mut built = Request::builder()
        .method(request.method.clone())
        .uri(&request.path_and_query)
        .body(Full::new(request.body.clone()))
        .map_err(|e| format!("the request cannot be forwarded: {e}"))?;
    *built.headers_mut() = headers;
    Ok(built)
}

/// Sends `request` to the bot listening on `socket`; its whole answer.
pub(super) async fn exchange(
    socket: &Path,
    request: Request<Full<Bytes>>,
    phases: &mut crate::runtime::timing::Phases,
) -> Result<HookResponse, String> {
    phases.mark("to_bot");
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| format!("cannot connect to the bot: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("cannot talk HTTP to the bot: {e}"))?;
    let driver = tokio::spawn(connection);
    phases.mark("connect");
    let answer = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("the bot closed the connection without an answer: {e}"))?;
        phases.mark("head");
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, RESPONSE_LIMIT)
            .collect()
            .await
            .map_err(|e| format!("the bot's answer could not be read: {e}"))?
            .to_bytes();
        phases.mark("body");
        Ok(HookResponse {
            status: parts.status,
            headers: end_to_end(&parts.headers),
            body,
            execution_id: None,
        })
    }
    .await;
    driver.abort();
    answer
}
