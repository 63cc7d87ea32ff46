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
use crate::error::ApiError;
use crate::http::{ApiRequest, MAX_BODY_BYTES, error_response, not_found, respond, routes};

pub fn router(app: Arc<App>) -> Router {
    let apps: Vec<App> = routes::ROUTES.iter().map(|route| app.restricted_to(&route.needs)).collect();
    Router::new().fallback(dispatch).with_state(Arc::new(apps))
}

/// Each route's `App`, in the order of `routes::ROUTES`.
type RouteApps = Arc<Vec<App>>;

async fn dispatch(State(apps): State<RouteApps>, request: Request) -> Response {
    let path = request.uri().path();
    if path == METRICS_PATH {
        return metrics(apps.first(), request.method());
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
