//! A pass-through HTTP proxy between the measured functions and moto that times every AWS call
//! (DynamoDB, SNS, SES), so that a function's warm latency can be split into the time it
//! waited for AWS and the time that is its own. Connections are kept alive on both sides, as
//! the functions keep theirs.
//!
//! What it counts as AWS time is only the wait for moto's full answer; reading the request and
//! relaying the answer count as the function's own time (the split never flatters a function).
//!
//! It also counts what the calls would be billed for: SNS publishes and SES emails always (one
//! look at the request), and, in counting mode only (`set_counting`), the DynamoDB request
//! units of each call (`capacity`): it parses the answers of reads and reads each written
//! item from moto before and after the write, which slows the calls, so counted invocations are
//! never timed ones.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::capacity::{self, Units};

#[derive(Default)]
struct Totals {
    calls: AtomicU64,
    dynamodb_calls: AtomicU64,
    nanos: AtomicU64,
    publishes: AtomicU64,
    emails: AtomicU64,
    counting: AtomicBool,
    /// In halves of a unit (an eventually consistent read is half a unit).
    read_half_units: AtomicU64,
    write_half_units: AtomicU64,
    /// The key attributes' names of each table, asked of moto once.
    key_names: Mutex<HashMap<String, Vec<String>>>,
}

pub struct AwsTimer {
    url: String,
    totals: Arc<Totals>,
    task: tokio::task::JoinHandle<()>,
}

/// Calls and time spent waiting for AWS since the timer started.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reading {
    pub calls: u64,
    /// Of which DynamoDB's (JSON, `X-Amz-Target: DynamoDB_...`); the others are SNS and SES.
    pub dynamodb_calls: u64,
    pub waited: Duration,
    /// SNS publishes (each of up to 64 KB) and SES emails sent.
    pub publishes: u64,
    pub emails: u64,
    /// DynamoDB request units, counted in counting mode only.
    pub units: Units,
}

impl std::ops::Sub for Reading {
    type Output = Reading;

    fn sub(self, earlier: Reading) -> Reading {
        Reading {
            calls: self.calls - earlier.calls,
            dynamodb_calls: self.dynamodb_calls - earlier.dynamodb_calls,
            waited: self.waited.saturating_sub(earlier.waited),
            publishes: self.publishes - earlier.publishes,
            emails: self.emails - earlier.emails,
            units: Units { read: self.units.read - earlier.units.read, write: self.units.write - earlier.units.write },
        }
    }
}

type Upstream = Client<HttpConnector, Full<Bytes>>;

impl AwsTimer {
    /// Listens on a free loopback port and passes every request on to `upstream` (moto's URL).
    pub async fn start(upstream: &str) -> AwsTimer {
        let upstream = upstream.trim_end_matches('/').to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the AWS timer");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let totals = Arc::new(Totals::default());
        // To moto without Nagle's algorithm, as the functions' own client connects.
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Upstream = Client::builder(TokioExecutor::new()).build(connector);
        let shared = Arc::clone(&totals);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let (client, upstream, totals) = (client.clone(), upstream.clone(), Arc::clone(&shared));
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let (client, upstream, totals) = (client.clone(), upstream.clone(), Arc::clone(&totals));
                        async move { Ok::<_, Infallible>(forward(&client, &upstream, &totals, request).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        AwsTimer { url, totals, task }
    }

    /// `http://127.0.0.1:PORT`: the functions' `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn reading(&self) -> Reading {
        let half_units = |total: &AtomicU64| total.load(Ordering::Relaxed) as f64 / 2.0;
        Reading {
            calls: self.totals.calls.load(Ordering::Relaxed),
            dynamodb_calls: self.totals.dynamodb_calls.load(Ordering::Relaxed),
            waited: Duration::from_nanos(self.totals.nanos.load(Ordering::Relaxed)),
            publishes: self.totals.publishes.load(Ordering::Relaxed),
            emails: self.totals.emails.load(Ordering::Relaxed),
            units: Units {
                read: half_units(&self.totals.read_half_units),
                write: half_units(&self.totals.write_half_units),
            },
        }
    }

    /// Counting mode: DynamoDB request units counted, calls slowed (see the module comment).
    pub fn set_counting(&self, counting: bool) {
        self.totals.counting.store(counting, Ordering::Relaxed);
    }
}

impl Drop for AwsTimer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    client: &Upstream,
    upstream: &str,
    totals: &Totals,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    // `DynamoDB_20120810.GetItem` -> `GetItem`.
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|target| target.to_str().ok())
        .filter(|target| target.starts_with("DynamoDB_"))
        .map(|target| target.rsplit('.').next().unwrap_or_default().to_string());
    let dynamodb = operation.is_some();
    let Ok(body) = body.collect().await.map(|collected| collected.to_bytes()) else {
        return status(StatusCode::BAD_REQUEST);
    };
    // SNS's query protocol (`Action=Publish&...`), SES v2's REST path.
    if body.starts_with(b"Action=Publish&") {
        totals.publishes.fetch_add(body.len().div_ceil(64 * 1024) as u64, Ordering::Relaxed);
    }
    if parts.uri.path().starts_with("/v2/email/outbound-emails") {
        totals.emails.fetch_add(1, Ordering::Relaxed);
    }
    let counted = match &operation {
        Some(operation) if totals.counting.load(Ordering::Relaxed) => {
            serde_json::from_slice::<Value>(&body).ok().map(|request| (operation.clone(), request))
        }
        _ => None,
    };
    let authorization = parts.headers.get(hyper::header::AUTHORIZATION).cloned();
    let side = SideReads { client, upstream, totals, authorization };
    let written = match &counted {
        Some((operation, request)) => side.written(operation, request).await,
        None => Vec::new(),
    };
    let sizes_before = side.sizes(&written).await;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut outgoing = Request::builder().method(parts.method).uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST && !hop_by_hop(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let Ok(outgoing) = outgoing.body(Full::new(body)) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let started = Instant::now();
    let answer = match client.request(outgoing).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            // The function's connection stays open whatever moto does with this one.
            for name in [CONNECTION, TRANSFER_ENCODING, CONTENT_LENGTH] {
                parts.headers.remove(name);
            }
            parts.headers.remove("keep-alive");
            body.collect().await.map(|collected| Response::from_parts(parts, Full::new(collected.to_bytes())))
        }
        Err(_) => return status(StatusCode::BAD_GATEWAY),
    };
    let waited = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    totals.calls.fetch_add(1, Ordering::Relaxed);
    if dynamodb {
        totals.dynamodb_calls.fetch_add(1, Ordering::Relaxed);
    }
    totals.nanos.fetch_add(waited, Ordering::Relaxed);
    if let (Some((operation, request)), Ok(answer)) = (&counted, &answer) {
        let units = if written.is_empty() {
            let body = answer.body().clone().collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
            let parsed = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
            capacity::read_call_units(operation, request, &parsed).unwrap_or_default()
        } else {
            let after = side.sizes(&written).await;
            let sizes: Vec<(u64, u64)> = sizes_before.into_iter().zip(after).collect();
            capacity::write_call_units(operation, &sizes)
        };
        let halves = |units: f64| (units * 2.0).round() as u64;
        totals.read_half_units.fetch_add(halves(units.read), Ordering::Relaxed);
        totals.write_half_units.fetch_add(halves(units.write), Ordering::Relaxed);
    }
    answer.unwrap_or_else(|_| status(StatusCode::BAD_GATEWAY))
}

