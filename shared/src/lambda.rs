//! The Lambda side of the HTTP edge: turns an API Gateway event into an `ApiRequest`, runs the
//! route, and hands the response back to `lambda_http`. Also a function's start-up, from its
//! row of the route table: configuration with only the declared secrets (refused loudly when a
//! required one is missing), then only the declared ports. Clients are built once per process,
//! never per request.

use std::sync::Arc;

use bytes::Bytes;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, Response, service_fn};

use crate::app::{App, StartError};
use crate::config::Config;
use crate::http::{ApiRequest, Route, respond};

/// A function's `main`: logging, start-up from `route`'s declaration, then requests until the
/// Lambda runtime stops the process. A start-up failure is logged and returned, so the runtime
/// reports an init failure saying why.
pub async fn serve(route: &'static Route) -> Result<(), lambda_http::Error> {
    crate::logging::init();
    let app = app(route).map_err(start_failed)?;
    run(app, route).await
}

/// The `App` of `route`'s function, from the process environment: exactly the ports and
/// secrets the route declares.
pub fn app(route: &Route) -> Result<App, StartError> {
    let config = Config::from_env_given(route.needs.secrets)?;
    let adapters = crate::startup::adapters(route.function, &route.needs, &config)?;
    App::for_needs(route.function, &route.needs, config, adapters.ports)
}

/// Serves `route` with `app` until the Lambda runtime stops the process.
pub async fn run(app: App, route: &'static Route) -> Result<(), lambda_http::Error> {
    let app = Arc::new(app);
    lambda_http::run(service_fn(move |request: Request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, std::convert::Infallible>(handle(&app, route, request).await) }
    }))
    .await
}

/// One invocation: the runtime has already read the whole body (API Gateway caps it).
pub async fn handle(app: &App, route: &Route, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = body_bytes(body);
    let source_ip = source_ip(&parts.extensions);
    let api_request = ApiRequest { method: parts.method, headers: parts.headers, body, source_ip };
    respond(app, route, api_request).await.map(Body::Text)
}

/// The console function's `main`: as `serve`, with the console's pages instead of an API route.
#[cfg(feature = "console")]
pub async fn serve_console(route: &'static Route) -> Result<(), lambda_http::Error> {
    crate::logging::init();
    let app = app(route).map_err(start_failed)?;
    let console = Arc::new(crate::console::Console::new(app, None));
    lambda_http::run(service_fn(move |request: Request| {
        let console = Arc::clone(&console);
        async move { Ok::<_, std::convert::Infallible>(handle_console(&console, request).await) }
    }))
    .await
}

/// One invocation of the console function.
#[cfg(feature = "console")]
pub async fn handle_console(console: &crate::console::Console, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = body_bytes(body);
    let request = crate::console::ConsoleRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        source_ip: source_ip(&parts.extensions),
        headers: parts.headers,
        body,
    };
    console.handle(request).await.map(Body::Text)
}

/// The body as bytes: the runtime has already read all of it (API Gateway caps it).
fn body_bytes(body: Body) -> Bytes {
    match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    }
}

/// The client's address from an HTTP API (payload 2.0) event: `requestContext.http.sourceIp`,
/// which API Gateway sets from the TCP connection (a client cannot choose it).
fn source_ip(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    match extensions.get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.as_deref()?.parse().ok(),
        _ => None,
    }
}

/// A start-up error, logged once and returned so the runtime reports an init failure.
pub fn start_failed(error: impl std::fmt::Display) -> lambda_http::Error {
    tracing::error!(%error, "start-up failed");
    format!("start-up failed: {error}").into()
}
