//! A fault-injecting HTTP proxy in front of moto, switchable while a test runs: pass requests
//! through, be down (connections dropped on accept), be slow (hold each request longer than the
//! client's timeout), answer the next matching AWS operation(s) with a 500 without passing
//! them on — a call failing in the middle of a multi-step operation — or pass them on and lose
//! the answer (a 500 instead), so that the SDK retries a call that has in fact happened.
//!
//! Every response carries `Connection: close`, so the SDK opens a connection per request and
//! "down" really is down, not hidden behind a pooled connection.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;

/// What the proxy does with the next requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// New connections are closed as soon as they are accepted.
    Down,
    /// Each request waits this long before it is passed on.
    Slow(Duration),
    /// The next `count` requests whose `X-Amz-Target` ends with `.{operation}` get a 500
    /// `InternalServerError`; everything else passes. With `lose_answer`, each is first passed
    /// on: the call happens and the client cannot know (an answer lost on its way back, or a
    /// timeout after the write landed).
    FailNext {
        operation: String,
        count: u32,
        lose_answer: bool,
    },
}

#[derive(Clone)]
struct Shared {
    mode: Arc<Mutex<Mode>>,
    upstream: String,
    client: reqwest::Client,
    seen: Arc<Mutex<BTreeMap<String, u32>>>,
    failed: Arc<Mutex<BTreeMap<String, u32>>>,
}

pub struct FaultProxy {
    url: String,
    shared: Shared,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A listener that drops every connection while the proxy is down.
struct Gate {
    inner: tokio::net::TcpListener,
    mode: Arc<Mutex<Mode>>,
}

impl axum::serve::Listener for Gate {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, address)) = self.inner.accept().await else { continue };
            if *lock(&self.mode) == Mode::Down {
                drop(stream);
                continue;
            }
            return (stream, address);
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

fn operation(headers: &HeaderMap) -> String {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("other");
    target.rsplit('.').next().unwrap_or(target).to_string()
}

async fn forward(State(shared): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let operation = operation(&headers);
    *lock(&shared.seen).entry(operation.clone()).or_default() += 1;
    let mode = lock(&shared.mode).clone();
    let mut response = match mode {
        Mode::FailNext { operation: ref wanted, count, lose_answer } if count > 0 && *wanted == operation => {
            *lock(&shared.mode) = if count > 1 {
                Mode::FailNext { operation: wanted.clone(), count: count - 1, lose_answer }
            } else {
                Mode::Pass
            };
            *lock(&shared.failed).entry(operation).or_default() += 1;
            if lose_answer {
                let _lost = pass_on(&shared, method, uri, headers, body).await;
            }
            injected_fault()
        }
        other => {
            if let Mode::Slow(delay) = other {
                tokio::time::sleep(delay).await;
            }
            pass_on(&shared, method, uri, headers, body).await
        }
    };
    response.headers_mut().insert("connection", HeaderValue::from_static("close"));
    response
}

/// A 500 `InternalServerError`, which the SDK retries.
fn injected_fault() -> Response {
    let body = r#"{"__type":"com.amazon.coral.service#InternalServerError","message":"injected fault"}"#;
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
    response
}

async fn pass_on(shared: &Shared, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = shared.client.request(method, format!("{}{path}", shared.upstream)).body(body);
    for (name, value) in &headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(upstream) => {
            let status = upstream.status();
            let upstream_headers = upstream.headers().clone();
            let bytes = upstream.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            for (name, value) in &upstream_headers {
                if !matches!(name.as_str(), "content-length" | "connection" | "transfer-encoding") {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
        Err(_) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response
        }
    }
}

impl FaultProxy {
    /// A proxy to `upstream` (moto's URL) on a free loopback port, passing everything.
    pub async fn start(upstream: &str) -> FaultProxy {
        let shared = Shared {
            mode: Arc::new(Mutex::new(Mode::Pass)),
            upstream: upstream.trim_end_matches('/').to_string(),
            client: crate::http_client(),
            seen: Arc::default(),
            failed: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let gate = Gate { inner: listener, mode: Arc::clone(&shared.mode) };
        let router = Router::new().fallback(forward).with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(gate, router).await;
        });
        FaultProxy { url, shared }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn set(&self, mode: Mode) {
        *lock(&self.shared.mode) = mode;
    }

    /// Fails the next `count` calls of `operation` (e.g. `TransactWriteItems`).
    pub fn fail_next(&self, operation: &str, count: u32) {
        self.set(Mode::FailNext { operation: operation.to_string(), count, lose_answer: false });
    }

    /// Passes the next `count` calls of `operation` on but answers them with a 500.
    pub fn lose_answer_next(&self, operation: &str, count: u32) {
        self.set(Mode::FailNext { operation: operation.to_string(), count, lose_answer: true });
    }

    /// How many requests of each operation reached the proxy (failed ones included).
    pub fn seen(&self) -> BTreeMap<String, u32> {
        lock(&self.shared.seen).clone()
    }

    /// How many requests of each operation were failed on purpose.
    pub fn failed(&self) -> BTreeMap<String, u32> {
        lock(&self.shared.failed).clone()
    }
}
