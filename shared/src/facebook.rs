//! Facebook sign-in for the mobile app API v2: a token is checked against the Graph API
//! (`GET {graph_url}/me?fields=id,email`), and the user ID it answers must be the one the app
//! claims. The port is a trait so tests can run a stand-in Graph server on loopback.

use async_trait::async_trait;

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacebookUser {
    pub id: String,
    pub email: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FacebookError {
    /// Graph refused the token (expired, revoked, forged).
    #[error("Facebook refused the token")]
    InvalidToken,
    /// Graph could not be asked: down, slow, or answering nonsense.
    #[error("Facebook is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait FacebookVerifier: Send + Sync {
    async fn verify(&self, token: &str) -> Result<FacebookUser, FacebookError>;
}

/// The Graph API over HTTPS. The HTTP client (and its TLS roots) is built on the first
/// check, not at start-up: most requests of a cold function never need it.
#[cfg(feature = "facebook")]
pub struct GraphApi {
    base_url: String,
    timeout: std::time::Duration,
    client: std::sync::OnceLock<reqwest::Client>,
}

#[cfg(feature = "facebook")]
impl GraphApi {
    /// `base_url` is `STAMPS_FACEBOOK_GRAPH_URL` (`https://graph.facebook.com` by default).
    pub fn new(base_url: &str, timeout: std::time::Duration) -> GraphApi {
        GraphApi { base_url: base_url.trim_end_matches('/').to_string(), timeout, client: std::sync::OnceLock::new() }
    }

    fn client(&self) -> Result<&reqwest::Client, FacebookError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .build()
            .map_err(|error| FacebookError::Unavailable(error.without_url().to_string()))?;
        Ok(self.client.get_or_init(|| client))
    }
}

/// Makes aws-lc-rs (which the AWS SDK already links) the process's TLS crypto provider, so
/// reqwest needs no second crypto library. Any reqwest client of a binary that enables this
/// feature must be built after this call. Installing again is harmless.
#[cfg(feature = "facebook")]
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[cfg(feature = "facebook")]
#[derive(serde::Deserialize)]
struct GraphMe {
    id: String,
    #[serde(default)]
    email: Option<String>,
}

#[cfg(feature = "facebook")]
#[async_trait]
impl FacebookVerifier for GraphApi {
    async fn verify(&self, token: &str) -> Result<FacebookUser, FacebookError> {
        // The token travels as a query parameter, so errors are stripped of their URL before
        // anyone can log them.
        let unavailable = |error: reqwest::Error| FacebookError::Unavailable(error.without_url().to_string());
        let response = self
            .client()?
            .get(format!("{}/me", self.base_url))
            .query(&[("fields", "id,email"), ("access_token", token)])
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
            // Graph answers 400 (OAuthException) for expired, revoked and forged tokens.
            return Err(FacebookError::InvalidToken);
        }
        if !status.is_success() {
            return Err(FacebookError::Unavailable(format!("Graph API answered {status}")));
        }
        let me: GraphMe = response.json().await.map_err(unavailable)?;
        if me.id.trim().is_empty() {
            return Err(FacebookError::Unavailable("Graph API answered without a user ID".into()));
        }
        Ok(FacebookUser { id: me.id, email: me.email })
    }
}
