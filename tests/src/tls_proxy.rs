//! A TLS endpoint in front of moto, as DynamoDB is reached in production: it terminates TLS
//! with a certificate for `127.0.0.1` issued by a CA made for this proxy, and passes the bytes
//! on to moto. A client trusts it only when it is told to trust that CA (`SSL_CERT_FILE`,
//! which the SDK's loading of the system's roots honours), so a test can prove both that the
//! functions' HTTPS client completes real handshakes and that it checks certificates.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

pub struct TlsProxy {
    url: String,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
    handshakes: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Counts {
    completed: AtomicU64,
    refused: AtomicU64,
}

impl TlsProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`
    /// (`http://host:port`, moto's URL).
    pub async fn start(upstream: &str) -> TlsProxy {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let (ca_pem, chain, key) = certificates();
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).expect("write the CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("https://{}", listener.local_addr().expect("address"));
        let handshakes = Arc::new(Counts::default());
        let counts = Arc::clone(&handshakes);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, upstream, counts) = (acceptor.clone(), upstream.clone(), Arc::clone(&counts));
                tokio::spawn(async move {
                    // Both legs without Nagle's algorithm: a request or answer forwarded in
                    // two writes would otherwise wait for the peer's delayed ACK (40 ms).
                    let _ = client.set_nodelay(true);
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        counts.refused.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    counts.completed.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut moto) = TcpStream::connect(&upstream).await {
                        let _ = moto.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut moto).await;
                    }
                });
            }
        });
        TlsProxy { url, ca_file, _dir: dir, handshakes, task }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The PEM file of the CA that issued the proxy's certificate.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// Handshakes that completed, and connections whose handshake failed (a client that
    /// refused the certificate).
    pub fn handshakes(&self) -> (u64, u64) {
        (self.handshakes.completed.load(Ordering::Relaxed), self.handshakes.refused.load(Ordering::Relaxed))
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A CA (as PEM) and a server certificate for `127.0.0.1` issued by it, with its key.
fn certificates() -> (String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.distinguished_name.push(DnType::CommonName, "stamps-auth test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");

    let key = KeyPair::generate().expect("server key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("server params");
    params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    params.subject_alt_names = vec![SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]))];
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server = params.signed_by(&key, &issuer).expect("server certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (ca.pem(), vec![server.der().clone()], key)
}
