//! A Lambda Runtime API on loopback, so the real function binaries can be run as Lambda runs
//! them: the process polls `GET /2018-06-01/runtime/invocation/next`, answers with `POST
//! .../invocation/{id}/response` (or `/error`), and reports start-up failures to
//! `.../runtime/init/error`. One `RuntimeApi` is one execution environment: one API, at most
//! one function process. Used by the end-to-end tests and by the cold-start benchmark
//! (`bench/coldstart`), so it assumes nothing about tests: no time limits, no panics.
//!
//! ```no_run
//! # async fn example(binary: &std::path::Path) -> Result<(), integration_tests::runtime_api::InvokeError> {
//! use integration_tests::runtime_api::RuntimeApi;
//! let mut api = RuntimeApi::start().await?;
//! api.spawn(binary, &[("STAMPS_STORE".into(), "dynamodb:table".into())])?;
//! let answer = api.invoke(serde_json::json!({"version": "2.0"})).await?.into_response()?;
//! println!("{answer} after {:?}", api.time_to_first_answer());
//! api.kill().await;
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

/// How many of the function's last output lines are kept, for error reports and for the
/// benchmark, which matches the hash and request times a function logs to its invocations:
/// enough for 1,000 invocations at up to 4 lines each, so every timed invocation is covered.
const LOG_LINES: usize = 4_096;

/// What a function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `.../invocation/{id}/response`: the handler's result.
    Response(Value),
    /// `.../invocation/{id}/error`: the handler failed.
    Error(Value),
}

impl Outcome {
    /// The response, or the error the function reported.
    pub fn into_response(self) -> Result<Value, InvokeError> {
        match self {
            Outcome::Response(value) => Ok(value),
            Outcome::Error(error) => Err(InvokeError::Reported(error)),
        }
    }

    /// The response; panics with the reported error otherwise (for tests).
    pub fn response(self) -> Value {
        match self {
            Outcome::Response(value) => value,
            Outcome::Error(error) => panic!("the function reported an error: {error}"),
        }
    }
}

/// Why an invocation got no answer.
#[derive(Debug)]
pub enum InvokeError {
    /// The API could not start, or the function could not be started.
    Io(std::io::Error),
    /// The function process ended before answering.
    Exited {
        status: Option<ExitStatus>,
        /// What it posted to `/runtime/init/error`, if anything.
        init_error: Option<Value>,
        /// Its last lines of output.
        logs: Vec<String>,
    },
    /// The function answered on `.../invocation/{id}/error`.
    Reported(Value),
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Io(error) => write!(f, "{error}"),
            InvokeError::Exited { status, init_error, logs } => {
                write!(f, "the function exited before answering ({status:?})")?;
                if let Some(init_error) = init_error {
                    write!(f, "; start-up error: {init_error}")?;
                }
                write!(f, "; its last output:\n{}", logs.join("\n"))
            }
            InvokeError::Reported(error) => write!(f, "the function reported an error: {error}"),
        }
    }
}

impl std::error::Error for InvokeError {}

