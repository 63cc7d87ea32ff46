//! The Lambda side of the HTTP edge: turns an API Gateway event into an `ApiRequest`, runs the
//! route, and hands the response back to `lambda_http`. Also the start-up of each kind of
//! function: configuration first (refused loudly when incomplete), then only the clients the
//! function uses. Clients are built once per process, never per request.

use std::sync::Arc;

use bytes::Bytes;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, Response, service_fn};

use crate::app::App;
use crate::config::Config;
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

/// One invocation: the runtime has already read the whole body (API Gateway caps it).
pub async fn handle(app: &App, route: &Route, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    let source_ip = source_ip(&parts.extensions);
    let api_request = ApiRequest { method: parts.method, headers: parts.headers, body, source_ip };
    respond(app, route, api_request).await.map(Body::Text)
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

fn config() -> Result<Config, lambda_http::Error> {
    Config::from_env().map_err(start_failed)
}

/// The `App` of a function that touches no storage and no AWS service.
pub fn stateless_app() -> Result<App, lambda_http::Error> {
    App::for_function(config()?, None).map_err(start_failed)
}

/// The table of `STAMPS_STORE=dynamodb:TABLE`.
#[cfg(feature = "dynamodb")]
fn table(config: &Config) -> Result<String, lambda_http::Error> {
    use crate::store::StoreUrl;
    match StoreUrl::parse(&config.store_url).map_err(start_failed)? {
        StoreUrl::DynamoDb(table) => Ok(table),
        StoreUrl::Sqlite(_) => Err(start_failed("a function needs STAMPS_STORE=dynamodb:TABLE")),
    }
}

/// The `App` of a function on DynamoDB.
#[cfg(feature = "dynamodb")]
pub async fn dynamodb_app() -> Result<App, lambda_http::Error> {
    let config = config()?;
    let table = table(&config)?;
    let sdk = crate::aws::lambda_sdk_config(config.aws_timeout).map_err(start_failed)?;
    let store = crate::store::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    App::for_function(config, Some(Arc::new(store))).map_err(start_failed)
}

/// The `App` of a function on DynamoDB that publishes OTP events to the SNS topic named by
/// `STAMPS_OTP_TOPIC_ARN`.
#[cfg(all(feature = "dynamodb", feature = "sns"))]
pub async fn dynamodb_app_with_events() -> Result<App, lambda_http::Error> {
    let config = config()?;
    let table = table(&config)?;
    let topic = std::env::var("STAMPS_OTP_TOPIC_ARN")
        .ok()
        .filter(|arn| !arn.trim().is_empty())
        .ok_or_else(|| start_failed("STAMPS_OTP_TOPIC_ARN is not set: this function publishes OTP events"))?;
    let sdk = crate::aws::lambda_sdk_config(config.aws_timeout).map_err(start_failed)?;
    let store = crate::store::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let publisher = crate::delivery::sns::SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), topic);
    let app = App::for_function(config, Some(Arc::new(store))).map_err(start_failed)?;
    Ok(app.with_publisher(Arc::new(publisher)))
}

/// The `App` of a function on DynamoDB that checks Facebook tokens against the Graph API at
/// `STAMPS_FACEBOOK_GRAPH_URL` for the app `STAMPS_FACEBOOK_APP_ID` (its HTTP client is made
/// on the first check, not here). Without an app configured the function still starts (its
/// password paths work) and its Facebook paths answer 503.
#[cfg(all(feature = "dynamodb", feature = "facebook"))]
pub async fn dynamodb_app_with_facebook() -> Result<App, lambda_http::Error> {
    let app = dynamodb_app().await?;
    Ok(app.with_graph_api())
}
