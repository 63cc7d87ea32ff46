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

/// The Graph API over HTTPS. The HTTP client is made on the first check, not at start-up:
/// most requests of a cold function never need it.
#[cfg(feature = "facebook")]
pub struct GraphApi {
    base_url: String,
    timeout: std::time::Duration,
    client: std::sync::OnceLock<crate::https::PlainClient>,
}

/// Graph's answer to `/me` is a few hundred bytes; anything far larger is not Graph.
#[cfg(feature = "facebook")]
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[cfg(feature = "facebook")]
impl GraphApi {
    /// `base_url` is `STAMPS_FACEBOOK_GRAPH_URL` (`https://graph.facebook.com` by default).
    pub fn new(base_url: &str, timeout: std::time::Duration) -> GraphApi {
        GraphApi { base_url: base_url.trim_end_matches('/').to_string(), timeout, client: std::sync::OnceLock::new() }
    }

    fn client(&self) -> Result<&crate::https::PlainClient, FacebookError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = crate::https::HttpsClient::new().map_err(FacebookError::Unavailable)?.plain(self.timeout);
        Ok(self.client.get_or_init(|| client))
    }
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
        // The token travels as a query parameter: no error below carries the URL.
        let query = serde_urlencoded::to_string([("fields", "id,email"), ("access_token", token)])
            .map_err(|_| FacebookError::InvalidToken)?;
        let url = format!("{}/me?{query}", self.base_url);
        let (status, body) = self
            .client()?
            .get(&url, self.timeout, MAX_ANSWER_BYTES)
            .await
            .map_err(|error| FacebookError::Unavailable(error.to_string()))?;
        if status.is_client_error() && status != http::StatusCode::TOO_MANY_REQUESTS {
            // Graph answers 400 (OAuthException) for expired, revoked and forged tokens.
            return Err(FacebookError::InvalidToken);
        }
        if !status.is_success() {
            return Err(FacebookError::Unavailable(format!("Graph API answered {status}")));
        }
        let me: GraphMe = serde_json::from_slice(&body)
            .map_err(|_| FacebookError::Unavailable("Graph API answered something other than a user".into()))?;
        if me.id.trim().is_empty() {
            return Err(FacebookError::Unavailable("Graph API answered without a user ID".into()));
        }
        Ok(FacebookUser { id: me.id, email: me.email })
    }
}
