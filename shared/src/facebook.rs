//! Facebook sign-in for the mobile app API v2. A user access token is accepted only when Graph's
//! `debug_token` (asked with our app's access token) says it is valid and was issued to our app
//! (`STAMPS_FACEBOOK_APP_ID`): without that check a token the user gave any other app, or one
//! an attacker's own app obtained, would sign in. The user ID is `debug_token`'s `user_id`; it
//! must also be the `id` of `GET /me?fields=id,email` made with the token (SPEC section 7).
//! Every call carries `appsecret_proof` (HMAC-SHA256 of the call's access token keyed with the
//! app secret), which Graph requires when the app has "Require App Secret" on: a stolen user
//! token is then useless to anyone without the secret. The port is a trait so tests can run a
//! stand-in Graph server on loopback.

use async_trait::async_trait;

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacebookUser {
    pub id: String,
    pub email: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FacebookError {
    /// Graph refused the token (expired, revoked, forged, or issued to another app).
    #[error("Facebook refused the token")]
    InvalidToken,
    /// Graph could not be asked: down, slow, answering nonsense, or refusing our app's
    /// credentials.
    #[error("Facebook is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait FacebookVerifier: Send + Sync {
    async fn verify(&self, token: &str) -> Result<FacebookUser, FacebookError>;
}

/// The Facebook app whose tokens are accepted (`STAMPS_FACEBOOK_APP_ID`,
/// `STAMPS_FACEBOOK_APP_SECRET`). The secret is never shown by `Debug`.
#[derive(Clone)]
pub struct FacebookApp {
    pub id: String,
    secret: String,
}

impl std::fmt::Debug for FacebookApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FacebookApp").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}

impl FacebookApp {
    /// An app ID is Graph's decimal number; the secret is taken as given.
    pub fn new(id: &str, secret: &str) -> Result<FacebookApp, String> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("STAMPS_FACEBOOK_APP_ID must be the app's numeric ID, got {id:?}"));
        }
        if secret.is_empty() {
            return Err("STAMPS_FACEBOOK_APP_SECRET is empty".into());
        }
        Ok(FacebookApp { id: id.to_string(), secret: secret.to_string() })
    }

    /// `appsecret_proof` of a call made with `access_token`: lowercase hex HMAC-SHA256 keyed
    /// with the app secret.
    pub fn proof(&self, access_token: &str) -> String {
        use hmac::{Hmac, Mac};
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(self.secret.as_bytes()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(access_token.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The app access token (`{app_id}|{app_secret}`) that `debug_token` is asked with.
    #[cfg(feature = "facebook")]
    fn access_token(&self) -> String {
        format!("{}|{}", self.id, self.secret)
    }
}

/// Checks `STAMPS_FACEBOOK_GRAPH_URL` at start-up: `https://` always; `http://` only to a
/// loopback host, which only a test's stand-in server is. Answers the URL without a trailing
/// slash.
pub fn check_graph_url(url: &str) -> Result<String, String> {
    let refuse = |why: &str| {
        Err(format!(
            "STAMPS_FACEBOOK_GRAPH_URL {url:?} {why}: the Graph API must be reached over https:// \
             (http:// is allowed only to a loopback address such as 127.0.0.1, for tests)"
        ))
    };
    let trimmed = url.trim_end_matches('/');
    let Ok(uri) = trimmed.parse::<http::Uri>() else {
        return refuse("is not a URL");
    };
    let Some(host) = uri.host() else {
        return refuse("has no host");
    };
    if uri.query().is_some() {
        return refuse("has a query");
    }
    match uri.scheme_str() {
        Some("https") => Ok(trimmed.to_string()),
        Some("http") if is_loopback(host) => Ok(trimmed.to_string()),
        Some("http") => refuse("is plain http to a host that is not loopback"),
        _ => refuse("is neither https:// nor http://"),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The Graph API over HTTPS. The HTTP client is made on the first check, not at start-up:
/// most requests of a cold function never need it.
#[cfg(feature = "facebook")]
pub struct GraphApi {
    base_url: String,
    app: FacebookApp,
    timeout: std::time::Duration,
    client: std::sync::OnceLock<crate::https::PlainClient>,
}

/// Graph's answers to `/me` and `/debug_token` are a few hundred bytes; anything far larger is
/// not Graph.
#[cfg(feature = "facebook")]
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[cfg(feature = "facebook")]
impl GraphApi {
    /// `base_url` is `STAMPS_FACEBOOK_GRAPH_URL` as `check_graph_url` accepted it.
    pub fn new(base_url: &str, app: FacebookApp, timeout: std::time::Duration) -> GraphApi {
        GraphApi {
            base_url: base_url.trim_end_matches('/').to_string(),
            app,
            timeout,
            client: std::sync::OnceLock::new(),
        }
    }

    /// The Graph client of the configuration, or `None` when no Facebook app is configured:
    /// then the Facebook paths answer 503 "not configured" and everything else works.
    pub fn from_config(config: &crate::config::Config) -> Option<GraphApi> {
        match &config.facebook_app {
            Some(app) => Some(GraphApi::new(&config.facebook_graph_url, app.clone(), config.aws_timeout)),
            None => {
                tracing::warn!(
                    "STAMPS_FACEBOOK_APP_ID and STAMPS_FACEBOOK_APP_SECRET are not set: \
                     Facebook sign-in answers 503 until they are"
                );
                None
            }
        }
    }

    fn client(&self) -> Result<&crate::https::PlainClient, FacebookError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = crate::https::HttpsClient::new().map_err(FacebookError::Unavailable)?.plain(self.timeout);
        Ok(self.client.get_or_init(|| client))
    }

    /// `GET {base}/{path}?{query}&access_token=..&appsecret_proof=..`: the status and body.
    /// Tokens travel in the query: no error below carries the URL.
    async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        access_token: &str,
    ) -> Result<(http::StatusCode, bytes::Bytes), FacebookError> {
        let proof = self.app.proof(access_token);
        let mut pairs = query.to_vec();
        pairs.extend([("access_token", access_token), ("appsecret_proof", proof.as_str())]);
        let query = serde_urlencoded::to_string(&pairs).map_err(|_| FacebookError::InvalidToken)?;
        let url = format!("{}/{path}?{query}", self.base_url);
        self.client()?
            .get(&url, self.timeout, MAX_ANSWER_BYTES)
            .await
            .map_err(|error| FacebookError::Unavailable(format!("{path}: {error}")))
    }

    /// `debug_token`: the user ID of a valid token issued to our app.
    async fn debug_token(&self, token: &str) -> Result<String, FacebookError> {
        let (status, body) = self.get("debug_token", &[("input_token", token)], &self.app.access_token()).await?;
        if !status.is_success() {
            // Graph answers `debug_token` about a bad input token with a 200 and
            // `is_valid: false`; an error status means it refused our app's credentials.
            return Err(FacebookError::Unavailable(format!("debug_token answered {status}")));
        }
        let answer: DebugToken = serde_json::from_slice(&body)
            .map_err(|_| FacebookError::Unavailable("debug_token answered something other than a token".into()))?;
        let data = answer.data;
        if !data.is_valid {
            return Err(FacebookError::InvalidToken);
        }
        if data.app_id.as_ref().and_then(id_text).as_deref() != Some(self.app.id.as_str()) {
            tracing::info!("a Facebook token issued to another app was refused");
            return Err(FacebookError::InvalidToken);
        }
        // A valid token of our app with no user (an app token) signs no one in.
        data.user_id.as_ref().and_then(id_text).filter(|id| !id.is_empty()).ok_or(FacebookError::InvalidToken)
    }

    /// `/me` with the user's token: its ID and email.
    async fn me(&self, token: &str) -> Result<FacebookUser, FacebookError> {
        let (status, body) = self.get("me", &[("fields", "id,email")], token).await?;
        if status.is_client_error() && status != http::StatusCode::TOO_MANY_REQUESTS {
            // Graph answers 400 (OAuthException) for expired, revoked and forged tokens.
            return Err(FacebookError::InvalidToken);
        }
        if !status.is_success() {
            return Err(FacebookError::Unavailable(format!("me answered {status}")));
        }
        let me: GraphMe = serde_json::from_slice(&body)
            .map_err(|_| FacebookError::Unavailable("me answered something other than a user".into()))?;
        if me.id.trim().is_empty() {
            return Err(FacebookError::Unavailable("me answered without a user ID".into()));
        }
        Ok(FacebookUser { id: me.id, email: me.email })
    }
}

/// Graph writes IDs as strings; a number is taken too.
#[cfg(feature = "facebook")]
fn id_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        _ => None,
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
#[derive(serde::Deserialize)]
struct DebugToken {
    data: DebugTokenData,
}

#[cfg(feature = "facebook")]
#[derive(serde::Deserialize)]
struct DebugTokenData {
    #[serde(default)]
    is_valid: bool,
    #[serde(default)]
    app_id: Option<serde_json::Value>,
    #[serde(default)]
    user_id: Option<serde_json::Value>,
}

#[cfg(feature = "facebook")]
#[async_trait]
impl FacebookVerifier for GraphApi {
    async fn verify(&self, token: &str) -> Result<FacebookUser, FacebookError> {
        // Both calls at once: the answer waits for the slower, not for the sum.
        let (debugged, me) = tokio::join!(self.debug_token(token), self.me(token));
        // debug_token decides first: another app's token is refused whatever /me says.
        let user_id = debugged?;
        let me = me?;
        if me.id != user_id {
            return Err(FacebookError::Unavailable("debug_token and me answered different users".into()));
        }
        Ok(me)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_url_must_be_https_or_loopback_http() {
        assert_eq!(check_graph_url("https://graph.facebook.com/").as_deref(), Ok("https://graph.facebook.com"));
        assert!(check_graph_url("https://graph.facebook.com/v19.0").is_ok());
        for loopback in ["http://127.0.0.1:9", "http://127.8.0.1", "http://[::1]:8080", "http://localhost:1234"] {
            assert!(check_graph_url(loopback).is_ok(), "{loopback}");
        }
        for refused in [
            "http://graph.facebook.com",
            "http://10.0.0.1",
            "http://127.0.0.1.example.com",
            "ftp://graph.facebook.com",
            "graph.facebook.com",
            "https://",
            "not a url",
        ] {
            let error = check_graph_url(refused).err().unwrap_or_else(|| panic!("{refused} accepted"));
            assert!(error.contains("https://") && error.contains("STAMPS_FACEBOOK_GRAPH_URL"), "{error}");
        }
    }

    #[test]
    fn the_proof_is_hex_hmac_sha256_of_the_token_keyed_with_the_secret() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let app = FacebookApp::new("1", "Jefe").expect("app");
        assert_eq!(
            app.proof("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_secret_is_never_in_debug_output() {
        let app = FacebookApp::new("1234", "s3cr3t-app-secret").expect("app");
        let shown = format!("{app:?}");
        assert!(shown.contains("1234") && !shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn app_ids_are_numeric_and_secrets_not_empty() {
        assert!(FacebookApp::new("12ab", "x").is_err());
        assert!(FacebookApp::new("", "x").is_err());
        assert!(FacebookApp::new("12", "").is_err());
    }
}