/// The counting mode's own calls to moto: a table's key names and an item's size.
struct SideReads<'a> {
    client: &'a Upstream,
    upstream: &'a str,
    totals: &'a Totals,
    /// The function's, so that moto finds the same account and region (it checks no signature).
    authorization: Option<hyper::header::HeaderValue>,
}

impl SideReads<'_> {
    async fn call(&self, operation: &str, body: Value) -> Option<Value> {
        let mut request = Request::builder()
            .method("POST")
            .uri(format!("{}/", self.upstream))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDB_20120810.{operation}"));
        if let Some(authorization) = &self.authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization);
        }
        let response = self.client.request(request.body(Full::new(Bytes::from(body.to_string()))).ok()?).await.ok()?;
        let body = response.into_body().collect().await.ok()?.to_bytes();
        serde_json::from_slice(&body).ok()
    }

    /// The (table, key) of each item a write call changes.
    async fn written(&self, operation: &str, request: &Value) -> Vec<(String, Value)> {
        let tables: Vec<String> = match operation {
            "TransactWriteItems" => request["TransactItems"]
                .as_array()
                .map(|actions| {
                    actions
                        .iter()
                        .filter_map(|action| action.as_object()?.values().next()?["TableName"].as_str())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            _ => request["TableName"].as_str().map(str::to_string).into_iter().collect(),
        };
        for table in tables {
            let known = self.totals.key_names.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&table);
            if !known {
                let description = self.call("DescribeTable", json!({"TableName": table})).await.unwrap_or_default();
                let names: Vec<String> = description["Table"]["KeySchema"]
                    .as_array()
                    .map(|schema| {
                        schema.iter().filter_map(|key| key["AttributeName"].as_str()).map(str::to_string).collect()
                    })
                    .unwrap_or_default();
                self.totals.key_names.lock().unwrap_or_else(|p| p.into_inner()).insert(table, names);
            }
        }
        let key_names = self.totals.key_names.lock().unwrap_or_else(|p| p.into_inner()).clone();
        capacity::written_keys(operation, request, &|table| key_names.get(table).cloned().unwrap_or_default())
    }

    /// The size of each item now (0 where there is none), by a consistent read.
    async fn sizes(&self, keys: &[(String, Value)]) -> Vec<u64> {
        let mut sizes = Vec::with_capacity(keys.len());
        for (table, key) in keys {
            let read = json!({"TableName": table, "Key": key, "ConsistentRead": true});
            let item = self.call("GetItem", read).await.unwrap_or_default();
            sizes.push(item["Item"].as_object().map_or(0, capacity::item_size));
        }
        sizes
    }
}

/// Headers about one connection, not the message; the body's length is set anew.
fn hop_by_hop(name: &hyper::header::HeaderName) -> bool {
    name == CONNECTION || name == TRANSFER_ENCODING || name == CONTENT_LENGTH || name.as_str() == "keep-alive"
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
