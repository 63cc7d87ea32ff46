//! The HTTP edge, shared by the Lambda functions and the local server: request bodies,
//! merchant credentials, replies and the route table. A handler never knows which runtime
//! called it.

pub mod auth;
pub mod body;
pub mod routes;

use std::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::app::App;
use crate::error::ApiError;
pub use routes::{ErrorStyle, ROUTES, Route};

/// Largest accepted request body (docs/api.md section 1.1).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
pub const ALLOWED_METHODS: &str = "POST, OPTIONS";

/// A request as every handler sees it, whatever runtime received it. Its `Debug` shows no
/// header value and no body (they hold API keys, tokens, passwords and PINs).
#[derive(Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The client's address as the edge saw it: API Gateway's `requestContext.http.sourceIp`
    /// on Lambda, the TCP peer on the local server. Never a header (`X-Forwarded-For` is the
    /// client's to write). `None` only where no edge gave one (in-process callers).
    pub source_ip: Option<IpAddr>,
}

impl std::fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("headers", &HeaderNames(&self.headers))
            .field("body", &BodyLength(&self.body))
            .field("source_ip", &self.source_ip)
            .finish()
    }
}

/// A request's header names, without their values, for `Debug`.
pub(crate) struct HeaderNames<'a>(pub &'a HeaderMap);

impl std::fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// A request body's length, not its bytes, for `Debug`.
pub(crate) struct BodyLength<'a>(pub &'a Bytes);

impl std::fmt::Debug for BodyLength<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    /// The body carries an OTP, key or token: forbid caches from keeping it.
    pub no_store: bool,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply { status: StatusCode::OK, body, no_store: false }
    }

    pub fn status_ok() -> Reply {
        Reply::ok(json!({"status": "ok"}))
    }

    /// A body holding a secret (OTP, key, token).
    pub fn secret(body: Value) -> Reply {
        Reply { status: StatusCode::OK, body, no_store: true }
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<String> {
    let mut response = Response::new(body.to_string());
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The answer for a path that no route has.
pub fn not_found() -> Response<String> {
    let error = ApiError::not_found();
    json_response(error.status(), &error.body())
}

/// The error body in the shape of the route's API.
pub fn error_response(style: ErrorStyle, error: &ApiError) -> Response<String> {
    let body = match style {
        ErrorStyle::Api => error.body(),
        ErrorStyle::ApiWithStatus => {
            let mut body = error.body();
            body["status"] = json!("invalid");
            body
        }
        ErrorStyle::V2 => json!({"status": 0, "error": error.message}),
    };
    let mut response = json_response(error.status(), &body);
    if error.code == crate::error::ErrorCode::MethodNotAllowed {
        response.headers_mut().insert(ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
    }
    response
}

/// Runs one request through `route`: method and size checks, the handler, the error mapping,
/// one structured log line (never bodies or headers: they hold secrets) and the answer's
/// metrics (`Requests`, `Latency` and what the handler counted, see `metrics`).
pub async fn respond(app: &App, route: &Route, request: ApiRequest) -> Response<String> {
    let started = Instant::now();
    let method = request.method.clone();
    let source_ip = request.source_ip;
    let (response, counts) = crate::context::scope(route.function, source_ip, answer(app, route, request)).await;
    let elapsed = started.elapsed();
    tracing::info!(
        function = route.function,
        method = %method,
        status = response.status().as_u16(),
        micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    app.metrics.request(route.function, response.status().as_u16(), elapsed, &counts);
    response
}

async fn answer(app: &App, route: &Route, request: ApiRequest) -> Response<String> {
    let method = request.method.clone();
    if method == Method::OPTIONS {
        let mut response = json_response(StatusCode::OK, &json!({}));
        response.headers_mut().insert(ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
        response
    } else if method != Method::POST {
        error_response(route.errors, &ApiError::method_not_allowed(method.as_str()))
    } else if request.body.len() > MAX_BODY_BYTES {
        error_response(route.errors, &ApiError::request_too_large(MAX_BODY_BYTES))
    } else {
        match (route.handler)(app, request).await {
            Ok(reply) => {
                let mut response = json_response(reply.status, &reply.body);
                if reply.no_store {
                    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                }
                response
            }
            Err(error) => error_response(route.errors, &error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requests_debug_shows_no_credential_and_no_body() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, HeaderValue::from_static("Token the-api-key"));
        let request = ApiRequest {
            method: Method::POST,
            headers,
            body: Bytes::from_static(br#"{"pin":"482913"}"#),
            source_ip: None,
        };
        let shown = format!("{request:?}");
        assert!(shown.contains("authorization") && shown.contains("<16 bytes>"), "{shown}");
        assert!(!shown.contains("the-api-key") && !shown.contains("482913"), "{shown}");
    }
}
