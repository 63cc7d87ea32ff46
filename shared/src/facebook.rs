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