impl From<std::io::Error> for InvokeError {
    fn from(error: std::io::Error) -> Self {
        InvokeError::Io(error)
    }
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>;

/// The state the API's handlers share with the `RuntimeApi` handle.
#[derive(Clone)]
struct Shared {
    queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
    pending: Pending,
    function_name: Arc<Mutex<String>>,
    init_error: Arc<Mutex<Option<Value>>>,
    first_poll: Arc<Mutex<Option<Instant>>>,
    first_answer: Arc<Mutex<Option<Instant>>>,
}

/// One emulated Lambda execution environment: the API, and the function process polling it.
pub struct RuntimeApi {
    address: String,
    sender: mpsc::UnboundedSender<(String, Value)>,
    shared: Shared,
    child: Option<Child>,
    pid: Option<u32>,
    started: Option<Instant>,
    logs: Arc<Mutex<VecDeque<String>>>,
    /// The tasks reading the process's stdout and stderr: they end when it has exited and
    /// its last lines are in `logs`.
    readers: Vec<tokio::task::JoinHandle<()>>,
    next_id: u64,
    server: tokio::task::JoinHandle<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `GET .../invocation/next`: waits for the next event (Lambda's long poll).
async fn next(State(shared): State<Shared>) -> impl IntoResponse {
    lock(&shared.first_poll).get_or_insert_with(Instant::now);
    let Some((id, event)) = shared.queue.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let deadline = SystemTime::now()
        .checked_add(Duration::from_secs(900))
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    let function = lock(&shared.function_name).clone();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id.clone()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        ("lambda-runtime-invoked-function-arn", format!("arn:aws:lambda:us-east-1:123456789012:function:{function}")),
        ("lambda-runtime-trace-id", format!("Root=1-00000000-{:0>24};Parent=0000000000000001;Sampled=0", &id[..8])),
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

/// Keeps the last `LOG_LINES` lines of `output`, echoed to stderr when `echo`.
fn collect(
    output: Option<impl AsyncRead + Unpin + Send + 'static>,
    logs: Arc<Mutex<VecDeque<String>>>,
    echo: bool,
) -> Option<tokio::task::JoinHandle<()>> {
    let output = output?;
    Some(tokio::spawn(async move {
        let mut lines = BufReader::new(output).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if echo {
                eprintln!("{line}");
            }
            let mut logs = lock(&logs);
            if logs.len() == LOG_LINES {
                logs.pop_front();
            }
            logs.push_back(line);
        }
    }))
}

impl RuntimeApi {
    /// Starts the API on a free loopback port (inside the current tokio runtime).
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let shared = Shared {
            queue: Arc::new(tokio::sync::Mutex::new(receiver)),
            pending: Arc::default(),
            function_name: Arc::default(),
            init_error: Arc::default(),
            first_poll: Arc::default(),
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
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(RuntimeApi {
            address,
            sender,
            shared,
            child: None,
            pid: None,
            started: None,
            logs: Arc::default(),
            readers: Vec::new(),
            next_id: 0,
            server,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Starts `binary` as Lambda would: the `AWS_LAMBDA_*` variables of a 256 MB function
    /// named after the file, then `env` (which may override them). Its output is kept (the
    /// last lines, see `logs`) and also echoed to stderr when `STAMPS_TEST_FUNCTION_LOGS` is
    /// set. Nothing else of this process's environment is passed on except `PATH`, `HOME`
    /// and `TMPDIR`, as in Lambda, where nothing of the caller's environment leaks in.
    pub fn spawn(&mut self, binary: &Path, env: &[(String, String)]) -> std::io::Result<()> {
        let name = binary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        *lock(&self.shared.function_name) = name.clone();
        let mut command = Command::new(binary);
        command.env_clear();
        for inherited in ["PATH", "HOME", "TMPDIR"] {
            if let Some(value) = std::env::var_os(inherited) {
                command.env(inherited, value);
            }
        }
        command
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/25/[$LATEST]0123456789abcdef")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("LAMBDA_TASK_ROOT", "/var/task")
            .env("TZ", ":UTC")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        self.started = Some(Instant::now());
        let mut child = command.spawn()?;
        let echo = std::env::var_os("STAMPS_TEST_FUNCTION_LOGS").is_some();
        self.readers = [
            collect(child.stdout.take(), Arc::clone(&self.logs), echo),
            collect(child.stderr.take(), Arc::clone(&self.logs), echo),
        ]
        .into_iter()
        .flatten()
        .collect();
        self.pid = child.id();
        self.child = Some(child);
        Ok(())
    }

    /// Sends `event` to the function and waits for its answer, or for the process to end,
    /// whichever comes first. Without a process (one started elsewhere, polling
    /// `address`), waits for the answer.
    pub async fn invoke(&mut self, event: Value) -> Result<Outcome, InvokeError> {
        self.next_id += 1;
        let id = format!("{:08x}-0000-4000-8000-{:012x}", self.next_id, self.next_id);
        let (waiter, mut answer) = oneshot::channel();
        lock(&self.shared.pending).insert(id.clone(), waiter);
        if self.sender.send((id.clone(), event)).is_err() {
            return Err(InvokeError::Io(std::io::Error::other("the runtime API is closed")));
        }
        let status = match self.child.as_mut() {
            None => return answer.await.map_err(|_| std::io::Error::other("the runtime API is closed").into()),
            Some(child) => tokio::select! {
                biased;
                outcome = &mut answer => {
                    return outcome.map_err(|_| std::io::Error::other("the runtime API is closed").into());
                }
                status = child.wait() => status.ok(),
            },
        };
        // An answer posted just before the process ended still counts.
        if let Ok(outcome) = answer.try_recv() {
            return Ok(outcome);
        }
        lock(&self.shared.pending).remove(&id);
        self.child = None;
        // The event is not for a later process.
        if let Ok(mut queue) = self.shared.queue.try_lock() {
            while queue.try_recv().is_ok() {}
        }
        // Let the output readers drain the pipes of the ended process (a yield was not enough
        // on a loaded machine: the exit message was sometimes not read yet). Bounded, in case
        // a process the function started still holds a pipe.
        for reader in std::mem::take(&mut self.readers) {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
        Err(InvokeError::Exited { status, init_error: self.init_error(), logs: self.logs() })
    }

    /// What the function reported to `/runtime/init/error`, if anything.
    pub fn init_error(&self) -> Option<Value> {
        lock(&self.shared.init_error).clone()
    }

    /// The function's last lines of output (stdout and stderr).
    pub fn logs(&self) -> Vec<String> {
        lock(&self.logs).iter().cloned().collect()
    }

    /// Time from the process start to its first poll of `invocation/next` (its init phase).
    pub fn time_to_first_poll(&self) -> Option<Duration> {
        let first = (*lock(&self.shared.first_poll))?;
        first.checked_duration_since(self.started?)
    }

    /// Time from the process start to its first answer (init plus the first invocation).
    pub fn time_to_first_answer(&self) -> Option<Duration> {
        let first = (*lock(&self.shared.first_answer))?;
        first.checked_duration_since(self.started?)
    }

    /// The process ID of the function, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and(self.pid)
    }

    /// The peak resident set size of the function so far (Linux `VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Stops the function and waits for it to end.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        // `kill_on_drop` stops the process; tokio reaps it.
        self.child.take();
        self.server.abort();
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

/// The status and JSON body of a `lambda_http` response (`Null` for a body that is not JSON).
pub fn http_answer(response: &Value) -> (u16, Value) {
    let status = response["statusCode"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or_default();
    let body = response["body"].as_str().and_then(|b| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
    (status, body)
}
