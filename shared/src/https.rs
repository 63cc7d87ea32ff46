//! The one HTTP client of the functions, for everything they call over the network: the AWS
//! services (as the SDK's `HttpClient`) and Facebook's Graph API. HTTP/1.1 on hyper, TLS 1.2
//! and 1.3 from rustls on *ring*, trusting the system's roots (read once per process, when the
//! first client is made: at start-up, as the SDK's own client does).
//!
//! Why not the SDK's client: with its default TLS it links aws-lc (1.3 MiB of code, and a
//! start-up cost), and with *ring* it still links HTTP/2 (h2, 390 KiB) that these calls do not
//! need. Plain `http://` endpoints (moto on loopback) work too.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

type Hyper = Client<HttpsConnector<TcpConnector>, SdkBody>;

/// How long an idle connection is kept for the next request.
const POOL_IDLE: Duration = Duration::from_secs(60);

/// Makes connections; cheap to clone (the TLS configuration is shared by the process).
#[derive(Clone)]
pub struct HttpsClient {
    tls: Arc<rustls::ClientConfig>,
    /// The SDK asks for a connector per set of timeouts; one per set is made and kept.
    connectors: Arc<Mutex<Vec<(ConnectorKey, SharedHttpConnector)>>>,
}

type ConnectorKey = (Option<Duration>, Option<Duration>);

impl std::fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsClient").finish_non_exhaustive()
    }
}

/// The process's TLS configuration, made by the first `HttpsClient::new`.
static TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    if let Some(config) = TLS.get() {
        return Ok(Arc::clone(config));
    }
    let native = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (trusted, _unparsable) = roots.add_parsable_certificates(native.certs);
    if trusted == 0 {
        // Only plain-HTTP endpoints can be reached: every TLS handshake will fail.
        tracing::warn!(errors = ?native.errors, "no trusted root certificates found");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS configuration: {error}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::clone(TLS.get_or_init(|| Arc::new(config))))
}

impl HttpsClient {
    /// Fails only when TLS cannot be configured at all: a start-up error.
    pub fn new() -> Result<HttpsClient, String> {
        Ok(HttpsClient { tls: tls_config()?, connectors: Arc::default() })
    }

    fn hyper(&self, connect_timeout: Option<Duration>) -> Hyper {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(connect_timeout);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(rustls::ClientConfig::clone(&self.tls))
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Client::builder(TokioExecutor::new()).pool_timer(TokioTimer::new()).pool_idle_timeout(POOL_IDLE).build(https)
    }

    /// A client for plain requests (the Graph API), connecting within `connect_timeout`.
    pub fn plain(&self, connect_timeout: Duration) -> PlainClient {
        PlainClient { hyper: self.hyper(Some(connect_timeout)) }
    }
}

impl HttpClient for HttpsClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(k, _)| *k == key) {
            return connector.clone();
        }
        let connector = SharedHttpConnector::new(AwsConnector { hyper: self.hyper(key.0), read_timeout: key.1 });
        connectors.push((key, connector.clone()));
        connector
    }
}

/// One AWS call at a time, as the SDK's orchestrator hands them over (it signs, retries and
/// enforces the attempt and operation timeouts; this answers or says what went wrong).
#[derive(Debug)]
struct AwsConnector {
    hyper: Hyper,
    /// Until the response head arrives.
    read_timeout: Option<Duration>,
}

impl HttpConnector for AwsConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(error) => return HttpConnectorFuture::ready(Err(ConnectorError::user(error.into()))),
        };
        let pending = self.hyper.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let answered = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, pending)
                    .await
                    .map_err(|elapsed| ConnectorError::timeout(elapsed.into()))?,
                None => pending.await,
            };
            let response = answered.map_err(connector_error)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|error| ConnectorError::other(error.into(), None))
        })
    }
}

/// Sorts a failed request as the SDK's retry rules expect: a connection that could not be
/// made, was closed or broke, and a timeout, are transient (retried); a request the client
/// could not send is the caller's error.
fn connector_error(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let hyper_error = find_source::<hyper::Error>(&error);
    let has_io_error = find_source::<std::io::Error>(&error).is_some();
    match hyper_error {
        Some(e) if e.is_timeout() => ConnectorError::timeout(error.into()),
        Some(e) if e.is_user() => ConnectorError::user(error.into()),
        Some(e) if e.is_incomplete_message() => ConnectorError::other(error.into(), Some(ErrorKind::TransientError)),
        Some(e) if e.is_closed() || e.is_canceled() => ConnectorError::io(error.into()),
        _ if error.is_connect() || has_io_error => ConnectorError::io(error.into()),
        _ => ConnectorError::other(error.into(), None),
    }
}

fn find_source<'a, E: std::error::Error + 'static>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a E> {
    std::iter::successors(Some(error), |error| error.source()).find_map(|error| error.downcast_ref::<E>())
}

/// Why a plain request got no answer. Never carries the URL (it may hold a token).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("request failed: {0}")]
    Failed(String),
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
}

/// GET requests with a deadline, for the Graph API.
#[derive(Clone, Debug)]
pub struct PlainClient {
    hyper: Hyper,
}

impl PlainClient {
    /// `GET url`, the whole exchange within `deadline` and the body within `max_body` bytes.
    pub async fn get(
        &self,
        url: &str,
        deadline: Duration,
        max_body: usize,
    ) -> Result<(http::StatusCode, Bytes), RequestError> {
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(SdkBody::empty())
            .map_err(|_| RequestError::Failed("not a valid URL".into()))?;
        let exchange = async {
            let response = self.hyper.request(request).await.map_err(|e| RequestError::Failed(e.to_string()))?;
            let status = response.status();
            let limited = http_body_util::Limited::new(response.into_body(), max_body);
            let body = limited.collect().await.map_err(|error| {
                if error.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    RequestError::TooLarge(max_body)
                } else {
                    RequestError::Failed(error.to_string())
                }
            })?;
            Ok((status, body.to_bytes()))
        };
        tokio::time::timeout(deadline, exchange).await.map_err(|_| RequestError::Timeout(deadline))?
    }
}
