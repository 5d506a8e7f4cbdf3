//! One HTTP exchange with a warm bot over its Unix socket: the request as
//! the caller sent it (raw body untouched, so signatures verify; headers
//! minus the hop-by-hop ones, plus `X-Forwarded-For`/`-Proto` and
//! `X-Paige-Execution-Id`), the answer's head with its headers minus the
//! hop-by-hop ones, and its body as it comes ([`BotBody`], fed by the
//! request's `serve` task).
//!
//! The connection is kept alive between requests (a connect and an HTTP
//! handshake less per webhook), within [`KEEP_ALIVE`]: Node closes one idle
//! for 5 s. A request is sent again on a fresh connection only when hyper
//! hands it back unsent (the bot closed the connection first); one the bot
//! may have received is never sent twice.

use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The largest answer paige takes from a bot; past it the answer is cut.
pub const RESPONSE_LIMIT: usize = 10 * 1024 * 1024;

/// The longest a connection to a bot is kept idle for reuse: under Node's
/// default `keepAliveTimeout` (5 s), so paige rarely races the bot's close.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(4);

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
#[derive(Debug)]
pub struct HookResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: HookBody,
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
            body: HookBody::Full(Bytes::from(format!("{text}\n"))),
            execution_id,
        }
    }
}

/// An answer's body: paige's own, whole, or the bot's, as it streams.
#[derive(Debug)]
pub enum HookBody {
    Full(Bytes),
    Streaming(BotBody),
}

/// The bot's answer's body, chunk by chunk as the bot writes it. It ends
/// cleanly only once the whole answer has come; cut short (size or time
/// limit, a crash) it ends with [`Cut`], so the caller never takes a part
/// for the whole.
pub struct BotBody {
    chunks: mpsc::Receiver<Frame<Bytes>>,
    complete: Arc<AtomicBool>,
}

impl std::fmt::Debug for BotBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotBody").finish_non_exhaustive()
    }
}

/// The feeding side of a [`BotBody`].
pub(super) struct BodySender {
    pub chunks: mpsc::Sender<Frame<Bytes>>,
    complete: Arc<AtomicBool>,
}

impl BodySender {
    /// The answer is whole: the body ends cleanly when this is dropped.
    pub(super) fn complete(self) {
        self.complete.store(true, Ordering::Release);
    }
}

/// Chunks in flight between the bot and the caller: a slow caller slows
/// the bot's writes (within the request's time limit) instead of filling
/// paige's memory.
const CHUNKS_IN_FLIGHT: usize = 8;

/// A body and its feeding side.
pub(super) fn bot_body() -> (BodySender, BotBody) {
    let (sender, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let complete = Arc::new(AtomicBool::new(false));
    (
        BodySender {
            chunks: sender,
            complete: Arc::clone(&complete),
        },
        BotBody { chunks, complete },
    )
}

/// Why a [`BotBody`] ended early (the execution says more).
#[derive(Debug)]
pub struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the bot's answer was cut short")
    }
}

impl std::error::Error for Cut {}

impl hyper::body::Body for BotBody {
    type Data = Bytes;
    type Error = Cut;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Cut>>> {
        match self.chunks.poll_recv(cx) {
            Poll::Ready(Some(frame)) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(None) if self.complete.load(Ordering::Acquire) => Poll::Ready(None),
            Poll::Ready(None) => Poll::Ready(Some(Err(Cut))),
            Poll::Pending => Poll::Pending,
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

/// An HTTP/1 connection to one warm process, kept between its requests.
pub(super) struct Connection {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
    idle_since: Instant,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Connection {
    /// A fresh connection to the bot listening on `socket`.
    async fn open(socket: &Path) -> Result<Self, String> {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|e| format!("cannot connect to the bot: {e}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("cannot talk HTTP to the bot: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            driver,
            idle_since: Instant::now(),
        })
    }

    /// The connection is idle again (its last answer was read whole).
    pub(super) fn idle(mut self) -> Self {
        self.idle_since = Instant::now();
        self
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Sends `request` to the bot listening on `socket`, on `kept` if it is
/// still usable, else on a fresh connection; the answer's head (its body
/// still to read) and the connection it came on.
pub(super) async fn send(
    socket: &Path,
    kept: Option<Connection>,
    mut request: Request<Full<Bytes>>,
) -> Result<(Response<Incoming>, Connection), String> {
    if let Some(mut connection) = kept.filter(|c| c.idle_since.elapsed() < KEEP_ALIVE)
        && connection.sender.ready().await.is_ok()
    {
        match connection.sender.try_send_request(request).await {
            Ok(response) => return Ok((response, connection)),
            Err(mut error) => match error.take_message() {
                // Never written: the bot had closed the connection.
                Some(unsent) => request = unsent,
                None => {
                    return Err(format!(
                        "the bot closed the connection without an answer: {}",
                        error.error()
                    ));
                }
            },
        }
    }
    let mut connection = Connection::open(socket).await?;
    let response = connection
        .sender
        .send_request(request)
        .await
        .map_err(|e| format!("the bot closed the connection without an answer: {e}"))?;
    Ok((response, connection))
}
