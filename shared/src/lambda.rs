//! The Lambda side of the HTTP edge: turns an API Gateway event into an `ApiRequest`, runs the
//! route, and hands the response back to `lambda_http`.

use std::sync::Arc;

use bytes::Bytes;
use lambda_http::{Body, Request, Response, service_fn};

use crate::app::App;
use crate::http::{ApiRequest, Route, respond};

/// Serves `route` until the Lambda runtime stops the process.
pub async fn run(app: App, route: &'static Route) -> Result<(), lambda_http::Error> {
    let app = Arc::new(app);
    lambda_http::run(service_fn(move |request: Request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, std::convert::Infallible>(handle(&app, route, request).await) }
    }))
    .await
}

/// One invocation: the runtime has already read the whole body.
pub async fn handle(app: &App, route: &Route, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    let api_request = ApiRequest { method: parts.method, headers: parts.headers, body };
    respond(app, route, api_request).await.map(Body::Text)
}

/// The usual `main` of a function: logs, configuration, then `run`. Start-up errors are
/// printed once, clearly, and stop the process.
pub fn start_failed(error: impl std::fmt::Display) -> lambda_http::Error {
    tracing::error!(%error, "start-up failed");
    format!("start-up failed: {error}").into()
}
