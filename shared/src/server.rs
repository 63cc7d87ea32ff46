//! The local server's router: every route of the table on one port, the same handlers the
//! Lambda functions run (like `sam local start-api`, but native). Each route runs on an `App`
//! restricted to what its row declares, as its function would: a handler that reaches for an
//! undeclared port or secret fails here as it would deployed. `GET /metrics` serves the
//! metrics as Prometheus text.

use std::net::SocketAddr;
use std::sync::Arc;

pub use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;

use crate::App;
use crate::console::{Console, ConsoleRequest};
use crate::error::ApiError;
use crate::http::{ApiRequest, MAX_BODY_BYTES, error_response, not_found, respond, routes};

pub fn router(app: Arc<App>) -> Router {
    router_with_outbox(app, None)
}

/// `router`, whose support console also lists the messages of the outbox directory `outbox`.
pub fn router_with_outbox(app: Arc<App>, outbox: Option<std::path::PathBuf>) -> Router {
    let apps: Vec<App> = routes::ROUTES.iter().map(|route| app.restricted_to(&route.needs)).collect();
    let console = Console::new(app.restricted_to(&routes::SUPPORT_CONSOLE.needs), outbox);
    Router::new().fallback(dispatch).with_state(Arc::new(Served { apps, console }))
}

/// Each route's `App`, in the order of `routes::ROUTES`, and the console.
struct Served {
    apps: Vec<App>,
    console: Console,
}

type RouteApps = Arc<Served>;

async fn dispatch(State(served): State<RouteApps>, request: Request) -> Response {
    let apps = &served.apps;
    let path = request.uri().path();
    if path == METRICS_PATH {
        return metrics(apps.first(), request.method());
    }
    // `/` is a page for browsers; an API client's POST there gets the API's JSON 404.
    let landing = path == "/" && matches!(*request.method(), http::Method::GET | http::Method::HEAD);
    if landing || path == "/console" || path.starts_with(crate::console::PREFIX) {
        return console(&served.console, request).await;
    }
    if let Some(doc) = DOCS.iter().find(|(doc_path, _)| *doc_path == path) {
        return text(doc.1);
    }
    let Some((route, app)) = routes::ROUTES.iter().zip(apps.iter()).find(|(route, _)| route.path == path) else {
        return not_found().map(Body::from);
    };
    let (parts, body) = request.into_parts();
    // Read one byte past the limit so an oversize body is told apart from one at the limit.
    let body = match to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(body) => body,
        Err(_) => return error_response(route.errors, &ApiError::request_too_large(MAX_BODY_BYTES)).map(Body::from),
    };
    // The TCP peer (`serve` records it): the local server has no proxy in front to trust.
    let source_ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip());
    let api_request = ApiRequest { method: parts.method, headers: parts.headers, body, source_ip };
    respond(app, route, api_request).await.map(Body::from)
}

/// The documents `/` links to, as plain text.
const DOCS: &[(&str, &str)] = &[
    ("/docs/api.md", include_str!("../../docs/api.md")),
    ("/docs/openapi.yaml", include_str!("../../docs/openapi.yaml")),
];

fn text(body: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// `/` (a page that links to the console and the docs) and the console's pages.
async fn console(console: &Console, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let source_ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip());
    if parts.uri.path() == "/" {
        let mut response = Response::new(Body::from(crate::console::landing()));
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/html; charset=utf-8"));
        crate::console::security_headers(headers);
        return response;
    }
    let body = match to_bytes(body, crate::console::MAX_FORM_BYTES + 1).await {
        Ok(body) => body,
        // Over the limit: the console answers that from the length.
        Err(_) => bytes::Bytes::from(vec![0; crate::console::MAX_FORM_BYTES + 1]),
    };
    let request = ConsoleRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
        source_ip,
    };
    console.handle(request).await.map(Body::from)
}

/// Where the local server serves its metrics (not an API route: no function serves it).
pub const METRICS_PATH: &str = "/metrics";

/// `GET /metrics`: the counters of the routes' metrics sink (one registry, shared by every
/// route's `App`) as Prometheus text, when the server keeps one.
fn metrics(app: Option<&App>, method: &http::Method) -> Response {
    let Some(crate::metrics::Sink::Registry(registry)) = app.map(|app| &app.metrics) else {
        return not_found().map(Body::from);
    };
    if method != http::Method::GET {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
        response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
        return response;
    }
    let mut response = Response::new(Body::from(registry.render()));
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(crate::metrics::registry::CONTENT_TYPE));
    response
}

/// Serves `router` on `listener` until the listener fails, telling each request its peer's
/// address.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, with_peer_addresses(router)).await
}

/// `router` as a service that records each connection's peer address (`ConnectInfo`), which
/// `dispatch` reads as the request's source IP.
pub fn with_peer_addresses(router: Router) -> IntoMakeServiceWithConnectInfo<Router, SocketAddr> {
    router.into_make_service_with_connect_info::<SocketAddr>()
}
