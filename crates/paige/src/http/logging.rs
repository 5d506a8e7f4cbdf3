//! One log line per request: request id, method, route template, status,
//! latency. The route is the template (`/api/v1/projects/{slug}/secrets/{key}`),
//! not the request path, and nothing of headers or bodies is logged, so no
//! value, token or password can reach the log from here.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;

use crate::metrics::{RequestLabels, RouteLabels};

/// A random id per request, echoed in `x-request-id` and the audit log. It
/// needs to be unique, not secret: the thread's generator (a CSPRNG seeded
/// from the OS) makes it without a system call per request.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    fn generate() -> Self {
        let mut bytes = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }
}

pub async fn log_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = RequestId::generate();
    request.extensions_mut().insert(id.clone());
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let metrics = crate::metrics::global();
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method_label(&method).to_owned(),
            route: route.clone(),
            status,
        })
        .inc();
    metrics
        .request_seconds
        .get_or_create(&RouteLabels {
            method: method_label(&method).to_owned(),
            route: route.clone(),
        })
        .observe(elapsed.as_secs_f64());
    tracing::info!(
        request_id = %id.0,
        method = %method,
        route = %route,
        status,
        latency_us = elapsed.as_micros() as u64,
        "request"
    );
    response
}

/// The method as a metrics label: the standard ones, else `other` (a
/// client may send any token as a method, and labels are closed sets).
fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}
