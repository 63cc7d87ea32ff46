//! `spawn_app`: each test gets its own server on a free loopback port, over its own store
//! (a fresh SQLite file, or a fresh DynamoDB table on moto), with a clock it controls.

use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use shared::App;
use shared::admin::{self, CustomerInput};
use shared::clock::ManualClock;
use shared::config::Config;
use shared::delivery::EventPublisher;
use shared::delivery::outbox::{LocalPublisher, Outbox};
use shared::delivery::reset_link::ResetLinks;
use shared::store::Customer;
use shared::store::prelude::*;

use crate::moto::CallCounter;

/// The store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    DynamoDb,
}

/// Known keys, so tests can mint their own tokens (expired, other kid, ...).
pub const JWT_KID: &str = "test-1";
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0001";
pub const JWT_KID_OLD: &str = "test-0";
pub const JWT_SECRET_OLD: &str = "test-secret-test-secret-test-secret-0000";
pub const HASH_KEY: &str = "test-hash-key-test-hash-key-test-hash-key";
/// Start of every test's clock: 2027-01-15T08:00:00Z.
pub const START: i64 = 1_800_000_000;

/// A fresh store of the given kind, schema created.
pub async fn store(backend: Backend) -> (Arc<dyn AdminStore>, Option<tempfile::TempDir>) {
    let (store, dir, _) = counted_store(backend).await;
    (store, dir)
}

/// A fresh store, and for DynamoDB the counter of the calls it sends.
pub async fn counted_store(backend: Backend) -> (Arc<dyn AdminStore>, Option<tempfile::TempDir>, Option<CallCounter>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = shared::store::sqlite::SqliteStore::open(dir.path().join("test.db")).expect("sqlite");
            store.init().await.expect("schema");
            (Arc::new(store), Some(dir), None)
        }
        Backend::DynamoDb => {
            let (store, counter) = crate::moto::dynamo_store_counted().await;
            (store, None, Some(counter))
        }
    }
}

/// `count` store instances on one fresh table or database file, as that many processes hold
/// them: each with its own connection or client, and its own reserved ID blocks.
pub async fn store_instances(backend: Backend, count: usize) -> (Vec<Arc<dyn AdminStore>>, Option<tempfile::TempDir>) {
    let mut stores: Vec<Arc<dyn AdminStore>> = Vec::new();
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("test.db");
            for _ in 0..count {
                let store = shared::store::sqlite::SqliteStore::open(&path).expect("sqlite");
                store.init().await.expect("schema");
                stores.push(Arc::new(store));
            }
            (stores, Some(dir))
        }
        Backend::DynamoDb => {
            let (first, _) = crate::moto::dynamo_store_counted().await;
            for _ in 1..count {
                stores.push(crate::moto::dynamo_store_beside(&first).await);
            }
            stores.push(first);
            (stores, None)
        }
    }
}

pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    pub app: Arc<App>,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn AdminStore>,
    /// The DynamoDB calls of the store (`None` on SQLite).
    pub calls: Option<CallCounter>,
    /// Local delivery: OTP messages land in `outbox`.
    pub publisher: Arc<LocalPublisher>,
    pub outbox: tempfile::TempDir,
    _dir: Option<tempfile::TempDir>,
}

/// A merchant created for a test, with its API key.
#[derive(Debug, Clone)]
pub struct TestMerchant {
    pub id: u64,
    pub api_key: String,
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error_code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or_default()
    }
}

/// Per-source-IP windows out of reach: every test client is 127.0.0.1, and most tests send
/// more requests than a real client would. The tests of those windows set their own limits, and
/// `spawn_app_on_defaults` keeps the real ones.
pub const GENEROUS_IP_LIMITS: &[(&str, &str)] = &[
    ("STAMPS_V2_IP_LOGIN_FAILURES_PER_WINDOW", "1000000"),
    ("STAMPS_V2_IP_REGISTRATIONS_PER_WINDOW", "1000000"),
    ("STAMPS_V2_IP_RESET_REQUESTS_PER_WINDOW", "1000000"),
];

