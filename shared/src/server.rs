//! The local server's router: every route of the table on one port, the same handlers the
//! Lambda functions run (like `sam local start-api`, but native).

use std::sync::Arc;

pub use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;

use crate::App;
use crate::error::ApiError;
use crate::http::{ApiRequest, MAX_BODY_BYTES, error_response, not_found, respond, routes};

pub fn router(app: Arc<App>) -> Router {
    Router::new().fallback(dispatch).with_state(app)
}

async fn dispatch(State(app): State<Arc<App>>, request: Request) -> Response {
    if request.uri().path() == METRICS_PATH {
        return metrics(&app, request.method());
    }
    let Some(route) = routes::find(request.uri().path()) else {
        return not_found().map(Body::from);
    };
    let (parts, body) = request.into_parts();
    // Read one byte past the limit so an oversize body is told apart from one at the limit.
    let body = match to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(body) => body,
        Err(_) => return error_response(route.errors, &ApiError::request_too_large(MAX_BODY_BYTES)).map(Body::from),
    };
    let api_request = ApiRequest { method: parts.method, headers: parts.headers, body };
    respond(&app, route, api_request).await.map(Body::from)
}

/// Where the local server serves its metrics (not an API route: no function serves it).
pub const METRICS_PATH: &str = "/metrics";

/// `GET /metrics`: the counters of `App::metrics` as Prometheus text, when the server keeps a
/// registry.
fn metrics(app: &App, method: &http::Method) -> Response {
    let crate::metrics::Sink::Registry(registry) = &app.metrics else {
        return not_found().map(Body::from);
    };
    if method != http::Method::GET {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
        response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
        return response;
    }
    let mut response = Response::new(Body::from(registry.render()));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(crate::metrics::registry::CONTENT_TYPE),
    );
    response
}

/// Serves `router` on `listener` until the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}
