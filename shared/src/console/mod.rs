//! The support console (docs/console.md): server-rendered HTML pages under `/console/` for a
//! merchant's support staff, on the same `App` as the API. Sign-in with the merchant's API key
//! gives a session (a random ID in an `HttpOnly`, `SameSite=Strict` cookie; the store keeps
//! only its keyed hash); every form that changes something carries the session's CSRF token;
//! every answer is `no-store` with a strict Content-Security-Policy (the CSS and the little
//! script are files). A merchant sees only its own customers, as on the API: the console calls
//! the same functions the routes do, with the session's merchant.
//!
//! Served by the local server and by the `support-console` function (`routes::SUPPORT_CONSOLE`).

mod pages;
mod session;
mod time;

pub use pages::landing;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use bytes::Bytes;
use http::header::{LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::App;
use crate::error::ApiError;
use crate::http::routes;

pub use session::SESSION_COOKIE;

/// Where the console lives.
pub const PREFIX: &str = "/console/";
/// Its start, also served at `PREFIX` (an HTTP API's `/console/{proxy+}` may not match
/// `/console/`, so links and redirects go here).
pub const HOME: &str = "/console";
/// Largest form accepted (a template's HTML part is the largest field).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// No inline script or style, nothing from elsewhere, no framing. `frame-src 'self'` lets the
/// template preview's sandboxed `srcdoc` frame show.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
     connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A request to the console, whatever runtime received it. Its `Debug` shows no header value
/// and no body (the session cookie, and the API key of the sign-in form).
#[derive(Clone)]
pub struct ConsoleRequest {
    pub method: Method,
    /// The path, `/console/...`.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// As in `ApiRequest`: the edge's view of the client, never a header.
    pub source_ip: Option<IpAddr>,
}

impl std::fmt::Debug for ConsoleRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &crate::http::HeaderNames(&self.headers))
            .field("body", &crate::http::BodyLength(&self.body))
            .field("source_ip", &self.source_ip)
            .finish()
    }
}

impl ConsoleRequest {
    fn query(&self) -> HashMap<String, String> {
        self.query.as_deref().map(form).unwrap_or_default()
    }

    fn form(&self) -> HashMap<String, String> {
        std::str::from_utf8(&self.body).map(form).unwrap_or_default()
    }

    fn wants_json(&self) -> bool {
        self.headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"))
    }
}

fn form(text: &str) -> HashMap<String, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(text).unwrap_or_default().into_iter().collect()
}

/// The console: its `App` (restricted to `routes::SUPPORT_CONSOLE`'s needs), its pages, and on the
/// local server the outbox directory it shows.
pub struct Console {
    app: App,
    outbox: Option<PathBuf>,
    pages: pages::Pages,
}

/// An answer before it becomes a response.
pub(crate) struct Answer {
    status: StatusCode,
    content_type: &'static str,
    body: String,
    location: Option<String>,
    cookies: Vec<String>,
}

impl Answer {
    fn html(status: StatusCode, body: String) -> Answer {
        Answer { status, content_type: "text/html; charset=utf-8", body, location: None, cookies: Vec::new() }
    }

    fn json(status: StatusCode, body: &serde_json::Value) -> Answer {
        Answer { status, content_type: "application/json", body: body.to_string(), location: None, cookies: Vec::new() }
    }

    /// 303 See Other: after a form, the browser GETs `location`.
    fn redirect(location: impl Into<String>) -> Answer {
        Answer {
            status: StatusCode::SEE_OTHER,
            content_type: "text/plain; charset=utf-8",
            body: String::new(),
            location: Some(location.into()),
            cookies: Vec::new(),
        }
    }

    fn with_cookie(mut self, cookie: String) -> Answer {
        self.cookies.push(cookie);
        self
    }

    fn into_response(self) -> Response<String> {
        let mut response = Response::new(self.body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        security_headers(headers);
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(LOCATION, location);
        }
        for cookie in self.cookies {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                headers.append(SET_COOKIE, value);
            }
        }
        response
    }
}