/// The test keys, generous per-IP windows, then `extra` (which wins).
pub fn test_config(extra: &[(&str, &str)]) -> Config {
    let mut vars = GENEROUS_IP_LIMITS.to_vec();
    vars.extend_from_slice(extra);
    config_on_defaults(&vars)
}

/// The test keys and `extra`; everything else at the service's defaults.
pub fn config_on_defaults(extra: &[(&str, &str)]) -> Config {
    let jwt_keys = format!("{JWT_KID}:{JWT_SECRET},{JWT_KID_OLD}:{JWT_SECRET_OLD}");
    let mut vars: Vec<(String, String)> =
        vec![("STAMPS_JWT_KEYS".into(), jwt_keys), ("STAMPS_HASH_KEY".into(), HASH_KEY.into())];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_lookup(|name| vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .expect("test configuration")
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// A server with extra configuration variables.
pub async fn spawn_app_with(backend: Backend, vars: &[(&str, &str)]) -> TestApp {
    let (store, dir, calls) = counted_store(backend).await;
    let mut app = spawn_on(store, dir, test_config(vars)).await;
    app.calls = calls;
    app
}

/// A server on the service's default limits (per-IP windows included), with `vars`.
pub async fn spawn_app_on_defaults(backend: Backend, vars: &[(&str, &str)]) -> TestApp {
    let (store, dir, calls) = counted_store(backend).await;
    let mut app = spawn_on(store, dir, config_on_defaults(vars)).await;
    app.calls = calls;
    app
}

/// A server whose OTP events go to `publisher` (e.g. SNS on moto) instead of the local
/// outbox.
pub async fn spawn_app_publishing(backend: Backend, publisher: Arc<dyn EventPublisher>) -> TestApp {
    spawn_app_publishing_with(backend, publisher, &[]).await
}

/// `spawn_app_publishing` with extra configuration variables.
pub async fn spawn_app_publishing_with(
    backend: Backend,
    publisher: Arc<dyn EventPublisher>,
    vars: &[(&str, &str)],
) -> TestApp {
    let (store, dir, calls) = counted_store(backend).await;
    let mut app = spawn_on_with(store, dir, test_config(vars), Some(publisher)).await;
    app.calls = calls;
    app
}

pub async fn spawn_on(store: Arc<dyn AdminStore>, dir: Option<tempfile::TempDir>, config: Config) -> TestApp {
    spawn_on_with(store, dir, config, None).await
}

async fn spawn_on_with(
    store: Arc<dyn AdminStore>,
    dir: Option<tempfile::TempDir>,
    config: Config,
    events: Option<Arc<dyn EventPublisher>>,
) -> TestApp {
    let clock = Arc::new(ManualClock::new(START));
    let outbox = tempfile::tempdir().expect("outbox dir");
    let publisher = Arc::new(LocalPublisher::new(
        Arc::clone(&store) as Arc<dyn shared::store::Store>,
        Arc::new(Outbox::new(outbox.path(), clock.clone())),
        clock.clone(),
        ResetLinks::from_config(&config).expect("the test hash key"),
    ));
    let app = App::from_config(config, Some(Arc::clone(&store)))
        .expect("app")
        .with_clock(clock.clone())
        .with_publisher(events.unwrap_or_else(|| publisher.clone()))
        .with_graph_api()
        .with_metrics(shared::metrics::Sink::Registry(Arc::new(shared::metrics::registry::Registry::new())));
    let app = Arc::new(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let router = shared::server::router_with_outbox(Arc::clone(&app), Some(outbox.path().to_path_buf()))
        .layer(axum::middleware::from_fn(serving));
    tokio::spawn(async move {
        let _ = axum_serve(listener, router).await;
    });
    TestApp { url, http: crate::http_client(), app, clock, store, calls: None, publisher, outbox, _dir: dir }
}

/// Marks the table calls a request makes as its route's (`moto::SERVING`).
async fn serving(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let path = request.uri().path();
    let console = (path == shared::console::HOME || path.starts_with(shared::console::PREFIX))
        .then_some(&shared::http::routes::SUPPORT_CONSOLE);
    match shared::http::routes::find(path).or(console) {
        Some(route) => crate::moto::SERVING.scope(route, next.run(request)).await,
        None => next.run(request).await,
    }
}

async fn axum_serve(listener: tokio::net::TcpListener, router: shared::server::Router) -> std::io::Result<()> {
    shared::server::serve(listener, router).await
}

impl TestApp {
    /// The DynamoDB operations sent since the last call (empty on SQLite).
    pub fn take_calls(&self) -> Vec<String> {
        self.calls.as_ref().map(CallCounter::take).unwrap_or_default()
    }

    /// The DynamoDB operations sent since the last call, and the round trips they took in
    /// sequence (operations in parallel share one).
    pub fn take_calls_with_rounds(&self) -> (Vec<String>, usize) {
        self.calls.as_ref().map(CallCounter::take_with_rounds).unwrap_or_default()
    }

    /// The messages delivered to the local outbox so far, oldest first, once every dispatch
    /// started has finished.
    pub async fn outbox_messages(&self) -> Vec<Value> {
        self.publisher.settle().await;
        let mut files: Vec<_> = std::fs::read_dir(self.outbox.path())
            .map(|dir| dir.filter_map(Result::ok).map(|entry| entry.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|path| serde_json::from_slice(&std::fs::read(path).expect("outbox file")).expect("outbox JSON"))
            .collect()
    }

    /// The customer's primary key as a JSON integer, the cheapest way to name it.
    pub fn user(customer: &Customer) -> Value {
        Value::from(customer.id)
    }

    /// POSTs `body` with the merchant's API key as `Authorization: Token`.
    pub async fn post_as(&self, merchant: &TestMerchant, path: &str, body: &Value) -> TestResponse {
        let header = format!("Token {}", merchant.api_key);
        self.post(path, body, &[("Authorization", &header)]).await
    }

    /// POSTs `body` with a Bearer access token.
    pub async fn post_bearer(&self, token: &str, path: &str, body: &Value) -> TestResponse {
        let header = format!("Bearer {token}");
        self.post(path, body, &[("Authorization", &header)]).await
    }

    pub async fn create_merchant(&self, name: &str) -> TestMerchant {
        let (merchant, api_key) = admin::create_merchant(&self.app, name).await.expect("merchant");
        TestMerchant { id: merchant.id, api_key }
    }

    pub async fn create_customer(&self, input: CustomerInput) -> Customer {
        admin::create_customer(&self.app, input).await.expect("customer")
    }

    /// An access token for `merchant`, through the API.
    pub async fn access_token(&self, merchant: &TestMerchant) -> String {
        let body = serde_json::json!({"token": merchant.api_key, "merchant": merchant.id});
        let response = self.post("/api/token/", &body, &[]).await;
        assert_eq!(response.status, 200, "{}", response.text);
        response.body["access_token"].as_str().expect("access_token").to_string()
    }

    /// POSTs a JSON body with extra headers.
    pub async fn post(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> TestResponse {
        self.send("POST", path, Some("application/json"), body.to_string().into_bytes(), headers).await
    }

    /// POSTs a JSON body from another loopback address (`127.0.0.2`, ...), as another client.
    pub async fn post_from(&self, source: std::net::IpAddr, path: &str, body: &Value) -> TestResponse {
        let client = reqwest::Client::builder().local_address(source).build().expect("client");
        let response = client
            .post(format!("{}{path}", self.url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        TestResponse { status, headers, body, text }
    }

    /// Sends anything: any method, content type and raw body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut map = HeaderMap::new();
        if let Some(content_type) = content_type {
            map.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_str(content_type).expect("content type"));
        }
        for (name, value) in headers {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = self
            .http
            .request(method, format!("{}{path}", self.url))
            .headers(map)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        // Deployed, a call beyond the route's declaration would be denied by IAM.
        let violations = self.calls.as_ref().map(CallCounter::take_violations).unwrap_or_default();
        assert!(violations.is_empty(), "table calls beyond the route table's declaration: {violations:#?}");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        TestResponse { status, headers, body, text }
    }
}
