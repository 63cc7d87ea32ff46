//! Sign-in, sign-out, sessions and CSRF tokens.

use http::StatusCode;

use super::{Answer, Console, ConsoleError, ConsoleRequest, HOME};
use crate::domain::network::network_hash;
use crate::domain::secrets::{Purpose, secrets_match};
use crate::error::{ApiError, ErrorCode};
use crate::random::random_hex;
use crate::store::layout::CounterKind;
use crate::store::{ConsoleSession, CounterPolicy};

/// The session cookie: a random ID, sent back only to the console's pages.
pub const SESSION_COOKIE: &str = "stamps_console";
/// The sign-in form's own token (double-submit: the form and this cookie must agree), so
/// another site cannot sign a browser in to an account of its choosing.
const SIGN_IN_COOKIE: &str = "stamps_console_sign_in";

/// A signed-in session.
pub(crate) struct Session {
    pub merchant_id: u64,
    pub csrf_token: String,
}

fn cookie_value<'a>(request: &'a ConsoleRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// `Secure` everywhere but on loopback, where the local server speaks plain HTTP.
fn cookie(request: &ConsoleRequest, name: &str, value: &str, max_age: i64) -> String {
    let secure = if request.source_ip.is_some_and(|ip| ip.is_loopback()) { "" } else { "; Secure" };
    format!("{name}={value}; Path={HOME}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

fn random_token() -> Result<String, ApiError> {
    random_hex::<32>().map_err(|error| {
        tracing::error!(%error, "no randomness for a console session");
        ApiError::service_unavailable()
    })
}

impl Console {
    fn session_hash(&self, id: &str) -> String {
        self.app.hash_key.hash(Purpose::ConsoleSession, &[id.as_bytes()])
    }

    /// The request's live session, if any.
    pub(crate) async fn session(&self, request: &ConsoleRequest) -> Result<Option<Session>, ConsoleError> {
        let Some(id) = cookie_value(request, SESSION_COOKIE).filter(|id| id.len() == 64) else {
            return Ok(None);
        };
        let now = self.app.clock.now();
        let session = self.app.store()?.session(&self.session_hash(id), now).await?;
        Ok(session.map(|s| Session { merchant_id: s.merchant_id, csrf_token: s.csrf_token }))
    }

    /// The live session, or the sign-in page (saying the session ended when a cookie was sent).
    pub(crate) async fn signed_in(&self, request: &ConsoleRequest) -> Result<Session, ConsoleError> {
        match self.session(request).await? {
            Some(session) => Ok(session),
            None => Err(ConsoleError::SignedOut { ended: cookie_value(request, SESSION_COOKIE).is_some() }),
        }
    }

    /// The live session of a form, which must carry its CSRF token.
    pub(crate) async fn signed_in_form(
        &self,
        request: &ConsoleRequest,
        form: &std::collections::HashMap<String, String>,
    ) -> Result<Session, ConsoleError> {
        let session = self.signed_in(request).await?;
        match form.get("csrf") {
            Some(token) if secrets_match(token, &session.csrf_token) => Ok(session),
            _ => Err(ConsoleError::Csrf),
        }
    }

    /// The sign-in page, with a fresh sign-in token in its form and its cookie.
    pub(crate) fn sign_in_page(
        &self,
        request: &ConsoleRequest,
        status: StatusCode,
        message: Option<&str>,
    ) -> Result<Answer, ConsoleError> {
        let token = random_token()?;
        let body = self.pages.render("sign_in.html", minijinja::context! { csrf => token, message => message })?;
        Ok(Answer::html(status, body).with_cookie(cookie(request, SIGN_IN_COOKIE, &token, 3600)))
    }

    /// `POST sign-in` `{api_key, csrf}`: a wrong key counts against the client's network, as
    /// failed v2 logins do (reserve first, give back on success).
    pub(crate) async fn sign_in(&self, request: &ConsoleRequest) -> Result<Answer, ConsoleError> {
        let form = request.form();
        let token_ok = match (form.get("csrf"), cookie_value(request, SIGN_IN_COOKIE)) {
            (Some(form_token), Some(cookie_token)) => !form_token.is_empty() && secrets_match(form_token, cookie_token),
            _ => false,
        };
        if !token_ok {
            return Err(ConsoleError::Csrf);
        }
        let api_key = form.get("api_key").map(|key| key.trim()).unwrap_or_default();
        if api_key.is_empty() {
            return self.sign_in_page(request, StatusCode::BAD_REQUEST, Some("Enter the merchant's API key."));
        }
        let store = self.app.store()?;
        let now = self.app.clock.now();
        let limit: CounterPolicy = self.app.config.console_sign_in_failures.into();
        let network = network_hash(&self.app.hash_key, request.source_ip);
        let key = format!("{}console#{network}", CounterKind::NetworkLoginFailures.key_prefix());
        let reservation = store.reserve(&key, limit, now).await?;
        if !reservation.granted {
            let minutes = ((reservation.expires_at - now).max(0) + 59) / 60;
            let message = format!("Too many wrong API keys from your network. Try again in {minutes} minute(s).");
            return self.sign_in_page(request, StatusCode::TOO_MANY_REQUESTS, Some(&message));
        }
        let merchant_id = match crate::http::auth::api_key_merchant(&self.app, api_key).await {
            Ok(merchant_id) => merchant_id,
            Err(error) if error.code == ErrorCode::AuthenticationFailed => {
                return self.sign_in_page(request, StatusCode::UNAUTHORIZED, Some("That API key is not valid."));
            }
            Err(error) => return Err(error.into()),
        };
        store.release(&key, now).await?;
        let id = random_token()?;
        let session = ConsoleSession {
            id_hash: self.session_hash(&id),
            merchant_id,
            csrf_token: random_token()?,
            expires_at: now.saturating_add(self.app.config.console_session_secs),
        };
        store.put_session(&session, now).await?;
        tracing::info!(merchant = merchant_id, "console sign-in");
        Ok(Answer::redirect(HOME)
            .with_cookie(cookie(request, SESSION_COOKIE, &id, self.app.config.console_session_secs))
            .with_cookie(cookie(request, SIGN_IN_COOKIE, "", 0)))
    }

    /// `POST sign-out` `{csrf}`: ends the session in the store, not only in the browser.
    pub(crate) async fn sign_out(&self, request: &ConsoleRequest) -> Result<Answer, ConsoleError> {
        let form = request.form();
        self.signed_in_form(request, &form).await?;
        if let Some(id) = cookie_value(request, SESSION_COOKIE) {
            self.app.store()?.delete_session(&self.session_hash(id)).await?;
        }
        Ok(Answer::redirect(format!("{HOME}?signed_out=1")).with_cookie(cookie(request, SESSION_COOKIE, "", 0)))
    }
}