/// The headers of every console answer.
pub fn security_headers(headers: &mut HeaderMap) {
    headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(http::header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(http::header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

impl Console {
    /// `app` as the console's function would have it; `outbox`: the local server's outbox
    /// directory, whose messages the console lists (`None` deployed).
    pub fn new(app: App, outbox: Option<PathBuf>) -> Console {
        Console { app, outbox, pages: pages::Pages::new() }
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// Answers one request; never fails (an error is a page saying what went wrong).
    pub async fn handle(&self, request: ConsoleRequest) -> Response<String> {
        let path = request.path.clone();
        let method = request.method.clone();
        let started = std::time::Instant::now();
        // The history's events name the console and the client, as the API's name their route.
        let (answer, counts) =
            crate::context::scope(routes::SUPPORT_CONSOLE.function, request.source_ip, self.route(request)).await;
        let answer = answer.unwrap_or_else(|error| self.error_page(&error));
        let response = answer.into_response();
        self.app.metrics.request(
            routes::SUPPORT_CONSOLE.function,
            response.status().as_u16(),
            started.elapsed(),
            &counts,
        );
        tracing::info!(
            function = routes::SUPPORT_CONSOLE.function,
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "request"
        );
        response
    }

    async fn route(&self, request: ConsoleRequest) -> Result<Answer, ConsoleError> {
        let page = match request.path.as_str() {
            HOME => Some(String::new()),
            path => path.strip_prefix(PREFIX).map(str::to_string),
        };
        let Some(page) = page else {
            return Ok(self.not_found());
        };
        if request.body.len() > MAX_FORM_BYTES {
            return Err(ConsoleError::Api(ApiError::request_too_large(MAX_FORM_BYTES)));
        }
        match (request.method.clone(), page.as_str()) {
            (Method::GET, "static/console.css") => Ok(asset("text/css; charset=utf-8", pages::CSS)),
            (Method::GET, "static/console.js") => Ok(asset("text/javascript; charset=utf-8", pages::JS)),
            (Method::GET, "") => self.home(&request).await,
            (Method::POST, "sign-in") => self.sign_in(&request).await,
            (Method::POST, "sign-out") => self.sign_out(&request).await,
            (Method::GET, "find") => self.find(&request).await,
            (Method::GET, "customer") => self.customer(&request).await,
            (Method::POST, "unblock-pin") => self.unblock_pin(&request).await,
            (Method::POST, "reset-otp-limit") => self.reset_otp_limit(&request).await,
            (Method::POST, "send-code") => self.send_code(&request).await,
            (Method::GET, "templates") => self.templates(&request).await,
            (Method::GET, "template") => self.template(&request).await,
            (Method::POST, "template") => self.save_template(&request).await,
            (Method::POST, "template/preview") => self.preview_template(&request).await,
            (Method::GET, "outbox") => self.outbox(&request).await,
            (
                _,
                "" | "sign-in" | "sign-out" | "find" | "customer" | "unblock-pin" | "reset-otp-limit" | "send-code"
                | "templates" | "template" | "template/preview" | "outbox" | "static/console.css" | "static/console.js",
            ) => Err(ConsoleError::Api(ApiError::method_not_allowed(request.method.as_str()))),
            _ => Ok(self.not_found()),
        }
    }

    fn not_found(&self) -> Answer {
        self.error_page(&ConsoleError::NotFound)
    }
}

fn asset(content_type: &'static str, body: &str) -> Answer {
    let mut answer = Answer::html(StatusCode::OK, body.to_string());
    answer.content_type = content_type;
    answer
}

/// Why a page could not be shown.
#[derive(Debug)]
pub(crate) enum ConsoleError {
    /// An error the API would give, shown as its message.
    Api(ApiError),
    /// No session, or it has ended: the sign-in page.
    SignedOut {
        ended: bool,
    },
    /// A form without this session's CSRF token.
    Csrf,
    NotFound,
}

impl From<ApiError> for ConsoleError {
    fn from(error: ApiError) -> ConsoleError {
        ConsoleError::Api(error)
    }
}

impl From<crate::store::StoreError> for ConsoleError {
    fn from(error: crate::store::StoreError) -> ConsoleError {
        ConsoleError::Api(error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_console_requests_debug_shows_no_cookie_and_no_form() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::COOKIE, HeaderValue::from_static("console_session=the-session-id"));
        let request = ConsoleRequest {
            method: Method::POST,
            path: "/console/sign-in".into(),
            query: None,
            headers,
            body: Bytes::from_static(b"api_key=the-api-key"),
            source_ip: None,
        };
        let shown = format!("{request:?}");
        assert!(shown.contains("/console/sign-in") && shown.contains("cookie"), "{shown}");
        assert!(!shown.contains("the-session-id") && !shown.contains("the-api-key"), "{shown}");
    }
}
