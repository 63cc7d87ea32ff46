//! A pass-through HTTP proxy between the measured functions and moto that times every AWS call
//! (DynamoDB, SNS, SES), so that a function's warm latency can be split into the time it
//! waited for AWS and the time that is its own. Connections are kept alive on both sides, as
//! the functions keep theirs.
//!
//! What it counts as AWS time is only the wait for moto's full answer; reading the request and
//! relaying the answer count as the function's own time (the split never flatters a function).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
use tokio::net::TcpListener;

#[derive(Default)]
struct Totals {
    calls: AtomicU64,
    dynamodb_calls: AtomicU64,
    nanos: AtomicU64,
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
}

impl std::ops::Sub for Reading {
    type Output = Reading;

    fn sub(self, earlier: Reading) -> Reading {
        Reading {
            calls: self.calls - earlier.calls,
            dynamodb_calls: self.dynamodb_calls - earlier.dynamodb_calls,
            waited: self.waited.saturating_sub(earlier.waited),
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
        let client: Upstream = Client::builder(TokioExecutor::new()).build_http();
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
        Reading {
            calls: self.totals.calls.load(Ordering::Relaxed),
            dynamodb_calls: self.totals.dynamodb_calls.load(Ordering::Relaxed),
            waited: Duration::from_nanos(self.totals.nanos.load(Ordering::Relaxed)),
        }
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
    let dynamodb = parts
        .headers
        .get("x-amz-target")
        .and_then(|target| target.to_str().ok())
        .is_some_and(|target| target.starts_with("DynamoDB_"));
    let Ok(body) = body.collect().await.map(|collected| collected.to_bytes()) else {
        return status(StatusCode::BAD_REQUEST);
    };
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
    answer.unwrap_or_else(|_| status(StatusCode::BAD_GATEWAY))
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
