//! A Lambda Runtime API on loopback, so the real function binaries can be run as Lambda runs
//! them: the process polls `GET /2018-06-01/runtime/invocation/next`, answers with `POST
//! .../invocation/{id}/response` (or `/error`), and reports start-up failures to
//! `.../runtime/init/error`. Used by the end-to-end tests and the cold-start benchmark.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// What a function answered to one invocation.
#[derive(Debug, Clone)]
pub enum Outcome {
    Response(Value),
    /// `.../invocation/{id}/error`: the handler failed.
    Error(Value),
}

impl Outcome {
    /// The response, or a panic naming the error (for tests).
    pub fn response(self) -> Value {
        match self {
            Outcome::Response(value) => value,
            Outcome::Error(error) => panic!("the function reported an error: {error}"),
        }
    }
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>;

#[derive(Clone)]
struct Shared {
    queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
    pending: Pending,
    init_error: Arc<Mutex<Option<Value>>>,
    first_answer: Arc<Mutex<Option<Instant>>>,
}

/// One emulated Lambda execution environment: the API, and the function process polling it.
pub struct RuntimeApi {
    address: String,
    sender: mpsc::UnboundedSender<(String, Value)>,
    shared: Shared,
    child: Option<Child>,
    started: Option<Instant>,
    next_id: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn next(State(shared): State<Shared>) -> impl IntoResponse {
    let Some((id, event)) = shared.queue.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now()
        .checked_add(Duration::from_secs(30))
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id.clone()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:test".to_string()),
        ("lambda-runtime-trace-id", format!("Root=1-00000000-{id:0>24};Parent=0000000000000001;Sampled=0")),
        ("content-type", "application/json".to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (StatusCode::OK, headers, event.to_string())
}

fn answer(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    lock(&shared.first_answer).get_or_insert_with(Instant::now);
    match lock(&shared.pending).remove(id) {
        Some(waiter) => {
            let _ = waiter.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(State(shared): State<Shared>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    answer(&shared, &id, Outcome::Response(json(&body)))
}

async fn error(State(shared): State<Shared>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    answer(&shared, &id, Outcome::Error(json(&body)))
}

async fn init_error(State(shared): State<Shared>, body: Bytes) -> StatusCode {
    *lock(&shared.init_error) = Some(json(&body));
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    /// Starts the API on a free loopback port.
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let shared = Shared {
            queue: Arc::new(tokio::sync::Mutex::new(receiver)),
            pending: Arc::default(),
            init_error: Arc::default(),
            first_answer: Arc::default(),
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(RuntimeApi { address, sender, shared, child: None, started: None, next_id: 0 })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Starts `binary` as Lambda would, with `env` added to the Lambda variables. Its output
    /// is discarded unless `STAMPS_TEST_FUNCTION_LOGS` is set.
    pub fn spawn(&mut self, binary: &Path, env: &[(String, String)]) -> std::io::Result<()> {
        let name = binary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let show = std::env::var_os("STAMPS_TEST_FUNCTION_LOGS").is_some();
        let output = || if show { Stdio::inherit() } else { Stdio::null() };
        let mut command = Command::new(binary);
        command
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/25/[$LATEST]0123456789abcdef")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(output())
            .stderr(output());
        self.started = Some(Instant::now());
        self.child = Some(command.spawn()?);
        Ok(())
    }

    /// Sends `event` to the function and waits for its answer (at most `limit`, so a broken
    /// function fails the caller instead of hanging it).
    pub async fn invoke(&mut self, event: Value, limit: Duration) -> Result<Outcome, String> {
        self.next_id += 1;
        let id = format!("{:08x}-0000-4000-8000-{:012x}", self.next_id, self.next_id);
        let (waiter, answer) = oneshot::channel();
        lock(&self.shared.pending).insert(id.clone(), waiter);
        self.sender.send((id, event)).map_err(|_| "the runtime API is closed".to_string())?;
        match tokio::time::timeout(limit, answer).await {
            Ok(Ok(outcome)) => Ok(outcome),
            _ => Err(format!("no answer within {limit:?}; start-up error: {:?}", self.init_error())),
        }
    }

    /// What the function reported to `/runtime/init/error`, if anything.
    pub fn init_error(&self) -> Option<Value> {
        lock(&self.shared.init_error).clone()
    }

    /// Time from the process start to its first answer.
    pub fn time_to_first_answer(&self) -> Option<Duration> {
        let first = (*lock(&self.shared.first_answer))?;
        Some(first.duration_since(self.started?))
    }

    /// The process ID of the function, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The peak resident set size of the function so far (Linux `VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Stops the function.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An API Gateway HTTP API (payload 2.0) event for `POST path` with `body`, shaped like the
/// samples in `events/`.
pub fn http_event(path: &str, content_type: &str, body: &str, headers: &[(&str, &str)]) -> Value {
    let mut all = serde_json::Map::new();
    all.insert("content-type".into(), content_type.into());
    all.insert("host".into(), "abc123.execute-api.us-east-1.amazonaws.com".into());
    for (name, value) in headers {
        all.insert(name.to_ascii_lowercase(), (*value).into());
    }
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("ANY {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": all,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10",
                     "userAgent": "e2e"},
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": format!("ANY {path}"),
            "stage": "$default",
            "time": "25/Nov/2026:08:00:00 +0000",
            "timeEpoch": 1_795_766_400_000_u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// The status and JSON body of a `lambda_http` response.
pub fn http_answer(response: &Value) -> (u16, Value) {
    let status = response["statusCode"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or_default();
    let body = response["body"].as_str().and_then(|b| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
    (status, body)
}
